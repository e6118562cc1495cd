"""Dead letters and parked events in the console, in a real browser: an operator replays a dead letter
once its cause is fixed, and sees a parked event with what it waits for."""

from __future__ import annotations

import pytest
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event
from incentives_ops.demo import member_registered, report_rated, report_submitted, status_changed
from incentives_ops.stack import Stack
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.console.browser import text
from tests.console.test_console_browser import EN, ZH, click, fingerprint, flash, go
from tests.support import Api, eventually, publish, status_is, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


async def test_an_operator_replays_a_dead_letter_and_sees_parked_events(
    browser: webdriver.Chrome, console_url: str, stack: Stack
) -> None:
    assert stack.info is not None
    reports = Api(stack.info.urls["reports"], stack.info.operator_token)
    member, report = uid("m"), uid("r")
    try:
        await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
        await publish(stack.info.bootstrap, topics.REPORTS, report, report_submitted(report, member, "nanqu", "other"))
        await eventually(lambda: status_is(reports, report, "submitted"), what="the report")
        rating = report_rated(report, member, "nanqu", 5)  # before the report is resolved: dead-lettered
        await publish(stack.info.bootstrap, topics.REPORTS, report, encode_event(rating))

        async def listed() -> int | None:
            body = await reports.json_or_none("/v1/dead-letters", limit=200, reason="not_resolved")
            ids = [d["dead_letter_id"] for d in body["items"] if d["event"] and d["event"]["id"] == rating["id"]]
            return ids[0] if ids else None

        dead_letter_id = await eventually(listed, what="the dead letter")
        for status in ("accepted", "resolved"):
            await publish(stack.info.bootstrap, topics.REPORTS, report, status_changed(report, "nanqu", status, "城管"))
        await eventually(lambda: status_is(reports, report, "resolved"), what="the report resolved")
        # A status for a report that does not exist yet: parked.
        waiting = uid("r")
        await publish(stack.info.bootstrap, topics.REPORTS, waiting, status_changed(waiting, "nanqu", "dispatched"))
        await eventually(
            lambda: reports.json_or_none("/v1/parked-events", awaiting=f"report:{waiting}"), what="the parked status"
        )
    finally:
        await reports.aclose()

    go(browser, console_url + "/dead-letters?service=reports&reason=not_resolved", stack)
    row = browser.find_element(By.ID, f"dead-letter-{dead_letter_id}")
    assert rating["id"] in row.text and "report.rated" in row.text
    click(browser, f"#replay-{dead_letter_id}")
    assert "/dead-letters?service=reports" in browser.current_url
    assert ZH["outcome.applied"] in flash(browser), flash(browser)
    go(browser, console_url + "/dead-letters?service=reports&reason=not_resolved", stack)
    replays = text(browser, f"#dead-letter-{dead_letter_id} td.num").split()
    assert replays[:2] == ["1", fingerprint(stack.info.operator_token)], replays  # once, by this operator

    go(browser, console_url + "/parked?service=reports", stack)
    assert f"report:{waiting}" in text(browser, "#parked-events")
    for lang in ("en", "zh-CN"):
        go(browser, console_url + f"/lang/{lang}?next=/dead-letters", stack)
    assert ZH["events.dead_letters"] in text(browser, "h1") and EN["events.dead_letters"] == "Dead letters"
