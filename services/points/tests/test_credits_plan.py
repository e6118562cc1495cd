"""Deciding a run of earnings at once (points.credits.plan): as `earn` would, one event after another."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from incentives_kernel.envelope import ParsedEvent, parse_event
from incentives_kernel.events import ALL_TYPES
from incentives_kernel.outcome import OneByOne
from points import policy
from points.credits import Decided, Reversing, Skip, Step, asked_of, plan
from points.metrics import PointsMetrics
from points.usecases import Deps, Original, earning_of
from prometheus_client import CollectorRegistry

NOON = "2026-11-23T12:00:00+08:00"
DAY = date(2026, 11, 23)
DEPS = Deps(PointsMetrics(CollectorRegistry()), "Asia/Shanghai")


def parsed(type_: str, data: dict[str, object], time: str = NOON) -> ParsedEvent:
    raw = {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/t", "type": type_, "time": time, "data": data}
    return parse_event(json.dumps(raw).encode(), ALL_TYPES)


def report(member: str, ref: str, category: str = "fire_hazard", time: str = NOON) -> ParsedEvent:
    data = {"report_id": ref, "member_id": member, "category": category, "district": "x", "status": "accepted"}
    return parsed("report.verified", {**data, "verified_at": time}, time)


def volunteering(member: str, ref: str, hours: float) -> ParsedEvent:
    data = {"attendance_id": ref, "activity_id": "a", "activity_title": "t", "member_id": member, "hours": hours}
    return parsed("volunteer.attendance_confirmed", {**data, "organizer": "o", "started_at": NOON, "ended_at": NOON})


def reversal(member: str, ref: str) -> ParsedEvent:
    data = {"report_id": ref, "member_id": member, "reason": "invalid", "reversed_at": NOON}
    return parsed("report.verification_reversed", data)


def decide(
    events: list[ParsedEvent],
    recorded: set[str] | None = None,
    earned: dict[tuple[str, date], int] | None = None,
    originals: dict[str, Original] | None = None,
) -> list[Step]:
    asks = [asked_of(e, DEPS) for e in events]
    return plan(events, asks, recorded or set(), earned or {}, DEPS, originals)


def test_the_cap_runs_across_the_run_from_what_the_day_already_earned() -> None:
    steps = decide(
        [report("m1", "r1"), report("m2", "r2"), report("m1", "r3"), report("m1", "r4")], earned={("m1", DAY): 35}
    )
    assert [(s.member_id, s.decision) for s in steps if isinstance(s, Decided)] == [
        ("m1", policy.CapDecision(10, 0)),
        ("m2", policy.CapDecision(10, 0)),
        ("m1", policy.CapDecision(5, 5)),
        ("m1", policy.CapDecision(0, 10)),
    ]


def test_a_day_later_has_its_own_cap() -> None:
    steps = decide([report("m1", "r1"), report("m1", "r2", time="2026-11-24T09:00:00+08:00")], earned={("m1", DAY): 50})
    assert [(s.day, s.credited) for s in steps if isinstance(s, Decided)] == [(DAY, 0), (date(2026, 11, 24), 10)]


def test_what_was_credited_before_or_earlier_in_the_run_earns_nothing_again() -> None:
    before = earning_of(report("m1", "r1"), DEPS)
    assert not isinstance(before, str)
    events = [report("m1", "r1"), report("m1", "r2"), report("m1", "r2"), volunteering("m1", "a1", 0.2)]
    steps = decide(events, recorded={before.ids[0]})
    assert [s.why if isinstance(s, Skip) else s.credited for s in steps] == [
        "already credited",
        10,
        "already credited",
        "0.2 h is less than half an hour: nothing to credit",
    ]


def test_volunteering_is_not_capped() -> None:
    steps = decide([volunteering("m1", "a1", 24)], earned={("m1", DAY): 50})
    assert [s.credited for s in steps if isinstance(s, Decided)] == [240]


@given(
    st.lists(
        st.tuples(st.sampled_from(["m1", "m2"]), st.sampled_from(["fire_hazard", "sanitation", "other"])), max_size=30
    )
)
def test_per_member_and_day_nothing_passes_the_cap_and_nothing_is_unaccounted(run: list[tuple[str, str]]) -> None:
    events = [report(member, f"r{i}", category) for i, (member, category) in enumerate(run)]
    steps = decide(events, earned={("m1", DAY): 20})
    totals = {"m1": 20, "m2": 0}
    for (member, category), step in zip(run, steps, strict=True):
        assert isinstance(step, Decided)
        assert step.decision.credited + step.decision.cut == policy.REPORT_POINTS[category]
        totals[member] += step.credited
    assert all(t <= policy.DAILY_CAP for t in totals.values())
    for member, before in (("m1", 20), ("m2", 0)):
        asked = sum(policy.REPORT_POINTS[c] for m, c in run if m == member)
        assert totals[member] == min(policy.DAILY_CAP, before + asked)


def test_a_reversal_takes_back_a_credit_before_it_in_the_run_or_the_ledger_and_nothing_after_it() -> None:
    before = earning_of(report("m1", "old"), DEPS)
    assert not isinstance(before, str)
    ledger = Original("m1", "issuance:d1", 6, "report", datetime(2026, 11, 22, 4, tzinfo=UTC))
    events = [
        reversal("m1", "r1"),  # before its credit: nothing to reverse (yet)
        report("m1", "r1"),
        reversal("m1", "r1"),
        reversal("m1", "old"),
        report("m1", "r2"),  # 10 more after 45: 5 credited
        report("m1", "r3"),  # cut to nothing: nothing to reverse
        reversal("m1", "r3"),
        reversal("m1", "r2"),
    ]
    steps = decide(events, recorded={before.ids[0]}, earned={("m1", DAY): 35}, originals={before.ids[0]: ledger})
    assert isinstance(steps[0], Skip) and steps[0].why.startswith("nothing was credited for report r1")
    assert isinstance(steps[2], Reversing) and steps[2].original is steps[1]
    assert isinstance(steps[3], Reversing) and steps[3].original is ledger
    assert isinstance(steps[6], Skip)
    r2 = steps[7]
    assert isinstance(r2, Reversing) and isinstance(r2.original, Decided) and r2.original.credited == 5


def test_a_reversal_of_another_members_credit_is_left_to_reverse_one_by_one() -> None:
    with pytest.raises(OneByOne):
        decide([report("m1", "r1"), reversal("m2", "r1")])
