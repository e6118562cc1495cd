"""The console's screenshots in docs/console/: `uv run python -m tests.console.screenshots`.

Starts a stack of its own (embedded PostgreSQL and broker, the four services, the console), fills it
with a working day (the seeded catalogue, demo riders reporting and volunteering, reports overdue,
stock running out, an allocation round closed with a lottery tie, a webhook that fails) and
photographs each main page with the real headless Chromium the browser tests use. Not part of
`make test`: run it after changing how a page looks, and commit the pictures.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import oidc_provider_mock
from incentives_kernel import signing, topics
from incentives_ops.demo import (
    DemoTraffic,
    attendance_confirmed,
    member_registered,
    report_rated,
    report_submitted,
    status_changed,
)
from incentives_ops.embedded import free_port
from incentives_ops.seed import seed_catalogue
from incentives_ops.stack import Stack
from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.console.browser import chromium, console_errors, fill
from tests.support import eventually, isolated_stack, publish

OUT = Path("docs/console")
WIDTH = 1280
# A named operator entry (docs/security.md): the pictures show who acted by name, not a fingerprint.
OPERATOR = "screenshots-operator-" + uuid.uuid4().hex
ENV = {
    "INCENTIVES_OPERATOR_TOKENS": f"li.wei:{OPERATOR}",
    "REWARDS_APPLICATION_TIME_RESOLUTION_S": "3600",  # applications in the same hour tie: the lottery shows
    "NOTIFY_WEBHOOK_MAX_ATTEMPTS": "2",
    "NOTIFY_WEBHOOK_BACKOFF_BASE_S": "0.2",
    "NOTIFY_WEBHOOK_BREAKER_THRESHOLD": "3",
    "NOTIFY_WEBHOOK_BREAKER_COOLDOWN_S": "600",
}
# Star riders for the round on the seeded quality-school place (4 stars, 1,500 points, held at applying).
# Riders of their own (the demo's riders report too, and would break the tie): three tie on 160 hours.
ROUND_RIDERS = {"rider-0101": 220, "rider-0102": 180, "rider-0103": 160, "rider-0104": 160, "rider-0105": 160}
LATE_RIDER = ("rider-0106", 40)  # 400 points: not eligible, refused


async def _volunteer(stack: Stack, member: str, hours: int) -> None:
    assert stack.info is not None
    for _ in range(hours // 20):
        await publish(stack.info.bootstrap, topics.VOLUNTEER, member, attendance_confirmed(member, 20))


# Somewhere inside each demo district (reports' demo-areas.geojson): the map shows them where they count.
DISTRICT_SPOTS = {"nanqu": (31.215, 121.415), "beiqu": (31.285, 121.45), "xincheng": (31.23, 121.485)}


async def _overdue_reports(stack: Stack, count: int) -> None:
    """Reports submitted nine days ago and never handled: past the 7-day SLA."""
    assert stack.info is not None
    districts = ("nanqu", "nanqu", "beiqu", "xincheng", "nanqu", "beiqu")
    for i in range(count):
        report_id = f"rpt-old-{uuid.uuid4().hex[:8]}"
        lat, lon = DISTRICT_SPOTS[districts[i % 6]]
        where = (lat + (i % 3 - 1) * 0.012, lon + (i % 2 - 0.5) * 0.02)
        event = report_submitted(report_id, f"rider-{i + 2:04d}", districts[i % 6], "road_damage", *where)
        then = (datetime.now(UTC) - timedelta(days=9, hours=i)).isoformat()
        event["time"] = event["data"]["submitted_at"] = then
        await publish(stack.info.bootstrap, topics.REPORTS, report_id, event)


async def _events_to_handle(stack: Stack) -> str:
    """A rating that came before its report was resolved (dead-lettered), an event that is not JSON
    (dead-lettered), and a status for a report that has not arrived (parked): the events pages' work."""
    assert stack.info is not None
    report = f"rpt-early-{uuid.uuid4().hex[:8]}"
    await publish(
        stack.info.bootstrap, topics.REPORTS, report, report_submitted(report, "rider-0003", "beiqu", "other")
    )
    await publish(stack.info.bootstrap, topics.REPORTS, report, report_rated(report, "rider-0003", "beiqu", 5))
    await publish(stack.info.bootstrap, topics.REPORTS, "garbled", b"{not json")
    waiting = f"rpt-late-{uuid.uuid4().hex[:8]}"
    await publish(stack.info.bootstrap, topics.REPORTS, waiting, status_changed(waiting, "nanqu", "dispatched"))
    return waiting


async def fill_the_day(stack: Stack) -> dict[str, Any]:
    assert stack.info is not None
    info = stack.info
    await asyncio.to_thread(seed_catalogue, info.urls["rewards"], OPERATOR)
    traffic = DemoTraffic(info.bootstrap, riders=40, rate=40, seed=21)
    task = asyncio.create_task(traffic.run())
    await asyncio.sleep(3)  # the riders registered
    await _overdue_reports(stack, 7)
    for member, hours in [*ROUND_RIDERS.items(), LATE_RIDER]:
        await publish(info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
        await _volunteer(stack, member, hours)
    waiting = await _events_to_handle(stack)
    await asyncio.sleep(20)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    op = {"Authorization": f"Bearer {OPERATOR}"}
    gw = {"Authorization": f"Bearer {info.gateway_token}"}
    async with httpx.AsyncClient(timeout=10) as http:
        rewards, points, notify = info.urls["rewards"], info.urls["points"], info.urls["notify"]
        for reward, delta, reason in [
            ("summer-camp", -27, "places given to the district's camp"),
            ("health-checkup", -100, "hospital contract ended"),
            ("daily-goods", 120, "delivery from the partner shop"),
        ]:
            r = await http.post(
                f"{rewards}/v1/rewards/{reward}/stock", json={"delta": delta, "reason": reason}, headers=op
            )
            r.raise_for_status()
        hook = await http.post(
            f"{notify}/v1/webhooks",
            json={
                "url": "http://127.0.0.1:9/district-hotline",
                "event_types": ["points.credited", "report.overdue"],
                "secret": signing.new_secret(),
            },
            headers=op,
        )
        hook.raise_for_status()
        for provider in (
            {
                "provider_id": "station-nanqu-1",
                "name": "南区骑手驿站 Nanqu rider station",
                "kind": "station",
                "address": "南区中山路 88 号",
                "location": {"lat": 31.214, "lon": 121.418},
                "opening_hours": "Mo-Su 08:00-22:00",
            },
            {
                "provider_id": "shop-beiqu-daily",
                "name": "北区便民超市 Beiqu daily goods",
                "kind": "shop",
                "address": "北区长江路 12 号",
                "location": {"lat": 31.281, "lon": 121.447},
                "opening_hours": "Mo-Su 07:00-23:00",
            },
        ):
            (await http.post(f"{rewards}/v1/providers", json=provider, headers=op)).raise_for_status()

        async def funded() -> bool:
            for member, hours in ROUND_RIDERS.items():
                body = (await http.get(f"{points}/v1/members/{member}/balance", headers=op)).json()
                if body.get("earned_365d", 0) < hours * 10:
                    return False
            return True

        await eventually(funded, timeout=120, what="the star riders credited")
        round_id = f"school-{datetime.now(UTC):%Y}-autumn"
        opened = await http.post(
            f"{rewards}/v1/allocation-rounds",
            json={
                "round_id": round_id,
                "reward_id": "quality-school-place",
                "quota": 3,
                "closes_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            },
            headers=op,
        )
        opened.raise_for_status()
        for member in [*ROUND_RIDERS, LATE_RIDER[0]]:
            await http.post(
                f"{rewards}/v1/allocation-rounds/{round_id}/applications", json={"member_id": member}, headers=gw
            )

        async def held() -> bool:
            body = (await http.get(f"{rewards}/v1/allocation-rounds/{round_id}", headers=op)).json()
            return all(a["status"] in ("held", "rejected") for a in body["applications"])

        await eventually(held, timeout=60, what="the applications' costs held")
        closed = await http.post(f"{rewards}/v1/allocation-rounds/{round_id}/close", headers=op)
        closed.raise_for_status()
        reports = (await http.get(f"{info.urls['reports']}/v1/reports", params={"limit": 50}, headers=op)).json()
        report = next(
            (r["report_id"] for r in reports["items"] if r["status"] == "resolved"), reports["items"][0]["report_id"]
        )
        needs = (await http.get(f"{info.urls['reports']}/v1/needs", params={"limit": 50}, headers=op)).json()
        # A need that went through more than one department shows the history at its fullest.
        need = max(needs["items"], key=lambda n: (n["status"] == "resolved", n["reopened_count"]))["need_id"]

        async def parked() -> bool:
            body = (
                await http.get(
                    f"{info.urls['reports']}/v1/parked-events", params={"awaiting": f"report:{waiting}"}, headers=op
                )
            ).json()
            return bool(body["items"])

        await eventually(parked, timeout=60, what="the early status parked")
    return {
        "round": round_id,
        "webhook": hook.json()["webhook_id"],
        "report": report,
        "need": need,
        "member": "rider-0101",
    }


def shoot(browser: webdriver.Chrome, url: str, name: str, element: str | None = None) -> None:
    """The whole page, or only the element with id `element` (the map, at the size the page shows it)."""
    browser.get(url)
    errors = console_errors(browser)
    if errors:
        raise RuntimeError(f"{url}: {errors}")
    height = min(int(browser.execute_script("return document.documentElement.scrollHeight")), 2400)
    # The whole page, not the window: a viewport as tall as the page (at most 2,400 px); an element
    # that runs below the window is then whole too.
    metrics = {"width": WIDTH, "height": max(height, 600), "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    path = OUT / f"{name}.png"
    if element is None:
        browser.save_screenshot(str(path))
    else:
        browser.find_element(By.ID, element).screenshot(str(path))
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    # 256 colours: a page of text and flat colour loses nothing visible, and the file a good part of its size.
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    print(f"  {path} ({path.stat().st_size // 1024} KiB)")


async def main() -> int:
    async with isolated_stack("incentives-shots-", ENV) as stack:
        assert stack.info is not None
        print("filling a working day ...")
        made = await fill_the_day(stack)
        # The sign-in page as an office with an identity provider has it (docs/console.md): the
        # provider the OIDC tests use, in a thread; the pages themselves are signed in with the token.
        with oidc_provider_mock.run_server_in_thread() as provider:
            url = stack.start_console(free_port(), oidc_env(f"http://localhost:{provider.server_port}"))
            await stack.wait_console(url)
            print(f"console at {url}; photographing ...")
            photograph(url, made)
    return 0


def oidc_env(issuer: str) -> dict[str, str]:
    return {
        "CONSOLE_OIDC_ISSUER": issuer,
        "CONSOLE_OIDC_CLIENT_ID": "incentives-console",
        "CONSOLE_OIDC_CLIENT_SECRET": "screenshots",
        "CONSOLE_OIDC_OPERATOR_VALUE": "incentives-operators",
        "CONSOLE_OIDC_LABEL": "城市统一身份认证",
    }


def photograph(url: str, made: dict[str, Any]) -> None:
    """Each main page, signed in with the named token (the pictures say who acted by name)."""
    with chromium(WIDTH, 900) as browser:
        shoot(browser, url + "/login", "login")
        fill(browser, {"#token": OPERATOR})
        browser.find_element(By.ID, "sign-in").click()
        pages = [
            ("/", "home"),
            ("/reports", "reports"),
            (f"/reports/{made['report']}", "report"),
            ("/catalogue", "catalogue"),
            ("/catalogue/daily-goods", "reward"),
            (f"/rounds/{made['round']}", "round"),
            (f"/rounds/{made['round']}/verify", "verify"),
            (f"/members/{made['member']}", "member"),
            ("/webhooks", "webhooks"),
            (f"/webhooks/{made['webhook']}", "webhook"),
            ("/needs", "needs"),
            (f"/needs/{made['need']}", "need"),
            ("/departments", "departments"),
            ("/providers", "providers"),
            ("/dead-letters?service=reports", "dead-letters"),
            ("/parked?service=reports", "parked"),
        ]
        for path, name in pages:
            shoot(browser, url + path, name)
        shoot(browser, url + "/reports", "map", element="map-card")
        browser.get(url + "/lang/en")
        shoot(browser, url + "/", "home-en")
        shoot(browser, url + f"/rounds/{made['round']}", "round-en")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main()))
