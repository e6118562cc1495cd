"""Every topic of the system, with the partitions and retention it is created with.

One list, used by `incentives topics create`, the docker-compose init job, and the tests, so that
no topic is ever auto-created with the wrong partition count.
"""

from __future__ import annotations

from dataclasses import dataclass

MEMBERS = "incentives.members.v1"
REPORTS = "incentives.reports.v1"
VOLUNTEER = "incentives.volunteer.v1"
REDEMPTIONS = "incentives.redemptions.v1"
# Version 2: the department registry (department.registered / department.updated), key department_id.
DIRECTORY = "incentives.directory.v1"

POINTS = "incentives.points.v1"
REWARDS = "incentives.rewards.v1"
NOTIFICATIONS = "incentives.notifications.v1"

# Internal: reports -> points (verified/reversed/rated) and -> notify (status changes).
REPORTS_LIFECYCLE = "incentives.reports.lifecycle.v1"
# Internal: holds on points, commanded by rewards, answered by points (both keyed by member_id).
POINTS_COMMANDS = "incentives.points.commands.v1"
POINTS_REPLIES = "incentives.points.replies.v1"

DLQ_SUFFIX = ".dlq"

DAY_MS = 24 * 3600 * 1000


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    key: str
    role: str  # inbound | outbound | internal | dlq


_BASE = [
    TopicSpec(MEMBERS, 6, 30 * DAY_MS, "member_id", "inbound"),
    TopicSpec(REPORTS, 6, 30 * DAY_MS, "report_id", "inbound"),
    TopicSpec(VOLUNTEER, 6, 30 * DAY_MS, "member_id", "inbound"),
    TopicSpec(REDEMPTIONS, 6, 30 * DAY_MS, "member_id", "inbound"),
    # A few hundred departments at most, changed now and then: few partitions are plenty.
    TopicSpec(DIRECTORY, 3, 30 * DAY_MS, "department_id", "inbound"),
    TopicSpec(POINTS, 6, 30 * DAY_MS, "member_id", "outbound"),
    TopicSpec(REWARDS, 6, 30 * DAY_MS, "member_id", "outbound"),
    TopicSpec(NOTIFICATIONS, 6, 7 * DAY_MS, "member_id", "outbound"),
    TopicSpec(REPORTS_LIFECYCLE, 6, 30 * DAY_MS, "member_id", "internal"),
    TopicSpec(POINTS_COMMANDS, 6, 30 * DAY_MS, "member_id", "internal"),
    TopicSpec(POINTS_REPLIES, 6, 30 * DAY_MS, "member_id", "internal"),
]

# Dead letters are kept longer than their source so an operator has time to look and replay.
ALL_TOPICS: tuple[TopicSpec, ...] = tuple(
    _BASE + [TopicSpec(dlq_topic(t.name), 1, 90 * DAY_MS, t.key, "dlq") for t in _BASE]
)


def spec(name: str) -> TopicSpec:
    for t in ALL_TOPICS:
        if t.name == name:
            return t
    raise KeyError(name)


# Which topic carries each event type: the one table, so that emitting an event names no topic
# (`UnitOfWork.emit`). shared/tests/test_topics.py checks it against every type of events.py.
TYPES: dict[str, tuple[str, ...]] = {
    MEMBERS: ("member.registered", "member.updated", "member.deactivated"),
    REPORTS: (
        "report.submitted",
        "report.status_changed",
        "report.rated",
        "need.submitted",
        "need.status_changed",
        "need.rated",
    ),
    DIRECTORY: ("department.registered", "department.updated", "provider.registered", "provider.updated"),
    VOLUNTEER: ("volunteer.attendance_confirmed", "volunteer.attendance_revoked"),
    REDEMPTIONS: ("redemption.requested",),
    REPORTS_LIFECYCLE: (
        "report.verified",
        "report.lifecycle_changed",
        "report.rating_recorded",
        "report.verification_reversed",
        "report.overdue",
        "need.lifecycle_changed",
        "need.rating_recorded",
        "need.overdue",
    ),
    POINTS: ("points.credited", "points.reversed", "points.debited", "points.capped", "member.level_changed"),
    POINTS_COMMANDS: ("points.place_hold", "points.capture_hold", "points.release_hold", "points.refund_hold"),
    POINTS_REPLIES: (
        "points.hold_placed",
        "points.hold_rejected",
        "points.hold_captured",
        "points.hold_released",
        "points.hold_expired",
        "points.hold_refunded",
        "points.hold_command_refused",
    ),
    REWARDS: (
        "redemption.confirmed",
        "redemption.rejected",
        "redemption.fulfilled",
        "redemption.cancelled",
        "allocation.won",
        "allocation.lost",
        "allocation.disqualified",
    ),
    NOTIFICATIONS: ("notification.created",),
}
_TOPIC_OF = {type_: topic for topic, types in TYPES.items() for type_ in types}


def topic_of(event_type: str) -> str:
    """The topic events of this type are published on; KeyError for a type no topic carries."""
    return _TOPIC_OF[event_type]
