"""Pydantic models for the `data` of every event type of the public contract, with its limits.

Inbound models ignore unknown fields (the contract is forward compatible). Outbound and internal
models are what this system publishes; they document the payloads in AsyncAPI and docs/contract.md.
Not here: the CloudEvents envelope and parsing (envelope.py), which topic carries a type (topics.py),
and any decision about an event (the services' use cases).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import topics
from .logging import PERSONAL_TOKEN, holds_personal_number, redact_text

ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"


def _not_personal(value: str) -> str:
    # Identifiers end up in keys, URLs, logs and the inbox: a phone or identity number must not be one.
    if PERSONAL_TOKEN.search(value):  # holds_personal_number, without a call per identifier
        raise ValueError("must not contain a phone or identity number")
    return value


Identifier = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=64), AfterValidator(_not_personal)]


def _https_only(url: HttpUrl) -> HttpUrl:
    if url.scheme != "https":
        raise ValueError("photo url must use https")
    if holds_personal_number(str(url)):
        raise ValueError("photo url must not contain a phone or identity number")
    return url


HttpsUrl = Annotated[HttpUrl, AfterValidator(_https_only)]

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339_text(value: object) -> object:
    # pydantic would also take Unix timestamps; the contract says RFC 3339 with an offset.
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 time with an offset, e.g. 2026-11-21T08:30:00+08:00")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]


# Fields kept as sent: the personal ones (never stored, see docs/security-intake.md) and exact values.
_NOT_FREE_TEXT = frozenset({"phone", "id_number", "sha256"})


class EventData(BaseModel):
    """Base of inbound payloads: unknown fields are ignored, strings are stripped, and a phone or
    identity number written into free text (a description, a note) is masked before anything
    stores it: a rider's "call me on 138..." must not sit in clear in every service's tables."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _mask_personal_data_in_text(cls, value: object, info: ValidationInfo) -> object:
        if type(value) is not str:
            return value
        if "\x00" in value:  # PostgreSQL cannot store it: refuse it here, not fail in a use case
            raise ValueError("must not contain NUL characters")
        name = info.field_name or ""
        if name not in _NOT_FREE_TEXT and not name.endswith("_id"):
            return redact_text(value)
        return value


class OutboundData(BaseModel):
    """Base of payloads this system publishes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- members (incentives.members.v1)


class Occupation(StrEnum):
    COURIER = "courier"
    FOOD_DELIVERY = "food_delivery"
    RIDE_HAILING = "ride_hailing"
    TRUCK_DRIVER = "truck_driver"
    OTHER = "other"


class Locale(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class MemberRegistered(EventData):
    member_id: Identifier
    name: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=3, max_length=32, repr=False)
    # Contract extension (optional): the resident identity number, for registries that send it. It
    # is validated and then dropped: no service stores it (docs/security-intake.md).
    id_number: str | None = Field(default=None, pattern=r"^(\d{15}|\d{17}[\dXx])$", repr=False)
    occupation: Occupation
    platform: str | None = Field(default=None, max_length=64)
    district: str = Field(min_length=1, max_length=64)
    grid_id: str | None = Field(default=None, max_length=64)
    locale: Locale = Locale.ZH_CN
    registered_at: Rfc3339


class MemberUpdated(MemberRegistered):
    pass


class MemberDeactivated(EventData):
    member_id: Identifier
    reason: str = Field(min_length=1, max_length=500)


# ---------------------------------------------------------------- reports (incentives.reports.v1)


class ReportCategory(StrEnum):
    SHARED_BIKE_PARKING = "shared_bike_parking"
    FIRE_HAZARD = "fire_hazard"
    TRAFFIC_SAFETY = "traffic_safety"
    ROAD_DAMAGE = "road_damage"
    SANITATION = "sanitation"
    PUBLIC_FACILITY = "public_facility"
    ELDERLY_ASSISTANCE = "elderly_assistance"
    OTHER = "other"


class Location(EventData):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str | None = Field(default=None, max_length=256)


class Photo(EventData):
    url: HttpsUrl
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class ReportSubmitted(EventData):
    report_id: Identifier
    member_id: Identifier
    category: ReportCategory
    description: str = Field(default="", max_length=2000)
    location: Location
    photos: list[Photo] = Field(default_factory=list, max_length=9)
    submitted_at: Rfc3339


class ReportStatus(StrEnum):
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    # Version 2: a resolved report opened again by the dispatch platform (with a ReopenReason).
    REOPENED = "reopened"


class RejectionReason(StrEnum):
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    OUT_OF_SCOPE = "out_of_scope"
    FRAUDULENT = "fraudulent"


class ReopenReason(StrEnum):
    """Why a resolved report or need is open again."""

    REWORK = "rework"
    BAD_RATING = "bad_rating"
    OTHER = "other"


class CaseState(StrEnum):
    """Every state a report or need can be in: submitted, then the statuses the dispatch platform sends."""

    SUBMITTED = "submitted"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    REOPENED = "reopened"


def _check_status_reason(what: str, status: str, reason: StrEnum | None, rejections: type[StrEnum]) -> None:
    """`rejected` needs a rejection reason of its kind, `reopened` a reopen reason; other statuses may
    carry either (it is not kept). The two vocabularies share no value, so a reason names its use."""
    if status == CaseState.REJECTED and not isinstance(reason, rejections):
        allowed = " | ".join(r.value for r in rejections)
        raise ValueError(f"a rejected {what} needs a reason: {allowed}")
    if status == CaseState.REOPENED and not isinstance(reason, ReopenReason):
        allowed = " | ".join(r.value for r in ReopenReason)
        raise ValueError(f"a reopened {what} needs a reason: {allowed}")


class ReportStatusChanged(EventData):
    report_id: Identifier
    status: ReportStatus
    # The department handling it: a registered department's id or name, or any other label (an
    # unregistered department: applied, and shown as unregistered). `dispatched` naming another
    # department than the one holding the report is a transfer.
    department: str | None = Field(default=None, max_length=128)
    reason: RejectionReason | ReopenReason | None = None
    note: str | None = Field(default=None, max_length=1000)
    changed_at: Rfc3339

    @model_validator(mode="after")
    def _status_needs_its_reason(self) -> ReportStatusChanged:
        _check_status_reason("report", self.status, self.reason, RejectionReason)
        return self


class ReportRated(EventData):
    report_id: Identifier
    member_id: Identifier
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=500)


# ---------------------------------------------------------------- needs (incentives.reports.v1, key need_id)
# Version 2: riders' own needs ("micro-wishes", 小哥点单) run the same loop as reports.


class NeedCategory(StrEnum):
    CHILDCARE = "childcare"
    LEGAL_AID = "legal_aid"
    HEALTH = "health"
    HOUSING = "housing"
    TRAINING = "training"
    REST_AND_CHARGING = "rest_and_charging"
    OTHER = "other"


class NeedStatus(StrEnum):
    """The same statuses as a report's."""

    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    REOPENED = "reopened"


class NeedRejectionReason(StrEnum):
    DUPLICATE = "duplicate"
    OUT_OF_SCOPE = "out_of_scope"
    CANNOT_HELP = "cannot_help"


class NeedSubmitted(EventData):
    need_id: Identifier
    member_id: Identifier
    category: NeedCategory
    description: str = Field(min_length=1, max_length=2000)
    location: Location | None = None
    submitted_at: Rfc3339


class NeedStatusChanged(EventData):
    need_id: Identifier
    status: NeedStatus
    department: str | None = Field(default=None, max_length=128)
    reason: NeedRejectionReason | ReopenReason | None = None
    note: str | None = Field(default=None, max_length=1000)
    changed_at: Rfc3339

    @model_validator(mode="after")
    def _status_needs_its_reason(self) -> NeedStatusChanged:
        _check_status_reason("need", self.status, self.reason, NeedRejectionReason)
        return self


class NeedRated(EventData):
    need_id: Identifier
    member_id: Identifier
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=500)


# ---------------------------------------------------------------- directory (incentives.directory.v1)
# Version 2: the departments that take cases on, registered by the district's department registry.


def _unique_districts(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("districts must not repeat")
    return value


class DepartmentRegistered(EventData):
    department_id: Identifier
    name: str = Field(min_length=1, max_length=128)
    # The districts it serves; empty: all.
    districts: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]],
        Field(max_length=100),
        AfterValidator(_unique_districts),
    ] = Field(default_factory=list)


class DepartmentUpdated(DepartmentRegistered):
    pass


class ProviderRegistered(EventData):
    """Version 2: a partner shop, rider station, hospital or school office that may redeem vouchers (the
    rewards service keeps the registry; operators may also register over HTTP). Keyed by provider_id."""

    provider_id: Identifier
    name: str = Field(min_length=1, max_length=128)
    kind: Literal["station", "shop", "hospital", "school_office", "other"]
    address: str = Field(default="", max_length=500)
    location: Location
    opening_hours: str = Field(default="", max_length=200)
    active: bool = True


class ProviderUpdated(ProviderRegistered):
    pass


# ---------------------------------------------------------------- volunteer (incentives.volunteer.v1)


class AttendanceConfirmed(EventData):
    attendance_id: Identifier
    activity_id: Identifier
    activity_title: str = Field(min_length=1, max_length=200)
    member_id: Identifier
    hours: float = Field(gt=0, le=24)
    organizer: str = Field(min_length=1, max_length=200)
    started_at: Rfc3339
    ended_at: Rfc3339


class AttendanceRevoked(EventData):
    attendance_id: Identifier
    member_id: Identifier
    reason: str = Field(min_length=1, max_length=500)


# ---------------------------------------------------------------- redemptions (incentives.redemptions.v1)


class RedemptionRequested(EventData):
    redemption_id: Identifier
    member_id: Identifier
    reward_id: Identifier


# ---------------------------------------------------------------- internal: reports -> points, notify
# Topic incentives.reports.lifecycle.v1, keyed by member_id (it touches balances: per-member order).


class ReportVerified(OutboundData):
    """A report first reached accepted or resolved and is not a duplicate: it may earn points."""

    report_id: Identifier
    member_id: Identifier
    category: ReportCategory
    district: str
    status: ReportStatus
    verified_at: datetime


class ReportLifecycleChanged(OutboundData):
    """A report moved to a new status, or to another department; riders are told (dispatched,
    transferred, accepted, resolved, rejected, reopened)."""

    report_id: Identifier
    member_id: Identifier
    category: ReportCategory
    status: ReportStatus
    reason: RejectionReason | ReopenReason | None = None
    department: str | None = None
    previous_department: str | None = Field(
        default=None, description="the department that held it before, when this step moved it to another"
    )
    transfer: bool = Field(default=False, description="the step moved it from one department to another")
    changed_at: datetime


class ReportVerificationReversed(OutboundData):
    """A verified report was rejected as invalid or fraudulent: its points must be reversed."""

    report_id: Identifier
    member_id: Identifier
    reason: RejectionReason
    reversed_at: datetime


class ReportOverdue(OutboundData):
    """A report was neither resolved nor rejected within its SLA (announced once)."""

    report_id: Identifier
    member_id: Identifier
    category: ReportCategory
    district: str
    grid_id: str | None = None
    district_source: str | None = Field(default=None, description="location | member")
    department: str | None = None
    status: str
    submitted_at: datetime
    due_at: datetime
    overdue_at: datetime


class ReportRatingRecorded(OutboundData):
    """The reporter rated the handling of their own resolved report (first rating only)."""

    report_id: Identifier
    member_id: Identifier
    rating: int = Field(ge=1, le=5)
    rated_at: datetime


# Version 2: a need's steps, for notify (every step) and points (the rating point).


class NeedLifecycleChanged(OutboundData):
    """A need was received, moved to a new status, or to another department: the rider is told."""

    need_id: Identifier
    member_id: Identifier
    category: NeedCategory
    status: CaseState
    reason: NeedRejectionReason | ReopenReason | None = None
    department: str | None = None
    previous_department: str | None = None
    transfer: bool = False
    district: str | None = None
    changed_at: datetime


class NeedRatingRecorded(OutboundData):
    """The asker rated the help with their own resolved need for the first time: it earns the rating
    point (a need earns nothing else). A rating after a reopening is kept but not announced here."""

    need_id: Identifier
    member_id: Identifier
    rating: int = Field(ge=1, le=5)
    rated_at: datetime


class NeedOverdue(OutboundData):
    """A need was neither resolved nor rejected within its SLA (announced once)."""

    need_id: Identifier
    member_id: Identifier
    category: NeedCategory
    district: str
    grid_id: str | None = None
    district_source: str | None = None
    department: str | None = None
    status: str
    submitted_at: datetime
    due_at: datetime
    overdue_at: datetime


# ---------------------------------------------------------------- outbound: incentives.points.v1


class PointsCredited(OutboundData):
    member_id: Identifier
    transfer_id: str
    amount: int = Field(gt=0)
    kind: str = Field(description="report | rating | volunteer | adjustment | refund")
    ref: str = Field(
        description="what earned: the report id or attendance id (an adjustment: its id; a refund: the hold id)"
    )
    reason: str = Field(description="an operator-facing explanation (riders get a localized text from notify)")
    rule_version: str
    balance: int
    source_event: SourceRef
    occurred_at: datetime
    earned_day: date | None = Field(
        default=None,
        description="the business day these points count on for star levels and rankings; null when they are not"
        " earned (adjustments, refunds)",
    )


class SourceRef(OutboundData):
    source: str
    id: str


PointsCredited.model_rebuild()


class PointsDebited(OutboundData):
    """Points spent (a captured hold: a redemption) or removed by an operator's adjustment."""

    member_id: Identifier
    transfer_id: str
    amount: int = Field(gt=0)
    kind: str = Field(description="redemption | adjustment")
    ref: str = Field(description="the hold id, or the adjustment id")
    reason: str
    rule_version: str
    balance: int
    occurred_at: datetime


class PointsReversed(OutboundData):
    """A compensating transfer took back what an earlier credit gave (the ledger is never edited)."""

    member_id: Identifier
    transfer_id: str
    reverses: str = Field(description="the transfer_id of the credit taken back")
    cause: str | None = Field(default=None, description="for a report: invalid | fraudulent; an attendance: revoked")
    kind: str = Field(description="what was reversed: report | volunteer")
    ref: str
    amount: int = Field(gt=0)
    reason: str
    rule_version: str
    balance: int = Field(description="available after the reversal; may be below zero")
    source_event: SourceRef
    occurred_at: datetime
    earned_day: date | None = Field(
        default=None, description="the business day the reversed points come off (the day they were earned)"
    )


class PointsCapped(OutboundData):
    """The daily cap cut (part of) a credit: what was asked, what was credited, and why."""

    member_id: Identifier
    kind: str
    ref: str
    requested: int = Field(gt=0)
    credited: int = Field(ge=0)
    cut: int = Field(gt=0)
    day: str = Field(description="the business day (ISO date) in the configured timezone")
    cap: int
    reason: str
    rule_version: str
    source_event: SourceRef
    occurred_at: datetime


class MemberLevelChanged(OutboundData):
    """A member's star level moved: earned points in the trailing 365 days crossed a threshold."""

    member_id: Identifier
    from_level: int = Field(ge=0, le=5)
    to_level: int = Field(ge=0, le=5)
    earned_365d: int
    cause: str = Field(description="earned | reversed | aged_out")
    occurred_at: datetime


# ---------------------------------------------------------------- internal: holds (points.commands / points.replies)
# Commands are imperative (points.place_hold); replies are past tense (points.hold_placed).


class PlaceHold(EventData):
    """Reserve `amount` of a member's available points until captured, released or expired."""

    hold_id: Identifier
    member_id: Identifier
    amount: int = Field(gt=0, le=1_000_000)
    reason: str = Field(min_length=1, max_length=200)
    ttl_s: int = Field(default=900, ge=1, le=30 * 24 * 3600, description="expires this long after it is placed")


class CaptureHold(EventData):
    """Debit the held points for good (the redemption is confirmed)."""

    hold_id: Identifier
    member_id: Identifier


class ReleaseHold(EventData):
    """Give the held points back (the redemption failed or was cancelled before capture)."""

    hold_id: Identifier
    member_id: Identifier
    reason: str = Field(min_length=1, max_length=200)


class RefundHold(EventData):
    """Give back the points of a captured hold (a confirmed redemption was cancelled)."""

    hold_id: Identifier
    member_id: Identifier
    reason: str = Field(min_length=1, max_length=200)


class HoldReply(OutboundData):
    """The outcome of a hold command, or of an expiry: one state per hold and reply type."""

    hold_id: str
    member_id: Identifier
    amount: int
    status: str = Field(description="pending | captured | released | expired | refunded | rejected | unknown")
    reason: str | None = Field(
        default=None,
        description="rejected: insufficient_points | member_deactivated; refused: unknown_hold | hold_not_pending"
        " | expired; released: the release reason; expired: expired",
    )
    available: int | None = Field(default=None, description="the member's available points after it")
    expires_at: datetime | None = None
    transfer_id: str | None = Field(default=None, description="the debit, when captured; the credit, when refunded")
    occurred_at: datetime


# ---------------------------------------------------------------- outbound: incentives.rewards.v1


class RedemptionRejectionReason(StrEnum):
    INSUFFICIENT_POINTS = "insufficient_points"
    OUT_OF_STOCK = "out_of_stock"
    NOT_ELIGIBLE = "not_eligible"
    LIMIT_REACHED = "limit_reached"
    REWARD_INACTIVE = "reward_inactive"
    UNKNOWN_MEMBER = "unknown_member"
    # Extension: points did not answer the hold in time (the saga gave the stock back).
    TIMED_OUT = "timed_out"


class RedemptionConfirmed(OutboundData):
    """Points debited, stock taken, a voucher issued (an instant redemption, or a won allocation place)."""

    redemption_id: str
    member_id: Identifier
    reward_id: Identifier
    reward_name: str
    kind: str = Field(description="instant | allocation")
    cost_points: int
    voucher_code: str
    round_id: str | None = None
    occurred_at: datetime


class RedemptionRejected(OutboundData):
    redemption_id: str
    member_id: Identifier
    reward_id: Identifier
    reward_name: str | None = Field(default=None, description="null when the reward does not exist")
    reason: RedemptionRejectionReason
    detail: str = Field(description="what exactly failed, for operators (riders get a localized text)")
    occurred_at: datetime


class RedemptionFulfilled(OutboundData):
    redemption_id: str
    member_id: Identifier
    reward_id: Identifier
    reward_name: str
    occurred_at: datetime


class RedemptionCancelled(OutboundData):
    """Points and stock given back (a confirmed redemption cancelled before fulfilment)."""

    redemption_id: str
    member_id: Identifier
    reward_id: Identifier
    reward_name: str
    points_returned: int
    cancelled_by: str = Field(description="member | operator | expiry (Version 2: a voucher not redeemed in time)")
    reason: str
    occurred_at: datetime


class AllocationWon(OutboundData):
    round_id: str
    member_id: Identifier
    reward_id: Identifier
    reward_name: str
    rank: int
    redemption_id: str
    voucher_code: str
    cost_points: int
    occurred_at: datetime


class AllocationLost(OutboundData):
    round_id: str
    member_id: Identifier
    reward_id: Identifier
    reward_name: str
    rank: int | None = Field(default=None, description="null when the application never entered the ranking")
    quota: int
    reason: str = Field(description="outranked | insufficient_points | not_eligible")
    occurred_at: datetime


class AllocationDisqualified(OutboundData):
    """Version 2: during the public notice an operator took a provisional winner's place away (with a
    reason); the points paid come back and the place passes on to the next in line."""

    round_id: str
    member_id: Identifier
    reward_id: Identifier
    reward_name: str
    rank: int | None
    reason: str = Field(description="the operator's reason, phone and identity numbers masked")
    points_returned: int
    occurred_at: datetime


# ---------------------------------------------------------------- outbound: incentives.notifications.v1


class NotificationCreated(OutboundData):
    notification_id: str
    member_id: Identifier
    kind: str
    locale: Locale
    title: str
    body: str
    created_at: datetime


# ---------------------------------------------------------------- type registry

COMMAND_TYPES: dict[str, type[BaseModel]] = {
    "points.place_hold": PlaceHold,
    "points.capture_hold": CaptureHold,
    "points.release_hold": ReleaseHold,
    "points.refund_hold": RefundHold,
}

# Every reply on incentives.points.replies.v1 carries a HoldReply; the type says what happened.
REPLY_TYPES: dict[str, type[BaseModel]] = {t: HoldReply for t in topics.TYPES[topics.POINTS_REPLIES]}

INBOUND_TYPES: dict[str, type[BaseModel]] = {
    "member.registered": MemberRegistered,
    "member.updated": MemberUpdated,
    "member.deactivated": MemberDeactivated,
    "report.submitted": ReportSubmitted,
    "report.status_changed": ReportStatusChanged,
    "report.rated": ReportRated,
    "need.submitted": NeedSubmitted,
    "need.status_changed": NeedStatusChanged,
    "need.rated": NeedRated,
    "department.registered": DepartmentRegistered,
    "department.updated": DepartmentUpdated,
    "provider.registered": ProviderRegistered,
    "provider.updated": ProviderUpdated,
    "volunteer.attendance_confirmed": AttendanceConfirmed,
    "volunteer.attendance_revoked": AttendanceRevoked,
    "redemption.requested": RedemptionRequested,
}

PUBLISHED_TYPES: dict[str, type[BaseModel]] = {
    "report.verified": ReportVerified,
    "report.lifecycle_changed": ReportLifecycleChanged,
    "report.rating_recorded": ReportRatingRecorded,
    "report.verification_reversed": ReportVerificationReversed,
    "report.overdue": ReportOverdue,
    "need.lifecycle_changed": NeedLifecycleChanged,
    "need.rating_recorded": NeedRatingRecorded,
    "need.overdue": NeedOverdue,
    "points.credited": PointsCredited,
    "points.reversed": PointsReversed,
    "points.debited": PointsDebited,
    "points.capped": PointsCapped,
    "member.level_changed": MemberLevelChanged,
    "redemption.confirmed": RedemptionConfirmed,
    "redemption.rejected": RedemptionRejected,
    "redemption.fulfilled": RedemptionFulfilled,
    "redemption.cancelled": RedemptionCancelled,
    "allocation.won": AllocationWon,
    "allocation.lost": AllocationLost,
    "allocation.disqualified": AllocationDisqualified,
    "notification.created": NotificationCreated,
}

ALL_TYPES: dict[str, type[BaseModel]] = {**INBOUND_TYPES, **COMMAND_TYPES, **REPLY_TYPES, **PUBLISHED_TYPES}

EventType = Literal[
    "member.registered",
    "member.updated",
    "member.deactivated",
    "report.submitted",
    "report.status_changed",
    "report.rated",
    "need.submitted",
    "need.status_changed",
    "need.rated",
    "department.registered",
    "department.updated",
    "provider.registered",
    "provider.updated",
    "volunteer.attendance_confirmed",
    "volunteer.attendance_revoked",
    "redemption.requested",
]
