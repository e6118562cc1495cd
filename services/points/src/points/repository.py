"""Every SQL statement of the points service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from incentives_kernel.db import Conn

from .ledger import Balance, member_account


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


async def insert_transfer(conn: Conn, t: NewTransfer) -> bool:
    """Append a transfer; False if a transfer with this id exists (the same id twice is one transfer)."""
    status = await conn.execute(
        """INSERT INTO transfers (transfer_id, debit_account, credit_account, amount, kind, member_id,
                                  rule_version, reason, source, source_event_id, occurred_at, ref, reverses)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (transfer_id) DO NOTHING""",
        t.transfer_id,
        t.debit_account,
        t.credit_account,
        t.amount,
        t.kind,
        t.member_id,
        t.rule_version,
        t.reason,
        t.source,
        t.source_event_id,
        t.occurred_at,
        t.ref,
        t.reverses,
    )
    return status.endswith("1")


async def apply_to_member(conn: Conn, member_id: str, *, credit: int = 0, debit: int = 0) -> Balance:
    """Move the member's posted balance in step with a transfer; returns the balance after."""
    row = await conn.fetchrow(
        """INSERT INTO member_balances (member_id, credits, debits) VALUES ($1, $2, $3)
           ON CONFLICT (member_id) DO UPDATE SET credits = member_balances.credits + EXCLUDED.credits,
               debits = member_balances.debits + EXCLUDED.debits, updated_at = now()
           RETURNING credits, debits, held""",
        member_id,
        credit,
        debit,
    )
    assert row is not None
    return Balance(row["credits"], row["debits"], row["held"])


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


async def earned_since(conn: Conn, member_id: str, since: datetime) -> int:
    """Points earned (credits to the member less reversals of them) since `since`."""
    value = await conn.fetchval(
        """SELECT COALESCE(sum(CASE WHEN credit_account = $2 THEN amount ELSE -amount END), 0)
           FROM transfers WHERE member_id = $1 AND occurred_at >= $3
             AND kind IN ('report', 'rating', 'volunteer', 'reversal')""",
        member_id,
        member_account(member_id),
        since,
    )
    return int(value)


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


async def insert_cap_cut(
    conn: Conn,
    *,
    cut_id: str,
    member_id: str,
    day: date,
    kind: str,
    ref: str,
    requested: int,
    credited: int,
    cut: int,
    rule_version: str,
    reason: str,
    source: str,
    source_event_id: str,
    occurred_at: datetime,
) -> bool:
    status = await conn.execute(
        """INSERT INTO cap_cuts (cut_id, member_id, day, kind, ref, requested, credited, cut, rule_version, reason,
                                 source, source_event_id, occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (cut_id) DO NOTHING""",
        cut_id,
        member_id,
        day,
        kind,
        ref,
        requested,
        credited,
        cut,
        rule_version,
        reason,
        source,
        source_event_id,
        occurred_at,
    )
    return status.endswith("1")


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


async def leaderboard(conn: Conn, district: str | None, since: datetime | None, limit: int) -> list[asyncpg.Record]:
    """Members by points earned in the period; ties share a rank."""
    return await conn.fetch(
        """WITH earned AS (
               SELECT t.member_id,
                      sum(CASE WHEN t.credit_account = 'member:' || t.member_id THEN t.amount ELSE -t.amount END)
                          AS points
               FROM transfers t JOIN members m USING (member_id)
               WHERE t.kind IN ('report', 'rating', 'volunteer', 'reversal')
                 AND ($1::text IS NULL OR m.district = $1)
                 AND ($2::timestamptz IS NULL OR t.occurred_at >= $2)
               GROUP BY t.member_id)
           SELECT member_id, points, rank() OVER (ORDER BY points DESC) AS rank
           FROM earned WHERE points > 0 ORDER BY points DESC, member_id LIMIT $3""",
        district,
        since,
        limit,
    )


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
