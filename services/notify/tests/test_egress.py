"""Where webhooks may go: the address rules, registration, and connections pinned to the checked address.

The connection tests use real sockets and a real local HTTP server; only the name resolution is
scripted (no test can make a real DNS server rebind), which is the point: the client must connect
where the check said, whatever the name resolves to by then.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from notify import egress
from notify.egress import BlockedAddress, EgressPolicy

PROD = EgressPolicy(https_only=True)
DEV = EgressPolicy(https_only=False)
LOOPBACK_ALLOWED = EgressPolicy.parse("127.0.0.0/8, ::1/128", https_only=False)
PUBLIC = "93.184.215.14"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.5.6.7/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
        "https://[64:ff9b::7f00:1]/hook",  # NAT64
        "https://[2002:7f00:1::]/hook",  # 6to4
        "https://2130706433/hook",  # 127.0.0.1 as one number
        "https://0x7f.1/hook",
        "https://127.1/hook",
        "https://017700000001/hook",
        "https://localhost/hook",
        "https://api.localhost/hook",
        "https://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "https://10.0.0.5/hook",
        "https://172.16.3.4/hook",
        "https://192.168.1.1/hook",
        "https://100.64.0.1/hook",  # shared address space
        "https://[fc00::1]/hook",
        "https://[fe80::1]/hook",
        "https://0.0.0.0/hook",
        "https://255.255.255.255/hook",
        "https://224.0.0.1/hook",
        "https://240.0.0.1/hook",
        "https://198.18.0.1/hook",  # benchmarking
        "https://192.0.2.1/hook",  # documentation
    ],
)
def test_non_global_addresses_are_refused_however_written(url: str) -> None:
    problem = egress.url_problem(url, PROD)
    assert problem is not None, url


def test_production_requires_https_and_development_does_not() -> None:
    assert egress.url_problem(f"http://{PUBLIC}/hook", PROD) == "the scheme must be https in production"
    assert egress.url_problem(f"https://{PUBLIC}/hook", PROD) is None
    assert egress.url_problem(f"http://{PUBLIC}/hook", DEV) is None


def test_only_the_networks_an_operator_allows_open_up() -> None:
    internal = EgressPolicy.parse("10.20.0.0/16", https_only=True)
    assert egress.url_problem("https://10.20.3.4/hook", internal) is None
    assert egress.url_problem("https://10.21.3.4/hook", internal) is not None
    assert egress.url_problem("https://127.0.0.1/hook", internal) is not None
    # Multicast, unspecified and reserved addresses receive nothing, whatever is allowed.
    assert egress.url_problem("https://0.0.0.0/", EgressPolicy.parse("0.0.0.0/0", https_only=True)) is not None
    with pytest.raises(ValueError, match="CIDR"):
        EgressPolicy.parse("10.20.0.0/33", https_only=True)
    with pytest.raises(ValueError, match="CIDR"):
        EgressPolicy.parse("10.20.0.1/16", https_only=True)  # host bits set: a typo, not a network


def resolver(*answers: list[str]):
    """Resolves every name to the next answer (the last one repeats): a name that rebinds."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


async def test_registration_resolves_the_name_and_refuses_private_answers() -> None:
    assert await egress.registration_problem("https://hooks.example.org/h", PROD, resolver([PUBLIC])) is None
    compose = await egress.registration_problem("https://sms-gateway/h", PROD, resolver(["172.18.0.5"]))
    assert compose and "172.18.0.5 is a private address" in compose
    mixed = await egress.registration_problem("https://hooks.example.org/h", PROD, resolver([PUBLIC, "127.0.0.1"]))
    assert mixed and "127.0.0.1 is a loopback address" in mixed

    async def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    unknown = await egress.registration_problem("https://no-such-host.invalid/h", PROD, nowhere)
    assert unknown and "does not resolve" in unknown


@contextmanager
def local_server() -> Iterator[tuple[int, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_a_connection_goes_to_the_address_that_was_checked() -> None:
    """`hooks.test` is no real name: the request arrives only because the client connects to the vetted address."""
    with local_server() as (port, seen):
        async with egress.client(LOOPBACK_ALLOWED, 5, resolve=resolver(["127.0.0.1"])) as http:
            r = await http.post(f"http://hooks.test:{port}/hook", content=b"{}")
        assert r.status_code == 204
        assert seen and seen[0]["host"] == f"hooks.test:{port}"


async def test_a_name_that_rebinds_to_a_private_address_is_never_connected_to() -> None:
    with local_server() as (port, seen):
        resolve = resolver([PUBLIC], ["127.0.0.1"])
        assert await egress.registration_problem(f"http://hooks.test:{port}/h", DEV, resolve) is None  # looked public
        async with egress.client(DEV, 5, resolve=resolve) as http:
            with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1 is a loopback address"):
                await http.post(f"http://hooks.test:{port}/hook", content=b"{}")
        assert seen == [], "nothing reached the loopback receiver"
        assert resolve.calls == ["hooks.test", "hooks.test"]  # type: ignore[attr-defined]


async def test_a_literal_loopback_url_is_refused_at_connect_time_too() -> None:
    with local_server() as (port, seen):
        async with egress.client(DEV, 5) as http:
            for host in ("127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "localhost"):
                with pytest.raises(BlockedAddress):
                    await http.post(f"http://{host}:{port}/hook", content=b"{}")
        assert seen == []


async def test_no_proxy_from_the_environment_and_no_redirects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would send everything to a dead proxy
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    with local_server() as (port, seen):
        async with egress.client(LOOPBACK_ALLOWED, 5) as http:
            assert http.follow_redirects is False
            r = await http.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
        assert r.status_code == 204 and len(seen) == 1


def test_every_refusal_names_the_address_and_the_setting_that_would_allow_it() -> None:
    problem = egress.address_problem(ipaddress.ip_address("10.1.2.3"), PROD)
    assert problem and "10.1.2.3 is a private address" in problem and "NOTIFY_WEBHOOK_ALLOWED_NETWORKS" in problem


def test_the_client_is_an_httpx_client_with_the_pinned_transport() -> None:
    http = egress.client(PROD, 5)
    assert isinstance(http, httpx.AsyncClient)
    assert isinstance(http._transport, egress.PinnedTransport)
