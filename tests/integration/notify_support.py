"""A notify schema on the session's PostgreSQL, and how the consumer would run notify's use cases."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest_asyncio
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_kernel.envelope import ParsedEvent, build_event, encode_event, parse_event
from incentives_kernel.events import ALL_TYPES, PointsCredited, SourceRef
from incentives_kernel.uow import source_of, unit_of_work
from notify import subscribers, usecases
from notify.metrics import NotifyMetrics
from notify.settings import NotifySettings
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from tests.support import uid

SECRET = "whsec_" + base64.b64encode(b"integration-secret-0123-32-bytes").decode()


@dataclass
class Notify:
    pool: asyncpg.Pool
    settings: NotifySettings
    registry: CollectorRegistry
    metrics: NotifyMetrics

    def sample(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels or None) or 0.0


def settings_for(dsn: str, **overrides: Any) -> NotifySettings:
    values: dict[str, Any] = {
        "database_url": dsn,
        "kafka_bootstrap_servers": "127.0.0.1:9",  # never used: these tests run no consumer or relay
        "env": "dev",
        "webhook_allowed_networks": "127.0.0.0/8",  # the test receivers listen on this machine
        "webhook_backoff_base_s": 0.02,
        "webhook_backoff_max_s": 0.05,
        "webhook_timeout_s": 2.0,
        "webhook_lease_s": 2.5,
        "webhook_max_attempts": 3,
        "webhook_breaker_threshold": 10,
        "webhook_breaker_cooldown_s": 0.2,
        "webhook_poll_s": 0.05,
    }
    return NotifySettings(**(values | overrides))


@pytest_asyncio.fixture(loop_scope="session")
async def notify_db(scratch_dsn: str) -> AsyncIterator[Notify]:
    pool = await make_pool(scratch_dsn, "notify", min_size=1, max_size=6, application_name="notify-webhooks-test")
    async with pool.acquire() as conn:
        await migrate(conn, "notify", load_migrations(migrations_dir("notify")))
        await conn.execute(
            """INSERT INTO members (member_id, district, occupation, locale, registered_at, as_of)
               VALUES ('m-zh', 'nanqu', 'courier', 'zh-CN', now(), now()),
                      ('m-en', 'nanqu', 'courier', 'en', now(), now())"""
        )
    registry = CollectorRegistry()
    try:
        yield Notify(pool, settings_for(scratch_dsn), registry, NotifyMetrics(registry))
    finally:
        await pool.close()


def credited(member: str, amount: int = 5, event_id: str | None = None) -> ParsedEvent:
    data = PointsCredited(
        member_id=member,
        transfer_id=uid("t"),
        amount=amount,
        kind="report",
        ref="r-77",
        reason="report r-77 (sanitation) verified",
        rule_version="default@test",
        balance=40,
        source_event=SourceRef(source="/test", id=uid("e")),
        occurred_at="2026-11-21T08:30:00+08:00",  # type: ignore[arg-type]
    )
    return parsed("points.credited", data, member, source="/incentives/points", event_id=event_id or "")


def parsed(
    type_: str, data: BaseModel, member: str, source: str = "/incentives/rewards", event_id: str = ""
) -> ParsedEvent:
    event = build_event(event_id=event_id or uid("ev"), source=source, type=type_, subject=member, data=data)
    return parse_event(encode_event(event), ALL_TYPES)


async def handle(n: Notify, event: ParsedEvent, **ctx: Any) -> Any:
    """Run the service's use case as the consumer does: in a transaction, then the after-commit callbacks."""
    handler = subscribers.HANDLERS[event.type]
    async with unit_of_work(n.pool, source_of("notify")) as uow:
        outcome = await handler(uow, event, ctx=usecases.Context(metrics=n.metrics, **ctx))
    return outcome
