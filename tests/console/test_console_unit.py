"""The console's parts without services: catalogues, settings, sessions, CSRF, headers, sign-in limits.

Fast and in-process (the app over httpx's ASGI transport); the browser tests run the real thing.
"""

from __future__ import annotations

import json
import re
import string
from importlib import resources
from pathlib import Path

import httpx
import pytest
from incentives_console import i18n
from incentives_console.app import create_app
from incentives_console.csrf import Csrf
from incentives_console.pages.signin import safe_next
from incentives_console.sessions import SessionStore
from incentives_console.settings import ConsoleSettings
from incentives_console.web import LOGIN_COOKIE, SESSION_COOKIE
from incentives_ops.embedded import free_port
from pydantic import ValidationError

PACKAGE = Path(str(resources.files("incentives_console")))
SECRET = "a-test-secret-that-is-long-enough-0001"


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogues_have_the_same_keys_and_the_same_fields() -> None:
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    assert sorted(set(zh) ^ set(en)) == []
    for key in zh:
        assert _fields(zh[key]) == _fields(en[key]), key
        assert zh[key].strip() and en[key].strip(), key


def test_every_text_the_pages_ask_for_is_in_the_catalogues() -> None:
    used: set[str] = set()
    groups: set[str] = set()
    for path in [*(PACKAGE / "templates").glob("*.html"), *PACKAGE.rglob("*.py")]:
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[A-Za-z0-9_.\-]+)["']""", source))
        used |= set(re.findall(r"""Refused\(\d+, "([a-z_]+\.[a-z_]+)"\)""", source))
        used |= set(re.findall(r'OidcError\(\s*"([a-z_]+\.[a-z_]+)"', source))
        used |= set(re.findall(r"""\(\s*"/[a-z]*",\s*"(nav\.[a-z_]+)"\)""", source))
        groups |= set(re.findall(r"""t\.label\(\s*"([a-z_]+)\"""", source))
    catalogue = i18n.catalogue("en")
    assert len(used) > 150  # the pattern still finds what the templates say
    assert sorted(used - set(catalogue)) == []
    for group in groups:  # every group of labels has at least its words
        assert any(key.startswith(group + ".") for key in catalogue), group
    for prefix in ("lang.", "service."):
        assert {k for k in catalogue if k.startswith(prefix)}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "zh-CN"),
        ("", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("zh-Hans-CN", "zh-CN"),
        ("fr;q=1, en;q=0.3, zh;q=0.5", "zh-CN"),
        ("fr, en;q=0.1", "en"),
        ("de", "zh-CN"),
        ("en;q=0, zh;q=0.1", "zh-CN"),
        ("en;q=bad", "zh-CN"),
    ],
)
def test_accept_language_picks_the_best_supported_locale(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header, "zh-CN") == expected


def test_labels_fall_back_to_the_value_the_service_sent() -> None:
    t = i18n.Translator("en")
    assert t.label("report_status", "resolved") == "resolved"
    assert t.label("report_status", "a_status_from_the_future") == "a_status_from_the_future"
    assert t("no.such.key") == "no.such.key"


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("", "required"),
        ("change-me-please-change-me-please-0123", "placeholder"),
        ("CHANGE-ME", "placeholder"),
        ("short-secret", "at least 32"),
    ],
)
def test_production_refuses_a_missing_placeholder_or_short_session_secret(secret: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ConsoleSettings(env="prod", session_secret=secret)


def test_settings_fall_back_to_the_stack_variables_and_dev_makes_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REWARDS_URL", "http://10.0.0.5:9083/")
    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    settings = ConsoleSettings()
    assert settings.rewards_url == "http://10.0.0.5:9083" and settings.env == "dev"
    assert len(settings.session_secret.get_secret_value()) >= 32
    assert ConsoleSettings(env="prod", session_secret=SECRET).cookie_samesite == "lax"
    with pytest.raises(ValidationError, match="http"):
        ConsoleSettings(env="dev", points_url="ftp://points")


def test_sessions_end_when_idle_at_their_maximum_and_at_sign_out() -> None:
    now = [0.0]
    store = SessionStore(idle_s=60, max_s=300, capacity=3, clock=lambda: now[0])
    sid, session = store.create("the-token", "operator:abc")
    assert sid not in repr(store._sessions) and "the-token" not in repr(session)
    for _ in range(5):  # active: kept alive until the maximum
        now[0] += 50
        assert store.get(sid) is session
    now[0] += 51
    assert store.get(sid) is None  # 300 s after sign-in, however active

    sid, _ = store.create("t", "operator:abc")
    now[0] += 61
    assert store.get(sid) is None  # idle too long
    sid, _ = store.create("t", "operator:abc")
    store.drop(sid)
    assert store.get(sid) is None and store.get("") is None and store.get(None) is None

    first, _ = store.create("t", "o")
    kept = [store.create("t", "o")[0] for _ in range(3)]
    assert store.get(first) is None and all(store.get(s) for s in kept)  # the least recently seen made room


def test_csrf_tokens_belong_to_one_session_and_never_raise() -> None:
    csrf = Csrf(SECRET)
    token = csrf.token("session-a")
    assert csrf.valid("session-a", token)
    assert not csrf.valid("session-b", token)
    assert not csrf.valid("session-a", token[:-1] + "x")
    assert not csrf.valid("session-a", "字" * 43)
    assert not csrf.valid(None, token) and not csrf.valid("session-a", None)
    assert not Csrf("another-secret-that-is-long-enough-02").valid("session-a", token)
    assert csrf.login_valid("nonce", csrf.login_token("nonce")) and not csrf.login_valid("nonce", token)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/reports?overdue=true", "/reports?overdue=true"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_after_sign_in_only_a_path_of_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def _client(**overrides: object) -> httpx.AsyncClient:
    # The services at a port where nothing listens: these tests never get as far as calling one.
    dead = f"http://127.0.0.1:{free_port()}"
    settings = ConsoleSettings(
        env="prod",
        session_secret=SECRET,
        reports_url=dead,
        points_url=dead,
        rewards_url=dead,
        notify_url=dead,
        **overrides,  # type: ignore[arg-type]
    )
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug with a secret in its message")

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")


async def test_every_page_carries_the_security_headers_and_personal_pages_are_not_stored() -> None:
    async with _client() as http:
        for path, status in [("/login", 200), ("/no-such-page", 404), ("/boom", 500), ("/", 303)]:
            r = await http.get(path)
            assert r.status_code == status, path
            csp = r.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
            assert r.headers["cache-control"] == "no-store", path
            assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
            assert "strict-transport-security" not in r.headers  # plain http here
        assert "a secret" not in (await http.get("/boom")).text
        css = await http.get("/static/console.css")
        assert css.status_code == 200 and "max-age" in css.headers["cache-control"]


async def test_pages_need_a_session_and_sign_in_needs_its_form_token() -> None:
    async with _client() as http:
        r = await http.get("/reports?overdue=true")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Freports%3Foverdue%3Dtrue"
        r = await http.post("/catalogue/x/stock", data={"delta": "1", "reason": "r"})
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F"
        assert (await http.post("/logout", data={})).status_code == 303

        # No login cookie (a form posted from another page): refused before any token is looked at.
        r = await http.post("/login", data={"token": "x", "csrf_token": "y"})
        assert r.status_code == 403
        page = await http.get("/login")
        cookie = page.cookies[LOGIN_COOKIE]
        assert "httponly" in page.headers["set-cookie"].lower() and "samesite=lax" in page.headers["set-cookie"].lower()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token and cookie
        r = await http.post("/login", data={"token": "ok-token", "csrf_token": token.group(1)})
        assert r.status_code == 503  # the right form token: the reports service is asked (and is down)
        r = await http.post("/login", data={"token": "x", "csrf_token": "forged"})
        assert r.status_code == 403


async def test_wrong_tokens_from_one_address_are_throttled() -> None:
    async with _client(signin_max_failures=3) as http:
        page = await http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        form = {"token": "has a space", "csrf_token": token.group(1)}  # refused without asking a service
        statuses = [(await http.post("/login", data=form)).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]


async def test_form_bodies_are_limited_and_must_be_forms() -> None:
    async with _client(max_form_bytes=1024) as http:
        await http.get("/login")
        big = await http.post(
            "/login", content=b"token=" + b"x" * 4096, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert big.status_code == 413
        other = await http.post(
            "/login", content=json.dumps({"token": "x"}), headers={"content-type": "application/json"}
        )
        assert other.status_code == 415


def _whoami_client(answers: dict[str, httpx.Response]) -> httpx.AsyncClient:
    """The console, with the reports service replaced by a fake that answers /v1/whoami per token."""
    client = _client()
    app = client._transport.app  # type: ignore[attr-defined]

    def reports(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/whoami":
            return httpx.Response(503, json={"error": {"code": "unavailable", "message": "a fake"}})
        return answers[request.headers["authorization"].removeprefix("Bearer ")]

    app.state.console.backends.http = httpx.AsyncClient(transport=httpx.MockTransport(reports))
    return client


async def test_sign_in_asks_who_the_token_is_and_shows_the_operator_by_name() -> None:
    def me(role: str, actor: str) -> httpx.Response:
        return httpx.Response(200, json={"role": role, "actor": actor, "name": None, "member_id": None})

    answers = {
        "named-operator-token": me("operator", "operator:li.wei"),
        "plain-operator-token": me("operator", "operator:0123456789ab"),
        "gateway-token": me("gateway", "gateway:ba9876543210"),
        "wrong-token": httpx.Response(401, json={"error": {"code": "unauthenticated", "message": "no"}}),
    }
    for token, status, shown in [
        ("named-operator-token", 303, "operator:li.wei"),
        ("plain-operator-token", 303, "operator:0123456789ab"),
        ("gateway-token", 403, None),
        ("wrong-token", 401, None),
    ]:
        async with _whoami_client(answers) as http:
            page = await http.get("/login")
            form_token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert form_token
            r = await http.post("/login", data={"token": token, "csrf_token": form_token.group(1)})
            assert r.status_code == status, token
            if shown is None:
                assert SESSION_COOKIE not in r.cookies
                continue
            home = await http.get("/")  # the services are "down" but for whoami: the page still says who
            assert home.status_code == 200, home.text
            who = re.search(r'<span id="signed-in-as"[^>]*>([^<]+)</span>', home.text)
            assert who and who.group(1) == shown, token


async def test_a_round_with_many_applicants_is_shown_a_hundred_at_a_time() -> None:
    applications = [
        {
            "round_id": "r-big",
            "member_id": f"m-{i:04d}",
            "status": "held",
            "reason": None,
            "applied_at": f"2026-12-01T08:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
            "star_level": None,
            "earned_365d": None,
            "ranked_at": None,
            "ticket": None,
            "rank": None,
            "won_at_close": None,
            "tie_broken_by_lottery": None,
            "redemption_id": None,
        }
        for i in range(250)
    ]
    found = {
        "round_id": "r-big",
        "reward_id": "rw",
        "quota": 5,
        "opens_at": "2026-12-01T00:00:00+00:00",
        "closes_at": "2026-12-09T00:00:00+00:00",
        "status": "open",
        "seed_sha256": "0" * 64,
        "seed": None,
        "seed_generated": True,
        "time_resolution_s": 1,
        "closed_at": None,
        "closed_by": None,
        "standings_day": None,
        "result_sha256": None,
        "result_status": None,
        "notice_ends_at": None,
        "applications": applications,
    }
    me = {"role": "operator", "actor": "operator:li.wei", "name": "li.wei", "member_id": None}

    def services(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/whoami":
            return httpx.Response(200, json=me)
        assert request.url.path == "/v1/allocation-rounds/r-big"
        return httpx.Response(200, json=found)

    client = _client()
    client._transport.app.state.console.backends.http = httpx.AsyncClient(transport=httpx.MockTransport(services))  # type: ignore[attr-defined]
    async with client as http:
        page = await http.get("/login")
        r = await http.post(
            "/login", data={"token": "t", "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"', page.text)[0]}
        )
        assert r.status_code == 303
        shown = {}
        for p in (1, 3):
            html = (await http.get(f"/rounds/r-big?p={p}")).text
            shown[p] = re.findall(r'href="/members/(m-\d+)"', html)
            assert re.search(r'id="applications-total">250<', html)
            assert ('id="next-applications"' in html) == (p == 1)
            assert ('id="previous-applications"' in html) == (p == 3)
        assert shown[1] == [f"m-{i:04d}" for i in range(100)]  # in order of application (none ranked yet)
        assert shown[3] == [f"m-{i:04d}" for i in range(200, 250)]
        assert (await http.get("/rounds/r-big?p=0")).status_code == 400
