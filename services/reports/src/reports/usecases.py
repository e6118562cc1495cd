"""What the reports service does with each event: one function per event type, one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from incentives_kernel.db import Conn, Row
from incentives_kernel.events import (
    CaseState,
    DepartmentRegistered,
    NeedCategory,
    NeedLifecycleChanged,
    NeedRated,
    NeedRatingRecorded,
    NeedRejectionReason,
    NeedStatusChanged,
    NeedSubmitted,
    PointsCredited,
    PointsReversed,
    RejectionReason,
    ReopenReason,
    ReportCategory,
    ReportLifecycleChanged,
    ReportRated,
    ReportRatingRecorded,
    ReportStatus,
    ReportStatusChanged,
    ReportSubmitted,
    ReportVerificationReversed,
    ReportVerified,
)
from incentives_kernel.outcome import APPLIED, Outcome, Park, ParsedEvent, PermanentError, UnitOfWork, applied, ignored

from . import duplicates
from . import repository as repo
from .areas import Areas, place
from .lifecycle import IllegalTransition, Kind, Move, NotRateable, holder_after, rate, transition
from .metrics import ReportsMetrics
from .sla import NeedSla, Sla


def report_key(report_id: str) -> str:
    """What a status or rating that overtook its report waits for."""
    return f"report:{report_id}"


def need_key(need_id: str) -> str:
    """What a status or rating that overtook its need waits for."""
    return f"need:{need_id}"


@dataclass(frozen=True)
class Deps:
    """What use cases need besides the connection: bound once at registration."""

    metrics: ReportsMetrics
    sla: Sla
    need_sla: NeedSla = field(default_factory=NeedSla)
    areas: Areas = field(default_factory=Areas.none)


async def submit_report(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, ReportSubmitted)
    conn = uow.conn
    duplicate_of = await _open_duplicate(conn, data)
    hashes = [p.sha256.lower() for p in data.photos if p.sha256]
    reused_from = await repo.report_with_photo(conn, hashes, data.report_id) if hashes else None
    due_at = deps.sla.due_at(data.submitted_at, data.category)
    placed = place(deps.areas, (data.location.lat, data.location.lon), await repo.member_district(conn, data.member_id))
    if not await repo.insert_report(
        conn, data, due_at=due_at, duplicate_of=duplicate_of, photo_reused_from=reused_from, placed=placed
    ):
        return ignored("a report with this report_id exists already")
    reasons = []
    if duplicate_of:
        reasons.append(f"duplicate of {duplicate_of} (same category, within {duplicates.RADIUS_M:.0f} m, 24 h)")
    if reused_from:
        reasons.append(f"a photo was already used in report {reused_from}")
    note = "; ".join(reasons) or None
    await repo.add_history(
        conn,
        "report",
        data.report_id,
        "submitted",
        reason=None,
        department=None,
        held_by=None,
        note=note,
        changed_at=data.submitted_at,
        source=event.envelope.source,
        event_id=event.envelope.id,
    )
    category = data.category.value

    def count() -> None:
        deps.metrics.submitted.labels(category).inc()
        if duplicate_of:
            deps.metrics.duplicates.labels(category).inc()
        if reused_from:
            deps.metrics.photo_reuse.labels(category).inc()

    uow.after_commit(count)
    return applied(report_key(data.report_id))


async def _open_duplicate(conn: Conn, data: ReportSubmitted) -> str | None:
    """The earliest open report of the same category within 50 m submitted in the previous 24 hours."""
    lat, lon = data.location.lat, data.location.lon
    rows, cols = duplicates.neighbour_cells(lat, lon)
    candidates = await repo.open_reports_near(
        conn, data.category.value, rows, cols, data.submitted_at - duplicates.WINDOW, data.submitted_at
    )
    for c in candidates:
        if (
            c["report_id"] != data.report_id
            and duplicates.distance_m(lat, lon, c["lat"], c["lon"]) <= duplicates.RADIUS_M
        ):
            return str(c["report_id"])
    return None


@dataclass(frozen=True, slots=True)
class Applied:
    """A step as recorded: what the use cases tell the rider, points and the metrics."""

    status: str
    reason: str | None
    department: str | None
    held_by: str | None
    previous: str | None
    transfer: bool
    verifies: bool
    reverses: bool


def _not_before_submission(at: datetime, case: Row, what: str) -> None:
    """The contract's Event time rule: nothing happens to a case before it was submitted (a backdated
    step would dodge the daily cap or fake an on-time resolution)."""
    if at < case["submitted_at"]:
        raise PermanentError(
            "time_before_submission",
            f"{what} at {at.isoformat()} is before the submission at {case['submitted_at'].isoformat()}",
        )


async def _step(
    uow: UnitOfWork,
    event: ParsedEvent,
    kind: Kind,
    case_id: str,
    case: Row,
    data: ReportStatusChanged | NeedStatusChanged,
) -> Applied | None:
    """Decide and record a status change of a locked case; None: a repeat, nothing changes."""
    conn = uow.conn
    _not_before_submission(data.changed_at, case, f"status {data.status.value}")
    department = await repo.department_key(conn, data.department) if data.department else None
    reason = data.reason.value if data.reason is not None else None
    try:
        step = transition(
            case["status"],
            data.status.value,
            reason,
            verified=kind is Kind.REPORT and case["verified_at"] is not None,
            duplicate=kind is Kind.REPORT
            and (case["duplicate_of"] is not None or case["photo_reused_from"] is not None),
            kind=kind,
            department=department,
            current_department=case["held_by"],
        )
    except IllegalTransition as exc:
        raise PermanentError("illegal_transition", str(exc)) from None
    if not step.changes:
        return None
    # A reason is kept with the statuses that need one (rejected, reopened), never with others.
    kept = reason if step.new_status in ("rejected", "reopened") else None
    held_by = holder_after(case["held_by"], department)
    await repo.set_status(
        conn,
        kind.value,
        case_id,
        step.new_status,
        reason=kept if step.new_status == "rejected" else None,
        department=data.department,
        held_by=held_by,
        reopened=step.move is Move.REOPEN,
        verified_at=data.changed_at if step.verifies else None,
        reversed_at=data.changed_at if step.reverses else None,
    )
    await repo.add_history(
        conn,
        kind.value,
        case_id,
        step.new_status,
        reason=kept,
        department=data.department,
        held_by=held_by,
        note=data.note,
        changed_at=data.changed_at,
        source=event.envelope.source,
        event_id=event.envelope.id,
    )
    return Applied(
        status=step.new_status,
        reason=kept,
        department=data.department,
        held_by=held_by,
        previous=case["held_by"] if step.transfer else None,
        transfer=step.transfer,
        verifies=step.verifies,
        reverses=step.reverses,
    )


async def change_status(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, ReportStatusChanged)
    report = await repo.lock_case(uow.conn, "report", data.report_id)
    if report is None:
        raise Park(report_key(data.report_id), f"status {data.status.value} arrived before report {data.report_id}")
    step = await _step(uow, event, Kind.REPORT, data.report_id, report, data)
    if step is None:
        return ignored(f"report {data.report_id} is {report['status']} with this department already: a repeat")
    changed_at = data.changed_at
    member_id, category = report["member_id"], ReportCategory(report["category"])
    reason: RejectionReason | ReopenReason | None = None
    if step.reason is not None:
        reason = RejectionReason(step.reason) if step.status == "rejected" else ReopenReason(step.reason)
    # Ids derive from the status change that caused them; the time is the business time, not the
    # time of sending: points decides its daily cap by the event's day, and a re-publish must decide the same.
    cause = (event.envelope.source, event.envelope.id)
    uow.emit(
        "report.lifecycle_changed",
        member_id,
        data.report_id,
        ReportLifecycleChanged(
            report_id=data.report_id,
            member_id=member_id,
            category=category,
            status=ReportStatus(step.status),
            reason=reason,
            department=data.department,
            previous_department=step.previous,
            transfer=step.transfer,
            changed_at=changed_at,
        ),
        id_from=cause,
        time=changed_at,
    )
    if step.verifies:
        # Where the report is, not where its reporter lives (district_source says which decided).
        district = report["district"] or await repo.member_district(uow.conn, member_id)
        uow.emit(
            "report.verified",
            member_id,
            data.report_id,
            ReportVerified(
                report_id=data.report_id,
                member_id=member_id,
                category=category,
                district=district or "unknown",
                status=ReportStatus(step.status),
                verified_at=changed_at,
            ),
            id_from=cause,
            time=changed_at,
        )
    if step.reverses:
        assert isinstance(reason, RejectionReason)
        uow.emit(
            "report.verification_reversed",
            member_id,
            data.report_id,
            ReportVerificationReversed(
                report_id=data.report_id,
                member_id=member_id,
                reason=reason,
                reversed_at=changed_at,
            ),
            id_from=cause,
            time=changed_at,
        )
    _count_step(uow, deps, step, report, changed_at, category.value if step.verifies else None)
    return APPLIED


def _count_step(
    uow: UnitOfWork, deps: Deps, step: Applied, case: Row, changed_at: datetime, verified: str | None
) -> None:
    # Metric labels are bounded: the holder's key, cut to 64 characters (registered ids, or the few
    # labels the dispatch platform uses).
    department = (step.held_by or "unknown")[:64]
    elapsed = (changed_at - case["submitted_at"]).total_seconds()
    reverses = step.reason if step.reverses else None

    def count() -> None:
        m = deps.metrics
        m.status_changes.labels(step.status).inc()
        m.time_to_status.labels(step.status, department).observe(max(elapsed, 0.0))
        if verified is not None:
            m.verified.labels(verified).inc()
        if reverses is not None:
            m.reversed.labels(reverses).inc()

    uow.after_commit(count)


async def _rate(
    uow: UnitOfWork, event: ParsedEvent, kind: Kind, case_id: str, case: Row, data: ReportRated | NeedRated
) -> bool | str:
    """Record a rating of a locked case; True: it earns the rating point; a str: why it is ignored."""
    if case["member_id"] != data.member_id:
        raise PermanentError("not_reporter", f"only the rider who asked may rate the handling of a {kind.value}")
    rated_at = event.envelope.time
    _not_before_submission(rated_at, case, "the rating")
    try:
        decision = rate(
            case["status"],
            reopened=case["reopened_count"],
            rated_round=await repo.latest_rating_round(uow.conn, kind.value, case_id),
            kind=kind,
        )
    except NotRateable as exc:
        raise PermanentError(exc.code, str(exc)) from None
    if not decision.record:
        return decision.why or "rated already"
    added = await repo.add_rating(
        uow.conn,
        kind.value,
        case_id,
        round_=case["reopened_count"],
        rating=data.rating,
        comment=data.comment,
        department=case["held_by"],
        earns_point=decision.earns_point,
        rated_at=rated_at,
        source=event.envelope.source,
        event_id=event.envelope.id,
    )
    if not added:
        return "this resolution was rated already"
    return decision.earns_point


async def rate_report(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, ReportRated)
    report = await repo.lock_case(uow.conn, "report", data.report_id)
    if report is None:
        raise Park(report_key(data.report_id), f"rating arrived before report {data.report_id}")
    earns = await _rate(uow, event, Kind.REPORT, data.report_id, report, data)
    if isinstance(earns, str):
        return ignored(earns)
    if earns:
        uow.emit(
            "report.rating_recorded",
            data.member_id,
            data.report_id,
            ReportRatingRecorded(
                report_id=data.report_id, member_id=data.member_id, rating=data.rating, rated_at=event.envelope.time
            ),
            id_from=(event.envelope.source, event.envelope.id),
            time=event.envelope.time,
        )
    return APPLIED


async def points_changed(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    """What points credited or took back for a report, shown with the report (points' own events)."""
    data = event.data
    assert isinstance(data, (PointsCredited, PointsReversed))
    if data.kind != "report":
        return ignored(f"points for {data.kind}, not a report")
    delta = data.amount if isinstance(data, PointsCredited) else -data.amount
    await repo.add_points_earned(uow.conn, data.ref, delta)
    return APPLIED


# ---------------------------------------------------------------------------------------------- needs


def _need_changed(
    need: Row, step_status: str, changed_at: datetime, *, reason: str | None = None, step: Applied | None = None
) -> NeedLifecycleChanged:
    why: NeedRejectionReason | ReopenReason | None = None
    if reason is not None:
        why = NeedRejectionReason(reason) if step_status == "rejected" else ReopenReason(reason)
    return NeedLifecycleChanged(
        need_id=need["need_id"],
        member_id=need["member_id"],
        category=NeedCategory(need["category"]),
        status=CaseState(step_status),
        reason=why,
        department=step.department if step else None,
        previous_department=step.previous if step else None,
        transfer=step.transfer if step else False,
        district=need["district"],
        changed_at=changed_at,
    )


async def submit_need(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, NeedSubmitted)
    conn = uow.conn
    loc = (data.location.lat, data.location.lon) if data.location else None
    placed = place(deps.areas, loc, await repo.member_district(conn, data.member_id))
    due_at = deps.need_sla.due_at(data.submitted_at, data.category)
    if not await repo.insert_need(conn, data, due_at=due_at, placed=placed):
        return ignored("a need with this need_id exists already")
    await repo.add_history(
        conn,
        "need",
        data.need_id,
        "submitted",
        reason=None,
        department=None,
        held_by=None,
        note=None,
        changed_at=data.submitted_at,
        source=event.envelope.source,
        event_id=event.envelope.id,
    )
    need = await repo.get_case(conn, "need", data.need_id)
    assert need is not None
    # The rider is told the need was received (every step is told).
    uow.emit(
        "need.lifecycle_changed",
        data.member_id,
        data.need_id,
        _need_changed(need, "submitted", data.submitted_at),
        id_from=(event.envelope.source, event.envelope.id),
        time=data.submitted_at,
    )
    category = data.category.value
    uow.after_commit(lambda: deps.metrics.needs_submitted.labels(category).inc())
    return applied(need_key(data.need_id))


async def change_need_status(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, NeedStatusChanged)
    need = await repo.lock_case(uow.conn, "need", data.need_id)
    if need is None:
        raise Park(need_key(data.need_id), f"status {data.status.value} arrived before need {data.need_id}")
    step = await _step(uow, event, Kind.NEED, data.need_id, need, data)
    if step is None:
        return ignored(f"need {data.need_id} is {need['status']} with this department already: a repeat")
    uow.emit(
        "need.lifecycle_changed",
        need["member_id"],
        data.need_id,
        _need_changed(need, step.status, data.changed_at, reason=step.reason, step=step),
        id_from=(event.envelope.source, event.envelope.id),
        time=data.changed_at,
    )
    _count_step(uow, deps, step, need, data.changed_at, None)
    return APPLIED


async def rate_need(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, NeedRated)
    need = await repo.lock_case(uow.conn, "need", data.need_id)
    if need is None:
        raise Park(need_key(data.need_id), f"rating arrived before need {data.need_id}")
    earns = await _rate(uow, event, Kind.NEED, data.need_id, need, data)
    if isinstance(earns, str):
        return ignored(earns)
    if earns:
        uow.emit(
            "need.rating_recorded",
            data.member_id,
            data.need_id,
            NeedRatingRecorded(
                need_id=data.need_id, member_id=data.member_id, rating=data.rating, rated_at=event.envelope.time
            ),
            id_from=(event.envelope.source, event.envelope.id),
            time=event.envelope.time,
        )
    return APPLIED


# ---------------------------------------------------------------------------------------------- departments


async def register_department(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    """department.registered / department.updated: the registry's word, by its time (a late, older
    change never rolls a department back), recorded as made by the event's source."""
    data = event.data
    assert isinstance(data, DepartmentRegistered)
    if not await repo.upsert_department(
        uow.conn,
        data.department_id,
        data.name,
        list(data.districts),
        origin="directory",
        as_of=event.envelope.time,
        actor=event.envelope.source,  # who said it: the registry that published the event
    ):
        return ignored(f"department {data.department_id} has a newer change applied already")
    return APPLIED
