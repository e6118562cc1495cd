"""Attack: anybody sets `x-replayed-from` to reopen a dead-lettered event or dodge a signature's age.

Before: the marker's mere presence made a record an operator's replay: an old (captured) signed
record passed the signature window, and an event the inbox held as dead-lettered was tried again.
Now the marker counts only with its HMAC under the operators' INCENTIVES_REPLAY_KEY (what
`incentives dlq replay` writes); one that does not verify is itself dead-lettered; and a genuine one
reopens a dead letter only in the service it names (the one that wrote that dead letter).
"""

from __future__ import annotations

import json
import time

import asyncpg
from incentives_kernel import replay, topics
from incentives_kernel.envelope import encode_event
from incentives_kernel.intake import sign
from incentives_ops.demo import report_rated, status_changed
from incentives_ops.provision import _with
from incentives_ops.stack import Stack

from tests.security.boundary import apis, close, dead_letters, ledger, registered_member, submitted_report
from tests.support import SIGNING_SECRETS, eventually, publish, signature_headers, status_is


async def test_forged_and_foreign_replay_markers_reopen_nothing_and_a_genuine_one_does(secure_stack: Stack) -> None:
    assert secure_stack.info is not None
    api = apis(secure_stack)
    bootstrap = secure_stack.info.bootstrap
    try:
        member = await registered_member(secure_stack, api["points"])
        report = await submitted_report(secure_stack, api["reports"], member)
        # A rating before the report is resolved: reports dead-letters it (not_resolved).
        rated_event = report_rated(report, member, "nanqu", 5)
        rating_id = rated_event["id"]
        rating = encode_event(rated_event)
        signed = signature_headers(rating)
        assert signed is not None
        await publish(bootstrap, topics.REPORTS, report, rating, headers=signed)
        [first] = await dead_letters(secure_stack, topics.REPORTS, report)
        assert first["error.reason"] == "not_resolved"
        for status in ("accepted", "resolved"):
            await publish(bootstrap, topics.REPORTS, report, status_changed(report, "nanqu", status, "城管"))
        await eventually(lambda: status_is(api["reports"], report, "resolved"), what="the report resolved")

        # A genuine marker, but for another service's dead letter of the same record (points'): reports
        # takes it as a plain redelivery, a duplicate of what its inbox holds as dead-lettered.
        foreign = replay.mark(
            secure_stack.info.replay_key,
            service="points",
            topic=topics.REPORTS,
            replayed_from=f"{topics.REPORTS}.dlq/0/0",
            ts=int(time.time()),
            value=rating,
        )
        await publish(bootstrap, topics.REPORTS, report, rating, headers=[*signed, *foreign])

        # The attacker re-publishes the dead rating with a marker of its own: refused, nothing reopened.
        forged = [*signed, ("x-replayed-from", f"{topics.REPORTS}.dlq/0/1".encode()), ("x-replay-service", b"reports")]
        await publish(bootstrap, topics.REPORTS, report, rating, headers=forged)
        dead = await dead_letters(secure_stack, topics.REPORTS, report, count=2)
        assert dead[1]["error.reason"] == "bad_replay_marker", dead
        assert len(dead) == 2, "the foreign marker's record was a duplicate, not a new dead letter"
        # Same key, same partition: the foreign one was handled before the forged one was dead-lettered.
        conn = await asyncpg.connect(_with(secure_stack.info.admin_dsn, database=secure_stack.opt.database))
        try:
            row = await conn.fetchrow(
                "SELECT outcome, reason FROM reports.inbox WHERE consumer = 'reports' AND event_id = $1", rating_id
            )
        finally:
            await conn.close()
        assert (row["outcome"], row["reason"]) == ("dead_lettered", "not_resolved"), "reopened by neither"
        assert [c["kind"] for c in await ledger(api["points"], member)] == ["report"], "no rating point"

        # An operator's replay, marked with the replay key as `incentives dlq replay` does, applies it.
        genuine = replay.mark(
            secure_stack.info.replay_key,
            service="reports",
            topic=topics.REPORTS,
            replayed_from=f"{topics.REPORTS}.dlq/0/0",
            ts=int(time.time()),
            value=rating,
        )
        await publish(bootstrap, topics.REPORTS, report, rating, headers=[*signed, *genuine])

        async def rated() -> bool:
            return "rating" in {c["kind"] for c in await ledger(api["points"], member)}

        await eventually(rated, what="the rating point, after the genuine replay", timeout=60)
    finally:
        await close(api)


async def test_a_forged_marker_does_not_excuse_an_old_signature(secure_stack: Stack) -> None:
    assert secure_stack.info is not None
    api = apis(secure_stack)
    try:
        member = await registered_member(secure_stack, api["points"])
        report = await submitted_report(secure_stack, api["reports"], member)
        # A genuine acceptance, captured a day ago: its signature is out of the window ...
        event = status_changed(report, "nanqu", "accepted", "城管")
        body = encode_event(event)
        old = sign(SIGNING_SECRETS["dispatch-platform"], event["id"], body, ts=int(time.time()) - 86_400)
        await publish(secure_stack.info.bootstrap, topics.REPORTS, report, body, headers=old)
        # ... and a replay marker anyone could write does not bring it back.
        marked = [*old, ("x-replayed-from", b"incentives.reports.v1.dlq/0/5")]
        await publish(secure_stack.info.bootstrap, topics.REPORTS, report, body, headers=marked)
        dead = await dead_letters(secure_stack, topics.REPORTS, report, count=2)
        assert [h["error.reason"] for h in dead] == ["signature_expired", "bad_replay_marker"], json.dumps(dead)
        assert (await api["reports"].get(f"/v1/reports/{report}")).json()["status"] == "submitted"
    finally:
        await close(api)
