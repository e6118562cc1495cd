"""Where notify may send webhooks: public addresses only, checked at registration and at every connect.

A webhook URL is chosen by an operator, and an operator's token may leak; the requests it causes
come from inside the deployment, next to the database, the broker and a cloud's metadata service.
So (OWASP API7, server-side request forgery):

- the URL is `https` in production (`http` only in the development run);
- its host, once resolved, must be a global address: no loopback (127.0.0.1, ::1, `localhost`), no
  private networks (10/8, 172.16/12, 192.168/16, fc00::/7, compose's service names), no link-local
  (169.254.169.254, the metadata service), no shared, reserved, multicast or unspecified address,
  also when written otherwise (`2130706433`, `0x7f.1`, `::ffff:127.0.0.1`, NAT64 and 6to4 forms);
- an operator who must reach an internal receiver lists its network in
  NOTIFY_WEBHOOK_ALLOWED_NETWORKS (CIDRs), and only those networks open up;
- the check runs when the webhook is registered (a 4xx with the reason) and again on every
  connection: the name is resolved once, every address checked, and the connection made to the
  address that was checked (pinned), so a name that later resolves elsewhere (DNS rebinding) is
  refused, never followed. TLS still verifies the certificate for the name.
Redirects are never followed and no proxy from the environment is used (delivery.py's client).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
# Anything a resolver may read as a number (inet_aton: 2130706433, 0x7f.1, 017700000001, 127.1).
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}\.?$", re.IGNORECASE)


class BlockedAddress(Exception):
    """A connection refused by the egress policy; the message says which address and why."""


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    https_only: bool = True
    allowed_networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, networks: str, *, https_only: bool) -> EgressPolicy:
        """`10.20.0.0/16, fd00:1::/64` -> the networks an operator opens up (ValueError if malformed)."""
        parsed = []
        for entry in (e.strip() for e in networks.split(",")):
            if entry:
                try:
                    parsed.append(ipaddress.ip_network(entry, strict=True))
                except ValueError as exc:
                    raise ValueError(f"not a network (CIDR): {entry!r}: {exc}") from None
        return cls(https_only=https_only, allowed_networks=tuple(parsed))


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    return None


def _kind(ip: IPAddress) -> str:
    for name, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return name
    return "non-global"


def address_problem(ip: IPAddress, policy: EgressPolicy) -> str | None:
    """Why a request must not go to `ip`, or None."""
    inner = _embedded_v4(ip)
    if inner is not None:
        problem = address_problem(inner, policy)
        return f"{ip} stands for {inner}: {problem}" if problem else None
    if ip.is_multicast or ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip.is_reserved):
        return f"{ip} is a {_kind(ip)} address"
    if any(ip in net for net in policy.allowed_networks):
        return None
    if not ip.is_global:
        return f"{ip} is a {_kind(ip)} address (allow its network in NOTIFY_WEBHOOK_ALLOWED_NETWORKS if intended)"
    return None


def url_problem(url: str, policy: EgressPolicy) -> str | None:
    """What the URL itself says is wrong (scheme, numeric hosts, literal addresses), before any lookup."""
    parts = urlsplit(url)
    if policy.https_only and parts.scheme != "https":
        return "the scheme must be https in production"
    host = (parts.hostname or "").rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if _NUMERIC_HOST.match(host):
            return "a numeric host must be written as a plain IP address"
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            return "localhost is a loopback address"
        return None
    return address_problem(ip, policy)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def vetted_addresses(host: str, port: int, policy: EgressPolicy, resolve: Resolver) -> list[str]:
    """Resolve `host` once and check every address; raises BlockedAddress if any is refused (then none is used)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        found = [str(ip)]
    except ValueError:
        if _NUMERIC_HOST.match(host):
            raise BlockedAddress(f"numeric host {host!r} is not a plain IP address") from None
        try:
            found = await resolve(host, port)
        except OSError as exc:
            raise BlockedAddress(f"{host} does not resolve ({type(exc).__name__})") from None
    if not found:
        raise BlockedAddress(f"{host} resolves to no address")
    for address in found:
        problem = address_problem(ipaddress.ip_address(address.split("%")[0]), policy)
        if problem:
            raise BlockedAddress(f"{host} resolves to {problem}")
    return found


async def registration_problem(url: str, policy: EgressPolicy, resolve: Resolver = system_resolver) -> str | None:
    """Why `url` cannot be registered: the URL's own problems, then where its host resolves to now."""
    problem = url_problem(url, policy)
    if problem:
        return problem
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await vetted_addresses(parts.hostname or "", port, policy, resolve)
    except BlockedAddress as exc:
        return str(exc)
    return None


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking each connection's host itself.

    httpcore hands the TLS layer the URL's host name separately, so the certificate is still
    verified for the name while the socket goes to the vetted address.
    """

    def __init__(self, policy: EgressPolicy, resolve: Resolver = system_resolver) -> None:
        self._policy = policy
        self._resolve = resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await vetted_addresses(host, port, self._policy, self._resolve)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not webhook endpoints")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over `PinnedBackend`."""

    def __init__(
        self, policy: EgressPolicy, resolve: Resolver = system_resolver, verify: ssl.SSLContext | bool = True
    ) -> None:
        super().__init__(verify=verify, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=PinnedBackend(policy, resolve),
        )


def client(
    policy: EgressPolicy,
    timeout_s: float,
    *,
    resolve: Resolver = system_resolver,
    verify: ssl.SSLContext | bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """The only HTTP client webhooks are sent with: pinned and checked connections, no redirects, no proxies."""
    return httpx.AsyncClient(
        transport=PinnedTransport(policy, resolve, verify),
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
        headers=headers,
    )


def networks_text(networks: Sequence[Network]) -> str:
    return ", ".join(str(n) for n in networks) or "none"
