"""Every SQL statement of the rewards service."""

from __future__ import annotations

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
)


async def list_rewards(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM rewards ORDER BY reward_id")


async def get_reward(conn: Conn, reward_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM rewards WHERE reward_id = $1", reward_id)


async def insert_reward(conn: Conn, values: dict[str, Any]) -> asyncpg.Record | None:
    cols = [c for c in COLUMNS if c in values]
    placeholders = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    return await conn.fetchrow(
        f"INSERT INTO rewards ({', '.join(cols)}) VALUES ({placeholders}) ON CONFLICT (reward_id) DO NOTHING "
        "RETURNING *",
        *[values[c] for c in cols],
    )


async def update_reward(conn: Conn, reward_id: str, changes: dict[str, Any]) -> asyncpg.Record | None:
    cols = [c for c in COLUMNS if c in changes and c != "reward_id"]
    if not cols:
        return await get_reward(conn, reward_id)
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(cols, start=2))
    return await conn.fetchrow(
        f"UPDATE rewards SET {sets}, updated_at = now() WHERE reward_id = $1 RETURNING *",
        reward_id,
        *[changes[c] for c in cols],
    )


async def change_stock(conn: Conn, reward_id: str, delta: int, reason: str, actor: str) -> int | None:
    """Add or remove stock; None when removing more than is available (stock never goes negative)."""
    after = await conn.fetchval(
        """UPDATE rewards SET stock_available = stock_available + $2, updated_at = now()
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
    rows = await conn.fetch("SELECT reward_id, stock_available FROM rewards")
    return [(r["reward_id"], r["stock_available"]) for r in rows]
