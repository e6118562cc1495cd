"""The home page: what needs attention, each card leading to the page where the work is done.

In a real browser against the running services: an overdue need, a dead letter, a parked event and a
round in public notice each appear on their card. In-process, with fake services: every card is
fetched with the filters that make it a short answer, and a service that fails blanks only its own
card or row.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from incentives_console.app import create_app
from incentives_console.settings import ConsoleSettings
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event
from incentives_ops.demo import member_registered, status_changed
from incentives_ops.demo_needs import need_rated, need_submitted
from incentives_ops.stack import Stack
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.console.browser import text
from tests.console.test_console_browser import ZH, click, go
from tests.e2e.test_redemptions import Rig
from tests.support import Api, eventually, publish, uid

SECRET = "a-test-secret-that-is-long-enough-0001"


async def known_to_reports(rig: Rig, member: str) -> bool:
    conn = await asyncpg.connect(rig.dsn)
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM reports.members WHERE member_id = $1", member))
    finally:
        await conn.close()


@pytest.mark.e2e
@pytest.mark.asyncio(loop_scope="session")
async def test_the_home_page_shows_overdue_needs_dead_letters_parked_events_and_rounds_in_notice(
    browser: webdriver.Chrome, console_url: str, stack: Stack
) -> None:
    assert stack.info is not None
    bootstrap = stack.info.bootstrap
    reports = Api(stack.info.urls["reports"], stack.info.operator_token)
    rig = Rig(stack)
    district, member, need = uid("dist-home"), uid("m-home"), uid("need-home")
    try:
        # A need submitted three weeks ago and never dispatched: overdue (the SLA is days, not weeks).
        await publish(bootstrap, topics.MEMBERS, member, member_registered(member, district))
        # The need takes its district from its member (it has no location): the member must be known first.
        await eventually(lambda: known_to_reports(rig, member), what=f"reports knows {member}")
        asked = datetime.now(UTC) - timedelta(days=21)
        await publish(bootstrap, topics.REPORTS, need, need_submitted(need, member, district, "legal_aid", at=asked))

        async def overdue() -> bool:
            found = await reports.json_or_none(f"/v1/needs/{need}")
            return bool(found and found["overdue"])

        await eventually(overdue, what="the overdue need")
        # Rated before it is resolved: dead-lettered (not_resolved).
        rating = need_rated(need, member, district, 5)
        await publish(bootstrap, topics.REPORTS, need, encode_event(rating))

        async def dead_lettered() -> int | None:
            body = await reports.json_or_none("/v1/dead-letters", limit=200, reason="not_resolved")
            ids = [d["dead_letter_id"] for d in body["items"] if d["event"] and d["event"]["id"] == rating["id"]]
            return ids[0] if ids else None

        dead_letter_id = await eventually(dead_lettered, what="the dead letter")
        # A status for a report that does not exist (yet): parked until it arrives.
        waiting = uid("r-home")
        await publish(bootstrap, topics.REPORTS, waiting, status_changed(waiting, district, "dispatched"))
        await eventually(
            lambda: reports.json_or_none("/v1/parked-events", awaiting=f"report:{waiting}"), what="the parked status"
        )
        # A round closed with a one-day notice: in public notice, and the notice ending first on the card.
        reward = await rig.reward(kind="allocation", cost_points=10, notice_days=1)
        round_id = uid("round-home")
        closes = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        opened = await rig.operator.post(
            "/v1/allocation-rounds", {"round_id": round_id, "reward_id": reward, "quota": 1, "closes_at": closes}
        )
        assert opened.status_code == 201, opened.text
        closed = await rig.operator.post(f"/v1/allocation-rounds/{round_id}/close")
        assert closed.status_code == 200 and closed.json()["result_status"] == "provisional", closed.text
    finally:
        await reports.aclose()

    go(browser, console_url + "/", stack)
    assert text(browser, "#card-overdue-needs h2") == ZH["home.overdue_needs"]
    assert district in text(browser, "#card-overdue-needs")
    assert topics.REPORTS in text(browser, "#dead-letters-reports")
    assert text(browser, "#parked-reports td.num") != "0"
    assert text(browser, f"#notice-{round_id} a") == round_id
    first = browser.find_element(By.CSS_SELECTOR, "#card-rounds tr[id]")
    assert first.get_attribute("id") == f"notice-{round_id}"  # a one-day notice ends before the five-day ones

    # Each card leads to the page where the work is done.
    click(browser, f"#card-overdue-needs a[href*='{district}']")
    assert need in text(browser, "#needs")
    go(browser, console_url + "/", stack)
    click(browser, f"#dead-letters-reports a[href*='topic={topics.REPORTS}']")
    assert rating["id"] in text(browser, f"#dead-letter-{dead_letter_id}")
    go(browser, console_url + "/", stack)
    click(browser, "#parked-reports a")
    assert f"report:{waiting}" in text(browser, "#parked-events")
    go(browser, console_url + "/", stack)
    click(browser, f"#notice-{round_id} a")
    assert text(browser, "#round-status") == ZH["round_status.provisional"]
    go(browser, console_url + "/lang/en?next=/", stack)
    assert text(browser, "#card-rounds h2") == "Rounds in public notice"
    go(browser, console_url + "/lang/zh-CN?next=/", stack)


# ------------------------------------------------------------------ in-process, fake services


def _page(items: list[dict[str, object]], next_cursor: str | None = None) -> httpx.Response:
    return httpx.Response(200, json={"items": items, "next_cursor": next_cursor})


def _letter(n: int, topic: str, reason: str) -> dict[str, object]:
    return {"dead_letter_id": n, "topic": topic, "reason": reason, "dead_lettered_at": f"2026-12-0{n}T08:00:00+00:00"}


async def test_every_card_asks_for_a_short_answer_and_a_failing_service_blanks_only_its_own() -> None:
    asked: list[httpx.URL] = []

    def services(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        service, path, q = request.url.host.removesuffix(".test"), request.url.path, request.url.params
        if path == "/v1/whoami":
            return httpx.Response(
                200, json={"role": "operator", "actor": "operator:li", "name": "li", "member_id": None}
            )
        if path == "/readyz":
            return httpx.Response(200 if service != "points" else 503)
        if service == "points":  # down for everything but sign-in
            return httpx.Response(503, json={"error": {"code": "unavailable", "message": "points is restarting"}})
        if path == "/v1/dead-letters":
            assert q["replayed"] == "false"
            if service == "reports":
                return _page(
                    [
                        _letter(3, "t.reports", "not_resolved"),
                        _letter(2, "t.members", "x"),
                        _letter(1, "t.reports", "not_resolved"),
                    ],
                    "more",
                )
            return _page([])
        if path == "/v1/parked-events":
            oldest = {
                "awaiting": "report:r-9",
                "parked_at": "2026-12-01T08:00:00+00:00",
                "gives_up_at": "2026-12-08T08:00:00+00:00",
            }
            return _page([oldest] if service == "rewards" else [])
        if path in ("/v1/reports", "/v1/needs"):
            assert q["overdue"] == "true"
            district = "nanqu" if path == "/v1/reports" else "beiqu"
            return _page([{"district": district}, {"district": district}, {"district": None}])
        if path == "/v1/rewards":
            return httpx.Response(200, json=[])
        if path == "/v1/allocation-rounds":
            assert q["status"] == "provisional"
            rounds = [
                {
                    "round_id": f"r-{d}",
                    "reward_id": "camp",
                    "applicants": 3,
                    "notice_ends_at": f"2026-12-0{d}T00:00:00Z",
                }
                for d in (5, 3)
            ]
            return _page(rounds)
        if path == "/v1/webhooks":
            assert q["attention"] == "true"
            return _page([])
        raise AssertionError(f"unexpected {request.url}")

    settings = ConsoleSettings(
        env="prod",
        session_secret=SECRET,
        reports_url="http://reports.test",
        points_url="http://points.test",
        rewards_url="http://rewards.test",
        notify_url="http://notify.test",
    )
    app = create_app(settings)
    app.state.console.backends.http = httpx.AsyncClient(transport=httpx.MockTransport(services))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as http:
        login = await http.get("/login")
        token = re.findall(r'name="csrf_token" value="([^"]+)"', login.text)[0]
        assert (await http.post("/login", data={"token": "t", "csrf_token": token})).status_code == 303
        home = await http.get("/")
    assert home.status_code == 200, home.text
    html = home.text

    def row(row_id: str) -> str:
        found = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
        assert found, row_id
        return found.group(1)

    # Dead letters by topic, the most first; points' row says it did not answer; the sample was cut: "3+".
    assert "t.reports" in row("dead-letters-reports") and ">2<" in row("dead-letters-reports")
    assert "t.members" in row("dead-letters-reports-2")
    assert "points is restarting" in row("dead-letters-points")
    assert re.search(r'href="/dead-letters">3\+</a>', html)
    assert "report:r-9" in row("parked-rewards") and "points is restarting" in row("parked-points")
    assert re.search(r'href="/parked">1</a>', html)
    assert 'href="/needs?overdue=true&amp;district=beiqu"' in html
    assert 'href="/reports?overdue=true&amp;district=nanqu"' in html
    assert html.index('id="notice-r-3"') < html.index('id="notice-r-5"')  # the notice ending first, first
    # One short request per card (and per service for dead letters and parked events), nothing more.
    lists = [u.path for u in asked if u.path.startswith("/v1/") and u.path != "/v1/whoami"]
    assert sorted(lists) == sorted(
        ["/v1/reports", "/v1/needs", "/v1/rewards", "/v1/webhooks", "/v1/allocation-rounds"]
        + ["/v1/dead-letters"] * 4
        + ["/v1/parked-events"] * 4
    )
