"""What every service process is made of, composed in one place.

`ServiceRuntime` holds the pool, the broker (with FastStream's Prometheus middleware on the
service's own registry), the outbox relay, health and metrics. A service registers on it its
consumer (`consume`), its background jobs (`every`) and what it publishes; its routes and jobs
write through `unit_of_work()`. `create_http_app` wraps it in a FastAPI app whose lifespan starts
and stops it, with /healthz, /readyz, /metrics, /asyncapi and /docs. Building either connects to
nothing; `start()` does. Not here: what becomes of a record (engine.py), the Kafka subscriber
(kafka_adapter.py), a job's loop (background.py), a transaction's effects (uow.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from . import db, operator_books, pii, roles
from .asyncapi_html import asyncapi_router
from .auth import Caller, Role, TokenAuth
from .background import Job
from .engine import EventConsumer
from .events import ALL_TYPES
from .health import Health
from .http_errors import ApiError, install_error_handlers
from .http_guard import HttpGuard
from .http_metrics import install_http_metrics
from .intake import intake_from_settings
from .kafka_adapter import subscribe
from .kafka_security import broker_security, client_kwargs, idempotent_producer
from .logging import configure_logging
from .member_tokens import MemberTokenKeys
from .member_tokens_api import member_tokens_router
from .metrics import KernelMetrics
from .operator_api import operator_router
from .outbox import OutboxRelay
from .outcome import UseCase
from .ratelimit import Rate, RateLimiter
from .settings import ServiceSettings
from .uow import UnitOfWork, source_of, unit_of_work
from .whoami_api import whoami_router

log = structlog.get_logger(__name__)

# The routes that move points, stock or places, each with its own budget (settings.rate_limit_<name>).
# "lookups": member lookups by phone or identity number, per caller only (throttle with member_id "").
RATE_LIMITED = ("redemptions", "adjustments", "applications", "lookups")

T = TypeVar("T")


class ServiceRuntime:
    def __init__(
        self, settings: ServiceSettings, *, migrations_package: str, registry: CollectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.service = settings.service
        self.source = source_of(settings.service)
        self.registry = registry or CollectorRegistry()
        self.metrics = KernelMetrics(self.service, self.registry)
        self.health = Health()
        self.auth = TokenAuth(
            settings.operator_tokens.get_secret_value(),
            settings.gateway_tokens.get_secret_value(),
            MemberTokenKeys.parse(settings.member_token_keys.get_secret_value()),
            settings.provider_tokens.get_secret_value(),
            settings.delegating_tokens.get_secret_value(),
        )
        self.limiters: dict[str, RateLimiter] = {}
        for name in RATE_LIMITED:
            rate = Rate.parse(getattr(settings, f"rate_limit_{name}"))
            if rate is not None:
                self.limiters[name] = RateLimiter(rate)
        self._pool: asyncpg.Pool | None = None
        self.broker = KafkaBroker(
            settings.bootstrap,
            acks="all",
            enable_idempotence=idempotent_producer(settings),
            graceful_timeout=settings.graceful_timeout_s,
            middlewares=[KafkaPrometheusMiddleware(registry=self.registry, app_name=self.service)],
            client_id=f"incentives-{self.service}",
            security=broker_security(settings),
        )
        self._migrations = db.load_migrations(db.migrations_dir(migrations_package))
        self.relay: OutboxRelay | None = None
        self._producer: AIOKafkaProducer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._jobs: list[Job] = []
        self.consumer: EventConsumer | None = None  # the operator APIs act on its parked events and dead letters

    @property
    def pool(self) -> asyncpg.Pool:
        """The connection pool; it exists from `start()` on (asyncpg binds it to the running loop)."""
        if self._pool is None:
            raise RuntimeError("the service is not started")
        return self._pool

    def consume(
        self,
        topics: Sequence[str],
        use_cases: Mapping[str, UseCase],
        *,
        description: str,
        ignore_types: Sequence[str] = (),
        types: Mapping[str, type[BaseModel]] = ALL_TYPES,
    ) -> EventConsumer:
        """Register the service's batch consumer for `topics` (before `start`)."""
        s = self.settings
        consumer = EventConsumer(
            service=self.service,
            pool=lambda: self.pool,
            metrics=self.metrics,
            health=self.health,
            use_cases=use_cases,
            types=types,
            ignore_types=ignore_types,
            wake=self._wake_relay,
            max_consecutive_unexpected=s.consumer_max_consecutive_unexpected,
            intake=intake_from_settings(s),
        )
        subscribe(
            self.broker,
            consumer,
            topics=topics,
            group_id=self.service,
            max_records=s.consumer_max_records,
            batch_timeout_ms=s.consumer_batch_timeout_ms,
            fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
            session_timeout_ms=s.consumer_session_timeout_ms,
            max_backoff_s=s.consumer_max_backoff_s,
            health=self.health,
            metrics=self.metrics,
            description=description
            + " Accepted types: "
            + ", ".join(sorted(use_cases))
            + "."
            + (" Recorded, not acted on: " + ", ".join(sorted(ignore_types)) + "." if ignore_types else ""),
            exit_after_commit=s.fault_exit_after_commit,
        )
        self.consumer = consumer
        grace = timedelta(seconds=s.park_grace_s)
        self.every("expire_parked", s.park_sweep_interval_s, lambda: consumer.expire_parked(grace))
        self.every("purge_dead_letters", 3600, self._purge_dead_letters, again_at=1000)
        return consumer

    async def _purge_dead_letters(self) -> int:
        async with self.pool.acquire() as conn:
            return await operator_books.purge_dead_letters(conn, self.settings.dead_letter_retention_days)

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """`async with runtime.unit_of_work() as uow:` one transaction on a pooled connection.

        It commits when the block ends normally (a raised exception rolls it back); then the relay
        is woken if the block emitted anything, and the block's `after_commit` callbacks run.
        """
        return unit_of_work(self.pool, self.source, wake=self._wake_relay)

    def every(
        self,
        name: str,
        interval_s: float,
        job: Callable[[], Awaitable[int | None]],
        *,
        again_at: int | None = None,
    ) -> Job:
        """Run `job` for the process's lifetime (from `start`): now, then every `interval_s` seconds.

        The job returns how many things it handled (None: not a count); with `again_at`, a run
        that handled that many or more is followed at once by the next (a backlog drains without
        waiting). A failure is logged and counted, never stops the process: the next run retries.
        Each job has `incentives_<service>_job_runs_total`, `..._job_failures_total`,
        `..._job_last_success_timestamp_seconds`, `..._job_started_timestamp_seconds` and
        `..._job_interval_seconds`, labelled `job_name`. `wake()` on the returned `Job` starts the
        next run early.
        """
        if any(j.name == name for j in self._jobs):
            raise ValueError(f"a job named {name} is registered already")
        scheduled = Job(name, interval_s, job, again_at)
        self._jobs.append(scheduled)
        return scheduled

    def document_publication(self, topic: str, models: Sequence[type[BaseModel]], description: str) -> None:
        """Describe in AsyncAPI what this service publishes on `topic` (through the outbox, not FastStream)."""
        schema: Any = models[0]
        for model in models[1:]:
            schema = schema | model
        self.broker.publisher(
            topic,
            schema=schema,
            title=f"{self.service}:publishes:{topic}",
            description=description + " Each message is a CloudEvent whose data is one of these.",
        )

    def _wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def start(self) -> None:
        s = self.settings
        self._pool = await db.make_pool(
            s.dsn,
            s.db_schema,
            min_size=s.db_pool_min,
            max_size=s.db_pool_max,
            application_name=f"incentives-{self.service}",
            plan_cache_mode=s.db_plan_cache_mode,
        )
        await roles.migrate_and_grant(self.pool, s.db_schema, self._migrations, s.migration_dsn)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap,
            acks="all",
            enable_idempotence=idempotent_producer(s),
            linger_ms=2,
            client_id=f"incentives-{self.service}-relay",
            **client_kwargs(s),
        )
        await self._producer.start()
        self.relay = OutboxRelay(
            self.pool,
            self._producer,
            schema=s.db_schema,
            observer=self.metrics,
            batch_size=s.relay_batch_size,
            idle_poll_s=s.relay_idle_poll_s,
            retention_hours=s.outbox_retention_hours,
            on_health=lambda ok, why: self.health.set("relay", ok, why),
        )
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        for job in self._jobs:
            self._tasks.append(asyncio.create_task(job.forever(self.metrics), name=f"job:{job.name}"))
        await self.broker.start()
        log.info("service started", service=self.service, http_port=s.http_port)

    async def stop(self) -> None:
        # Consumers first: the in-flight batch commits (graceful_timeout), then the relay drains.
        await self.broker.stop()
        if self.relay is not None:
            self.relay.stop()
        for task in self._tasks:
            if task.get_name() != "outbox-relay":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        if self._producer is not None:
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()
        log.info("service stopped", service=self.service)

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                async with self.pool.acquire() as conn:
                    await db.ping(conn)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            ok = await self.broker.ping(timeout=2.0)
            checks["broker"] = "ok" if ok else "unreachable"
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
        for component, why in self.health.problems.items():
            checks[component] = why
        ready = all(v == "ok" for k, v in checks.items() if k in ("database", "broker")) and not self.health.problems
        self.metrics.ready.set(1 if ready else 0)
        return {"status": "ready" if ready else "not_ready", "checks": checks}

    def asyncapi(self) -> Any:
        spec = AsyncAPI(
            self.broker,
            title=f"incentives {self.service}",
            version="1.0.0",
            description=f"Events consumed and published by the {self.service} service",
        )
        return spec.to_specification().to_jsonable()

    def require(self, *roles: Role) -> Any:
        """A FastAPI dependency giving the `Caller`: a valid bearer token of one of `roles` (operator may do
        everything), else 403. A member token is also held to the route's `{member_id}`, if it has one."""
        allowed = {Role.OPERATOR, *roles}
        bearer = HTTPBearer(auto_error=False, description="operator, gateway or member token")

        async def dependency(request: Request, _creds: Any = Depends(bearer)) -> Caller:
            # HttpGuard authenticated every /v1 request already; this covers a route mounted elsewhere.
            caller = getattr(request.state, "caller", None) or self.auth.authenticate(request)
            if caller.role not in allowed:
                raise ApiError(403, "forbidden", f"this route needs the {' or '.join(sorted(allowed))} role")
            member_id = request.path_params.get("member_id")
            if member_id is not None:
                caller.act_for(member_id)
            return caller

        return Depends(dependency)

    def throttle(self, name: str, caller: Caller, member_id: str) -> None:
        """Spend one call of `caller`'s budget `name` for `member_id`; 429 with Retry-After when empty.

        The budget is per caller *and* member: the gateway's one token carries every rider, so a
        budget per token alone would let one rider's burst refuse everyone else."""
        limiter = self.limiters.get(name)
        if limiter is None:
            return
        wait = limiter.check(f"{caller.rate_key}|{member_id}")
        if wait > 0:
            self.metrics.rate_limited.labels(route=name, role=caller.role.value).inc()
            whom = " for this member" if member_id else ""
            raise ApiError(
                429,
                "rate_limited",
                f"too many {name}{whom} from this caller; retry in {math.ceil(wait)} s",
                headers={"Retry-After": str(math.ceil(wait))},
            )


def create_http_app(runtime: ServiceRuntime, *, title: str, routers: Sequence[APIRouter]) -> FastAPI:
    configure_logging(runtime.service, runtime.settings.log_level, runtime.settings.debug_loggers)
    pii.configure(runtime.settings.pii_key.get_secret_value())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, version="1.0.0", lifespan=lifespan, docs_url="/docs", openapi_url="/openapi.json")
    app.state.runtime = runtime
    install_error_handlers(app)

    app.add_middleware(
        HttpGuard,
        auth=runtime.auth,
        max_body_bytes=runtime.settings.max_request_bytes,
        on_refused=lambda reason: runtime.metrics.unauthenticated.labels(reason=reason).inc(),
    )
    install_http_metrics(app, runtime.service, runtime.registry)  # outermost: counts the guard's answers too
    app.include_router(member_tokens_router(runtime))
    app.include_router(operator_router(runtime))  # dead letters and parked events, in every service
    app.include_router(whoami_router(runtime))

    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "alive", "service": runtime.service}

    @app.get("/readyz", tags=["ops"], summary="Database and broker reachable, consumers healthy")
    async def readyz() -> JSONResponse:
        body = await runtime.readiness()
        return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=True)
    async def metrics() -> Response:
        size, idle = runtime.pool.get_size(), runtime.pool.get_idle_size()
        runtime.metrics.db_pool_size.set(size)
        runtime.metrics.db_pool_in_use.set(size - idle)
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/asyncapi", tags=["ops"], summary="AsyncAPI document of the topics this service uses")
    async def asyncapi() -> JSONResponse:
        return JSONResponse(runtime.asyncapi())

    app.include_router(asyncapi_router())  # the system's AsyncAPI document, as JSON and as HTML (offline)
    for router in routers:
        app.include_router(router)
    return app


def build_service_app(
    settings: ServiceSettings,
    register: Callable[[ServiceRuntime], T],
    routers: Callable[[ServiceRuntime, T], Sequence[APIRouter]],
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """A service's app: its runtime (migrations from the package named after the service), what
    `register` wires on it (consumer, jobs, publications), and the HTTP routes `routers` builds with
    what `register` returned (the dependencies the routes share with the consumer)."""
    runtime = ServiceRuntime(settings, migrations_package=settings.service, registry=registry)
    wiring = register(runtime)
    return create_http_app(runtime, title=f"incentives {settings.service}", routers=routers(runtime, wiring))
