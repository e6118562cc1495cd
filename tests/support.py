"""Helpers for tests that talk to the running system: publish events, read DLQs, wait for effects."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from incentives_kernel.envelope import encode_event
from incentives_kernel.intake import compile_pattern, sign
from incentives_ops.embedded import free_port
from incentives_ops.provision import _with, drop_database, quote_ident
from incentives_ops.stack import Stack, StackOptions

T = TypeVar("T")

# A production deployment's word on who proves what (docs/security-intake.md): the topics its broker
# ACLs give to one principal each (as deploy/kafka/acl-init.sh does), ...
EXCLUSIVE_TOPICS = {
    "incentives.volunteer.v1": "volunteer-platform",
    "incentives.redemptions.v1": "rider-app-gateway",
    "incentives.reports.lifecycle.v1": "reports",
    "incentives.points.commands.v1": "rewards",
    "incentives.points.replies.v1": "points",
    "incentives.points.v1": "points",
    "incentives.rewards.v1": "rewards",
    "incentives.notifications.v1": "notify",
}
# ... and one signing secret per system that shares a topic with another (whsec_: Standard Webhooks).
SIGNING_SECRETS = {
    "member-registry": "whsec_" + base64.b64encode(b"test-member-registry-signing-key").decode(),
    "rider-app-gateway": "whsec_" + base64.b64encode(b"test-rider-app-gateway-signing-k").decode(),
    "dispatch-platform": "whsec_" + base64.b64encode(b"test-dispatch-platform-signing-k").decode(),
}
SIGNED_SOURCES = {
    "/member-registry": "member-registry",
    "/member-registry/**": "member-registry",
    "/rider-app-gateway": "rider-app-gateway",
    "/district/*/rider-app": "rider-app-gateway",
    "/dispatch": "dispatch-platform",
    "/dispatch/**": "dispatch-platform",
    "/district/*/dispatch": "dispatch-platform",
    "/district/*/department/*": "dispatch-platform",
}


def signing_keys_json() -> str:
    return json.dumps({pattern: [SIGNING_SECRETS[system]] for pattern, system in SIGNED_SOURCES.items()})


def production_proof() -> dict[str, str]:
    """Production mode, with every decision proven: topics declared exclusive, the other sources signing."""
    return {
        "INCENTIVES_ENV": "prod",
        "INCENTIVES_SOURCES_EXTRA": "",
        "INCENTIVES_EXCLUSIVE_TOPICS": ",".join(f"{t}={p}" for t, p in EXCLUSIVE_TOPICS.items()),
        "INCENTIVES_SOURCE_SIGNING_KEYS": signing_keys_json(),
        # Production turns the idempotent producer on; the embedded broker the tests run on rejects
        # InitProducerId (docs/testing.md), and exactly-once effects come from the database anyway.
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
    }


def production_settings() -> dict[str, str]:
    """What a production service needs besides its database and broker: strong tokens and keys, proof for decisions."""
    return {
        **production_proof(),
        "INCENTIVES_OPERATOR_TOKENS": "prod-operator-" + "o" * 32,
        "INCENTIVES_GATEWAY_TOKENS": "prod-gateway-" + "g" * 32,
        "INCENTIVES_PII_KEY": "prod-pii-key-" + "p" * 32,
        "INCENTIVES_REPLAY_KEY": "prod-replay-key-" + "r" * 32,
    }


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def signature_headers(raw: bytes) -> list[tuple[str, bytes]] | None:
    """What the municipal system named as the event's source signs it with (SIGNED_SOURCES), if any."""
    try:
        event = json.loads(raw)
        source, event_id = event["source"], event["id"]
    except (ValueError, TypeError, KeyError):
        return None
    for pattern, system in SIGNED_SOURCES.items():
        if isinstance(source, str) and compile_pattern(pattern).fullmatch(source):
            return sign(SIGNING_SECRETS[system], str(event_id), raw)
    return None


async def publish(
    bootstrap: str,
    topic: str,
    key: str,
    *values: dict[str, Any] | bytes,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Publish as the systems named as sources would: each signs what it sends (Standard Webhooks), so
    the same events pass a production stack (tests/security) and the development one alike. Given
    `headers` are sent as they are instead."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for value in values:
            raw = value if isinstance(value, bytes) else encode_event(value)
            sent = headers if headers is not None else signature_headers(raw)
            await producer.send_and_wait(topic, raw, key=key.encode(), headers=sent)
    finally:
        await producer.stop()


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 30, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


async def read_topic(bootstrap: str, topic: str, match: Callable[[Any], bool], timeout: float = 30) -> list[Any]:
    """Every record of `topic` (from the start) for which `match(record)` holds, once some appear."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                found.extend(r for r in records if match(r))
            if found and not batch:
                return found
        return found
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def scratch_database(admin_dsn: str, prefix: str) -> AsyncIterator[str]:
    """A database of its own for a test or a module, dropped afterwards; yields its (admin) URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
    finally:
        await conn.close()
    try:
        yield _with(admin_dsn, database=name)
    finally:
        await drop_database(admin_dsn, name)


class Api:
    """A small client of one service's HTTP API with a bearer token."""

    def __init__(self, base_url: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params)

    async def post(self, path: str, json: Any = None) -> httpx.Response:
        return await self.http.post(path, json=json)

    async def json_or_none(self, path: str, **params: Any) -> Any:
        r = await self.get(path, **params)
        return r.json() if r.status_code == 200 else None

    async def aclose(self) -> None:
        await self.http.aclose()


async def status_is(reports: Api, report: str, status: str) -> dict[str, Any] | None:
    """The report, once it has `status` (for `eventually`)."""
    body = await reports.json_or_none(f"/v1/reports/{report}")
    return body if body and body["status"] == status else None


async def balance_is(points: Api, member: str, available: int) -> dict[str, Any] | None:
    """The member's balance, once `available` is as expected (for `eventually`)."""
    body = await points.json_or_none(f"/v1/members/{member}/balance")
    return body if body and body["available"] == available else None


async def ready(url: str) -> bool:
    """Whether the service at `url` answers /readyz with 200."""
    async with httpx.AsyncClient(timeout=2) as http:
        try:
            return (await http.get(url + "/readyz")).status_code == 200
        except httpx.HTTPError:
            return False


@contextlib.asynccontextmanager
async def isolated_stack(prefix: str, extra_env: dict[str, str], **options: Any) -> AsyncIterator[Stack]:
    """The four services with a PostgreSQL and a Tansu of their own, every port free, ready; all of
    it stopped and removed afterwards (the logs copied first to $INCENTIVES_TEST_LOGS/<prefix> if
    set). For suites that must not share consumer groups or role passwords with the session's e2e
    stack (security, faults), or that restart the infrastructure itself."""
    state = Path(tempfile.mkdtemp(prefix=prefix))
    stack = Stack(
        StackOptions(
            state_dir=state,
            pg_port=free_port(),
            kafka_port=free_port(),
            ports={name: free_port() for name in ("reports", "points", "rewards", "notify")},
            extra_env=extra_env,
            **options,
        )
    )
    try:
        await stack.start()
        await stack.wait_ready(timeout=180)
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)
        keep = os.environ.get("INCENTIVES_TEST_LOGS")
        if keep:
            shutil.copytree(
                state / "logs", Path(keep) / prefix.removeprefix("incentives-").strip("-"), dirs_exist_ok=True
            )
        shutil.rmtree(state, ignore_errors=True)
