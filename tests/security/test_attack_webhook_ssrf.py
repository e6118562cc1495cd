"""Attack: an operator token (leaked, or an insider) points a webhook inside the deployment.

Before: `url_problem` accepted 127.0.0.1, ::1, ::ffff:127.0.0.1, 2130706433, 169.254.169.254, 10/8,
compose host names and plain http, and names were resolved again at each send (DNS rebinding).
Now (production, as `secure_stack` runs): registration answers 422 `url_not_allowed` with the
reason, and a connection goes only to a checked, global address.
"""

from __future__ import annotations

import asyncpg
import pytest
from incentives_kernel import signing
from incentives_ops.provision import _with
from incentives_ops.stack import Stack

from tests.receiver import Receiver, running
from tests.security.boundary import apis, close, registered_member
from tests.support import eventually, uid

SECRET = signing.new_secret()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("https://[::1]/hook", "::1 is a loopback address"),
        ("https://[::ffff:127.0.0.1]/hook", "stands for 127.0.0.1"),
        ("https://2130706433/hook", "numeric host"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("https://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("https://localhost/hook", "loopback"),
        ("https://postgres/hook", "does not resolve"),  # a compose service name (here: resolves nowhere)
        ("http://93.184.215.14/hook", "https in production"),
    ],
)
async def test_registration_refuses_what_leads_inside(secure_stack: Stack, url: str, why: str) -> None:
    api = apis(secure_stack)
    try:
        r = await api["notify"].post(
            "/v1/webhooks", json={"url": url, "event_types": ["points.credited"], "secret": SECRET}
        )
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "url_not_allowed" and why in error["message"], error
    finally:
        await close(api)


async def test_a_registered_name_that_now_leads_inside_is_never_connected_to(secure_stack: Stack) -> None:
    """A row whose name resolves to loopback now (rebinding, or registered before the check): nothing is sent."""
    assert secure_stack.info is not None
    api = apis(secure_stack)
    admin = await asyncpg.connect(_with(secure_stack.info.admin_dsn, database=secure_stack.opt.database))
    with running(Receiver(SECRET)) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        webhook_id = uid("wh")
        try:
            await admin.execute(
                "INSERT INTO notify.webhooks (webhook_id, url, event_types, secret) VALUES ($1, $2, $3, $4)",
                webhook_id,
                f"https://localhost:{port}/hook",
                ["points.credited"],
                SECRET,
            )
            member = await registered_member(secure_stack, api["points"])
            await eventually(lambda: api["notify"].json_or_none(f"/v1/members/{member}/notifications"), what="notify")
            adjusted = await api["points"].post(
                "/v1/adjustments",
                json={"adjustment_id": uid("adj"), "member_id": member, "amount": 5, "reason": "ssrf test"},
            )
            assert adjusted.status_code == 201, adjusted.text

            async def refused() -> str | None:
                error = await admin.fetchval(
                    "SELECT last_error FROM notify.webhook_deliveries WHERE webhook_id = $1 AND attempts > 0",
                    webhook_id,
                )
                return error if error and error.startswith("blocked_address") else None

            error = await eventually(refused, what="the delivery attempt refused at connect time", timeout=60)
            assert "127.0.0.1 is a loopback address" in error or "::1 is a loopback address" in error
            assert receiver.requests == [], "nothing reached the loopback receiver"
        finally:
            await admin.execute("UPDATE notify.webhooks SET active = false WHERE webhook_id = $1", webhook_id)
            await admin.close()
            await close(api)
