"""Attack: a producer holding the rider-app gateway's credentials mints points by forging a decision.

Before: `report.status_changed {status: accepted}` with `source: "/dispatch"` from anybody who could
write the reports topic was a decision (the allow-list compared only the self-declared source), and
production configured no signatures. Now (production, as `secure_stack` runs): a decision is
accepted only from a producer that proves who it is, and a configuration in which some decision is
provable by nobody refuses to start.
"""

from __future__ import annotations

import json

from incentives_kernel import topics
from incentives_kernel.envelope import encode_event
from incentives_kernel.intake import sign
from incentives_ops.demo import status_changed
from incentives_ops.stack import Stack

from tests.security.boundary import (
    apis,
    close,
    dead_letters,
    ledger,
    registered_member,
    serve_refusal,
    submitted_report,
)
from tests.support import SIGNING_SECRETS, eventually, publish, status_is


async def test_a_forged_acceptance_is_dead_lettered_and_mints_nothing(secure_stack: Stack) -> None:
    assert secure_stack.info is not None
    api = apis(secure_stack)
    try:
        member = await registered_member(secure_stack, api["points"])
        report = await submitted_report(secure_stack, api["reports"], member)
        bootstrap = secure_stack.info.bootstrap
        # The gateway's producer, claiming to be the dispatch platform: unsigned, ...
        forged = {**status_changed(report, "nanqu", "accepted", "城管"), "source": "/dispatch"}
        await publish(bootstrap, topics.REPORTS, report, encode_event(forged), headers=[])
        # ... and signed with the key it does hold (the gateway's own).
        forged_too = {**status_changed(report, "nanqu", "accepted", "城管"), "source": "/dispatch"}
        body = encode_event(forged_too)
        gateway_signed = sign(SIGNING_SECRETS["rider-app-gateway"], forged_too["id"], body)
        await publish(bootstrap, topics.REPORTS, report, body, headers=gateway_signed)
        dead = await dead_letters(secure_stack, topics.REPORTS, report, count=2)
        assert sorted(h["error.reason"] for h in dead) == ["bad_signature", "signature_missing"]
        assert all("report.status_changed from '/dispatch'" in h["error.message"] for h in dead)
        shown = (await api["reports"].get(f"/v1/reports/{report}")).json()
        assert shown["status"] == "submitted", "the forged decisions left no trace"
        # The genuine dispatch platform (it signs) decides, and only then are points minted.
        await publish(bootstrap, topics.REPORTS, report, status_changed(report, "nanqu", "accepted", "城管"))
        await eventually(lambda: status_is(api["reports"], report, "accepted"), what="the genuine acceptance")
        credits = await eventually(lambda: ledger(api["points"], member), what="the genuine credit")
        assert [c["kind"] for c in credits] == ["report"], json.dumps(credits, ensure_ascii=False)
    finally:
        await close(api)


async def test_production_refuses_to_start_when_a_decision_is_provable_by_nobody(secure_stack: Stack) -> None:
    keys = json.loads(secure_stack.service_env("points")["INCENTIVES_SOURCE_SIGNING_KEYS"])
    without_dispatch = {p: k for p, k in keys.items() if "dispatch" not in p}
    code, output = await serve_refusal(
        secure_stack, "points", {"INCENTIVES_SOURCE_SIGNING_KEYS": json.dumps(without_dispatch)}
    )
    assert code != 0
    assert "report.status_changed on incentives.reports.v1 from '/dispatch'" in output
    assert "INCENTIVES_SOURCE_SIGNING_KEYS" in output and "INCENTIVES_EXCLUSIVE_TOPICS" in output  # both fixes
    # No deployment word on exclusive topics: volunteer attendance is provable by nobody.
    code, output = await serve_refusal(secure_stack, "points", {"INCENTIVES_EXCLUSIVE_TOPICS": ""})
    assert code != 0 and "volunteer.* on incentives.volunteer.v1 from '/volunteer-platform'" in output
