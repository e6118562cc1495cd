"""What the reports service does with each event: one function per event type, one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from incentives_kernel.db import Conn
from incentives_kernel.events import (
    PointsCredited,
    PointsReversed,
    RejectionReason,
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
from .lifecycle import IllegalTransition, transition
from .metrics import ReportsMetrics
from .sla import Sla


def report_key(report_id: str) -> str:
    """What a status or rating that overtook its report waits for."""
    return f"report:{report_id}"


@dataclass(frozen=True)
class Deps:
    """What use cases need besides the connection: bound once at registration."""

    metrics: ReportsMetrics
    sla: Sla


async def submit_report(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, ReportSubmitted)
    conn = uow.conn
    duplicate_of = await _open_duplicate(conn, data)
    hashes = [p.sha256.lower() for p in data.photos if p.sha256]
    reused_from = await repo.report_with_photo(conn, hashes, data.report_id) if hashes else None
    due_at = deps.sla.due_at(data.submitted_at, data.category)
    if not await repo.insert_report(
        conn, data, due_at=due_at, duplicate_of=duplicate_of, photo_reused_from=reused_from
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
        data.report_id,
        "submitted",
        reason=None,
        department=None,
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


async def change_status(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, ReportStatusChanged)
    conn = uow.conn
    report = await repo.lock_report(conn, data.report_id)
    if report is None:
        raise Park(report_key(data.report_id), f"status {data.status.value} arrived before report {data.report_id}")
    try:
        step = transition(
            report["status"],
            data.status,
            data.reason,
            verified=report["verified_at"] is not None,
            duplicate=report["duplicate_of"] is not None or report["photo_reused_from"] is not None,
        )
    except IllegalTransition as exc:
        raise PermanentError("illegal_transition", str(exc)) from None
    changed_at = data.changed_at
    # The contract gives a reason only with `rejected`; one sent with another status is not kept.
    reason = data.reason if data.status is ReportStatus.REJECTED else None
    await repo.set_status(
        conn,
        data.report_id,
        step.new_status,
        reason=reason.value if reason else None,
        department=data.department,
        verified_at=changed_at if step.verifies else None,
        reversed_at=changed_at if step.reverses else None,
    )
    await repo.add_history(
        conn,
        data.report_id,
        step.new_status,
        reason=reason.value if reason else None,
        department=data.department,
        note=data.note,
        changed_at=changed_at,
        source=event.envelope.source,
        event_id=event.envelope.id,
    )
    member_id, category = report["member_id"], ReportCategory(report["category"])
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
            status=data.status,
            reason=reason,
            department=data.department,
            changed_at=changed_at,
        ),
        id_from=cause,
        time=changed_at,
    )
    if step.verifies:
        district = await repo.member_district(conn, member_id)
        uow.emit(
            "report.verified",
            member_id,
            data.report_id,
            ReportVerified(
                report_id=data.report_id,
                member_id=member_id,
                category=category,
                district=district or "unknown",
                status=data.status,
                verified_at=changed_at,
            ),
            id_from=cause,
            time=changed_at,
        )
    if step.reverses:
        assert reason is not None
        uow.emit(
            "report.verification_reversed",
            member_id,
            data.report_id,
            ReportVerificationReversed(
                report_id=data.report_id,
                member_id=member_id,
                reason=RejectionReason(reason),
                reversed_at=changed_at,
            ),
            id_from=cause,
            time=changed_at,
        )

    department = (data.department or report["department"] or "unknown")[:64]
    elapsed = (changed_at - report["submitted_at"]).total_seconds()

    def count() -> None:
        m = deps.metrics
        m.status_changes.labels(step.new_status).inc()
        m.time_to_status.labels(step.new_status, department).observe(max(elapsed, 0.0))
        if step.verifies:
            m.verified.labels(category.value).inc()
        if step.reverses and reason is not None:
            m.reversed.labels(reason.value).inc()

    uow.after_commit(count)
    return APPLIED


async def rate_report(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, ReportRated)
    report = await repo.lock_report(uow.conn, data.report_id)
    if report is None:
        raise Park(report_key(data.report_id), f"rating arrived before report {data.report_id}")
    if report["member_id"] != data.member_id:
        raise PermanentError("not_reporter", "only the reporter may rate the handling of a report")
    if report["status"] != ReportStatus.RESOLVED.value:
        raise PermanentError("not_resolved", f"a report that is {report['status']} cannot be rated")
    if report["rating"] is not None:
        return ignored("this report was rated already; only the first rating counts")
    await repo.set_rating(uow.conn, data.report_id, data.rating, event.envelope.time)
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
