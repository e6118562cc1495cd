"""HTTP routes of the notify service: a member's inbox."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path, Query
from incentives_kernel.auth import Role
from incentives_kernel.events import ID_PATTERN
from incentives_kernel.http_errors import ApiError
from incentives_kernel.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from incentives_kernel.runtime import ServiceRuntime
from pydantic import BaseModel

from . import repository as repo


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


def build_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["notifications"])
    any_caller = runtime.require(Role.GATEWAY)

    @router.get("/members/{member_id}/notifications", response_model=NotificationPage, dependencies=[any_caller])
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
        "/members/{member_id}/notifications/{notification_id}/read", response_model=ReadOut, dependencies=[any_caller]
    )
    async def mark_read(
        member_id: str = Path(pattern=ID_PATTERN), notification_id: str = Path(max_length=64)
    ) -> ReadOut:
        async with runtime.pool.acquire() as conn:
            row = await repo.mark_read(conn, member_id, notification_id)
        if row is None:
            raise ApiError(404, "not_found", "no such notification for this member")
        return ReadOut(notification_id=row["notification_id"], read_at=row["read_at"])

    return router
