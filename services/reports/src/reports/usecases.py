"""What the reports service does with each event it consumes: one use case per event type, each one
transaction (the kernel's unit of work), deciding by lifecycle.py and writing through repository.py.

Reports and needs are two kinds of one case: locking a case (or parking the event until it exists),
recording a step or a rating, and the history row are written once here for both kinds (`_locked`,
`_step`, `_rate`, `_add_history`); what differs by kind (duplicates and photo reuse, the events each
publishes, points for reports) stays in the kind's own use case.

Not here: the rules of the state machine (lifecycle.py, pure), SQL (repository.py), the HTTP routes
and the operator's department writes (api.py), the overdue sweep (overdue.py), what it subscribes to
(subscribers.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from incentives_kernel import members
from incentives_kernel.db import Conn, Row
from incentives_kernel.events import (
    CaseState,
    DepartmentRegistered,
    MemberRegistered,
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


def case_key(kind: Kind, case_id: str) -> str:
    """What a status or rating that overtook its case waits for: `report:<id>` or `need:<id>`."""
    return f"{kind.value}:{case_id}"


def _cause(event: ParsedEvent) -> tuple[str, str]:
    """What an emitted event's id derives from: the event that caused it, so a redo emits the same id."""
    return (event.envelope.source, event.envelope.id)


async def _locked(uow: UnitOfWork, kind: Kind, case_id: str, what: str) -> Row:
    """The case, locked for this transaction; parks the event (`what` overtook it) until the case arrives."""
    case = await repo.lock_case(uow.conn, kind.value, case_id)
    if case is None:
        raise Park(case_key(kind, case_id), f"{what} arrived before {kind.value} {case_id}")
    return case


async def _add_history(
    conn: Conn,
    kind: Kind,
    case_id: str,
    event: ParsedEvent,
    status: str,
    changed_at: datetime,
    *,
    reason: str | None = None,
    department: str | None = None,
    held_by: str | None = None,
    note: str | None = None,
) -> None:
    """A step in the case's history, with the event that made it."""
    await repo.add_history(
        conn,
        kind.value,
        case_id,
        status,
        reason=reason,
        department=department,
        held_by=held_by,
        note=note,
        changed_at=changed_at,
        source=event.envelope.source,
        event_id=event.envelope.id,
    )


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
    await _add_history(conn, Kind.REPORT, data.report_id, event, "submitted", data.submitted_at, note=note)
    category = data.category.value

    def count() -> None:
        deps.metrics.submitted.labels(category).inc()
        if duplicate_of:
            deps.metrics.duplicates.labels(category).inc()
        if reused_from:
            deps.metrics.photo_reuse.labels(category).inc()

    uow.after_commit(count)
    return applied(case_key(Kind.REPORT, data.report_id))


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
    uow: UnitOfWork, event: ParsedEvent, kind: Kind, case_id: str, data: ReportStatusChanged | NeedStatusChanged
) -> tuple[Row, Applied | None]:
    """Lock the case (or park the event), decide and record its status change: the case as it was
    before, and the step (None: a repeat, nothing changes)."""
    conn = uow.conn
    case = await _locked(uow, kind, case_id, f"status {data.status.value}")
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
        return case, None
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
    await _add_history(
        conn,
        kind,
        case_id,
        event,
        step.new_status,
        data.changed_at,
        reason=kept,
        department=data.department,
        held_by=held_by,
        note=data.note,
    )
    return case, Applied(
        status=step.new_status,
        reason=kept,
        department=data.department,
        held_by=held_by,
        previous=case["held_by"] if step.transfer else None,
        transfer=step.transfer,
        verifies=step.verifies,
        reverses=step.reverses,
    )


def _repeat(kind: Kind, case_id: str, case: Row) -> Outcome:
    return ignored(f"{kind.value} {case_id} is {case['status']} with this department already: a repeat")


async def change_status(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, ReportStatusChanged)
    report, step = await _step(uow, event, Kind.REPORT, data.report_id, data)
    if step is None:
        return _repeat(Kind.REPORT, data.report_id, report)
    changed_at = data.changed_at
    member_id, category = report["member_id"], ReportCategory(report["category"])
    reason: RejectionReason | ReopenReason | None = None
    if step.reason is not None:
        reason = RejectionReason(step.reason) if step.status == "rejected" else ReopenReason(step.reason)
    # Ids derive from the status change that caused them; the time is the business time, not the
    # time of sending: points decides its daily cap by the event's day, and a re-publish must decide the same.
    cause = _cause(event)
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
    uow: UnitOfWork,
    event: ParsedEvent,
    kind: Kind,
    case_id: str,
    data: ReportRated | NeedRated,
    recorded: tuple[str, ReportRatingRecorded | NeedRatingRecorded],
) -> Outcome:
    """Lock the case (or park the event) and record the rating; the rating that earns the point is
    announced as `recorded` (the kind's `*.rating_recorded` type and data)."""
    case = await _locked(uow, kind, case_id, "rating")
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
        return ignored(decision.why or "rated already")
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
        return ignored("this resolution was rated already")
    if decision.earns_point:
        event_type, payload = recorded
        uow.emit(event_type, data.member_id, case_id, payload, id_from=_cause(event), time=rated_at)
    return APPLIED


async def rate_report(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, ReportRated)
    recorded = ReportRatingRecorded(
        report_id=data.report_id, member_id=data.member_id, rating=data.rating, rated_at=event.envelope.time
    )
    return await _rate(uow, event, Kind.REPORT, data.report_id, data, ("report.rating_recorded", recorded))


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
    await _add_history(conn, Kind.NEED, data.need_id, event, "submitted", data.submitted_at)
    need = await repo.get_case(conn, "need", data.need_id)
    assert need is not None
    # The rider is told the need was received (every step is told).
    uow.emit(
        "need.lifecycle_changed",
        data.member_id,
        data.need_id,
        _need_changed(need, "submitted", data.submitted_at),
        id_from=_cause(event),
        time=data.submitted_at,
    )
    category = data.category.value
    uow.after_commit(lambda: deps.metrics.needs_submitted.labels(category).inc())
    return applied(case_key(Kind.NEED, data.need_id))


async def change_need_status(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, NeedStatusChanged)
    need, step = await _step(uow, event, Kind.NEED, data.need_id, data)
    if step is None:
        return _repeat(Kind.NEED, data.need_id, need)
    uow.emit(
        "need.lifecycle_changed",
        need["member_id"],
        data.need_id,
        _need_changed(need, step.status, data.changed_at, reason=step.reason, step=step),
        id_from=_cause(event),
        time=data.changed_at,
    )
    _count_step(uow, deps, step, need, data.changed_at, None)
    return APPLIED


async def rate_need(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, NeedRated)
    recorded = NeedRatingRecorded(
        need_id=data.need_id, member_id=data.member_id, rating=data.rating, rated_at=event.envelope.time
    )
    return await _rate(uow, event, Kind.NEED, data.need_id, data, ("need.rating_recorded", recorded))


# ---------------------------------------------------------------------------------------------- members


async def register_member(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    """The kernel's projection, and: a case that came before its member (district unknown then) gets it now."""
    outcome = await members.upsert_member(uow, event)
    data = event.data
    if outcome.kind == "applied" and isinstance(data, MemberRegistered):
        await repo.fill_member_district(uow.conn, data.member_id, data.district)
    return outcome


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
