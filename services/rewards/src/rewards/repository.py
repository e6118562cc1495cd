"""Every SQL statement of the rewards service.

Statuses are written into the SQL as the migrations' CHECK constraints and partial indexes name them:
the planner uses a partial index only when the query's own WHERE implies its predicate, which a bound
parameter cannot in a prepared statement's generic plan. services/rewards/tests/test_lifecycle.py
checks that the constraints and lifecycle.py's enums name the same states.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

import asyncpg
from incentives_kernel.db import Conn

COLUMNS = (
    "reward_id",
    "name",
    "description",
    "kind",
    "cost_points",
    "min_star_level",
    "per_member_limit",
    "districts",
    "active_from",
    "active_until",
    "places",
    "notice_days",
    "valid_days",
    "refund_on_expiry",
    "providers",
)


async def list_rewards(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM rewards ORDER BY reward_id")


async def get_reward(conn: Conn, reward_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM rewards WHERE reward_id = $1", reward_id)


async def _insert(conn: Conn, table: str, key: str, values: dict[str, Any]) -> asyncpg.Record | None:
    """Insert a row unless its key exists: the new row, or None (names come from this module, never input)."""
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    return await conn.fetchrow(
        f"INSERT INTO {table} ({', '.join(values)}) VALUES ({placeholders}) ON CONFLICT ({key}) DO NOTHING RETURNING *",
        *values.values(),
    )


async def insert_reward(conn: Conn, values: dict[str, Any], by: str) -> asyncpg.Record | None:
    """A new reward, `by` its creator (also the last to have set its terms: `updated_by`)."""
    terms = {c: values[c] for c in COLUMNS if c in values}
    return await _insert(conn, "rewards", "reward_id", terms | {"created_by": by, "updated_by": by})


async def update_reward(conn: Conn, reward_id: str, changes: dict[str, Any], by: str) -> asyncpg.Record | None:
    """Change a reward's terms, recording `by` and when (`updated_by`, `updated_at`); no change, no record."""
    cols = [c for c in COLUMNS if c in changes and c != "reward_id"]
    if not cols:
        return await get_reward(conn, reward_id)
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(cols, start=3))
    return await conn.fetchrow(
        f"UPDATE rewards SET {sets}, updated_at = now(), updated_by = $2 WHERE reward_id = $1 RETURNING *",
        reward_id,
        by,
        *[changes[c] for c in cols],
    )


async def change_stock(conn: Conn, reward_id: str, delta: int, reason: str, actor: str) -> int | None:
    """Add or remove stock; None when removing more than is available (stock never goes negative). Who and
    when is the `stock_changes` row: the reward's `updated_at`/`updated_by` are its terms' last change."""
    after = await conn.fetchval(
        """UPDATE rewards SET stock_available = stock_available + $2
           WHERE reward_id = $1 AND stock_available + $2 >= 0 RETURNING stock_available""",
        reward_id,
        delta,
    )
    if after is None:
        return None
    await conn.execute(
        "INSERT INTO stock_changes (reward_id, delta, reason, actor, stock_after) VALUES ($1, $2, $3, $4, $5)",
        reward_id,
        delta,
        reason,
        actor,
        after,
    )
    return int(after)


async def stock_levels(conn: Conn) -> list[tuple[str, int]]:
    """Stock of the instant rewards (allocation rewards have places per round, not stock: no gauge, no alert)."""
    rows = await conn.fetch("SELECT reward_id, stock_available FROM rewards WHERE kind = 'instant'")
    return [(r["reward_id"], r["stock_available"]) for r in rows]


# ---------------------------------------------------------------- standing (from points' events)


async def set_star_level(conn: Conn, member_id: str, level: int, as_of: datetime) -> bool:
    status = await conn.execute(
        """INSERT INTO member_standing (member_id, star_level, as_of) VALUES ($1, $2, $3)
           ON CONFLICT (member_id) DO UPDATE SET star_level = EXCLUDED.star_level, as_of = EXCLUDED.as_of
           WHERE member_standing.as_of <= EXCLUDED.as_of""",
        member_id,
        level,
        as_of,
    )
    return status.endswith("1")


async def add_earned(conn: Conn, member_id: str, day: date, delta: int) -> None:
    await conn.execute(
        """INSERT INTO earned_by_day (member_id, day, earned) VALUES ($1, $2, $3)
           ON CONFLICT (member_id, day) DO UPDATE SET earned = earned_by_day.earned + EXCLUDED.earned""",
        member_id,
        day,
        delta,
    )


async def star_level(conn: Conn, member_id: str) -> int:
    level = await conn.fetchval("SELECT star_level FROM member_standing WHERE member_id = $1", member_id)
    return int(level or 0)


async def standings(conn: Conn, member_ids: list[str], first_day: date) -> dict[str, tuple[int, int]]:
    """(star level, earned since first_day) for each member."""
    rows = await conn.fetch(
        """SELECT m.member_id, COALESCE(s.star_level, 0) AS star_level,
                  COALESCE((SELECT sum(earned) FROM earned_by_day e
                            WHERE e.member_id = m.member_id AND e.day >= $2), 0) AS earned
           FROM unnest($1::text[]) AS m (member_id) LEFT JOIN member_standing s USING (member_id)""",
        member_ids,
        first_day,
    )
    return {r["member_id"]: (int(r["star_level"]), int(r["earned"])) for r in rows}


# ---------------------------------------------------------------- redemptions


async def lock_member(conn: Conn, member_id: str) -> None:
    """Serialise one member's redemptions (the yearly limit is checked against the ones before)."""
    await conn.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", member_id)


async def insert_redemption(conn: Conn, **values: Any) -> asyncpg.Record | None:
    return await _insert(conn, "redemptions", "redemption_id", values)


async def request_context(conn: Conn, redemption_id: str, reward_id: str, member_id: str) -> asyncpg.Record:
    """All a redemption request is decided by, in one round trip: whether the id is taken (`seen`), the
    reward's columns (all NULL if there is no such reward) with its stock, the member as the projection
    has them (`member_*`, `member_known`) and the star level."""
    row = await conn.fetchrow(
        """SELECT EXISTS (SELECT 1 FROM redemptions WHERE redemption_id = $1) AS seen, w.*,
                  m.member_id IS NOT NULL AS member_known, m.district AS member_district,
                  m.locale AS member_locale, m.active AS member_active, COALESCE(s.star_level, 0) AS star_level
           FROM (SELECT) AS one
           LEFT JOIN rewards w ON w.reward_id = $2
           LEFT JOIN members m ON m.member_id = $3
           LEFT JOIN member_standing s ON s.member_id = $3""",
        redemption_id,
        reward_id,
        member_id,
    )
    assert row is not None
    return row


# A redemption and its first steps in one statement. The steps' ids follow the array's order (the
# order `steps` reads them back in); a redemption_id already taken inserts nothing and returns no row.
_NEW_REDEMPTION = """
    r AS (INSERT INTO redemptions ({columns}) VALUES ({values}) ON CONFLICT (redemption_id) DO NOTHING RETURNING *),
    s AS (INSERT INTO redemption_steps (redemption_id, step, detail)
          SELECT r.redemption_id, x.step, x.detail
          FROM r, unnest(${steps}::text[], ${details}::text[]) WITH ORDINALITY AS x (step, detail, n) ORDER BY x.n)"""


def _new_redemption(values: dict[str, Any], steps: list[tuple[str, str | None]]) -> tuple[str, list[Any]]:
    n = len(values)
    sql = _NEW_REDEMPTION.format(
        columns=", ".join(values),
        values=", ".join(f"${i}" for i in range(1, n + 1)),
        steps=n + 1,
        details=n + 2,
    )
    return sql, [*values.values(), [s for s, _ in steps], [d for _, d in steps]]


async def insert_decided_redemption(
    conn: Conn, values: dict[str, Any], steps: list[tuple[str, str | None]]
) -> asyncpg.Record | None:
    """Insert a redemption decided at once (a refusal) with its steps; None if the id is taken."""
    sql, args = _new_redemption(values, steps)
    return await conn.fetchrow(f"WITH {sql} SELECT * FROM r", *args)


async def insert_redemption_reserving(
    conn: Conn, values: dict[str, Any], steps: list[tuple[str, str | None]]
) -> tuple[asyncpg.Record | None, bool]:
    """Insert a pending redemption with its steps and take one unit of its reward if any is left (and
    record the stock change), in one statement: (the row, whether a unit was taken); (None, False) if
    the id is taken, and then no unit is either: the update waits for the insert's row."""
    sql, args = _new_redemption(values, steps)
    n = len(args)
    row = await conn.fetchrow(
        f"""WITH {sql},
            took AS (UPDATE rewards SET stock_available = stock_available - 1
                     WHERE reward_id = (SELECT reward_id FROM r) AND stock_available > 0
                     RETURNING reward_id, stock_available),
            c AS (INSERT INTO stock_changes (reward_id, delta, reason, actor, stock_after)
                  SELECT reward_id, -1, 'reserved', ${n + 1}, stock_available FROM took)
            SELECT r.*, EXISTS (SELECT 1 FROM took) AS reserved FROM r""",
        *args,
        f"redemption:{values['redemption_id']}",
    )
    return (row, bool(row["reserved"])) if row is not None else (None, False)


async def get_redemption(conn: Conn, redemption_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    sql = "SELECT * FROM redemptions WHERE redemption_id = $1" + (" FOR UPDATE" if lock else "")
    return await conn.fetchrow(sql, redemption_id)


async def update_redemption(conn: Conn, redemption_id: str, **changes: Any) -> asyncpg.Record:
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(changes, start=2))
    row = await conn.fetchrow(
        f"UPDATE redemptions SET {sets}, updated_at = now() WHERE redemption_id = $1 RETURNING *",
        redemption_id,
        *changes.values(),
    )
    assert row is not None
    return row


async def record_step(conn: Conn, redemption_id: str, step: str, detail: str | None = None) -> None:
    await conn.execute(
        "INSERT INTO redemption_steps (redemption_id, step, detail) VALUES ($1, $2, $3)", redemption_id, step, detail
    )


async def steps(conn: Conn, redemption_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT step, detail, at FROM redemption_steps WHERE redemption_id = $1 ORDER BY id", redemption_id
    )


async def taken_this_year(conn: Conn, member_id: str, reward_id: str, year: int, excluding: str = "") -> int:
    """Redemptions of the reward by the member this year that count against the limit (not `excluding`)."""
    return int(
        await conn.fetchval(
            """SELECT count(*) FROM redemptions WHERE member_id = $1 AND reward_id = $2 AND business_year = $3
               AND status IN ('pending', 'confirmed', 'fulfilled') AND redemption_id <> $4""",
            member_id,
            reward_id,
            year,
            excluding,
        )
    )


async def reserve_unit(conn: Conn, reward_id: str, redemption_id: str) -> bool:
    """Take one unit if any is left: a conditional update, so stock can never be oversold."""
    return await change_stock(conn, reward_id, -1, "reserved", f"redemption:{redemption_id}") is not None


async def return_unit(conn: Conn, reward_id: str, redemption_id: str, why: str) -> None:
    await change_stock(conn, reward_id, 1, why, f"redemption:{redemption_id}")


async def member_redemptions(
    conn: Conn, member_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[asyncpg.Record]:
    if after is None:
        return await conn.fetch(
            "SELECT * FROM redemptions WHERE member_id = $1 ORDER BY requested_at DESC, redemption_id DESC LIMIT $2",
            member_id,
            limit,
        )
    return await conn.fetch(
        """SELECT * FROM redemptions WHERE member_id = $1 AND (requested_at, redemption_id) < ($2, $3)
           ORDER BY requested_at DESC, redemption_id DESC LIMIT $4""",
        member_id,
        after[0],
        after[1],
        limit,
    )


async def redemption_by_voucher(conn: Conn, code: str, *, lock: bool = False) -> asyncpg.Record | None:
    sql = """SELECT r.*, w.providers, w.name AS reward_name, a.result_status
             FROM redemptions r JOIN rewards w USING (reward_id)
             LEFT JOIN allocation_rounds a USING (round_id) WHERE r.voucher_code = $1"""
    return await conn.fetchrow(sql + (" FOR UPDATE OF r" if lock else ""), code)


async def expired_vouchers(conn: Conn, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM redemptions WHERE status = 'confirmed' AND expires_at < now()
           ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )


async def overdue_redemptions(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Pending redemptions whose hold was never answered in time (points down, a lost reply)."""
    return await conn.fetch(
        """SELECT * FROM redemptions WHERE status = 'pending' AND step = 'hold_requested' AND deadline < now()
           ORDER BY deadline LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )


async def redemption_counts(conn: Conn) -> list[tuple[str, str, int]]:
    rows = await conn.fetch(
        "SELECT status, COALESCE(reason, '') AS reason, count(*) AS n FROM redemptions GROUP BY 1, 2"
    )
    return [(r["status"], r["reason"], int(r["n"])) for r in rows]


# ---------------------------------------------------------------- holds rewards asked for


async def insert_hold(conn: Conn, hold_id: str, member_id: str, amount: int, purpose: str, **owner: str) -> None:
    await conn.execute(
        """INSERT INTO holds (hold_id, member_id, amount, purpose, redemption_id, round_id)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        hold_id,
        member_id,
        amount,
        purpose,
        owner.get("redemption_id"),
        owner.get("round_id"),
    )


async def get_hold(conn: Conn, hold_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM holds WHERE hold_id = $1 FOR UPDATE", hold_id)


async def want_hold(conn: Conn, hold_id: str, wanted: str) -> None:
    await conn.execute("UPDATE holds SET wanted = $2, updated_at = now() WHERE hold_id = $1", hold_id, wanted)


async def hold_said(conn: Conn, hold_id: str, status: str, detail: str | None) -> None:
    await conn.execute(
        "UPDATE holds SET status = $2, detail = $3, updated_at = now() WHERE hold_id = $1", hold_id, status, detail
    )


# ---------------------------------------------------------------- allocation rounds


async def insert_round(conn: Conn, **values: Any) -> asyncpg.Record | None:
    return await _insert(conn, "allocation_rounds", "round_id", values)


async def get_round(conn: Conn, round_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    sql = "SELECT * FROM allocation_rounds WHERE round_id = $1" + (" FOR UPDATE" if lock else "")
    return await conn.fetchrow(sql, round_id)


async def close_round(conn: Conn, round_id: str, **values: Any) -> None:
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(values, start=2))
    await conn.execute(
        f"UPDATE allocation_rounds SET status = 'closed', {sets} WHERE round_id = $1", round_id, *values.values()
    )


async def rounds_due(conn: Conn) -> list[str]:
    """Rounds whose window has ended, and closing ones still waiting for holds to be answered."""
    rows = await conn.fetch(
        "SELECT round_id FROM allocation_rounds WHERE status IN ('open', 'closing') AND closes_at <= now()"
    )
    return [r["round_id"] for r in rows]


async def start_closing(conn: Conn, round_id: str, *, since: datetime, by: str) -> None:
    """No new applications from now (the window ends now if it had not), while the last holds are answered."""
    await conn.execute(
        """UPDATE allocation_rounds SET status = 'closing', closing_since = $2, closed_by = $3,
                  closes_at = LEAST(closes_at, GREATEST($2, opens_at + interval '1 microsecond'))
           WHERE round_id = $1""",
        round_id,
        since,
        by,
    )


async def finalise_rounds(conn: Conn) -> int:
    status = await conn.execute(
        """UPDATE allocation_rounds SET result_status = 'final', finalised_at = now()
           WHERE result_status = 'provisional' AND notice_ends_at <= now()"""
    )
    return int(status.split()[-1])


async def lock_reward(conn: Conn, reward_id: str) -> None:
    await conn.execute("SELECT 1 FROM rewards WHERE reward_id = $1 FOR UPDATE", reward_id)


async def places_promised(conn: Conn, reward_id: str) -> int:
    return int(
        await conn.fetchval("SELECT COALESCE(sum(quota), 0) FROM allocation_rounds WHERE reward_id = $1", reward_id)
    )


async def list_rounds(
    conn: Conn, status: str | None, limit: int, after: tuple[datetime, str] | None
) -> list[asyncpg.Record]:
    """Newest first; `status` matches the round's status or its result's (provisional, final)."""
    return await conn.fetch(
        """SELECT r.*, (SELECT count(*) FROM applications a WHERE a.round_id = r.round_id) AS applicants
           FROM allocation_rounds r
           WHERE ($1::text IS NULL OR r.status = $1 OR r.result_status = $1)
             AND ($3::timestamptz IS NULL OR (r.created_at, r.round_id) < ($3, $4))
           ORDER BY r.created_at DESC, r.round_id DESC LIMIT $2""",
        status,
        limit,
        after[0] if after else None,
        after[1] if after else "",
    )


async def open_rounds(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM allocation_rounds WHERE status = 'open'"))


async def insert_application(
    conn: Conn, round_id: str, member_id: str, hold_id: str, status: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """INSERT INTO applications (round_id, member_id, hold_id, status) VALUES ($1, $2, $3, $4)
           ON CONFLICT (round_id, member_id) DO NOTHING RETURNING *""",
        round_id,
        member_id,
        hold_id,
        status,
    )


async def get_application(conn: Conn, round_id: str, member_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    sql = "SELECT * FROM applications WHERE round_id = $1 AND member_id = $2" + (" FOR UPDATE" if lock else "")
    return await conn.fetchrow(sql, round_id, member_id)


async def applications(conn: Conn, round_id: str, *, lock: bool = False) -> list[asyncpg.Record]:
    sql = "SELECT * FROM applications WHERE round_id = $1 ORDER BY rank NULLS LAST, applied_at, member_id"
    return await conn.fetch(sql + (" FOR UPDATE" if lock else ""), round_id)


async def update_application(conn: Conn, round_id: str, member_id: str, **changes: Any) -> None:
    """Change an application's figures or reason (its status moves by `move_application`)."""
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(changes, start=3))
    await conn.execute(
        f"UPDATE applications SET {sets}, updated_at = now() WHERE round_id = $1 AND member_id = $2",
        round_id,
        member_id,
        *changes.values(),
    )


async def move_application(
    conn: Conn, round_id: str, member_id: str, status: str, allowed_from: Collection[str], **changes: Any
) -> bool:
    """Set an application's status (and `changes`) if its status now is one of `allowed_from`; False if not."""
    values = {"status": status, **changes}
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(values, start=4))
    done = await conn.execute(
        f"""UPDATE applications SET {sets}, updated_at = now()
            WHERE round_id = $1 AND member_id = $2 AND status = ANY($3::text[])""",
        round_id,
        member_id,
        list(allowed_from),
        *values.values(),
    )
    return bool(done.endswith(" 1"))


async def stock_changes(conn: Conn, reward_id: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT delta, reason, actor, stock_after, changed_at FROM stock_changes WHERE reward_id = $1
           ORDER BY id DESC LIMIT $2""",
        reward_id,
        limit,
    )


# ---------------------------------------------------------------- providers and stations

PROVIDER_COLUMNS = ("provider_id", "name", "kind", "address", "lat", "lon", "opening_hours", "active")


async def upsert_provider(conn: Conn, values: dict[str, Any], as_of: datetime, by: str) -> asyncpg.Record | None:
    """Register or update a provider, `by` whom (`created_by` on the first registration, `updated_by` on
    each); a change older than the one applied is ignored (None)."""
    cols = [c for c in PROVIDER_COLUMNS if c in values]
    placeholders = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "provider_id")
    n = len(cols)
    return await conn.fetchrow(
        f"""INSERT INTO providers ({", ".join(cols)}, as_of, created_by, updated_by)
            VALUES ({placeholders}, ${n + 1}, ${n + 2}, ${n + 2})
            ON CONFLICT (provider_id) DO UPDATE
            SET {updates}, as_of = EXCLUDED.as_of, updated_at = now(), updated_by = EXCLUDED.updated_by
            WHERE providers.as_of <= EXCLUDED.as_of RETURNING *""",
        *[values[c] for c in cols],
        as_of,
        by,
    )


async def get_provider(conn: Conn, provider_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM providers WHERE provider_id = $1", provider_id)


async def nearest_providers(conn: Conn, lat: float, lon: float, limit: int, kind: str | None) -> list[asyncpg.Record]:
    """Nearest first. The GiST index answers `<->` (planar degrees) by KNN without a scan; the candidates
    (a margin more than asked) are then ordered by great-circle distance, which the planar order
    approximates well within a city."""
    return await conn.fetch(
        """WITH near AS (
               SELECT * FROM providers
               WHERE active AND ($4::text IS NULL OR kind = $4)
               ORDER BY point(lon, lat) <-> point($2, $1) LIMIT $3 * 4 + 20)
           SELECT *, 2 * 6371008.8 * asin(sqrt(
                      power(sin(radians(lat - $1) / 2), 2)
                      + cos(radians($1)) * cos(radians(lat)) * power(sin(radians(lon - $2) / 2), 2))) AS distance_m
           FROM near ORDER BY distance_m, provider_id LIMIT $3""",
        lat,
        lon,
        limit,
        kind,
    )


async def list_providers(conn: Conn, limit: int, after: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM providers WHERE provider_id > $1 ORDER BY provider_id LIMIT $2", after, limit
    )
