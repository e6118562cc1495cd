"""Version 2 of the loop through the running services: a rider's need from submission to rating,
transfers, reopening, departments and their KPIs, and where a report is (the demo areas map)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from incentives_kernel import topics
from incentives_ops.demo import cloud_event, member_registered, report_submitted
from incentives_ops.demo_needs import department_registered, need_rated, need_status_changed, need_submitted
from incentives_ops.stack import Stack

from tests.support import Api, balance_is, eventually, publish, read_topic, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

# Inside the demo map (services/reports/src/reports/data/demo-areas.geojson).
IN_BEIQU_BQ02 = (31.28, 121.45)
IN_NANQU_NQ01 = (31.20, 121.42)
OUTSIDE = (31.40, 121.60)


def _jitter(point: tuple[float, float]) -> tuple[float, float]:
    """A spot of this test's own near `point` (no other report within 50 m: not a duplicate)."""
    return point[0] + random.uniform(-0.004, 0.004), point[1] + random.uniform(-0.004, 0.004)


def report_at(
    report: str, member: str, where: tuple[float, float], at: datetime, category: str = "road_damage"
) -> dict[str, Any]:
    event = report_submitted(report, member, "nanqu", category, lat=where[0], lon=where[1])
    event["data"]["submitted_at"] = at.isoformat()
    event["time"] = at.isoformat()
    return event


def step(
    report: str, status: str, department: str | None, at: datetime, reason: str | None = None, note: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"report_id": report, "status": status, "changed_at": at.isoformat()}
    for k, v in (("department", department), ("reason", reason), ("note", note)):
        if v is not None:
            data[k] = v
    return cloud_event("/district/nanqu/dispatch", "report.status_changed", report, data, time=at)


def rated(report: str, member: str, rating: int, at: datetime) -> dict[str, Any]:
    data = {"report_id": report, "member_id": member, "rating": rating, "comment": ""}
    return cloud_event("/district/nanqu/rider-app", "report.rated", report, data, time=at)


class Apis:
    def __init__(self, stack: Stack) -> None:
        assert stack.info is not None
        info = stack.info
        self.bootstrap = info.bootstrap
        self.reports = Api(info.urls["reports"], info.gateway_token)
        self.points = Api(info.urls["points"], info.gateway_token)
        self.notify = Api(info.urls["notify"], info.gateway_token)
        self.operator = httpx.AsyncClient(
            base_url=info.urls["reports"], headers={"Authorization": f"Bearer {info.operator_token}"}, timeout=10
        )

    async def aclose(self) -> None:
        for api in (self.reports, self.points, self.notify):
            await api.aclose()
        await self.operator.aclose()


@pytest.fixture
async def apis(stack: Stack) -> Any:
    a = Apis(stack)
    yield a
    await a.aclose()


async def register(apis: Apis, member: str, district: str = "nanqu", locale: str = "en") -> None:
    await publish(apis.bootstrap, topics.MEMBERS, member, member_registered(member, district, locale))
    await eventually(lambda: apis.points.json_or_none(f"/v1/members/{member}/balance"), what=f"member {member}")


async def case_when(api: Api, path: str, check: Any, what: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body = await api.json_or_none(path)
        return body if body and check(body) else None

    return await eventually(probe, what=what)


async def test_a_need_from_submission_to_rating_is_told_at_every_step_and_earns_the_rating_point_once(
    apis: Apis,
) -> None:
    need, member, dept = uid("need"), uid("m"), uid("dept")
    await register(apis, member)
    r = await apis.operator.put(f"/v1/departments/{dept}", json={"name": f"Childcare {dept}", "districts": ["nanqu"]})
    assert r.status_code == 200, r.text
    assert r.json()["origin"] == "operator"
    now = datetime.now(UTC)
    await publish(
        apis.bootstrap,
        topics.REPORTS,
        need,
        need_submitted(
            need,
            member,
            "nanqu",
            "childcare",
            "暑假托管 summer childcare",
            _jitter(IN_NANQU_NQ01),
            now - timedelta(hours=5),
        ),
        need_status_changed(need, "nanqu", "dispatched", dept, at=now - timedelta(hours=4)),
        # The same step re-sent, naming the department by its name: a repeat, not a second record.
        need_status_changed(need, "nanqu", "dispatched", f"Childcare {dept}", at=now - timedelta(hours=4)),
        need_status_changed(need, "nanqu", "accepted", dept, at=now - timedelta(hours=3)),
        need_status_changed(need, "nanqu", "resolved", dept, at=now - timedelta(hours=1)),
        need_rated(need, member, "nanqu", 5),
        need_rated(need, member, "nanqu", 2),  # only the first rating of a resolution counts
    )
    shown = await case_when(
        apis.reports, f"/v1/needs/{need}", lambda b: b["rating"] is not None, "the need resolved and rated"
    )
    assert shown["status"] == "resolved" and shown["rating"] == 5
    assert [h["status"] for h in shown["history"]] == ["submitted", "dispatched", "accepted", "resolved"]
    assert shown["held_by"] == dept and shown["district"] == "nanqu" and shown["grid_id"] == "nq-01"
    assert shown["district_source"] == "location" and shown["overdue"] is False
    assert [(x["rating"], x["earns_point"]) for x in shown["ratings"]] == [(5, True)]
    await eventually(lambda: balance_is(apis.points, member, 1), what="the rating point")
    ledger = (await apis.points.get(f"/v1/members/{member}/ledger")).json()["items"]
    assert [(e["kind"], e["amount"]) for e in ledger] == [("need_rating", 1)]

    async def told() -> list[str] | None:
        body = await apis.notify.json_or_none(f"/v1/members/{member}/notifications")
        kinds = sorted(n["kind"] for n in body["items"]) if body else []
        return kinds if len(kinds) >= 5 else None

    kinds = await eventually(told, what="a notification at every step")
    assert kinds == sorted(["need_submitted", "need_dispatched", "need_accepted", "need_resolved", "points_credited"])
    mine = (await apis.reports.get(f"/v1/members/{member}/needs")).json()["items"]
    assert [n["need_id"] for n in mine] == [need]
    listed = (await apis.operator.get("/v1/needs", params={"department": dept, "status": "resolved"})).json()
    assert [n["need_id"] for n in listed["items"]] == [need]


async def test_a_report_transferred_twice_then_resolved_keeps_every_department_and_the_sla_from_submission(
    apis: Apis,
) -> None:
    report, member = uid("r"), uid("m")
    a, b, c = (uid(x) for x in ("deptA", "deptB", "deptC"))
    await register(apis, member)
    t0 = datetime.now(UTC) - timedelta(days=2)
    await publish(
        apis.bootstrap,
        topics.REPORTS,
        report,
        report_at(report, member, _jitter(IN_NANQU_NQ01), t0),
        step(report, "dispatched", a, t0 + timedelta(hours=1)),
        step(report, "dispatched", b, t0 + timedelta(hours=2), note="not ours: bridges"),
        step(report, "accepted", b, t0 + timedelta(hours=3)),
        step(report, "dispatched", c, t0 + timedelta(hours=5), note="the bridge belongs to the district"),
        step(report, "resolved", c, t0 + timedelta(hours=30)),
    )
    shown = await case_when(apis.reports, f"/v1/reports/{report}", lambda x: x["status"] == "resolved", "resolved")
    steps = [(h["status"], h["department"], h["held_by"], h["note"]) for h in shown["history"]]
    assert steps == [
        ("submitted", None, None, None),
        ("dispatched", a, a, None),
        ("dispatched", b, b, "not ours: bridges"),
        ("accepted", b, b, None),
        ("dispatched", c, c, "the bridge belongs to the district"),
        ("resolved", c, c, None),
    ]
    assert datetime.fromisoformat(shown["due_at"]) == t0 + timedelta(days=7)  # from submission, across transfers
    assert shown["held_by"] == c and shown["overdue"] is False
    window = {"from": (t0 - timedelta(hours=1)).isoformat(), "to": datetime.now(UTC).isoformat()}
    got = {}
    for d in (a, b, c):
        r = await apis.operator.get(f"/v1/departments/{d}/kpis", params=window)
        assert r.status_code == 200, r.text
        got[d] = r.json()
    assert [(got[d]["received"], got[d]["resolved"], got[d]["registered"]) for d in (a, b, c)] == [
        (1, 0, False),
        (1, 0, False),
        (1, 1, False),
    ]
    assert got[c]["resolved_on_time"] == 1 and got[c]["median_hours_to_resolve"] == 30.0
    # A transfer is told to the rider as one.
    changes = await read_topic(
        apis.bootstrap,
        topics.REPORTS_LIFECYCLE,
        lambda r: report.encode() in r.value and b'"transfer":true' in r.value.replace(b" ", b""),
    )
    assert len(changes) == 2


async def test_a_resolved_report_reopened_and_resolved_again_earns_nothing_more(apis: Apis) -> None:
    report, member, dept = uid("r"), uid("m"), uid("dept")
    await register(apis, member)
    t0 = datetime.now(UTC) - timedelta(hours=6)
    await publish(
        apis.bootstrap,
        topics.REPORTS,
        report,
        report_at(report, member, _jitter(IN_NANQU_NQ01), t0, "sanitation"),
        step(report, "resolved", dept, t0 + timedelta(hours=1)),
        step(report, "resolved", dept, t0 + timedelta(hours=1)),  # re-sent: a repeat
        rated(report, member, 2, t0 + timedelta(hours=2)),
        step(report, "reopened", None, t0 + timedelta(hours=3), reason="bad_rating"),
        step(report, "accepted", dept, t0 + timedelta(hours=4)),
        step(report, "resolved", dept, t0 + timedelta(hours=5)),
        rated(report, member, 5, t0 + timedelta(hours=5, minutes=30)),
    )
    shown = await case_when(
        apis.reports, f"/v1/reports/{report}", lambda x: len(x["ratings"] or []) == 2, "the second rating"
    )
    assert [h["status"] for h in shown["history"]] == ["submitted", "resolved", "reopened", "accepted", "resolved"]
    assert shown["history"][2]["reason"] == "bad_rating" and shown["reopened_count"] == 1
    assert [(x["round"], x["rating"], x["earns_point"]) for x in shown["ratings"]] == [(0, 2, True), (1, 5, False)]
    # 5 for the sanitation report, 1 for the first rating; nothing for the second resolution or rating.
    await eventually(lambda: balance_is(apis.points, member, 6), what="5 + 1 points")
    ledger = (await apis.points.get(f"/v1/members/{member}/ledger")).json()["items"]
    assert sorted(e["kind"] for e in ledger) == ["rating", "report"]
    kpi = (
        await apis.operator.get(
            f"/v1/departments/{dept}/kpis", params={"from": t0.isoformat(), "to": datetime.now(UTC).isoformat()}
        )
    ).json()
    assert (kpi["resolved"], kpi["reopened"], kpi["ratings"], kpi["average_rating"]) == (2, 1, 2, 3.5)


async def test_kpis_over_a_window_have_the_known_figures(apis: Apis) -> None:
    member, dept = uid("m"), uid("roads")
    name = f"Roads office {dept}"
    await register(apis, member)
    r = await apis.operator.put(f"/v1/departments/{dept}", json={"name": name, "districts": []})
    assert r.status_code == 200
    # A window of its own in the past: three reports submitted on day 0 (SLA 7 days).
    t0 = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=random.randint(0, 200), seconds=random.randint(0, 86399))
    on_time, late, still_open = uid("r"), uid("r"), uid("r")
    events = []
    for report in (on_time, late, still_open):
        events.append((report, report_at(report, member, _jitter(IN_BEIQU_BQ02), t0, "other")))
        events.append((report, step(report, "dispatched", name, t0 + timedelta(hours=1))))  # by its name
    events += [
        (on_time, step(on_time, "resolved", dept, t0 + timedelta(hours=25))),
        (late, step(late, "resolved", dept, t0 + timedelta(days=10, hours=1))),
        (on_time, rated(on_time, member, 4, t0 + timedelta(days=2))),
        (late, rated(late, member, 2, t0 + timedelta(days=11))),
    ]
    for key, event in events:
        await publish(apis.bootstrap, topics.REPORTS, key, event)
    await case_when(apis.reports, f"/v1/reports/{late}", lambda x: x["rating"] == 2, "the late report rated")
    await case_when(apis.reports, f"/v1/reports/{on_time}", lambda x: x["rating"] == 4, "the on-time report rated")
    window = {"from": t0.isoformat(), "to": (t0 + timedelta(days=30)).isoformat()}
    kpi = (await apis.operator.get(f"/v1/departments/{dept}/kpis", params=window)).json()
    assert kpi == {
        "department_id": dept,
        "name": name,
        "registered": True,
        "received": 3,
        "resolved": 2,
        "rejected": 0,
        "resolved_on_time": 1,
        "on_time_rate": 0.5,
        "overdue_open": 1,
        "median_hours_to_resolve": 133.0,  # (25 + 241) / 2
        "ratings": 2,
        "average_rating": 3.0,
        "reopened": 0,
    }
    # Per district: the reports lie in beiqu (their rider lives in nanqu).
    by_district = (await apis.operator.get("/v1/kpis/departments", params={**window, "district": "beiqu"})).json()
    assert [k["received"] for k in by_district["items"] if k["department_id"] == dept] == [3]
    in_nanqu = (await apis.operator.get("/v1/kpis/departments", params={**window, "district": "nanqu"})).json()
    assert [k["received"] for k in in_nanqu["items"] if k["department_id"] == dept] == [0]
    # A window before anything happened: zero, and the registered department still listed.
    empty = (
        await apis.operator.get(
            f"/v1/departments/{dept}/kpis", params={"from": (t0 - timedelta(days=9)).isoformat(), "to": t0.isoformat()}
        )
    ).json()
    assert (empty["received"], empty["on_time_rate"], empty["average_rating"]) == (0, None, None)
    bad = await apis.operator.get("/v1/kpis/departments", params={"from": window["to"], "to": window["from"]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_window"


async def test_a_report_counts_where_it_is_and_falls_back_to_the_members_district_outside_every_area(
    apis: Apis,
) -> None:
    member = uid("m")
    await register(apis, member, district="nanqu")
    in_b, outside = uid("r"), uid("r")
    now = datetime.now(UTC)
    where_b = _jitter(IN_BEIQU_BQ02)
    await publish(apis.bootstrap, topics.REPORTS, in_b, report_at(in_b, member, where_b, now))
    await publish(apis.bootstrap, topics.REPORTS, outside, report_at(outside, member, _jitter(OUTSIDE), now))
    b = await case_when(apis.reports, f"/v1/reports/{in_b}", lambda x: True, "the report in beiqu")
    assert (b["district"], b["grid_id"], b["district_source"]) == ("beiqu", "bq-02", "location")
    assert b["location"]["lat"] == pytest.approx(where_b[0]) and b["photos"]
    # Reports learns the member from the members topic on its own (register() waits for points only).
    o = await case_when(apis.reports, f"/v1/reports/{outside}", lambda x: x["district"], "the report outside")
    assert (o["district"], o["grid_id"], o["district_source"]) == ("nanqu", None, "member")
    box = f"{where_b[1] - 0.0001},{where_b[0] - 0.0001},{where_b[1] + 0.0001},{where_b[0] + 0.0001}"
    found = (await apis.operator.get("/v1/reports", params={"district": "beiqu", "grid": "bq-02", "bbox": box})).json()
    assert in_b in [x["report_id"] for x in found["items"]]
    assert outside not in [x["report_id"] for x in found["items"]]
    bad = await apis.operator.get("/v1/reports", params={"bbox": "1,2,3"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_bbox"
    areas = (await apis.reports.get("/v1/areas")).json()
    assert {f["properties"]["district"] for f in areas["features"]} == {"nanqu", "beiqu", "xincheng"}


async def test_a_report_before_its_members_registration_gets_the_members_district_when_it_arrives(
    apis: Apis,
) -> None:
    member, report = uid("m"), uid("r")
    now = datetime.now(UTC)
    await publish(apis.bootstrap, topics.REPORTS, report, report_at(report, member, _jitter(OUTSIDE), now))
    early = await case_when(apis.reports, f"/v1/reports/{report}", lambda x: True, "the report")
    assert (early["district"], early["district_source"]) == (None, "member")
    await register(apis, member, district="beiqu")
    late = await case_when(apis.reports, f"/v1/reports/{report}", lambda x: x["district"], "the member's district")
    assert (late["district"], late["grid_id"], late["district_source"]) == ("beiqu", None, "member")


async def test_a_status_dated_before_its_submission_is_dead_lettered_with_no_effect(apis: Apis) -> None:
    report, member = uid("r"), uid("m")
    await register(apis, member)
    now = datetime.now(UTC)
    await publish(apis.bootstrap, topics.REPORTS, report, report_at(report, member, _jitter(OUTSIDE), now))
    await case_when(apis.reports, f"/v1/reports/{report}", lambda x: True, "the report")
    await publish(apis.bootstrap, topics.REPORTS, report, step(report, "accepted", "x", now - timedelta(days=1)))
    dead = await read_topic(apis.bootstrap, topics.dlq_topic(topics.REPORTS), lambda r: r.key == report.encode())
    assert len(dead) == 1
    assert dict(dead[0].headers)["error.reason"] == b"time_before_submission"
    shown = (await apis.reports.get(f"/v1/reports/{report}")).json()
    assert shown["status"] == "submitted" and shown["earns_points"] is False


async def test_departments_come_from_the_registry_topic_in_time_order_and_from_operators(apis: Apis) -> None:
    dept = uid("dept")
    now = datetime.now(UTC)
    registered = department_registered(dept, "妇联 Women's federation", ("nanqu",))
    registered["time"] = (now - timedelta(minutes=2)).isoformat()
    await publish(apis.bootstrap, topics.DIRECTORY, dept, registered)

    async def listed() -> dict[str, Any] | None:
        r = await apis.operator.get("/v1/departments")
        found = [d for d in r.json() if d["department_id"] == dept]
        return found[0] if found else None

    shown = await eventually(listed, what="the registered department")
    assert (shown["name"], shown["districts"], shown["origin"]) == ("妇联 Women's federation", ["nanqu"], "directory")
    assert shown["updated_by"] == "/department-registry"  # who said it: the registry event's source
    # An update older than what was applied changes nothing (ignored); a newer one applies.
    ignored_before = await _stale_updates_ignored(apis)
    stale = department_registered(dept, "an old name", ())
    stale["type"], stale["time"] = "department.updated", (now - timedelta(minutes=5)).isoformat()
    newer = department_registered(dept, "Women's federation", ("nanqu", "beiqu"))
    newer["type"] = "department.updated"
    await publish(apis.bootstrap, topics.DIRECTORY, dept, stale, newer)

    async def updated() -> dict[str, Any] | None:
        found = await listed()
        return found if found and found["name"] == "Women's federation" else None

    shown = await eventually(updated, what="the newer update")
    assert shown["districts"] == ["nanqu", "beiqu"]
    assert await _stale_updates_ignored(apis) == ignored_before + 1
    # Operators correct it over HTTP; bad bodies are refused with a reason.
    r = await apis.operator.put(f"/v1/departments/{dept}", json={"name": "妇联", "districts": ["nanqu", "nanqu"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_districts"
    r = await apis.operator.put(f"/v1/departments/{dept}", json={"name": ""})
    assert r.status_code == 422
    before_put = datetime.now(UTC)
    r = await apis.operator.put(f"/v1/departments/{dept}", json={"name": "妇联", "districts": []})
    assert r.status_code == 200 and r.json()["origin"] == "operator" and r.json()["districts"] == []
    # Who and when, recorded by reports: the calling operator, as the service knows it.
    operator = (await apis.operator.get("/v1/whoami")).json()["actor"]
    assert operator.startswith("operator:")
    assert r.json()["updated_by"] == operator
    assert datetime.fromisoformat(r.json()["updated_at"]) >= before_put - timedelta(seconds=5)
    assert (await listed()) == r.json()
    # Every applied change is kept, oldest first, the stale one (never applied) not among them.
    changes = (await apis.operator.get(f"/v1/departments/{dept}/changes")).json()
    assert [(c["name"], c["origin"], c["changed_by"]) for c in changes] == [
        ("妇联 Women's federation", "directory", "/department-registry"),
        ("Women's federation", "directory", "/department-registry"),
        ("妇联", "operator", operator),
    ]
    # A registry change dated after an operator's PUT stays in force, and the PUT says so: 409, with
    # who and when, rather than 200 with the registry's state as if the PUT had held.
    ahead = department_registered(dept, "妇联 (registry, dated ahead)", ("nanqu",))
    ahead["type"], ahead["time"] = "department.updated", (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    await publish(apis.bootstrap, topics.DIRECTORY, dept, ahead)

    async def registry_ahead() -> dict[str, Any] | None:
        found = await listed()
        return found if found and found["name"] == "妇联 (registry, dated ahead)" else None

    await eventually(registry_ahead, what="the registry's change dated ahead")
    r = await apis.operator.put(f"/v1/departments/{dept}", json={"name": "妇联 again", "districts": []})
    assert r.status_code == 409 and r.json()["error"]["code"] == "superseded", r.text
    assert "/department-registry" in r.json()["error"]["message"]
    assert (await registry_ahead()) is not None  # nothing changed
    changes = (await apis.operator.get(f"/v1/departments/{dept}/changes")).json()
    assert [c["origin"] for c in changes] == ["directory", "directory", "operator", "directory"]
    assert (await apis.operator.get(f"/v1/departments/{uid('dept')}/changes")).status_code == 404
    gateway = await apis.reports.http.put(f"/v1/departments/{dept}", json={"name": "x"})
    assert gateway.status_code == 403
    assert (await apis.reports.http.get(f"/v1/departments/{dept}/changes")).status_code == 403


async def _stale_updates_ignored(apis: Apis) -> float:
    """department.updated events reports ignored (only this test sends stale ones)."""
    text = (await apis.reports.http.get("/metrics")).text
    wanted = (
        "incentives_reports_events_handled_total"
        '{outcome="ignored",topic="incentives.directory.v1",type="department.updated"}'
    )
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(wanted))
