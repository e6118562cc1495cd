"""The notification kinds, by the event type that causes them: what webhooks subscribe to and riders mute."""

from __future__ import annotations

KINDS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "points.credited": ("points_credited",),
    "points.debited": ("points_debited",),
    "points.reversed": ("points_reversed",),
    "points.capped": ("points_capped",),
    "member.level_changed": ("level_changed",),
    "report.lifecycle_changed": (
        "report_dispatched",
        "report_transferred",
        "report_accepted",
        "report_resolved",
        "report_rejected",
        "report_reopened",
    ),
    "report.overdue": ("report_overdue",),
    # Version 2: a rider's need, told at every step (templates need_<status>, need_transferred).
    "need.lifecycle_changed": (
        "need_submitted",
        "need_dispatched",
        "need_transferred",
        "need_accepted",
        "need_resolved",
        "need_rejected",
        "need_reopened",
    ),
    "need.overdue": ("need_overdue",),
    "redemption.confirmed": ("redemption_confirmed",),
    "redemption.rejected": ("redemption_rejected",),
    "redemption.fulfilled": ("redemption_fulfilled",),
    "redemption.cancelled": ("redemption_cancelled",),
    "allocation.won": ("allocation_won",),
    "allocation.lost": ("allocation_lost",),
    "allocation.disqualified": ("allocation_disqualified",),
}

NOTIFIED_TYPES: tuple[str, ...] = tuple(sorted(KINDS_BY_TYPE))
KINDS: tuple[str, ...] = tuple(sorted({k for kinds in KINDS_BY_TYPE.values() for k in kinds}))
