"""The members projection every service keeps, and the use cases that maintain it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from . import pii
from .db import Conn
from .events import MemberDeactivated, MemberRegistered
from .outcome import APPLIED, Outcome, Park, ParsedEvent, UnitOfWork, UseCase, applied, ignored
from .pii import PiiKind


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    district: str
    locale: str
    active: bool


def member_key(member_id: str) -> str:
    """What events about a member not yet registered wait for."""
    return f"member:{member_id}"


async def require(conn: Conn, member_id: str) -> Member:
    """The member, or `Park` until their registration arrives (it may come later, on another topic)."""
    member = await get(conn, member_id)
    if member is None:
        raise Park(member_key(member_id), f"member {member_id} is not registered yet")
    return member


async def get(conn: Conn, member_id: str) -> Member | None:
    row = await conn.fetchrow("SELECT member_id, district, locale, active FROM members WHERE member_id = $1", member_id)
    return Member(**dict(row)) if row else None


async def get_many(conn: Conn, member_ids: Collection[str]) -> dict[str, Member]:
    """The registered ones of these members, by id (`get` for a batch, in one round trip)."""
    rows = await conn.fetch(
        "SELECT member_id, district, locale, active FROM members WHERE member_id = ANY($1::text[])", list(member_ids)
    )
    return {r[0]: Member(*r) for r in rows}  # the columns in the fields' order, without a dict per row


async def upsert_member(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, MemberRegistered)
    hasher = pii.hasher()  # digests only, and only with a key: the numbers themselves are never stored
    phone = hasher.digest(PiiKind.PHONE, data.phone) if hasher else None
    id_number = hasher.digest(PiiKind.ID_NUMBER, data.id_number) if hasher and data.id_number else None
    status = await uow.conn.execute(
        """INSERT INTO members (member_id, district, occupation, locale, registered_at, as_of,
                                phone_hmac, id_number_hmac)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (member_id) DO UPDATE SET district = EXCLUDED.district,
               occupation = EXCLUDED.occupation, locale = EXCLUDED.locale, as_of = EXCLUDED.as_of,
               phone_hmac = EXCLUDED.phone_hmac, id_number_hmac = EXCLUDED.id_number_hmac
           WHERE members.as_of < EXCLUDED.as_of""",
        data.member_id,
        data.district,
        data.occupation.value,
        data.locale.value,
        data.registered_at,
        event.envelope.time,
        phone,
        id_number,
    )
    if not status.endswith("1"):
        return ignored("stale: a newer member event was applied")
    return applied(member_key(data.member_id))


async def find_by(conn: Conn, kind: PiiKind, digest: bytes) -> list[str]:
    """Members whose phone or identity number has this keyed digest (normally one)."""
    column = {PiiKind.PHONE: "phone_hmac", PiiKind.ID_NUMBER: "id_number_hmac"}[kind]
    rows = await conn.fetch(f"SELECT member_id FROM members WHERE {column} = $1 ORDER BY member_id LIMIT 10", digest)
    return [r["member_id"] for r in rows]


async def deactivate_member(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, MemberDeactivated)
    status = await uow.conn.execute(
        """UPDATE members SET active = false, deactivation_reason = $2, as_of = $3
           WHERE member_id = $1 AND as_of < $3""",
        data.member_id,
        data.reason,
        event.envelope.time,
    )
    if status.endswith("1"):
        return APPLIED
    if await get(uow.conn, data.member_id) is None:
        raise Park(member_key(data.member_id), f"member {data.member_id} is not registered yet")
    return ignored("stale: a newer member event was applied")


USE_CASES: dict[str, UseCase] = {
    "member.registered": upsert_member,
    "member.updated": upsert_member,
    "member.deactivated": deactivate_member,
}
