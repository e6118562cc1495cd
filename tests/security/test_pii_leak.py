"""Plant a phone, an identity number and a name in every string field of every inbound event type
(valid events, and invalid ones that go to the DLQ), run them through the whole system, then look
for them everywhere the system writes: logs, /metrics, DLQ headers, the API, every database table.

The DLQ record *values* are the original records (kept for replay, readable only by operators),
and so are the outbox rows that published them: those are the documented exception
(docs/security-intake.md) and the only one. Everything else must hold no personal data in clear.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest_asyncio
from incentives_kernel import signing, topics
from incentives_kernel.envelope import encode_event
from incentives_kernel.intake import sign
from incentives_ops.demo import (
    attendance_confirmed,
    cloud_event,
    member_registered,
    report_rated,
    report_submitted,
    status_changed,
)
from incentives_ops.provision import _with
from incentives_ops.stack import Stack

from tests.security.conftest import SIGNED_SOURCE
from tests.support import Api, eventually, publish, read_topic, status_is, uid

PHONE = "13987654321"
ID_NUMBER = "11010519491231002X"
NAME = "泄漏测试姓名"
# Also as the hex a bytea column or a header dump would show.
NEEDLES = [PHONE, ID_NUMBER, NAME, PHONE.encode().hex(), ID_NUMBER.encode().hex(), NAME.encode().hex()]
# For free text: phone and identity numbers are recognised by shape and masked; a name written into
# free text cannot be recognised (docs/security-intake.md), so the name goes only where names go.
PII = f"联系 {PHONE} 身份证 {ID_NUMBER}"


def leaks(text: str) -> list[str]:
    low = text.lower()
    return [n for n in NEEDLES if n.lower() in low]


@pytest_asyncio.fixture(loop_scope="session")
async def operator(secure_stack: Stack) -> AsyncIterator[dict[str, Api]]:
    assert secure_stack.info is not None
    apis = {n: Api(u, secure_stack.info.operator_token) for n, u in secure_stack.info.urls.items()}
    yield apis
    for api in apis.values():
        await api.aclose()


def with_data(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**event, "data": {**event["data"], **changes}}


def personal_member(member: str, type_: str = "member.registered") -> dict[str, Any]:
    event = with_data(
        member_registered(member, "nanqu"),
        name=NAME,
        phone=PHONE,
        id_number=ID_NUMBER,
        platform=f"美团 {PHONE}",
        grid_id=f"g {PHONE}",
    )
    return {**event, "type": type_}


async def test_no_personal_data_leaks_anywhere(secure_stack: Stack, operator: dict[str, Api]) -> None:
    assert secure_stack.info is not None
    bootstrap = secure_stack.info.bootstrap
    member, other, report, attendance = uid("m"), uid("m"), uid("r"), uid("a")

    # -- valid events, with personal data in every string field they have
    await publish(bootstrap, topics.MEMBERS, member, personal_member(member))
    await publish(bootstrap, topics.MEMBERS, other, personal_member(other))
    await eventually(lambda: operator["points"].json_or_none(f"/v1/members/{member}/balance"), what="registration")
    await publish(bootstrap, topics.MEMBERS, member, personal_member(member, "member.updated"))
    await publish(
        bootstrap,
        topics.MEMBERS,
        other,
        cloud_event("/member-registry", "member.deactivated", other, {"member_id": other, "reason": PII}),
    )
    submitted = with_data(report_submitted(report, member, "nanqu", "fire_hazard"), description=PII)
    submitted["data"]["location"]["address"] = PII
    accepted = with_data(status_changed(report, "nanqu", "accepted"), department=PII, note=PII)
    resolved = with_data(status_changed(report, "nanqu", "resolved"), department=PII, note=PII)
    rated = with_data(report_rated(report, member, "nanqu", 5), comment=PII)
    await publish(bootstrap, topics.REPORTS, report, submitted, accepted, resolved, rated)
    confirmed = with_data(
        attendance_confirmed(member, 2.0), attendance_id=attendance, activity_title=PII, organizer=PII
    )
    revoked = cloud_event(
        "/volunteer-platform",
        "volunteer.attendance_revoked",
        member,
        {"attendance_id": attendance, "member_id": member, "reason": PII},
    )
    await publish(bootstrap, topics.VOLUNTEER, member, confirmed, revoked)

    # -- invalid ones: each must reach the DLQ with headers that say why, and nothing personal
    bad_member_id = personal_member(member)
    bad_member_id["data"]["member_id"] = PHONE
    bad_enum = with_data(personal_member(member), occupation=f"courier {PHONE}")
    bad_url = with_data(
        report_submitted(report, member, "nanqu", "other"), photos=[{"url": f"https://x.cn/{PHONE}.jpg"}]
    )
    wrong_source = {
        **with_data(status_changed(report, "nanqu", "rejected", reason="fraudulent"), note=PII),
        "source": "/district/nanqu/rider-app",
    }
    phone_source = {
        **with_data(report_submitted(report, member, "nanqu", "other"), description=PII),
        "source": f"/district/{PHONE}/rider-app",
    }
    phone_subject = {**report_rated(report, member, "nanqu", 4), "subject": PHONE, "id": f"evt-{ID_NUMBER}"}
    wrong_type = with_data(report_rated(report, member, "nanqu", 5), rating=PII)
    not_json = f'{{"phone": "{PHONE}", "id_number": "{ID_NUMBER}", oops'.encode()
    signed = {
        **with_data(status_changed(report, "signed", "rejected", reason="fraudulent"), note=PII),
        "source": SIGNED_SOURCE,
    }
    signed_body = encode_event(signed)
    await publish(bootstrap, topics.MEMBERS, member, bad_member_id, bad_enum)
    await publish(bootstrap, topics.REPORTS, report, bad_url, wrong_source, phone_source, wrong_type, not_json)
    # Unsigned: a signature's webhook-id header would repeat the id, and a dead letter keeps the record's
    # own headers as they came (like its value, what the producer sent; the envelope refuses it first).
    await publish(bootstrap, topics.REPORTS, report, phone_subject, headers=[])
    await publish(
        bootstrap,
        topics.REPORTS,
        report,
        signed_body,
        headers=sign(signing.new_secret(), signed["id"], signed_body),
    )

    # -- wait for the effects
    await eventually(lambda: status_is(operator["reports"], report, "resolved"), what="the report resolved")
    await eventually(
        lambda: _ledger_has(operator["points"], member, {"report", "rating", "volunteer", "reversal"}),
        what="report, rating, volunteer and reversal in the ledger",
        timeout=60,
    )
    await eventually(
        lambda: operator["notify"].json_or_none(f"/v1/members/{member}/notifications"), what="notifications"
    )
    reports_dlq = await _dead(bootstrap, topics.REPORTS, report, 7)
    members_dlq = await _dead(bootstrap, topics.MEMBERS, member, 2 * 4)  # every service reads members
    reasons = sorted({h["error.reason"] for h in reports_dlq + members_dlq})
    assert reasons == sorted(
        {"invalid_data", "source_not_allowed", "not_cloudevent", "invalid_json", "bad_signature"}
    ), reasons

    found: dict[str, list[str]] = {}

    def check(where: str, text: str) -> None:
        if hits := leaks(text):
            found[where] = hits

    # -- DLQ headers (values are the original records: the documented exception)
    for h in reports_dlq + members_dlq:
        check(f"dlq headers {h.get('error.service')} {h.get('error.reason')}", json.dumps(h, ensure_ascii=False))
    # -- logs of every process (and the broker's, when the stack runs its own)
    for log in sorted(secure_stack.logs.glob("*.log")):
        check(f"log {log.name}", log.read_text(errors="replace"))
    # -- every /metrics page, every API answer about this member and report
    paths = {
        "points": [f"/v1/members/{member}/balance", f"/v1/members/{member}/ledger", "/v1/leaderboard", "/metrics"],
        "reports": [f"/v1/reports/{report}", f"/v1/members/{member}/reports", "/v1/reports", "/metrics"],
        "rewards": [f"/v1/members/{member}/redemptions", "/v1/rewards", "/metrics"],
        "notify": [f"/v1/members/{member}/notifications", "/metrics"],
    }
    for service_paths in paths.values():  # the operator APIs show dead letters and parked records masked
        service_paths += ["/v1/dead-letters?limit=200", "/v1/parked-events?limit=200", "/v1/operator-actions"]
    for service, service_paths in paths.items():
        for path in service_paths:
            response = await operator[service].get(path)
            assert response.status_code == 200, (service, path, response.text)
            check(f"GET {service} {path}", response.text)
    # -- every row of every table of every service schema, as text (bytea as hex)
    admin = await asyncpg.connect(_with(secure_stack.info.admin_dsn, database=secure_stack.opt.database))
    try:
        tables = await admin.fetch(
            """SELECT table_schema, table_name FROM information_schema.tables
               WHERE table_schema IN ('reports', 'points', 'rewards', 'notify') AND table_type = 'BASE TABLE'"""
        )
        assert len(tables) > 20
        for t in tables:
            ident = f'"{t["table_schema"]}"."{t["table_name"]}"'
            where = " WHERE topic NOT LIKE '%.dlq'" if t["table_name"] == "outbox" else ""
            # The kept dead letters (kernel migration 0006): their record is the DLQ's, the same exception;
            # every other column (reason, message, service, who replayed) is checked.
            row = "(to_jsonb(x) - 'key' - 'value' - 'headers')" if t["table_name"] == "dead_letters" else "x"
            rows = await admin.fetch(f"SELECT {row}::text AS row FROM {ident} x{where}")
            check(f"table {t['table_schema']}.{t['table_name']}", "\n".join(r["row"] for r in rows))
        dlq_rows = await admin.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM reports.outbox WHERE topic LIKE '%.dlq' UNION ALL "
            "SELECT 1 FROM points.outbox WHERE topic LIKE '%.dlq') x"
        )
        assert dlq_rows >= 1  # the exception exists, and is all that was left out
    finally:
        await admin.close()
    assert not found, f"personal data found in: {json.dumps(found, ensure_ascii=False, indent=1)}"


async def _ledger_has(points: Api, member: str, kinds: set[str]) -> bool:
    body = await points.json_or_none(f"/v1/members/{member}/ledger")
    return bool(body) and kinds <= {x["kind"] for x in body["items"]}


async def _dead(bootstrap: str, topic: str, key: str, count: int) -> list[dict[str, str]]:
    async def enough() -> list[dict[str, str]] | None:
        dead = await read_topic(bootstrap, topics.dlq_topic(topic), lambda r: r.key == key.encode(), timeout=3)
        return [{k: v.decode(errors="replace") for k, v in d.headers} for d in dead] if len(dead) >= count else None

    return await eventually(enough, what=f"{count} dead letters on {topic}", timeout=60)
