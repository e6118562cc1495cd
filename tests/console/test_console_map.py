"""The map on the reports and needs pages, in a real browser: the areas file drawn as inline SVG under
the console's CSP (styled by its stylesheet alone), a report and a need as dots where they are, a dot
that opens its report, and no error in the page console."""

from __future__ import annotations

import pytest
from incentives_kernel import topics
from incentives_ops.demo import member_registered, report_submitted
from incentives_ops.demo_needs import need_submitted
from incentives_ops.stack import Stack
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.console.browser import text
from tests.console.test_console_browser import ZH, assert_clean, click, go, loaded
from tests.support import Api, eventually, publish, status_is, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

IN_BEIQU = (31.283, 121.412)  # the demo areas' grid bq-01 (services/reports/.../demo-areas.geojson)
IN_NANQU = (31.207, 121.418)  # nanqu's grid nq-01


def fill_of(browser: webdriver.Chrome, element: WebElement) -> str:
    return str(browser.execute_script("return getComputedStyle(arguments[0]).fill", element))


def inside(browser: webdriver.Chrome, inner: WebElement, outer: WebElement) -> bool:
    return bool(
        browser.execute_script(
            "const a = arguments[0].getBoundingClientRect(), b = arguments[1].getBoundingClientRect();"
            "return a.width > 0 && a.left >= b.left && a.right <= b.right && a.top >= b.top && a.bottom <= b.bottom;",
            inner,
            outer,
        )
    )


async def test_the_map_shows_the_areas_and_the_listed_cases_and_a_dot_opens_its_report(
    browser: webdriver.Chrome, console_url: str, stack: Stack
) -> None:
    assert stack.info is not None
    reports = Api(stack.info.urls["reports"], stack.info.operator_token)
    member, report, need = uid("m-map"), uid("r-map"), uid("need-map")
    try:
        await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
        await publish(
            stack.info.bootstrap,
            topics.REPORTS,
            report,
            report_submitted(report, member, "nanqu", "road_damage", *IN_BEIQU),
        )
        await publish(
            stack.info.bootstrap,
            topics.REPORTS,
            need,
            need_submitted(need, member, "nanqu", "legal_aid", location=IN_NANQU),
        )
        stored = await eventually(lambda: status_is(reports, report, "submitted"), what="the report stored")
        assert (stored["district"], stored["grid_id"]) == ("beiqu", "bq-01")  # placed by its location
        await eventually(lambda: reports.json_or_none(f"/v1/needs/{need}"), what="the need stored")
    finally:
        await reports.aclose()

    go(browser, f"{console_url}/reports?status=submitted&district=beiqu", stack)
    svg = browser.find_element(By.ID, "map")
    assert svg.is_displayed() and svg.size["width"] > 300 and svg.size["height"] > 100
    districts = svg.find_elements(By.CSS_SELECTOR, "path.district")
    assert sorted(d.get_dom_attribute("data-district") for d in districts) == ["beiqu", "nanqu", "xincheng"]
    titles = {t.get_attribute("textContent") for t in svg.find_elements(By.CSS_SELECTOR, "path.grid > title")}
    assert "beiqu · bq-01" in titles
    labels = {t.get_attribute("textContent") for t in svg.find_elements(By.CSS_SELECTOR, "text")}
    assert labels == {"beiqu", "nanqu", "xincheng"}
    # The stylesheet styles the SVG under `default-src 'none'`: areas are filled as drawn, not SVG's black.
    assert fill_of(browser, districts[0]) == "rgb(253, 252, 247)"
    dot = browser.find_element(By.ID, f"dot-{report}")
    assert dot.get_dom_attribute("href") == f"/reports/{report}"
    circle = dot.find_element(By.TAG_NAME, "circle")
    assert fill_of(browser, circle) == "rgb(31, 95, 168)"  # submitted's colour
    beiqu = next(d for d in districts if d.get_dom_attribute("data-district") == "beiqu")
    assert inside(browser, circle, beiqu)  # drawn where it is
    assert ZH["map.drawn"].split("{")[0] in text(browser, "#map-note")

    click(browser, f"#dot-{report}")
    assert browser.current_url == f"{console_url}/reports/{report}"
    assert_clean(browser)

    go(browser, f"{console_url}/needs?district=nanqu", stack)
    dot = browser.find_element(By.ID, f"dot-{need}")
    assert dot.get_dom_attribute("href") == f"/needs/{need}"
    nanqu = browser.find_element(By.CSS_SELECTOR, "#map path.district[data-district=nanqu]")
    assert inside(browser, dot.find_element(By.TAG_NAME, "circle"), nanqu)
    # Not through `go`: its list of pages seen is opened again in each language by the browser module.
    browser.get(f"{console_url}/lang/en?next=/needs%3Fdistrict%3Dnanqu")
    loaded(browser)
    assert_clean(browser)
    assert browser.find_elements(By.ID, f"dot-{need}") and "lie on it" in text(browser, "#map-note")
