"""The fault rig: the running system, how big a run is, waiting for it to settle, and the verdict.

`FaultRig.verdict` is the check after every fault: the full audit (settled, with the broker's
offsets), the history check (every sent event in every inbox that reads its topic, in a final
outcome), and the effects the history must come to (points per member, every report resolved and
rated, every redemption decided), counting what is lost and what is duplicated.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg
from incentives_ops import consumer_offsets
from incentives_ops.audit import SERVICES, SUBSCRIPTIONS, audit, check_history, render
from incentives_ops.provision import _with
from incentives_ops.stack import Stack

from tests.faults.load import History, Record, Sender, build

RESULTS = Path(os.environ.get("FAULTS_RESULTS", Path(__file__).parent / "results" / "latest.json"))


@dataclass(frozen=True)
class Scale:
    """How big a run is: `ci` (the default, inside `make test`) or `full` (`make faults`)."""

    name: str
    events: int  # per fault
    duration_s: float  # the load is spread over this long; the fault hits in its middle
    broker_pause_s: float
    outage_s: float  # how long a database or broker stays down
    storm_cycles: int
    settle_s: float  # liveness: lag back to 0 within this long after the fault heals

    @classmethod
    def from_env(cls) -> Scale:
        settle = float(os.environ.get("FAULTS_SETTLE_S", "60"))
        if os.environ.get("FAULTS_SCALE", "ci") == "full":
            return cls("full", 3000, 40.0, 20.0, 10.0, 5, settle)
        return cls("ci", 250, 6.0, 5.0, 2.0, 2, settle)


@dataclass
class Row:
    fault: str
    scale: str
    events_sent: int
    lost: int
    duplicated_effects: int
    recover_s: float
    invariants_checked: int
    invariants_failed: int


class FaultRig:
    def __init__(self, stack: Stack, scale: Scale, reward_id: str) -> None:
        assert stack.info is not None
        self.stack = stack
        self.info = stack.info
        self.scale = scale
        self.reward_id = reward_id
        self.dsn = _with(stack.info.admin_dsn, database=stack.opt.database)

    @property
    def bootstrap(self) -> str:
        return self.info.bootstrap

    def history(self, fault: str, *, events: int | None = None, ratings: bool = True) -> History:
        """A fresh history for `fault` (its seed is the fault's name, so a run can be repeated)."""
        return build(events or self.scale.events, self.reward_id, zlib.crc32(fault.encode()), ratings=ratings)

    async def under_load(
        self,
        fault: str,
        inject: Callable[[], Awaitable[object]],
        *,
        h: History | None = None,
        records: list[Record] | None = None,
        duration_s: float | None = None,
    ) -> Row:
        """Send the history over `duration_s`, inject the fault a third of the way in, wait for the
        load to end and the fault to heal, settle, and give the verdict."""
        h = h or self.history(fault)
        duration = duration_s or self.scale.duration_s
        load = asyncio.create_task(Sender(self.bootstrap).send(h, records or h.records, duration))
        await asyncio.sleep(duration / 3)
        try:
            await inject()
        finally:
            await load
        healed = time.monotonic()
        return await self.verdict(fault, h, await self.settle(h, healed))

    async def in_phases(self, fault: str, h: History, phases: list[list[Record]]) -> Row:
        """Send each phase (paced), letting the system settle after each; the verdict after the last.
        (Ratings come in a phase of their own where their order against statuses is not the point:
        a rating of a report not yet resolved is refused, by rule.)"""
        took = 0.0
        for records in phases:
            ids = {(r.source, r.event_id) for r in records}
            phase = [r for r in h.records if (r.source, r.event_id) in ids]
            h_partial = History(h.district, h.reward_id, records=phase)
            await Sender(self.bootstrap).send(h, records, self.scale.duration_s)
            took = await self.settle(h_partial, time.monotonic())
        return await self.verdict(fault, h, took)

    async def settle(self, h: History, healed_at: float) -> float:
        """Wait until every group has lag 0, every outbox is empty and every sent event has its final
        outcome, twice in a row; returns seconds since `healed_at`. Fails after `scale.settle_s`."""
        calm = 0
        last = ""
        while True:
            lag = await consumer_offsets.lag(self.bootstrap, SUBSCRIPTIONS)
            conn = await asyncpg.connect(self.dsn)
            try:
                unpublished = 0
                for s in SERVICES:
                    unpublished += await conn.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL")
                pending = await conn.fetchval("SELECT count(*) FROM rewards.redemptions WHERE status = 'pending'")
            finally:
                await conn.close()
            history = await check_history(self.dsn, h.sent())
            waiting = len(history.lost) + len(history.unfinished)
            last = f"lag {lag}, unpublished {unpublished}, pending redemptions {pending}, unseen {waiting}"
            calm = calm + 1 if sum(lag.values()) == 0 and unpublished == 0 and pending == 0 and waiting == 0 else 0
            took = time.monotonic() - healed_at
            if calm >= 2:
                return took
            if took > self.scale.settle_s:
                raise AssertionError(f"not settled {self.scale.settle_s:.0f} s after the fault healed: {last}")
            await asyncio.sleep(0.5)

    async def verdict(self, fault: str, h: History, recover_s: float) -> Row:
        """Audit everything, check the history and its effects, record the row; the caller asserts on it."""
        checks = await audit(self.dsn, settle_s=0, settled=True, bootstrap=self.bootstrap)
        history = await check_history(self.dsn, h.sent())
        conn = await asyncpg.connect(self.dsn)
        try:
            earned = {
                r["member_id"]: r["earned"]
                for r in await conn.fetch(
                    """SELECT member_id, sum(CASE WHEN kind = 'reversal' THEN -amount ELSE amount END) AS earned
                       FROM points.transfers WHERE member_id = ANY($1)
                         AND kind IN ('report', 'rating', 'need_rating', 'volunteer', 'reversal')
                       GROUP BY member_id""",
                    h.members,
                )
            }
            unresolved = await conn.fetchval(
                """SELECT count(*) FROM unnest($1::text[]) AS r(report_id)
                   LEFT JOIN reports.reports x USING (report_id)
                   WHERE x.status IS DISTINCT FROM 'resolved'
                      OR (x.rating IS NULL AND r.report_id = ANY($2))""",
                h.reports,
                h.rated,
            ) + await conn.fetchval(
                """SELECT count(*) FROM unnest($1::text[]) AS r(need_id)
                   LEFT JOIN reports.needs x USING (need_id)
                   WHERE x.status IS DISTINCT FROM 'resolved' OR (x.rating IS NULL AND $2)""",
                h.needs,
                bool(h.rated),
            )
            undecided = await conn.fetchval(
                """SELECT count(*) FROM unnest($1::text[]) AS r(redemption_id)
                   LEFT JOIN rewards.redemptions x USING (redemption_id)
                   WHERE x.status IS NULL OR x.status = 'pending'""",
                h.redemptions,
            )
            doubled = await conn.fetchval(
                """SELECT (SELECT count(*) - count(DISTINCT (kind, ref)) FROM points.transfers
                           WHERE member_id = ANY($1) AND kind IN ('report', 'rating', 'need_rating', 'volunteer'))
                        + (SELECT count(*) - count(DISTINCT (event_source, event_id)) FROM reports.report_status_history
                           WHERE report_id = ANY($2))
                        + (SELECT count(*) - count(DISTINCT (event_source, event_id)) FROM reports.need_status_history
                           WHERE need_id = ANY($3))
                        + (SELECT count(*) - count(DISTINCT (source_event, channel, kind)) FROM notify.notifications
                           WHERE member_id = ANY($1))""",
                h.members,
                h.reports,
                h.needs,
            )
        finally:
            await conn.close()
        short = sum(earned.get(m, 0) < want for m, want in h.expected_earned.items())
        excess = sum(earned.get(m, 0) > want for m, want in h.expected_earned.items())
        unseen = len(history.lost) + len(history.unfinished) + len(history.poison_applied)
        lost = unseen + short + unresolved + undecided
        failed = [c for c in checks if not c.ok]
        row = Row(
            fault=fault,
            scale=self.scale.name,
            events_sent=h.sent_count,
            lost=lost,
            duplicated_effects=int(doubled) + excess,
            recover_s=round(recover_s, 1),
            invariants_checked=len(checks) + 3,  # + history: seen, final outcome, poison dead-lettered
            invariants_failed=len(failed) + (0 if history.ok else 1),
        )
        _append(row)
        detail = {
            "lost": history.lost[:5],
            "unfinished": history.unfinished[:5],
            "poison_applied": history.poison_applied[:5],
            "members short": [m for m, w in h.expected_earned.items() if earned.get(m, 0) < w][:5],
            "members over": [(m, earned.get(m), w) for m, w in h.expected_earned.items() if earned.get(m, 0) > w][:5],
            "unresolved": unresolved,
            "undecided": undecided,
        }
        assert row.lost == 0 and row.duplicated_effects == 0 and not failed, f"{row}\n{detail}\n{render(checks)}"
        return row


def reset_results() -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("[]\n")


def _append(row: Row) -> None:
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    rows.append(asdict(row))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
