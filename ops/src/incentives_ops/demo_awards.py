"""Demo of Version 2 in the embedded run: a star-rider award round that closes into its public notice,
and vouchers that a demo rider station redeems.

It plays the gateway (applications, redemptions), an operator (providers, rewards, the round) and
the station at its counter (a provider token), over HTTP, and publishes riders and their volunteer
hours to Kafka as the member registry and the volunteer platform would.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event

from .demo import attendance_confirmed, member_registered
from .stack import StackInfo

# (rider, volunteer hours): 240, 60 and 20 points earned, so 2, 1 and 0 stars.
RIDERS = (("star", 24.0), ("steady", 6.0), ("new", 2.0))
STATION = {
    "provider_id": "demo-station",
    "name": "蜂享驿站 南区一号站 Rider station No. 1",
    "kind": "station",
    "address": "南区人民路 88 号 88 Renmin Road, nanqu",
    "location": {"lat": 39.9042, "lon": 116.4074},
    "opening_hours": "Mo-Su 07:00-23:00",
}
SHOP = {
    "provider_id": "demo-shop",
    "name": "暖蜂爱心商铺 Warm-bee partner shop",
    "kind": "shop",
    "address": "北区长安街 12 号 12 Chang'an Street, beiqu",
    "location": {"lat": 39.9142, "lon": 116.3974},
    "opening_hours": "Mo-Sa 09:00-21:00",
}


def _ok(r: httpx.Response) -> dict[str, Any]:
    if r.status_code >= 400:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}")
    body: dict[str, Any] = r.json()
    return body


async def _until(probe: Any, what: str, timeout: float = 90) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise TimeoutError(f"demo awards: {what} did not happen in {timeout:.0f} s")


async def _riders(bootstrap: str, tag: str) -> list[str]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    members = []
    try:
        for name, hours in RIDERS:
            member = f"rider-{name}-{tag}"
            members.append(member)
            for topic, event in (
                (topics.MEMBERS, member_registered(member, "nanqu")),
                (topics.VOLUNTEER, attendance_confirmed(member, hours)),
            ):
                await producer.send_and_wait(topic, encode_event(event), key=member.encode())
    finally:
        await producer.stop()
    return members


async def run(info: StackInfo, say: Any = print) -> dict[str, Any]:
    """The whole path once; returns what it did (the round, the vouchers redeemed)."""
    tag = uuid.uuid4().hex[:6]
    url = info.urls["rewards"]
    auth = {"operator": info.operator_token, "gateway": info.gateway_token}
    async with (
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {auth['operator']}"}) as operator,
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {auth['gateway']}"}) as gateway,
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {info.provider_token('demo-station')}"}
        ) as station,
        httpx.AsyncClient(
            base_url=info.urls["points"], headers={"Authorization": f"Bearer {auth['gateway']}"}
        ) as points,
    ):
        for provider in (STATION, SHOP):
            _ok(await operator.post("/v1/providers", json=provider))
        riders = await _riders(info.bootstrap, tag)

        async def funded() -> bool:
            for member in riders:
                r = await points.get(f"/v1/members/{member}/balance")
                if r.status_code != 200 or not r.json().get("available"):
                    return False
            return True

        await _until(funded, "the demo riders' volunteer points")
        award = f"award-school-place-{tag}"
        _ok(
            await operator.post(
                "/v1/rewards",
                json={
                    "reward_id": award,
                    "name": "星级骑手奖励：优质学位 Star rider award: a quality-school place",
                    "kind": "allocation",
                    "cost_points": 0,
                    "places": 1,
                    "notice_days": 5,
                },
            )
        )
        round_id = f"star-riders-{tag}"
        closes_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        round_body = {"round_id": round_id, "reward_id": award, "quota": 1, "closes_at": closes_at}
        _ok(await operator.post("/v1/allocation-rounds", json=round_body))

        async def applied() -> bool:
            codes = [
                (
                    await gateway.post(f"/v1/allocation-rounds/{round_id}/applications", json={"member_id": m})
                ).status_code
                for m in riders
            ]
            return all(c == 202 for c in codes)

        await _until(applied, "the riders' applications (rewards learns of them from Kafka)")
        closed = _ok(await operator.post(f"/v1/allocation-rounds/{round_id}/close"))
        notice = _ok(await gateway.get(f"/v1/allocation-rounds/{round_id}/notice"))
        say(
            f"  demo award     round {round_id}: {closed['status']}, result {notice['status']} until "
            f"{notice['notice_ends_at']}; ranking {[e['member'] for e in notice['ranking']]}"
        )

        charge = f"station-charging-{tag}"
        _ok(
            await operator.post(
                "/v1/rewards",
                json={
                    "reward_id": charge,
                    "name": "驿站充电券 Station charging voucher",
                    "kind": "instant",
                    "cost_points": 10,
                    "initial_stock": 10,
                    "providers": ["demo-station"],
                    "refund_on_expiry": True,
                },
            )
        )
        redeemed = []
        for member in riders[:2]:
            rid = f"rdm-demo-{uuid.uuid4().hex[:10]}"
            _ok(
                await gateway.post(
                    "/v1/redemptions", json={"redemption_id": rid, "member_id": member, "reward_id": charge}
                )
            )

            async def confirmed(rid: str = rid) -> dict[str, Any] | None:
                body = _ok(await gateway.get(f"/v1/redemptions/{rid}"))
                return body if body["status"] == "confirmed" else None

            voucher = (await _until(confirmed, f"redemption {rid} confirmed"))["voucher_code"]
            at_counter = _ok(await station.post(f"/v1/vouchers/{voucher}/redeem"))
            redeemed.append(voucher)
            say(f"  demo voucher   {voucher} redeemed by {at_counter['redeemed_by']} for {at_counter['member']}")
        return {"round_id": round_id, "notice": notice, "vouchers": redeemed}
