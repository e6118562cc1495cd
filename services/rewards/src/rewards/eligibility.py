"""Who may redeem or apply for a reward, and if not, the contract's reason and the exact detail. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from incentives_kernel.events import RedemptionRejectionReason as Reason
from incentives_kernel.members import Member


@dataclass(frozen=True, slots=True)
class RewardTerms:
    reward_id: str
    kind: str
    min_star_level: int
    per_member_limit: int | None
    districts: Sequence[str]
    active_from: datetime | None
    active_until: datetime | None


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: Reason
    detail: str


def check(
    reward: RewardTerms | None,
    member: Member | None,
    *,
    star_level: int,
    taken_this_year: int,
    now: datetime,
    kind: str,
) -> Refusal | None:
    """None if eligible; otherwise the first failing rule, in the order a rider would want to hear them."""
    if member is None:
        return Refusal(Reason.UNKNOWN_MEMBER, "no such member is registered")
    if reward is None:
        return Refusal(Reason.REWARD_INACTIVE, "no such reward")
    if reward.active_from is not None and now < reward.active_from:
        return Refusal(Reason.REWARD_INACTIVE, f"the reward opens at {reward.active_from.isoformat()}")
    if reward.active_until is not None and now >= reward.active_until:
        return Refusal(Reason.REWARD_INACTIVE, f"the reward closed at {reward.active_until.isoformat()}")
    if reward.kind != kind:
        how = "applied for in an allocation round" if reward.kind == "allocation" else "redeemed directly"
        return Refusal(Reason.NOT_ELIGIBLE, f"this reward is {how}")
    if not member.active:
        return Refusal(Reason.NOT_ELIGIBLE, "the member is deactivated")
    if reward.districts and member.district not in reward.districts:
        return Refusal(Reason.NOT_ELIGIBLE, f"the reward is for districts {', '.join(reward.districts)}")
    if star_level < reward.min_star_level:
        return Refusal(Reason.NOT_ELIGIBLE, f"needs {reward.min_star_level} stars; the member has {star_level}")
    if reward.per_member_limit is not None and taken_this_year >= reward.per_member_limit:
        return Refusal(Reason.LIMIT_REACHED, f"at most {reward.per_member_limit} per member and calendar year")
    return None
