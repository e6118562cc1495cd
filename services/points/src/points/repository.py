"""Every SQL statement of the points service: the ledger, balances, caps, levels and holds.

Statements only: no decision (usecases.py, credits.py, holds.py), no transaction (the caller's unit of
work owns it), no commit. A transfer is posted with set-based statements (one for a run of one or
many); the set-based statements at the end serve the credit run's decisions and the earned totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from incentives_kernel.db import Conn

from .ledger import Balance, Move, member_account


@dataclass(frozen=True, slots=True)
class NewTransfer:
    transfer_id: str
    debit_account: str
    credit_account: str
    amount: int
    kind: str
    member_id: str
    rule_version: str
    reason: str
    source: str
    source_event_id: str
    occurred_at: datetime
    ref: str | None = None
    reverses: str | None = None


async def insert_transfers(conn: Conn, ts: Sequence[NewTransfer]) -> set[str]:
    """Append transfers in order (ids distinct); returns the ids that were new (an id that exists is
    that transfer already: the same id twice is one transfer)."""
    rows = await conn.fetch(
        """INSERT INTO transfers (transfer_id, debit_account, credit_account, amount, kind, member_id,
                                  rule_version, reason, source, source_event_id, occurred_at, ref, reverses)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                                $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[],
                                $13::text[])
           ON CONFLICT (transfer_id) DO NOTHING RETURNING transfer_id""",
        [t.transfer_id for t in ts],
        [t.debit_account for t in ts],
        [t.credit_account for t in ts],
        [t.amount for t in ts],
        [t.kind for t in ts],
        [t.member_id for t in ts],
        [t.rule_version for t in ts],
        [t.reason for t in ts],
        [t.source for t in ts],
        [t.source_event_id for t in ts],
        [t.occurred_at for t in ts],
        [t.ref for t in ts],
        [t.reverses for t in ts],
    )
    return {r["transfer_id"] for r in rows}


async def apply_to_members(conn: Conn, moves: Mapping[str, Move]) -> dict[str, Balance]:
    """Move members' posted balances in step with their transfers (rows locked in key order); the
    balances after. A member's first row never releases anything: points are only held on a row
    that exists (`lock_balance`), so the proposed row's `held` can carry what leaves `held`."""
    ordered = sorted(moves)
    rows = await conn.fetch(
        """INSERT INTO member_balances AS b (member_id, credits, debits, held)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
           ON CONFLICT (member_id) DO UPDATE SET credits = b.credits + EXCLUDED.credits,
               debits = b.debits + EXCLUDED.debits, held = b.held - EXCLUDED.held, updated_at = now()
           RETURNING member_id, credits, debits, held""",
        ordered,
        [moves[m].credit for m in ordered],
        [moves[m].debit for m in ordered],
        [moves[m].release for m in ordered],
    )
    return {r["member_id"]: Balance(r["credits"], r["debits"], r["held"]) for r in rows}


async def release_held(conn: Conn, member_id: str, amount: int) -> Balance:
    """Points held for a hold that ends without a transfer (released, expired) are available again."""
    return (await apply_to_members(conn, {member_id: Move(release=amount)}))[member_id]


async def lock_balance(conn: Conn, member_id: str) -> Balance:
    await conn.execute("INSERT INTO member_balances (member_id) VALUES ($1) ON CONFLICT DO NOTHING", member_id)
    row = await conn.fetchrow(
        "SELECT credits, debits, held FROM member_balances WHERE member_id = $1 FOR UPDATE", member_id
    )
    assert row is not None
    return Balance(row["credits"], row["debits"], row["held"])


async def balance(conn: Conn, member_id: str) -> Balance:
    row = await conn.fetchrow("SELECT credits, debits, held FROM member_balances WHERE member_id = $1", member_id)
    return Balance(row["credits"], row["debits"], row["held"]) if row else Balance(0, 0, 0)


async def earned_on(conn: Conn, member_id: str, day: date) -> int:
    """Report-related points already earned that day, with the row locked until the transaction ends."""
    await conn.execute(
        "INSERT INTO daily_earnings (member_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING", member_id, day
    )
    value = await conn.fetchval(
        "SELECT earned FROM daily_earnings WHERE member_id = $1 AND day = $2 FOR UPDATE", member_id, day
    )
    return int(value)


async def add_earned(conn: Conn, member_id: str, day: date, amount: int) -> None:
    await conn.execute(
        "UPDATE daily_earnings SET earned = earned + $3 WHERE member_id = $1 AND day = $2", member_id, day, amount
    )


@dataclass(frozen=True, slots=True)
class CapCut:
    """What the daily cap cut from an earning (a row of cap_cuts)."""

    cut_id: str
    member_id: str
    day: date
    kind: str
    ref: str
    requested: int
    credited: int
    cut: int
    rule_version: str
    reason: str
    source: str
    source_event_id: str
    occurred_at: datetime


async def insert_cap_cuts(conn: Conn, cuts: Sequence[CapCut]) -> None:
    """Record cap cuts in order, in one statement (an id recorded before is that cut already)."""
    await conn.execute(
        """INSERT INTO cap_cuts (cut_id, member_id, day, kind, ref, requested, credited, cut, rule_version, reason,
                                 source, source_event_id, occurred_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[], $6::int[], $7::int[],
                                $8::int[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[])
           ON CONFLICT (cut_id) DO NOTHING""",
        [c.cut_id for c in cuts],
        [c.member_id for c in cuts],
        [c.day for c in cuts],
        [c.kind for c in cuts],
        [c.ref for c in cuts],
        [c.requested for c in cuts],
        [c.credited for c in cuts],
        [c.cut for c in cuts],
        [c.rule_version for c in cuts],
        [c.reason for c in cuts],
        [c.source for c in cuts],
        [c.source_event_id for c in cuts],
        [c.occurred_at for c in cuts],
    )


async def ledger_page(conn: Conn, member_id: str, before_seq: int | None, limit: int) -> list[asyncpg.Record]:
    """Transfers and cap cuts (amount 0, with the reason), newest first, keyset on the shared sequence."""
    return await conn.fetch(
        """SELECT * FROM (
               SELECT transfer_id AS entry_id, seq, kind,
                      CASE WHEN credit_account = $2 THEN amount ELSE -amount END AS amount,
                      reason, rule_version, occurred_at
               FROM transfers WHERE member_id = $1 AND ($3::bigint IS NULL OR seq < $3)
               UNION ALL
               SELECT cut_id, seq, 'capped', 0, reason, rule_version, occurred_at
               FROM cap_cuts WHERE member_id = $1 AND ($3::bigint IS NULL OR seq < $3)
           ) AS entries ORDER BY seq DESC LIMIT $4""",
        member_id,
        member_account(member_id),
        before_seq,
        limit,
    )


async def record_actor(conn: Conn, transfer_id: str, actor: str) -> None:
    """Who made an operator's adjustment (kept beside the ledger, which is append-only)."""
    await conn.execute("INSERT INTO adjustment_actors (transfer_id, actor) VALUES ($1, $2)", transfer_id, actor)


async def actors_of(conn: Conn, transfer_ids: list[str]) -> dict[str, str]:
    """transfer id -> who made it, for the adjustments among `transfer_ids`."""
    if not transfer_ids:
        return {}
    rows = await conn.fetch(
        "SELECT transfer_id, actor FROM adjustment_actors WHERE transfer_id = ANY($1::text[])", transfer_ids
    )
    return {r["transfer_id"]: r["actor"] for r in rows}


async def find_transfer(conn: Conn, transfer_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM transfers WHERE transfer_id = $1", transfer_id)
    return dict(row) if row else None


async def earning_recorded(conn: Conn, transfer_id: str, cut_id: str) -> bool:
    """Whether this earning was handled before: credited (in part or whole) or cut to nothing by the cap."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM transfers WHERE transfer_id = $1)
               OR EXISTS (SELECT 1 FROM cap_cuts WHERE cut_id = $2)""",
            transfer_id,
            cut_id,
        )
    )


async def earned_in_window(conn: Conn, member_id: str, first_day: date) -> int:
    value = await conn.fetchval(
        "SELECT COALESCE(sum(earned), 0) FROM earned_by_day WHERE member_id = $1 AND day >= $2", member_id, first_day
    )
    return int(value)


async def announced_level(conn: Conn, member_id: str) -> int:
    """The level last announced, with the row locked (so two transactions cannot announce the same move)."""
    await conn.execute("INSERT INTO member_levels (member_id) VALUES ($1) ON CONFLICT DO NOTHING", member_id)
    return int(await conn.fetchval("SELECT level FROM member_levels WHERE member_id = $1 FOR UPDATE", member_id))


async def set_level(conn: Conn, member_id: str, level: int, earned_365d: int) -> None:
    await conn.execute(
        "UPDATE member_levels SET level = $2, earned_365d = $3, updated_at = now() WHERE member_id = $1",
        member_id,
        level,
        earned_365d,
    )


async def members_leaving_window(conn: Conn, first_day: date, slack_days: int) -> list[str]:
    """Members with points on the days that just left the window (the aging sweep re-checks them)."""
    rows = await conn.fetch(
        "SELECT DISTINCT member_id FROM earned_by_day WHERE day < $1 AND day >= $1 - $2::int AND earned <> 0",
        first_day,
        slack_days,
    )
    return [r["member_id"] for r in rows]


async def top_of_period(conn: Conn, period: str, start: date, district: str | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT member_id, earned FROM period_totals
           WHERE period = $1 AND period_start = $2 AND ($3::text IS NULL OR district = $3) AND earned > 0
           ORDER BY earned DESC, member_id LIMIT $4""",
        period,
        start,
        district,
        limit,
    )


async def get_hold(conn: Conn, hold_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM holds WHERE hold_id = $1" + (" FOR UPDATE" if lock else ""), hold_id)


async def insert_hold(
    conn: Conn,
    *,
    hold_id: str,
    member_id: str,
    amount: int,
    reason: str,
    expires_at: datetime,
    source: str,
    source_event_id: str,
) -> None:
    await conn.execute(
        """INSERT INTO holds (hold_id, member_id, amount, reason, expires_at, source, source_event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        hold_id,
        member_id,
        amount,
        reason,
        expires_at,
        source,
        source_event_id,
    )
    await conn.execute(
        "UPDATE member_balances SET held = held + $2, updated_at = now() WHERE member_id = $1", member_id, amount
    )


async def close_hold(conn: Conn, hold_id: str, status: str, resolution: str, *, transfer_id: str | None = None) -> None:
    """Move a pending hold to its final state (its points leave `held` with its transfer, or `release_held`)."""
    await conn.execute(
        """UPDATE holds SET status = $2, resolution = $3, transfer_id = $4, resolved_at = now()
           WHERE hold_id = $1 AND status = 'pending'""",
        hold_id,
        status,
        resolution,
        transfer_id,
    )


async def expired_holds(conn: Conn, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM holds WHERE status = 'pending' AND expires_at <= now()
           ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )


async def open_holds(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM holds WHERE status = 'pending'"))


async def mark_refunded(conn: Conn, hold_id: str, reason: str, refund_transfer_id: str) -> None:
    await conn.execute(
        """UPDATE holds SET status = 'refunded', resolution = $2, refund_transfer_id = $3, resolved_at = now()
           WHERE hold_id = $1 AND status = 'captured'""",
        hold_id,
        reason,
        refund_transfer_id,
    )


async def get_transfer(conn: Conn, transfer_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM transfers WHERE transfer_id = $1", transfer_id)


# ------------------------------------------------------- set-based: a run of credits, a run of postings
# Rows are locked in key order, so two transactions touching the same members cannot deadlock on them.


async def recorded(
    conn: Conn, transfer_ids: Sequence[str], cut_ids: Sequence[str]
) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """Of these transfer and cap-cut ids, those already recorded (`earning_recorded` for many), and
    the transfers among them (what a reversal takes back: `find_transfer` for many), in one round trip."""
    rows = await conn.fetch(
        """SELECT transfer_id AS id, member_id, debit_account, amount, kind, occurred_at FROM transfers
           WHERE transfer_id = ANY($1::text[])
           UNION ALL SELECT cut_id, NULL, NULL, NULL, NULL, NULL FROM cap_cuts WHERE cut_id = ANY($2::text[])""",
        transfer_ids,
        cut_ids,
    )
    return {r["id"] for r in rows}, {r["id"]: dict(r) for r in rows if r["member_id"] is not None}


async def lock_earned_on(conn: Conn, pairs: Sequence[tuple[str, date]]) -> dict[tuple[str, date], int]:
    """`earned_on` for many (member, day) pairs: the points earned so far, each row locked."""
    ordered = sorted(set(pairs))
    members, days = [m for m, _ in ordered], [d for _, d in ordered]
    await conn.execute(
        """INSERT INTO daily_earnings (member_id, day) SELECT * FROM unnest($1::text[], $2::date[])
           ON CONFLICT DO NOTHING""",
        members,
        days,
    )
    rows = await conn.fetch(
        """SELECT d.member_id, d.day, d.earned FROM daily_earnings d
           JOIN unnest($1::text[], $2::date[]) AS u(member_id, day) USING (member_id, day)
           ORDER BY d.member_id, d.day FOR UPDATE OF d""",
        members,
        days,
    )
    return {(r["member_id"], r["day"]): int(r["earned"]) for r in rows}


async def add_earned_many(conn: Conn, amounts: dict[tuple[str, date], int]) -> None:
    """`add_earned` for many (member, day) rows, locked before by `lock_earned_on`."""
    ordered = sorted(amounts)
    await conn.execute(
        """UPDATE daily_earnings d SET earned = d.earned + u.amount
           FROM unnest($1::text[], $2::date[], $3::int[]) AS u(member_id, day, amount)
           WHERE d.member_id = u.member_id AND d.day = u.day""",
        [m for m, _ in ordered],
        [d for _, d in ordered],
        [amounts[k] for k in ordered],
    )


async def add_earned_points(
    conn: Conn, by_day: dict[tuple[str, date], int], by_period: dict[tuple[str, date, str], tuple[str, int]]
) -> None:
    """Keep the per-day and per-period totals in step with credits (> 0) and reversals (< 0): per
    (member, day) -> delta, and per (period, start, member) -> (district, delta)."""
    days = sorted(by_day)
    await conn.execute(
        """INSERT INTO earned_by_day (member_id, day, earned)
           SELECT * FROM unnest($1::text[], $2::date[], $3::int[])
           ON CONFLICT (member_id, day) DO UPDATE SET earned = earned_by_day.earned + EXCLUDED.earned""",
        [m for m, _ in days],
        [d for _, d in days],
        [by_day[k] for k in days],
    )
    periods = sorted(by_period)
    await conn.execute(
        """INSERT INTO period_totals (period, period_start, member_id, district, earned)
           SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::int[])
           ON CONFLICT (period, period_start, member_id)
           DO UPDATE SET earned = period_totals.earned + EXCLUDED.earned""",
        [p for p, _, _ in periods],
        [s for _, s, _ in periods],
        [m for _, _, m in periods],
        [by_period[k][0] for k in periods],
        [by_period[k][1] for k in periods],
    )


async def earned_in_window_many(conn: Conn, member_ids: Sequence[str], first_day: date) -> dict[str, int]:
    rows = await conn.fetch(
        """SELECT member_id, sum(earned) AS earned FROM earned_by_day
           WHERE member_id = ANY($1::text[]) AND day >= $2 GROUP BY member_id""",
        member_ids,
        first_day,
    )
    return {m: 0 for m in member_ids} | {r["member_id"]: int(r["earned"]) for r in rows}


async def lock_announced_levels(conn: Conn, member_ids: Sequence[str]) -> dict[str, int]:
    """`announced_level` for many members, each row locked."""
    ordered = sorted(set(member_ids))
    await conn.execute(
        "INSERT INTO member_levels (member_id) SELECT * FROM unnest($1::text[]) ON CONFLICT DO NOTHING", ordered
    )
    rows = await conn.fetch(
        "SELECT member_id, level FROM member_levels WHERE member_id = ANY($1::text[]) ORDER BY member_id FOR UPDATE",
        ordered,
    )
    return {r["member_id"]: int(r["level"]) for r in rows}


async def set_levels(conn: Conn, levels: dict[str, tuple[int, int]]) -> None:
    """`set_level` for many: member -> (level, earned_365d)."""
    if levels:
        await conn.executemany(
            "UPDATE member_levels SET level = $2, earned_365d = $3, updated_at = now() WHERE member_id = $1",
            [(m, level, earned) for m, (level, earned) in sorted(levels.items())],
        )


# --------------------------------------------------------------------------- member lookups' audit


async def record_lookup(conn: Conn, actor: str, kind: str, member_ids: Sequence[str]) -> int:
    """One lookup by phone or identity number: who, what kind of number, whom it found (never the number)."""
    return int(
        await conn.fetchval(
            "INSERT INTO member_lookups (actor, kind, member_ids) VALUES ($1, $2, $3) RETURNING lookup_id",
            actor,
            kind,
            list(member_ids),
        )
    )


async def lookups_page(
    conn: Conn, *, before_id: int | None, actor: str | None, member_id: str | None, limit: int
) -> list[asyncpg.Record]:
    """The lookups, newest first (keyset on lookup_id), optionally of one actor or that found one member."""
    return list(
        await conn.fetch(
            """SELECT lookup_id, looked_up_at, actor, kind, member_ids FROM member_lookups
               WHERE ($1::bigint IS NULL OR lookup_id < $1)
                 AND ($2::text IS NULL OR actor = $2)
                 AND ($3::text IS NULL OR $3 = ANY (member_ids))
               ORDER BY lookup_id DESC LIMIT $4""",
            before_id,
            actor,
            member_id,
            limit,
        )
    )
