"""Reports rules through the running services: duplicates, photo re-use, rating once, KPIs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from incentives_kernel import topics
from incentives_ops.demo import member_registered, report_rated, report_submitted, status_changed
from incentives_ops.stack import Stack

from tests.support import Api, balance_is, eventually, publish, status_is, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

METRE = 1 / 111_195  # a metre of latitude, in degrees
_SALT = random.Random().uniform(0, 0.3)  # this run's reports away from any left by another run


def submitted(
    report: str,
    member: str,
    lat: float,
    at: datetime,
    category: str = "road_damage",
    photo_sha: str | None = None,
    lon: float = 121.4737 + _SALT,
) -> dict[str, Any]:
    event = report_submitted(report, member, "nanqu", category, lat=lat, lon=lon)
    event["data"]["submitted_at"] = at.isoformat()
    if photo_sha:
        event["data"]["photos"] = [{"url": f"https://img.example.org/{report}.jpg", "sha256": photo_sha}]
    return event


async def register(stack: Stack, member: str) -> None:
    assert stack.info is not None
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))


@pytest.mark.parametrize(
    ("metres", "hours", "duplicate"), [(40, 1, True), (60, 1, False), (10, 23, True), (10, 25, False)]
)
async def test_duplicates_are_same_category_within_50_m_of_an_open_report_from_the_last_24_h(
    stack: Stack, metres: int, hours: int, duplicate: bool
) -> None:
    assert stack.info is not None
    reports, points = (Api(stack.info.urls[n], stack.info.gateway_token) for n in ("reports", "points"))
    first, second, member = uid("r"), uid("r"), uid("m")
    await register(stack, member)
    # A spot of its own (about 50 km x 10 km to pick from), so no other test's report is within 50 m.
    base_lat, lon = 31.2 + random.uniform(0, 0.1), 122.0 + random.uniform(0, 0.5)
    now = datetime.now(UTC)
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        first,
        submitted(first, member, base_lat, now - timedelta(hours=hours), lon=lon),
    )
    await eventually(lambda: reports.json_or_none(f"/v1/reports/{first}"), what="the first report")
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        second,
        submitted(second, member, base_lat + metres * METRE, now, lon=lon),
        status_changed(second, "nanqu", "accepted", "市政"),
    )
    shown = await eventually(lambda: status_is(reports, second, "accepted"), what="the second report accepted")
    assert shown["duplicate_of"] == (first if duplicate else None)
    assert shown["earns_points"] is (not duplicate)
    expected = 0 if duplicate else 6
    await eventually(lambda: balance_is(points, member, expected), what="points as the rule says")
    if not duplicate:
        await eventually(lambda: _earned(reports, second, 6), what="points earned shown with the report")
    await reports.aclose()
    await points.aclose()


async def test_a_reused_photo_is_flagged_and_does_not_earn(stack: Stack) -> None:
    assert stack.info is not None
    reports = Api(stack.info.urls["reports"], stack.info.gateway_token)
    first, second, member = uid("r"), uid("r"), uid("m")
    await register(stack, member)
    sha = uid("x").encode().hex().ljust(64, "0")[:64]
    now = datetime.now(UTC)
    await publish(stack.info.bootstrap, topics.REPORTS, first, submitted(first, member, 30.1, now, "sanitation", sha))
    await eventually(lambda: reports.json_or_none(f"/v1/reports/{first}"), what="the first report")  # then the second
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        second,
        submitted(second, member, 30.5, now, "fire_hazard", sha.upper()),
        status_changed(second, "nanqu", "accepted", "消防"),
    )
    shown = await eventually(lambda: status_is(reports, second, "accepted"), what="accepted")
    assert shown["photo_reused_from"] == first and shown["earns_points"] is False
    assert "already used" in shown["history"][0]["note"]
    await reports.aclose()


async def test_only_the_first_rating_of_a_resolved_report_earns_and_kpis_show_on_metrics(stack: Stack) -> None:
    assert stack.info is not None
    reports, points = (Api(stack.info.urls[n], stack.info.gateway_token) for n in ("reports", "points"))
    report, member = uid("r"), uid("m")
    department = f"Dept-{uid('d')}"
    await register(stack, member)
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        report,
        submitted(report, member, 29.9, datetime.now(UTC) - timedelta(hours=3), "other"),
        status_changed(report, "nanqu", "resolved", department),
        report_rated(report, member, "nanqu", 4),
        report_rated(report, member, "nanqu", 1),
    )
    await eventually(lambda: balance_is(points, member, 4), what="3 for the report, 1 for the first rating")
    shown = (await reports.get(f"/v1/reports/{report}")).json()
    assert shown["rating"] == 4
    metrics = (await Api(stack.info.urls["reports"], None).get("/metrics")).text
    observed = [
        line
        for line in metrics.splitlines()
        if line.startswith("incentives_reports_time_to_status_seconds_count") and department in line
    ]
    assert observed == [
        f'incentives_reports_time_to_status_seconds_count{{department="{department}",status="resolved"}} 1.0'
    ]
    bucket = [line for line in metrics.splitlines() if department in line and 'le="14400.0"' in line]
    assert bucket and bucket[0].endswith(" 1.0")  # resolved after about 3 hours: within the 4-hour bucket
    await reports.aclose()
    await points.aclose()


async def _earned(reports: Api, report: str, points: int) -> bool:
    body = await reports.json_or_none(f"/v1/reports/{report}")
    return bool(body and body["points_earned"] == points)
