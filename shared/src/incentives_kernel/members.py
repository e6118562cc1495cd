"""The members projection every service keeps, and the use cases that maintain it."""

from __future__ import annotations

from dataclasses import dataclass

from .consumer import APPLIED, Outcome, UseCase, ignored
from .db import Conn
from .envelope import ParsedEvent
from .events import MemberDeactivated, MemberRegistered


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    district: str
    locale: str
    active: bool


async def get(conn: Conn, member_id: str) -> Member | None:
    row = await conn.fetchrow("SELECT member_id, district, locale, active FROM members WHERE member_id = $1", member_id)
    return Member(**dict(row)) if row else None


async def upsert_member(conn: Conn, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, MemberRegistered)
    status = await conn.execute(
        """INSERT INTO members (member_id, district, occupation, locale, registered_at, as_of)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (member_id) DO UPDATE SET district = EXCLUDED.district,
               occupation = EXCLUDED.occupation, locale = EXCLUDED.locale, as_of = EXCLUDED.as_of
           WHERE members.as_of < EXCLUDED.as_of""",
        data.member_id,
        data.district,
        data.occupation.value,
        data.locale.value,
        data.registered_at,
        event.envelope.time,
    )
    return APPLIED if status.endswith("1") else ignored("stale: a newer member event was applied")


async def deactivate_member(conn: Conn, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, MemberDeactivated)
    status = await conn.execute(
        """UPDATE members SET active = false, deactivation_reason = $2, as_of = $3
           WHERE member_id = $1 AND as_of < $3""",
        data.member_id,
        data.reason,
        event.envelope.time,
    )
    return APPLIED if status.endswith("1") else ignored("unknown member or stale event")


USE_CASES: dict[str, UseCase] = {
    "member.registered": upsert_member,
    "member.updated": upsert_member,
    "member.deactivated": deactivate_member,
}
