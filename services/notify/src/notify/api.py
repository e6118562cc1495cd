"""HTTP routes of the notify service: a member's inbox and notification preferences."""

from __future__ import annotations

from datetime import datetime, time

from fastapi import APIRouter, Path, Query
from incentives_kernel.auth import Role
from incentives_kernel.events import ID_PATTERN
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from incentives_kernel.runtime import ServiceRuntime
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from . import repository as repo
from . import webhooks_api
from .kinds import KINDS
from .preferences import Preferences, valid_timezone
from .usecases import Context

HH_MM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class Notification(BaseModel):
    notification_id: str
    kind: str
    locale: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[Notification]
    next_cursor: str | None


class ReadOut(BaseModel):
    notification_id: str
    read_at: datetime


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str = Field(pattern=HH_MM, description="local time HH:MM at which quiet hours begin")
    end: str = Field(pattern=HH_MM, description="local time HH:MM at which they end (may be the next day)")

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    muted_kinds: list[str] = Field(
        default_factory=list, max_length=len(KINDS), description="kinds not sent by push or webhooks"
    )
    quiet_hours: QuietHours | None = None
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone; default the service's")

    @field_validator("muted_kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kinds: {', '.join(unknown[:5])}; known: {', '.join(KINDS)}")
        return sorted(set(kinds))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None and not valid_timezone(zone):
            raise ValueError("not an IANA time zone, e.g. Asia/Shanghai")
        return zone


class PreferencesOut(BaseModel):
    member_id: str
    muted_kinds: list[str]
    quiet_hours: QuietHours | None
    timezone: str = Field(description="the zone quiet hours are read in (the member's, or the service default)")
    updated_at: datetime | None = Field(description="null while the member has never set any")


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M")


def _out(member_id: str, prefs: Preferences, default_tz: str, updated_at: datetime | None) -> PreferencesOut:
    quiet = None
    if prefs.quiet_start is not None and prefs.quiet_end is not None:
        quiet = QuietHours(start=_hhmm(prefs.quiet_start), end=_hhmm(prefs.quiet_end))
    return PreferencesOut(
        member_id=member_id,
        muted_kinds=sorted(prefs.muted_kinds),
        quiet_hours=quiet,
        timezone=prefs.timezone or default_tz,
        updated_at=updated_at,
    )


def build_routers(runtime: ServiceRuntime, ctx: Context) -> list[APIRouter]:
    """A member's inbox and preferences; the operators' webhook routes (webhooks_api.py)."""
    return [_member_router(runtime), webhooks_api.build_router(runtime, ctx)]


def _member_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["notifications"], responses=errors(400, 401, 403, 413, 422))
    reader = runtime.require(Role.GATEWAY, Role.MEMBER)

    @router.get(
        "/members/{member_id}/notifications",
        response_model=NotificationPage,
        dependencies=[reader],
    )
    async def list_notifications(
        member_id: str = Path(pattern=ID_PATTERN),
        unread: bool = False,
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> NotificationPage:
        after = decode_cursor(cursor, int)
        async with runtime.pool.acquire() as conn:
            rows = await repo.list_notifications(
                conn, member_id, unread=unread, before_seq=int(after[0]) if after else None, limit=limit + 1
            )
        items = [Notification(**{k: r[k] for k in Notification.model_fields}) for r in rows[:limit]]
        nxt = encode_cursor([rows[limit - 1]["seq"]]) if len(rows) > limit else None
        return NotificationPage(items=items, next_cursor=nxt)

    @router.post(
        "/members/{member_id}/notifications/{notification_id}/read",
        response_model=ReadOut,
        dependencies=[reader],
        responses=errors(404),
    )
    async def mark_read(
        member_id: str = Path(pattern=ID_PATTERN), notification_id: str = Path(max_length=64)
    ) -> ReadOut:
        async with runtime.unit_of_work() as uow:
            row = await repo.mark_read(uow.conn, member_id, notification_id)
        if row is None:
            raise ApiError(404, "not_found", "no such notification for this member")
        return ReadOut(notification_id=row["notification_id"], read_at=row["read_at"])

    default_tz = runtime.settings.timezone

    @router.get(
        "/members/{member_id}/preferences",
        response_model=PreferencesOut,
        dependencies=[reader],
        tags=["preferences"],
        summary="Muted kinds and quiet hours for push and webhooks (extension)",
    )
    async def get_preferences(member_id: str = Path(pattern=ID_PATTERN)) -> PreferencesOut:
        async with runtime.pool.acquire() as conn:
            row = await repo.get_preferences_row(conn, member_id)
        if row is None:
            return _out(member_id, Preferences(), default_tz, None)
        prefs, updated_at = row
        return _out(member_id, prefs, default_tz, updated_at)

    @router.put(
        "/members/{member_id}/preferences",
        response_model=PreferencesOut,
        dependencies=[reader],
        tags=["preferences"],
        summary="Replace a member's preferences (extension); the inbox always gets every notification",
    )
    async def put_preferences(body: PreferencesIn, member_id: str = Path(pattern=ID_PATTERN)) -> PreferencesOut:
        quiet = body.quiet_hours
        prefs = Preferences(
            muted_kinds=frozenset(body.muted_kinds),
            quiet_start=time.fromisoformat(quiet.start) if quiet else None,
            quiet_end=time.fromisoformat(quiet.end) if quiet else None,
            timezone=body.timezone,
        )
        async with runtime.unit_of_work() as uow:
            updated_at = await repo.put_preferences(uow.conn, member_id, prefs)
        return _out(member_id, prefs, default_tz, updated_at)

    return router
