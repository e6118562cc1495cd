"""Posting a run of transfers (points.transfers.post) on an in-memory repository: what it announces,
in which order, and what it does with an id posted before.

The real statements are checked on PostgreSQL by tests/integration/test_batch_credits.py (a run
posted at once ends as posting one transfer after another) and test_points_model.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
from incentives_kernel import outbox
from incentives_kernel.outcome import UnitOfWork
from points import levels, policy
from points import repository as repo
from points.ledger import Balance, Move, adjustment_account, issuance_account, member_account
from points.transfers import Earned, Posting, Reversal, post

TODAY = levels.today("Asia/Shanghai")
AT = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)


class Ledger:
    """The points tables the posting touches, in memory."""

    def __init__(self) -> None:
        self.transfers: list[str] = []
        self.balances: dict[str, Balance] = {}
        self.by_day: dict[tuple[str, date], int] = {}
        self.levels: dict[str, int] = {}

    async def insert_transfers(self, _conn: object, ts: Sequence[repo.NewTransfer]) -> set[str]:
        assert len({t.transfer_id for t in ts}) == len(ts), "the run's ids reach the table distinct"
        new = [t.transfer_id for t in ts if t.transfer_id not in self.transfers]
        self.transfers += new
        return set(new)

    async def apply_to_members(self, _conn: object, moves: Mapping[str, Move]) -> dict[str, Balance]:
        for m, mv in moves.items():
            b = self.balances.get(m, Balance(0, 0, 0))
            self.balances[m] = Balance(b.credits + mv.credit, b.debits + mv.debit, b.held - mv.release)
        return {m: self.balances[m] for m in moves}

    async def add_earned_points(self, _conn: object, by_day: dict[tuple[str, date], int], _periods: object) -> None:
        for k, v in by_day.items():
            self.by_day[k] = self.by_day.get(k, 0) + v

    async def earned_in_window_many(self, _conn: object, member_ids: Sequence[str], first: date) -> dict[str, int]:
        return {m: sum(v for (who, d), v in self.by_day.items() if who == m and d >= first) for m in member_ids}

    async def lock_announced_levels(self, _conn: object, member_ids: Sequence[str]) -> dict[str, int]:
        return {m: self.levels.get(m, 0) for m in member_ids}

    async def set_levels(self, _conn: object, moved: dict[str, tuple[int, int]]) -> None:
        self.levels |= {m: level for m, (level, _) in moved.items()}


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> Ledger:
    fake = Ledger()
    for name in (
        "insert_transfers",
        "apply_to_members",
        "add_earned_points",
        "earned_in_window_many",
        "lock_announced_levels",
        "set_levels",
    ):
        monkeypatch.setattr(repo, name, getattr(fake, name))
    return fake


def transfer(
    tid: str, member: str, amount: int, *, credit: bool = True, kind: str = "report", reverses: str | None = None
) -> repo.NewTransfer:
    mine, system = member_account(member), (issuance_account if credit else adjustment_account)("d")
    return repo.NewTransfer(
        transfer_id=tid,
        debit_account=system if credit else mine,
        credit_account=mine if credit else system,
        amount=amount,
        kind=kind,
        member_id=member,
        rule_version="v",
        reason="r",
        source="/t",
        source_event_id=f"e-{tid}",
        occurred_at=AT,
        ref=tid,
        reverses=reverses,
    )


async def run_post(run: Sequence[Posting | None]) -> tuple[list[Balance | None], list[Any]]:
    """Post `run`; the results and what was emitted, in order, with a mark where `then(i)` ran."""
    said: list[Any] = []

    async def write(_conn: object, rows: Sequence[outbox.Row]) -> None:
        said.extend(json.loads(r.value) for r in rows)

    uow = UnitOfWork(object(), "/incentives/points", write=write)  # type: ignore[arg-type]
    marks: list[tuple[int, int]] = []

    async def then(i: int) -> None:
        marks.append((uow.emitted, i))

    results = await post(uow, run, rules=policy.DEFAULT, timezone="Asia/Shanghai", then=then)
    await uow.flush()
    for at, i in reversed(marks):
        said.insert(at, f"then {i}")
    return results, said


def brief(said: list[Any]) -> list[Any]:
    return [s if isinstance(s, str) else (s["type"], s["data"].get("balance", s["data"].get("to_level"))) for s in said]


async def test_each_transfer_is_announced_with_its_balance_and_level_then_the_callers_step(ledger: Ledger) -> None:
    earned = Earned(TODAY, "d")
    run = [
        Posting(transfer("t1", "m", 30), earned=earned),
        None,  # a step that posts nothing (a credit the cap cut whole): the caller's step still runs
        Posting(transfer("t2", "n", 5), earned=earned),
        Posting(transfer("t3", "m", 30), earned=earned),  # m's 365-day figure reaches 60: level 1
        Posting(transfer("t4", "m", 10, credit=False, kind="adjustment")),
    ]
    results, said = await run_post(run)
    assert brief(said) == [
        ("points.credited", 30),
        "then 0",
        "then 1",
        ("points.credited", 5),
        "then 2",
        ("member.level_changed", 1),
        ("points.credited", 60),
        "then 3",
        ("points.debited", 50),
        "then 4",
    ]
    assert [r.available if r else None for r in results] == [30, None, 5, 60, 50]
    assert ledger.levels == {"m": 1}  # n earned 5: no move, nothing set
    assert said[5]["data"] | {"occurred_at": None} == {
        "member_id": "m",
        "from_level": 0,
        "to_level": 1,
        "earned_365d": 60,
        "cause": "earned",
        "occurred_at": None,
    }


async def test_a_transfer_posted_before_or_twice_in_the_run_is_posted_once(ledger: Ledger) -> None:
    ledger.transfers.append("old")
    ledger.balances["m"] = Balance(100, 0, 0)
    again = Posting(transfer("t1", "m", 7))
    results, said = await run_post([Posting(transfer("old", "m", 50)), again, again, None])
    assert results == [None, Balance(107, 0, 0), None, None]
    assert brief(said) == ["then 0", ("points.credited", 107), "then 1", "then 2", "then 3"]
    assert ledger.transfers == ["old", "t1"] and ledger.balances["m"] == Balance(107, 0, 0)


async def test_a_captured_hold_and_a_reversal_in_one_run(ledger: Ledger) -> None:
    ledger.balances["m"] = Balance(credits=100, debits=0, held=40)
    ledger.by_day[("m", TODAY)] = 100
    ledger.levels["m"] = 1
    capture = Posting(transfer("cap", "m", 40, credit=False, kind="redemption"), from_hold=True)
    back = Posting(
        transfer("rev", "m", 60, credit=False, kind="reversal", reverses="t0"),
        earned=Earned(TODAY, "d"),
        reversal=Reversal("report", "invalid"),
    )
    results, said = await run_post([capture, back])
    assert results == [Balance(100, 40, 0), Balance(100, 100, 0)]
    assert brief(said) == [
        ("points.debited", 60),
        "then 0",
        ("member.level_changed", 0),
        ("points.reversed", 0),
        "then 1",
    ]
    assert said[2]["data"]["cause"] == "reversed" and said[2]["data"]["earned_365d"] == 40
    assert said[3]["data"]["earned_day"] == TODAY.isoformat() and said[3]["data"]["cause"] == "invalid"
    assert ledger.levels == {"m": 0}
