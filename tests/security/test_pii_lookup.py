"""A hotline finds a member by phone or identity number, though neither is stored: the members
projection keeps keyed HMAC digests (kernel pii.py) and the lookup compares digests."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg
import pytest
from incentives_kernel import topics
from incentives_ops.demo import member_registered
from incentives_ops.provision import _with
from incentives_ops.stack import Stack

from tests.support import Api, eventually, publish

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

# Unique per run: other tests register members with phones of the same shape.
_digits = f"{uuid.uuid4().int % 10**11:011d}"
PHONE = "137" + _digits[:8]
ID_NUMBER = "110105" + _digits + "X"


async def test_a_member_is_found_by_phone_or_id_number_through_keyed_digests_only(secure_stack: Stack) -> None:
    info = secure_stack.info
    assert info is not None
    member = f"m-lookup-{uuid.uuid4().hex[:8]}"
    await publish(
        info.bootstrap,
        topics.MEMBERS,
        member,
        member_registered(member, "nanqu", phone=PHONE, id_number=ID_NUMBER),
    )
    points = Api(info.urls["points"], info.operator_token)
    try:

        async def found(body: dict[str, str]) -> list[str] | None:
            r = await points.post("/v1/members/lookup", json=body)
            assert r.status_code == 200, r.text
            ids: list[str] = r.json()["member_ids"]
            return ids or None

        # Written another way (country code, separators; a lower-case check letter): the same member.
        spelled = f"+86 {PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}"
        assert await eventually(lambda: found({"phone": spelled}), timeout=60) == [member]
        assert await found({"id_number": ID_NUMBER.lower()}) == [member]
        assert await found({"phone": "136" + PHONE[3:]}) is None

        for bad in ({}, {"phone": PHONE, "id_number": ID_NUMBER}, {"id_number": "12345"}):
            r = await points.post("/v1/members/lookup", json=bad)
            assert r.status_code == 422, (bad, r.text)
            assert PHONE not in r.text
        gateway = Api(info.urls["points"], info.gateway_token)
        try:
            assert (await gateway.post("/v1/members/lookup", json={"phone": PHONE})).status_code == 403
        finally:
            await gateway.aclose()
    finally:
        await points.aclose()

    conn = await asyncpg.connect(_with(info.admin_dsn, database=secure_stack.opt.database))
    try:
        for schema in ("reports", "points", "rewards", "notify"):  # every service's projection (each in its time)

            async def projected(schema: str = schema) -> asyncpg.Record | None:
                sql = f"SELECT phone_hmac, id_number_hmac FROM {schema}.members WHERE member_id = $1"
                return await conn.fetchrow(sql, member)

            row = await eventually(projected, timeout=60, what=f"{schema} to project the member")
            assert len(row["phone_hmac"]) == 32 and len(row["id_number_hmac"]) == 32
            # Keyed: not the plain hash an attacker with the database alone could compute for every number.
            assert row["phone_hmac"] != hashlib.sha256(PHONE.encode()).digest()
            assert row["phone_hmac"] != hashlib.sha256(f"phone:{PHONE}".encode()).digest()
    finally:
        await conn.close()
