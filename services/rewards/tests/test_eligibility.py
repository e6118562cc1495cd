"""Eligibility: each failure gives the contract's reason and a detail, in the order riders hear them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incentives_kernel.events import RedemptionRejectionReason as Reason
from incentives_kernel.members import Member
from rewards.eligibility import RewardTerms, check

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
MEMBER = Member("m1", "nanqu", "zh-CN", True)
REWARD = RewardTerms("r1", "instant", 2, 1, ["nanqu"], NOW - timedelta(days=1), NOW + timedelta(days=1))


def reason(reward: RewardTerms | None = REWARD, member: Member | None = MEMBER, **kw: object) -> Reason | None:
    args = {"star_level": 3, "taken_this_year": 0, "now": NOW, "kind": "instant"} | kw
    refusal = check(reward, member, **args)  # type: ignore[arg-type]
    assert refusal is None or refusal.detail
    return refusal.reason if refusal else None


def test_eligible() -> None:
    assert reason() is None


def test_each_rule() -> None:
    assert reason(member=None) is Reason.UNKNOWN_MEMBER
    assert reason(reward=None) is Reason.REWARD_INACTIVE
    assert reason(now=NOW - timedelta(days=2)) is Reason.REWARD_INACTIVE
    assert reason(now=NOW + timedelta(days=1)) is Reason.REWARD_INACTIVE  # active_until is exclusive
    assert reason(kind="allocation") is Reason.NOT_ELIGIBLE
    assert reason(member=Member("m1", "nanqu", "zh-CN", False)) is Reason.NOT_ELIGIBLE
    assert reason(member=Member("m1", "beiqu", "zh-CN", True)) is Reason.NOT_ELIGIBLE
    assert reason(star_level=1) is Reason.NOT_ELIGIBLE
    assert reason(taken_this_year=1) is Reason.LIMIT_REACHED


def test_unknown_member_comes_before_anything_about_the_reward() -> None:
    assert reason(reward=None, member=None) is Reason.UNKNOWN_MEMBER


def test_no_limit_and_all_districts() -> None:
    open_reward = RewardTerms("r2", "instant", 0, None, [], None, None)
    assert reason(reward=open_reward, taken_this_year=1000, member=Member("x", "anywhere", "en", True)) is None
