"""Operator routes for webhooks: register, list, disable, and see and re-drive dead-lettered deliveries.

Registration refuses (422 `url_not_allowed`, with the reason) a URL whose host is or resolves to
an address webhooks may not reach (egress.py); delivery checks again at every connection.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Path, Query, Request
from incentives_kernel.auth import Role
from incentives_kernel.db import Conn, Row
from incentives_kernel.events import ID_PATTERN
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from incentives_kernel.runtime import ServiceRuntime
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from . import egress, webhooks
from . import repository as repo
from .kinds import NOTIFIED_TYPES
from .settings import NotifySettings
from .usecases import Context


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=webhooks.MAX_URL_LENGTH,
        description="https (http only in the development run), to a public address unless its network is allowed",
    )
    event_types: list[str] = Field(min_length=1, max_length=len(NOTIFIED_TYPES))
    secret: SecretStr = Field(
        min_length=16,
        max_length=256,
        description="whsec_<base64 of 24..64 random bytes> (Standard Webhooks); signs every request; never shown again",
    )

    @field_validator("url")
    @classmethod
    def _usable_url(cls, url: str) -> str:
        problem = webhooks.url_problem(url)
        if problem:
            raise ValueError(problem)
        return url

    @field_validator("secret")
    @classmethod
    def _standard_secret(cls, secret: SecretStr) -> SecretStr:
        problem = webhooks.secret_problem(secret.get_secret_value())
        if problem:
            raise ValueError(problem)
        return secret

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        unknown = sorted(set(types) - set(NOTIFIED_TYPES))
        if unknown:
            shown = ", ".join(t for t in unknown[:5] if len(t) <= 64)
            raise ValueError(f"not types notify notifies on: {shown}; known: {', '.join(NOTIFIED_TYPES)}")
        return sorted(set(types))


class WebhookOut(BaseModel):
    webhook_id: str
    url: str
    event_types: list[str]
    active: bool
    secret_set: bool = Field(description="always true: the secret itself is never returned")
    circuit: webhooks.Circuit
    consecutive_failures: int
    pending: int
    dead_lettered: int
    created_at: datetime
    disabled_at: datetime | None
    created_by: str | None = Field(description="who registered it: operator:<name> or operator:<token fingerprint>")
    disabled_by: str | None = Field(description="who disabled it")


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None


class DeadLetter(BaseModel):
    delivery_id: str
    notification_id: str
    webhook_id: str
    member_id: str
    kind: str
    event_type: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    dead_lettered_at: datetime | None
    redriven: int
    redriven_by: str | None = Field(description="who last sent it again")


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]
    next_cursor: str | None


class Redriven(BaseModel):
    webhook_id: str
    redriven: list[str]


def build_router(runtime: ServiceRuntime, ctx: Context) -> APIRouter:
    router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=errors(400, 401, 403, 413, 422))
    operator = runtime.require(Role.OPERATOR)
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)
    threshold = settings.webhook_breaker_threshold
    policy = settings.egress_policy()

    def who(request: Request) -> str:
        return runtime.auth.actor(request)  # operator:<name>, or the token's fingerprint if unnamed

    def shape(r: Row, now: datetime) -> WebhookOut:
        return WebhookOut(
            webhook_id=r["webhook_id"],
            url=r["url"],
            event_types=r["event_types"],
            active=r["active"],
            secret_set=True,
            circuit=webhooks.circuit(r["consecutive_failures"], r["circuit_open_until"], now, threshold),
            consecutive_failures=r["consecutive_failures"],
            pending=r["pending"],
            dead_lettered=r["dead_lettered"],
            created_at=r["created_at"],
            disabled_at=r["disabled_at"],
            created_by=r["created_by"],
            disabled_by=r["disabled_by"],
        )

    async def found(conn: Conn, webhook_id: str) -> WebhookOut:
        row = await repo.get_webhook(conn, webhook_id)
        if row is None:
            raise ApiError(404, "not_found", f"no webhook {webhook_id}")
        return shape(row, await repo.database_now(conn))

    @router.post(
        "",
        response_model=WebhookOut,
        status_code=201,
        dependencies=[operator],
        summary="Register one (its URL must lead to an address webhooks may reach)",
    )
    async def create_webhook(body: WebhookIn, request: Request) -> WebhookOut:
        problem = await egress.registration_problem(body.url, policy)
        if problem:
            raise ApiError(422, "url_not_allowed", f"webhook URL not allowed: {problem}")
        webhook_id = f"wh-{uuid.uuid4().hex[:16]}"
        async with runtime.unit_of_work() as uow:
            await repo.insert_webhook(
                uow.conn, webhook_id, body.url, body.event_types, body.secret.get_secret_value(), who(request)
            )
            return await found(uow.conn, webhook_id)

    @router.get(
        "",
        response_model=WebhookPage,
        dependencies=[operator],
        summary="Endpoints and their state, in registration order (keyset-paginated)",
    )
    async def list_webhooks(
        include_disabled: bool = Query(False, description="also the disabled ones"),
        circuit: list[webhooks.Circuit] | None = Query(
            None, description="only those whose circuit breaker is in one of these states (repeatable)"
        ),
        attention: bool = Query(
            False, description="only those that need an operator: circuit not closed, or dead letters waiting"
        ),
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> WebhookPage:
        after = decode_cursor(cursor, datetime, str)
        f = repo.WebhookFilter(include_disabled=include_disabled, circuits=circuit, attention=attention)
        async with runtime.pool.acquire() as conn:
            now = await repo.database_now(conn)
            rows = await repo.list_webhooks(
                conn,
                f,
                now=now,
                threshold=threshold,
                after=(after[0], after[1]) if after else None,
                limit=limit + 1,
            )
        last = rows[limit - 1] if len(rows) > limit else None
        nxt = encode_cursor([last["created_at"].isoformat(), last["webhook_id"]]) if last else None
        return WebhookPage(items=[shape(r, now) for r in rows[:limit]], next_cursor=nxt)

    @router.get("/{webhook_id}", response_model=WebhookOut, dependencies=[operator], responses=errors(404))
    async def get_webhook(webhook_id: str = Path(pattern=ID_PATTERN)) -> WebhookOut:
        async with runtime.pool.acquire() as conn:
            return await found(conn, webhook_id)

    @router.delete(
        "/{webhook_id}",
        response_model=WebhookOut,
        dependencies=[operator],
        responses=errors(404),
        summary="Disable: nothing more is sent, pending deliveries are cancelled; dead letters stay listed",
    )
    async def disable_webhook(request: Request, webhook_id: str = Path(pattern=ID_PATTERN)) -> WebhookOut:
        async with runtime.unit_of_work() as uow:
            if await repo.disable_webhook(uow.conn, webhook_id, who(request)) is None:
                raise ApiError(404, "not_found", f"no webhook {webhook_id}")
            return await found(uow.conn, webhook_id)

    @router.get(
        "/{webhook_id}/dead-letters",
        response_model=DeadLetterPage,
        dependencies=[operator],
        responses=errors(404),
        summary="Newest first",
    )
    async def list_dead_letters(
        webhook_id: str = Path(pattern=ID_PATTERN),
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> DeadLetterPage:
        after = decode_cursor(cursor, int)
        async with runtime.pool.acquire() as conn:
            await found(conn, webhook_id)
            rows = await repo.list_dead_letters(
                conn, webhook_id, before_seq=int(after[0]) if after else None, limit=limit + 1
            )
        items = [DeadLetter(**{k: r[k] for k in DeadLetter.model_fields}) for r in rows[:limit]]
        nxt = encode_cursor([rows[limit - 1]["seq"]]) if len(rows) > limit else None
        return DeadLetterPage(items=items, next_cursor=nxt)

    async def redrive(webhook_id: str, delivery_id: str | None, actor: str) -> Redriven:
        async with runtime.unit_of_work() as uow:
            conn = uow.conn
            hook = await found(conn, webhook_id)
            if not hook.active:
                raise ApiError(409, "conflict", f"webhook {webhook_id} is disabled")
            if delivery_id is not None:
                status = await repo.delivery_status(conn, webhook_id, delivery_id)
                if status is None:
                    raise ApiError(404, "not_found", f"no delivery {delivery_id} for webhook {webhook_id}")
                if status != "dead_lettered":
                    raise ApiError(409, "conflict", f"delivery {delivery_id} is {status}, not dead-lettered")
            ids = await repo.redrive(conn, webhook_id, delivery_id, actor)
            uow.after_commit(ctx.wake_webhooks)
        return Redriven(webhook_id=webhook_id, redriven=ids)

    @router.post(
        "/{webhook_id}/dead-letters/redrive",
        response_model=Redriven,
        dependencies=[operator],
        responses=errors(404, 409),
        summary="Send every dead letter of this endpoint again, with a fresh set of attempts",
    )
    async def redrive_all(request: Request, webhook_id: str = Path(pattern=ID_PATTERN)) -> Redriven:
        return await redrive(webhook_id, None, who(request))

    @router.post(
        "/{webhook_id}/dead-letters/{delivery_id}/redrive",
        response_model=Redriven,
        dependencies=[operator],
        responses=errors(404, 409),
        summary="Send one dead letter again, with a fresh set of attempts",
    )
    async def redrive_one(
        request: Request, webhook_id: str = Path(pattern=ID_PATTERN), delivery_id: str = Path(max_length=64)
    ) -> Redriven:
        return await redrive(webhook_id, delivery_id, who(request))

    return router
