"""Traffic for the monitoring test: what the demo riders do, plus what they never do but an operator
must see on a dashboard: the daily cap, a reversal, a duplicate, a re-used photo, an overdue report,
a redelivered event, holds in every outcome, and dead letters in every service."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from incentives_kernel import topics
from incentives_ops.demo import (
    attendance_confirmed,
    cloud_event,
    member_registered,
    report_rated,
    report_submitted,
    status_changed,
)

from tests.support import Api, eventually, publish, status_is, uid

DEPT = "消防 Fire brigade"
REWARDS_SOURCE = "/tests/holds"  # hold commands sent by hand (the rewards service sends its own)


def _hold(type_: str, member: str, **data: Any) -> dict[str, Any]:
    return cloud_event(REWARDS_SOURCE, f"points.{type_}", data["hold_id"], {"member_id": member, **data})


def _with_photo(event: dict[str, Any], sha256: str) -> dict[str, Any]:
    event["data"]["photos"] = [{"url": f"https://img.example.org/{uid('p')}.jpg", "sha256": sha256}]
    return event


async def dead_letters(bootstrap: str) -> None:
    """A record that is not JSON on members.v1: each of the four services consumes it and dead-letters it."""
    await publish(bootstrap, topics.MEMBERS, uid("bad"), b"{not json")


async def operator_scenarios(bootstrap: str, points: Api, reports: Api) -> None:
    capped, other = uid("m"), uid("m")
    registration = member_registered(capped, "nanqu")
    # Delivered twice, as after a producer retry: every service's inbox skips the second copy.
    await publish(bootstrap, topics.MEMBERS, capped, registration, registration)
    await publish(bootstrap, topics.MEMBERS, other, member_registered(other, "beiqu"))
    await dead_letters(bootstrap)

    # Six fire-hazard reports accepted on one day: 60 points, the daily cap (50) cuts 10.
    for _ in range(6):
        report = uid("r")
        await publish(
            bootstrap,
            topics.REPORTS,
            report,
            report_submitted(report, capped, "nanqu", "fire_hazard"),
            status_changed(report, "nanqu", "accepted", DEPT),
        )

    # Verified, then found invalid: reports counts a reversal, points reverses the credit.
    reversed_report = uid("r")
    await publish(
        bootstrap,
        topics.REPORTS,
        reversed_report,
        report_submitted(reversed_report, other, "beiqu", "sanitation"),
        status_changed(reversed_report, "beiqu", "accepted", DEPT),
        status_changed(reversed_report, "beiqu", "rejected", DEPT, reason="invalid"),
    )

    # Resolved and rated: time to each status, and the department's average rating.
    rated = uid("r")
    await publish(
        bootstrap,
        topics.REPORTS,
        rated,
        report_submitted(rated, other, "beiqu", "road_damage"),
        status_changed(rated, "beiqu", "dispatched", DEPT),
        status_changed(rated, "beiqu", "resolved", DEPT),
        report_rated(rated, other, "beiqu", 4),
    )

    # The same spot and category as an open report submitted before it: a duplicate. The two are on
    # different partitions (keyed by report id), so the second goes out once the first is stored.
    first, second = uid("r"), uid("r")
    same_spot: dict[str, Any] = {"district": "beiqu", "category": "public_facility", "lat": 30.5, "lon": 120.5}
    await publish(bootstrap, topics.REPORTS, first, report_submitted(first, other, **same_spot))
    await eventually(lambda: status_is(reports, first, "submitted"), what=f"{first} stored")
    await publish(bootstrap, topics.REPORTS, second, report_submitted(second, other, **same_spot))
    # The same photo in two reports: whichever is stored second re-uses it.
    photo = hashlib.sha256(uid("photo").encode()).hexdigest()
    for report, category in ((uid("r"), "sanitation"), (uid("r"), "other")):
        await publish(
            bootstrap, topics.REPORTS, report, _with_photo(report_submitted(report, other, "beiqu", category), photo)
        )

    # Submitted eight days ago and still open: past the 7-day SLA, so the overdue sweep counts it.
    overdue = uid("r")
    late = report_submitted(overdue, other, "beiqu", "traffic_safety")
    late["data"]["submitted_at"] = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    await publish(bootstrap, topics.REPORTS, overdue, late)

    # Volunteering funds holds in every outcome: captured, released, expired, rejected. The commands
    # travel on another topic than the credit, so they wait for the credit to be on the balance.
    await publish(bootstrap, topics.VOLUNTEER, other, attendance_confirmed(other, 3))

    async def funded() -> dict[str, Any] | None:
        body = await points.json_or_none(f"/v1/members/{other}/balance")
        return body if body and body["available"] >= 15 else None

    await eventually(funded, what=f"{other} funded for holds")
    kept, given_back, lapsing = uid("h"), uid("h"), uid("h")
    await publish(
        bootstrap,
        topics.POINTS_COMMANDS,
        other,
        _hold("place_hold", other, hold_id=kept, amount=5, reason="daily goods"),
        _hold("capture_hold", other, hold_id=kept),
        _hold("place_hold", other, hold_id=given_back, amount=5, reason="camp"),
        _hold("release_hold", other, hold_id=given_back, reason="redemption cancelled"),
        _hold("place_hold", other, hold_id=lapsing, amount=5, reason="school", ttl_s=1),
        _hold("place_hold", other, hold_id=uid("h"), amount=100_000, reason="housing"),
    )
