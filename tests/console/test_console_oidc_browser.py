"""Sign-in through an OpenID provider, end to end: Chromium, a real provider (oidc-provider-mock: authlib
on Flask, in a thread), a second `incentives console` configured for it, and the session's services,
which record the signed-in operator by name although the console calls them with its own token."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import oidc_provider_mock
import pytest
import pytest_asyncio
from incentives_console import i18n
from incentives_ops.embedded import free_port
from incentives_ops.stack import Stack
from selenium import webdriver

from tests.console.browser import console_errors, fill, text
from tests.console.test_console_browser import assert_clean, click, loaded
from tests.support import Api, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

ZH = i18n.catalogue("zh-CN")
GROUP = "incentives-operators"
LABEL = "城市统一身份认证"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def known_user(provider: str, sub: str, claims: dict[str, Any]) -> None:
    assert httpx.put(f"{provider}/users/{quote(sub, safe='')}", json=claims).status_code == 204


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def oidc_console(stack: Stack, provider: str) -> AsyncIterator[str]:
    """A console beside the session's services that offers the provider (the session's console does not)."""
    port = free_port()
    env = stack.console_env(
        port,
        {
            "CONSOLE_OIDC_ISSUER": provider,
            "CONSOLE_OIDC_CLIENT_ID": "incentives-console",
            "CONSOLE_OIDC_CLIENT_SECRET": "console-client-secret",
            "CONSOLE_OIDC_OPERATOR_VALUE": GROUP,
            "CONSOLE_OIDC_LABEL": LABEL,
        },
    )
    log = (stack.logs / "console-oidc.log").open("ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "incentives_ops.cli", "console", env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                assert proc.returncode is None, (stack.logs / "console-oidc.log").read_text()[-3000:]
                try:
                    if (await http.get(url + "/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the OIDC console did not start"
                await asyncio.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    from tests.console.browser import chromium

    with chromium() as driver:
        yield driver


async def test_an_operator_signs_in_at_the_provider_and_the_services_record_them_by_name(
    browser: webdriver.Chrome, oidc_console: str, provider: str, stack: Stack
) -> None:
    assert stack.info is not None
    known_user(provider, "u-zhang", {"preferred_username": "zhang.min", "groups": ["staff", GROUP]})
    browser.get(oidc_console + "/catalogue")
    loaded(browser)
    assert browser.current_url.startswith(oidc_console + "/login?next=")
    assert text(browser, "#sign-in-oidc") == ZH["signin.oidc"].format(provider=LABEL)
    assert_clean(browser)

    click(browser, "#sign-in-oidc")  # off to the provider, with state, nonce and a PKCE challenge
    assert browser.current_url.startswith(provider + "/oauth2/authorize?")
    fill(browser, {"input[name=sub]": "u-zhang"})
    console_errors(browser)  # the provider's own page is not ours to judge
    click(browser, "form button[type=submit]")

    assert browser.current_url == oidc_console + "/catalogue"  # back where the operator was going
    assert_clean(browser)
    assert text(browser, "#signed-in-as") == "operator:zhang.min"
    session = browser.get_cookie("console_session")
    assert session is not None and stack.info.console_token not in session["value"]

    # A change made through the console is recorded by the rewards service under the operator's name.
    reward_id = uid("rw-oidc")
    fill(
        browser,
        {
            "#new-reward [name=reward_id]": reward_id,
            "#new-reward [name=name]": "雨伞 Umbrella",
            "#new-reward [name=kind]": "instant",
            "#new-reward [name=cost_points]": "30",
            "#new-reward [name=initial_stock]": "2",
        },
    )
    click(browser, "#create-reward")
    assert_clean(browser)
    assert browser.current_url == f"{oidc_console}/catalogue/{reward_id}"
    rewards = Api(stack.info.urls["rewards"], stack.info.operator_token)
    try:
        listed = (await rewards.get("/v1/rewards")).json()
        created = next(r for r in listed if r["reward_id"] == reward_id)
        assert (created["created_by"], created["updated_by"]) == ("operator:zhang.min", "operator:zhang.min")
    finally:
        await rewards.aclose()

    click(browser, "#sign-out")
    assert browser.current_url == oidc_console + "/login"
    browser.get(oidc_console + "/catalogue")
    loaded(browser)
    assert browser.current_url.startswith(oidc_console + "/login?next=")


async def _begin(http: httpx.AsyncClient, console: str) -> str:
    """Start a sign-in as a browser would; returns the provider's authorization URL."""
    begun = await http.get(console + "/login/oidc?next=/rounds")
    assert begun.status_code == 303 and "console_oidc" in begun.cookies
    # Only for the callback's path, out of scripts' reach, and Lax: the provider sends the browser back
    # with a cross-site GET.
    binding = begun.headers["set-cookie"].lower()
    assert all(part in binding for part in ("httponly", "samesite=lax", "path=/login/oidc", "max-age=600"))
    return begun.headers["location"]


async def test_someone_outside_the_group_is_refused_and_told_why(oidc_console: str, provider: str) -> None:
    known_user(provider, "u-guest", {"preferred_username": "guest", "groups": ["staff"]})
    async with httpx.AsyncClient() as http:
        authorize = await _begin(http, oidc_console)
        back = await asyncio.to_thread(httpx.post, authorize, data={"sub": "u-guest"})
        finished = await http.get(back.headers["location"])
    assert finished.status_code == 403
    assert ZH["signin.oidc_not_operator"] in finished.text
    assert "console_session" not in finished.cookies
    assert 'console_oidc="";' in finished.headers["set-cookie"]  # the binding is spent either way


async def test_a_callback_taken_to_another_browser_signs_no_one_in(oidc_console: str, provider: str) -> None:
    known_user(provider, "u-zhang", {"preferred_username": "zhang.min", "groups": [GROUP]})
    async with httpx.AsyncClient() as victim, httpx.AsyncClient() as attacker:
        authorize = await _begin(attacker, oidc_console)
        back = await asyncio.to_thread(httpx.post, authorize, data={"sub": "u-zhang"})
        planted = await victim.get(back.headers["location"])  # the attacker's callback, in the victim's browser
        assert planted.status_code == 400 and ZH["signin.oidc_stale"] in planted.text
        assert "console_session" not in planted.cookies
        # And the state it carried is spent: the attacker cannot finish it either.
        late = await attacker.get(back.headers["location"])
        assert late.status_code == 400


async def test_a_cancelled_sign_in_says_so(oidc_console: str, provider: str) -> None:
    async with httpx.AsyncClient() as http:
        authorize = await _begin(http, oidc_console)
        denied = await asyncio.to_thread(httpx.post, authorize, data={"action": "deny"})
        query = parse_qs(urlsplit(denied.headers["location"]).query)
        assert query["error"] == ["access_denied"]
        finished = await http.get(denied.headers["location"])
    assert finished.status_code == 401 and ZH["signin.oidc_denied"] in finished.text


async def test_the_services_take_an_acting_operator_only_from_the_delegating_token(stack: Stack) -> None:
    assert stack.info is not None
    async with httpx.AsyncClient(base_url=stack.info.urls["points"]) as http:
        as_console = await http.get(
            "/v1/whoami",
            headers={"Authorization": f"Bearer {stack.info.console_token}", "X-Acting-Operator": quote("张伟")},
        )
        assert as_console.json() | {"role": "operator"} == {
            "role": "operator",
            "actor": "operator:张伟",
            "name": "张伟",
            "member_id": None,
            "via": "console",
        }
        as_operator = await http.get(
            "/v1/whoami",
            headers={"Authorization": f"Bearer {stack.info.operator_token}", "X-Acting-Operator": "zhang.min"},
        )
        assert as_operator.status_code == 403 and as_operator.json()["error"]["code"] == "acting_refused"
        assert "www-authenticate" not in as_operator.headers
        bad_name = await http.get(
            "/v1/whoami",
            headers={"Authorization": f"Bearer {stack.info.console_token}", "X-Acting-Operator": "zhang min"},
        )
        assert bad_name.status_code == 400 and bad_name.json()["error"]["code"] == "bad_acting_operator"
