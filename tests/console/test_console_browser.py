"""The operator console in a real browser (Debian's Chromium, headless), against the running services.

One browser for the module, signed in once by the first test; every page it opens must load
without an error in the page console (script errors, CSP violations, failed resources).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from incentives_console import i18n
from incentives_kernel import signing, topics
from incentives_ops.demo import attendance_confirmed, member_registered, report_submitted
from incentives_ops.demo_needs import need_status_changed, need_submitted
from incentives_ops.stack import Stack
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.console.browser import console_errors, field, fill, text
from tests.e2e.test_allocation import application, level_known
from tests.e2e.test_redemptions import Rig
from tests.support import Api, eventually, publish, status_is, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

ZH = i18n.catalogue("zh-CN")
EN = i18n.catalogue("en")
PAGES_SEEN: list[str] = []  # every page the tests opened, rendered again in both languages at the end


def operator_of(stack: Stack) -> str:
    assert stack.info is not None
    return stack.info.operator_token


def fingerprint(token: str) -> str:
    return "operator:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def loaded(browser: webdriver.Chrome) -> None:
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def assert_clean(browser: webdriver.Chrome) -> None:
    errors = console_errors(browser)
    assert not errors, f"{browser.current_url}: {errors}"
    assert not browser.find_elements(By.ID, "error-title"), f"{browser.current_url}: {text(browser, '#error-title')}"


def go(browser: webdriver.Chrome, url: str, stack: Stack) -> None:
    """Open a page (signing in first if the session is gone) and check it rendered cleanly."""
    browser.get(url)
    loaded(browser)
    if "/login" in browser.current_url and "/login" not in url:
        console_errors(browser)
        sign_in(browser, operator_of(stack))
    assert_clean(browser)
    PAGES_SEEN.append(url)


def gone(page: WebElement) -> bool:
    """The old page's root is no longer in the document. Chromium sometimes says so with an inspector
    error ("Node with given id does not belong to the document") rather than a stale-element one,
    which selenium's `staleness_of` lets through as a failure."""
    try:
        page.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def click(browser: webdriver.Chrome, css: str) -> None:
    """Click a submit button or link and wait for the page it leads to."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, css).click()
    WebDriverWait(browser, 30).until(lambda _: gone(page))
    loaded(browser)


def sign_in(browser: webdriver.Chrome, token: str) -> None:
    fill(browser, {"#token": token})
    click(browser, "#sign-in")


def flash(browser: webdriver.Chrome) -> str:
    return " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".flash"))


def refusal_statuses(browser: webdriver.Chrome) -> list[str]:
    """The page console's errors of a page shown with a 4xx status: only the failed load itself."""
    errors = console_errors(browser)
    assert all("the server responded with a status of 4" in e["message"] for e in errors), errors
    return [e["message"] for e in errors]


async def test_sign_in_refuses_wrong_and_gateway_tokens_and_admits_an_operator(
    browser: webdriver.Chrome, console_url: str, stack: Stack
) -> None:
    assert stack.info is not None
    browser.get(console_url + "/reports?overdue=true")
    loaded(browser)
    assert browser.current_url.startswith(console_url + "/login?next=")
    assert_clean(browser)

    sign_in(browser, "not-a-token-" + uuid.uuid4().hex)
    assert text(browser, "#signin-error") == ZH["signin.invalid"]
    sign_in(browser, stack.info.gateway_token)
    assert text(browser, "#signin-error") == ZH["signin.not_operator"]
    assert len(refusal_statuses(browser)) == 2  # 401, then 403

    sign_in(browser, stack.info.operator_token)
    assert browser.current_url == console_url + "/reports?overdue=true"  # back where it was going
    assert_clean(browser)
    assert fingerprint(stack.info.operator_token) in text(browser, "header.top .who")
    cookie = browser.get_cookie("console_session")
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["secure"] is False
    assert stack.info.operator_token not in cookie["value"]  # the token stays on the server


async def test_an_operator_creates_a_reward_and_adjusts_its_stock(
    browser: webdriver.Chrome, console_url: str, stack: Stack
) -> None:
    reward_id = uid("rw-console")
    go(browser, console_url + "/catalogue", stack)
    fill(
        browser,
        {
            "#new-reward [name=reward_id]": reward_id,
            "#new-reward [name=name]": "雨衣 Rain cape",
            "#new-reward [name=kind]": "instant",
            "#new-reward [name=cost_points]": "40",
            "#new-reward [name=initial_stock]": "3",
        },
    )
    click(browser, "#create-reward")
    assert browser.current_url == f"{console_url}/catalogue/{reward_id}"
    assert_clean(browser)
    assert text(browser, "#stock") == "3"

    fill(browser, {"#delta": "7", "#reason": "delivery from the partner shop"})
    click(browser, "#change-stock")
    assert_clean(browser)
    assert text(browser, "#stock") == "10"
    newest = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#stock-changes tr:nth-child(2) td")]
    assert newest[1:] == ["+7", "10", "delivery from the partner shop", fingerprint(operator_of(stack))]

    # More out than there is: the rewards service refuses, the console says why, nothing changes.
    fill(browser, {"#delta": "-100", "#reason": "stocktake"})
    click(browser, "#change-stock")
    assert_clean(browser)
    assert "cannot remove more stock than is available" in flash(browser)
    assert text(browser, "#stock") == "10"
    rewards = Api(stack.info.urls["rewards"] if stack.info else "", operator_of(stack))
    try:
        listed = (await rewards.get("/v1/rewards")).json()
        assert next(r for r in listed if r["reward_id"] == reward_id)["stock_available"] == 10
    finally:
        await rewards.aclose()


async def test_a_forged_post_changes_nothing(browser: webdriver.Chrome, console_url: str, stack: Stack) -> None:
    rig = Rig(stack)
    reward = await rig.reward(initial_stock=5)
    go(browser, f"{console_url}/catalogue/{reward}", stack)

    # The form's CSRF token replaced, as a page of another origin would have to guess it.
    browser.execute_script("document.querySelector('#stock-form [name=csrf_token]').value = 'forged'")
    fill(browser, {"#delta": "3", "#reason": "forged"})
    click(browser, "#change-stock")
    assert text(browser, "#error-title") == ZH["error.csrf"]
    refusal_statuses(browser)
    assert await rig.stock(reward) == 5

    go(browser, f"{console_url}/catalogue/{reward}", stack)
    session = browser.get_cookie("console_session")
    assert session is not None
    token = field(browser, "#stock-form [name=csrf_token]").get_attribute("value")
    url = f"{console_url}/catalogue/{reward}/stock"
    async with httpx.AsyncClient(cookies={"console_session": session["value"]}) as http:
        # The session cookie alone (what a cross-site form would carry, were SameSite not there) is not enough.
        without = await http.post(url, data={"delta": "3", "reason": "no token"})
        assert without.status_code == 403
        # Nor is a valid token on a request the browser marks as sent by another site.
        cross = await http.post(
            url, data={"csrf_token": token, "delta": "3", "reason": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert cross.status_code == 403
        assert await rig.stock(reward) == 5
        # The same request with the token, from the console's own page: done (so the refusals were the checks).
        done = await http.post(url, data={"csrf_token": token, "delta": "3", "reason": "counted"})
        assert done.status_code == 303
    assert await rig.stock(reward) == 8


async def test_an_operator_opens_a_round_closes_it_sees_the_ranking_and_verifies_it(
    browser: webdriver.Chrome, console_url: str, stack: Stack
) -> None:
    rig = Rig(stack)
    members = [await rig.member(hours=h) for h in (24, 6, 2)]  # 240, 60, 20 points: 2, 1 and 0 stars
    for member, stars in zip(members[:2], (2, 1), strict=True):  # 0 stars: no standing to wait for
        await eventually(lambda m=member, s=stars: level_known(rig, m, s), what=f"{member} at {stars} stars")
    reward = await rig.reward(kind="allocation", cost_points=10)
    round_id = uid("round-console")

    go(browser, console_url + "/rounds", stack)
    closes = (datetime.now(UTC) + timedelta(days=1)).astimezone(ZoneInfo("Asia/Shanghai"))
    fill(
        browser,
        {
            "#round-id": round_id,
            "#round-reward": reward,
            "#round-quota": "2",
            "#round-closes": closes.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    click(browser, "#open-round-button")
    assert browser.current_url == f"{console_url}/rounds/{round_id}"
    assert_clean(browser)
    assert text(browser, "#round-status") == ZH["round_status.open"]

    for member in members:  # riders apply in their app (the gateway), not in the console
        applied = await rig.rewards.post(f"/v1/allocation-rounds/{round_id}/applications", {"member_id": member})
        assert applied.status_code == 202, applied.text
    for member in members:
        await eventually(lambda m=member: application(rig, round_id, m, "held"), what=f"{member}'s cost held")

    go(browser, f"{console_url}/rounds/{round_id}", stack)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#ranking tr")) == 1 + 3
    click(browser, "#close-round")
    assert_clean(browser)
    assert text(browser, "#round-status") == ZH["round_status.provisional"]  # the public notice (5 days)
    rows = [
        [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, "#ranking tr")[1:]
    ]
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        ("1", members[0], "2", "240"),
        ("2", members[1], "1", "60"),
        ("3", members[2], "0", "20"),
    ]
    assert [r[7] for r in rows] == [ZH["rounds.won"], ZH["rounds.won"], ZH["rounds.lost"]]
    assert fingerprint(operator_of(stack)) in text(browser, "dl.facts")  # closed by this operator

    click(browser, "#verify-round")
    assert_clean(browser)
    PAGES_SEEN.append(browser.current_url)
    verdict = field(browser, "#verdict")
    assert verdict.text == ZH["verify.matches"] and "ok" in (verdict.get_attribute("class") or "")

    # During the notice the operator disqualifies the second winner: the third takes the place.
    for member in members[:2]:
        await eventually(lambda m=member: application(rig, round_id, m, "won"), what=f"{member} paid")
    go(browser, f"{console_url}/rounds/{round_id}", stack)
    fill(browser, {"#disqualify-member": members[1], "#disqualify-reason": "资料不实"})
    click(browser, "#disqualify-button")
    assert_clean(browser)
    rows = [
        [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, "#ranking tr")[1:]
    ]
    assert rows[1][2].startswith(ZH["application_status.disqualified"]) and "资料不实" in rows[1][2]
    go(browser, console_url + "/rounds", stack)
    assert round_id in text(browser, "#rounds-list")


async def test_member_lookup_by_phone_shows_balance_ledger_and_redemptions(
    browser: webdriver.Chrome, console_url: str, stack: Stack
) -> None:
    assert stack.info is not None
    member = uid("m-console")
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu", phone=phone))
    await publish(stack.info.bootstrap, topics.VOLUNTEER, member, attendance_confirmed(member, 3))
    points = Api(stack.info.urls["points"], stack.info.operator_token)
    try:

        async def found() -> bool:
            r = await points.post("/v1/members/lookup", json={"phone": phone})
            balance = await points.json_or_none(f"/v1/members/{member}/balance")
            return r.json().get("member_ids") == [member] and bool(balance) and balance["available"] == 30

        await eventually(found, timeout=60, what="the member registered and credited")
    finally:
        await points.aclose()

    go(browser, console_url + "/members", stack)
    fill(browser, {"#phone": phone})
    click(browser, "#lookup-button")
    assert browser.current_url == f"{console_url}/members/{member}"  # the phone is in no address
    assert_clean(browser)
    PAGES_SEEN.append(browser.current_url)
    assert text(browser, "#available") == "30"
    ledger = text(browser, "#ledger")
    assert ZH["ledger_kind.volunteer"] in ledger and "+30" in ledger

    go(browser, console_url + "/members", stack)
    fill(browser, {"#phone": "139" + "0" * 8})
    click(browser, "#lookup-button")
    assert text(browser, "#not-found") == ZH["members.none_found"]
    console_log = (stack.logs / "console.log").read_text(errors="replace")
    assert "member.lookup" in console_log and phone not in console_log  # audited, without the number


async def test_webhooks_register_and_disable(browser: webdriver.Chrome, console_url: str, stack: Stack) -> None:
    go(browser, console_url + "/webhooks", stack)
    fill(
        browser,
        {
            "#register-webhook [name=url]": "http://127.0.0.1:9/console-test",
            "#register-webhook [name=secret]": signing.new_secret(),
        },
    )
    field(browser, "#register-webhook [value='allocation.lost']").click()
    click(browser, "#register-webhook-button")
    assert "/webhooks/wh-" in browser.current_url
    assert_clean(browser)
    PAGES_SEEN.append(browser.current_url)
    assert text(browser, "#circuit") == ZH["circuit.closed"]
    assert text(browser, "#created-by") == fingerprint(operator_of(stack))  # notify records who registered it
    click(browser, "#disable-webhook")
    assert_clean(browser)
    assert ZH["webhooks.disabled_explain"] in text(browser, "main")
    assert text(browser, "#disabled-by") == fingerprint(operator_of(stack))  # and who disabled it


async def test_an_operator_registers_a_rider_station(browser: webdriver.Chrome, console_url: str, stack: Stack) -> None:
    provider_id = uid("pv-console")
    go(browser, console_url + "/providers", stack)
    fill(
        browser,
        {
            "#provider-id": provider_id,
            "#provider-name": "蜂享驿站 控制台",
            "#provider-kind": "station",
            "#provider-lat": "39.91",
            "#provider-lon": "116.40",
        },
    )
    click(browser, "#register-provider-button")
    assert browser.current_url == f"{console_url}/providers"
    assert_clean(browser)
    assert provider_id in text(browser, "#providers") and ZH["provider_kind.station"] in text(browser, "#providers")
    fill(browser, {"#provider-id": uid("pv-c"), "#provider-name": "x", "#provider-lat": "north", "#provider-lon": "1"})
    click(browser, "#register-provider-button")
    assert text(browser, "#form-error") == ZH["providers.refused"].format(message=ZH["providers.bad_location"])
    assert any("400" in e["message"] for e in console_errors(browser))  # the refusal is a 400, and only that


async def test_language_switch_and_accept_language(browser: webdriver.Chrome, console_url: str, stack: Stack) -> None:
    go(browser, console_url + "/", stack)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    click(browser, "a[lang=en]")
    assert_clean(browser)
    assert browser.current_url == console_url + "/"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert text(browser, "h1") == EN["home.title"]
    click(browser, "a[lang='zh-CN']")
    assert text(browser, "h1") == ZH["home.title"]

    async with httpx.AsyncClient(base_url=console_url) as http:
        for header, expected in [("en-GB,en;q=0.9", "en"), ("zh-TW", "zh-CN"), ("fr, en;q=0.5", "en"), ("fr", "zh-CN")]:
            page = await http.get("/login", headers={"Accept-Language": header})
            assert f'<html lang="{expected}">' in page.text, header


async def test_a_needs_history_and_the_department_kpis(
    browser: webdriver.Chrome, console_url: str, stack: Stack
) -> None:
    assert stack.info is not None
    member, need, dept = uid("m-console"), uid("need-console"), uid("dept-console")
    name = f"Legal aid {dept}"
    reports = httpx.AsyncClient(
        base_url=stack.info.urls["reports"], headers={"Authorization": f"Bearer {operator_of(stack)}"}, timeout=10
    )
    try:
        assert (await reports.put(f"/v1/departments/{dept}", json={"name": name})).status_code == 200
        now = datetime.now(UTC)
        await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
        await publish(
            stack.info.bootstrap,
            topics.REPORTS,
            need,
            need_submitted(need, member, "nanqu", "legal_aid", "拖欠工资 unpaid wages", at=now - timedelta(hours=3)),
            need_status_changed(need, "nanqu", "dispatched", "街道办", at=now - timedelta(hours=2)),
            need_status_changed(need, "nanqu", "dispatched", dept, at=now - timedelta(hours=1), note="wages"),
            need_status_changed(need, "nanqu", "resolved", dept, at=now - timedelta(minutes=30)),
        )

        async def resolved() -> bool:
            r = await reports.get(f"/v1/needs/{need}")
            return r.status_code == 200 and r.json()["status"] == "resolved"

        await eventually(resolved, what="the need resolved")
    finally:
        await reports.aclose()

    go(browser, f"{console_url}/needs?department={dept}", stack)
    assert need in text(browser, "#needs")
    go(browser, f"{console_url}/needs/{need}", stack)
    history = text(browser, "#history")
    assert "街道办" in history and dept in history and "wages" in history
    assert text(browser, "#need-status") == ZH["report_status.resolved"]
    today = datetime.now(UTC).date()
    go(browser, f"{console_url}/departments?from={today - timedelta(days=1)}&to={today + timedelta(days=1)}", stack)
    row = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#kpis tr") if dept in r.text]
    assert len(row) == 1 and name in row[0] and "100 %" in row[0]


async def test_every_page_renders_in_both_languages_without_console_errors(
    browser: webdriver.Chrome, console_url: str, stack: Stack
) -> None:
    assert stack.info is not None
    rig = Rig(stack)
    member = await rig.member()
    report = uid("r-console")
    await publish(
        stack.info.bootstrap, topics.REPORTS, report, report_submitted(report, member, "nanqu", "road_damage")
    )
    reports = Api(stack.info.urls["reports"], stack.info.operator_token)
    try:
        await eventually(lambda: status_is(reports, report, "submitted"), what="the report stored")
    finally:
        await reports.aclose()
    pages = [
        "/",
        "/reports",
        "/reports?status=submitted&district=nanqu&overdue=true",
        f"/reports/{report}",
        "/catalogue",
        "/rounds",
        "/providers",
        "/members",
        f"/members/{member}",
        "/webhooks",
        "/webhooks?all=true",
        "/needs",
        "/needs?status=reopened&district=nanqu&department=x&overdue=true",
        "/departments",
        "/departments?from=2026-01-01&to=2026-02-30&district=nanqu",
        *[url.removeprefix(console_url) for url in PAGES_SEEN],
    ]
    for locale in ("en", "zh-CN"):
        browser.get(f"{console_url}/lang/{locale}")
        loaded(browser)
        for path in dict.fromkeys(pages):
            go(browser, console_url + path, stack)
            assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale, path


async def test_sign_out_ends_the_session_on_the_server(
    browser: webdriver.Chrome, console_url: str, stack: Stack
) -> None:
    go(browser, console_url + "/", stack)
    session = browser.get_cookie("console_session")
    assert session is not None
    click(browser, "#sign-out")
    assert browser.current_url == console_url + "/login"
    assert_clean(browser)
    assert browser.get_cookie("console_session") is None
    browser.get(console_url + "/members")
    loaded(browser)
    assert browser.current_url.startswith(console_url + "/login")
    # The old cookie, kept by someone, opens nothing: the session is gone on the server.
    async with httpx.AsyncClient(cookies={"console_session": session["value"]}) as http:
        r = await http.get(console_url + "/members")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
