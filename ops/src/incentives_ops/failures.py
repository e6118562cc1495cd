"""What an operator sees when a setting is wrong or a dependency cannot be reached: one line that
says what and how to fix it, within seconds, and exit code 2 (cli.main prints it).

Each command checks what it needs before it starts working (`require_database`, `require_broker`,
`require_http`), so a refused connection, a wrong password or an unresolvable host name never
surfaces as a traceback from deep inside a client library, nor after half a minute of retries.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError

DEFAULT_WAIT_S = 5.0


class Unusable(Exception):
    """A setting is wrong or a dependency is unreachable; the message is the whole story (exit 2)."""


def masked(url: str) -> str:
    """A URL fit for a terminal: the password, if any, hidden (in the user part and in the query)."""
    url = re.sub(r"(://[^:/@?]*:)[^@/?]*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url)


def settings_problem(exc: ValidationError, env_prefix: str, shared: Mapping[str, str]) -> str:
    """A settings class's validation errors as the environment variables to fix (values never shown:
    they may be secrets)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            field = str(error["loc"][0])
            variable = f"{env_prefix}{field.upper()}"
            if field in shared:
                variable += f" (or {shared[field]})"
            problems.append(f"{variable}: {message}")
        else:
            problems.append(message)
    return "bad settings: " + "; ".join(problems) + " (fix the environment; docs/operations.md#configure)"


def _database_problem(exc: BaseException, url: str, setting: str, wait_s: float) -> str:
    where = f"PostgreSQL at {masked(url)}"
    if isinstance(exc, TimeoutError):
        return f"no answer from {where} within {wait_s:.0f} s: check {setting} and that the server is running"
    if isinstance(exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        return f"{where} refused the login ({exc}): check the user and password in {setting}"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"{where}: {exc}: check the database name in {setting} (or run `incentives db provision`)"
    if isinstance(exc, asyncpg.PostgresError):
        return f"{where} refused the connection ({exc}): check {setting}"
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return f"cannot reach {where} ({reason}): check {setting} and that the server is running"
    # asyncpg raises ValueError (and ClientConfigurationError) for a URL it cannot read.
    return (
        f"{setting} is not a usable PostgreSQL URL ({masked(str(exc))}): e.g. postgresql://user:password@host:5432/db"
    )


async def require_database(url: str, setting: str, wait_s: float = DEFAULT_WAIT_S) -> None:
    """Connect once to `url` and disconnect; raise `Unusable` naming `setting` if that fails."""
    try:
        async with asyncio.timeout(wait_s + 1):
            conn = await asyncpg.connect(url, timeout=wait_s)
    except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise Unusable(_database_problem(exc, url, setting, wait_s)) from None
    await conn.close()


async def require_broker(
    bootstrap: str, setting: str, security: Mapping[str, Any] | None = None, wait_s: float = DEFAULT_WAIT_S
) -> None:
    """Reach the Kafka broker (metadata of the cluster) within `wait_s`, retrying while it refuses:
    a broker that is starting answers within a few seconds. Raise `Unusable` naming `setting`."""
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # each refused attempt would log a line: the answer is ours to give
    try:
        await _reach_broker(bootstrap, setting, security, wait_s)
    finally:
        quiet.setLevel(level)


async def _reach_broker(bootstrap: str, setting: str, security: Mapping[str, Any] | None, wait_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + wait_s
    last: BaseException | None = None
    while True:
        client = AIOKafkaClient(
            bootstrap_servers=bootstrap,
            client_id="incentives-check",
            request_timeout_ms=max(1000, int(wait_s * 1000)),
            **(security or {}),
        )
        try:
            async with asyncio.timeout(max(0.5, deadline - asyncio.get_running_loop().time())):
                await client.bootstrap()
            return
        except (KafkaError, OSError, TimeoutError, ValueError) as exc:
            last = exc
        finally:
            await client.close()
        if asyncio.get_running_loop().time() >= deadline:
            break
        await asyncio.sleep(0.5)
    if isinstance(last, TimeoutError):
        reason = "no answer"
    elif isinstance(last, KafkaConnectionError):
        reason = "connection refused, or the host is unknown"
    else:
        reason = f"{type(last).__name__}: {last}" if str(last) else type(last).__name__
    raise Unusable(
        f"cannot reach the Kafka broker at {bootstrap} within {wait_s:.0f} s ({reason}): "
        f"check {setting} and that the broker is running"
    )


def require_http(url: str, setting: str, wait_s: float = DEFAULT_WAIT_S) -> None:
    """Any HTTP answer from `url` will do (the API's own errors are the command's business)."""
    try:
        httpx.get(url.rstrip("/") + "/healthz", timeout=wait_s)
    except httpx.HTTPError as exc:
        host = urlsplit(url).netloc or url
        raise Unusable(
            f"cannot reach {url} ({type(exc).__name__}: {exc or 'no answer'}): check {setting} "
            f"and that the service at {host} is running"
        ) from None
