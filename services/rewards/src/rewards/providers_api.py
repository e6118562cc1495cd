"""HTTP routes of the providers and stations registry: operators register them, the rider app finds the
nearest (a KNN walk of a GiST index, never a scan of the table)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Path, Query, Request
from incentives_kernel.auth import Role
from incentives_kernel.db import Row
from incentives_kernel.events import ID_PATTERN, Identifier
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.pagination import MAX_LIMIT
from incentives_kernel.runtime import ServiceRuntime
from pydantic import BaseModel, Field

from . import repository as repo

Kind = Literal["station", "shop", "hospital", "school_office", "other"]


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ProviderIn(BaseModel):
    provider_id: Identifier
    name: str = Field(min_length=1, max_length=128)
    kind: Kind
    address: str = Field(default="", max_length=500)
    location: Location
    opening_hours: str = Field(default="", max_length=200, description='free text, e.g. "Mo-Su 08:00-22:00"')
    active: bool = True


class Provider(BaseModel):
    provider_id: str
    name: str
    kind: str
    address: str
    location: Location
    opening_hours: str
    active: bool
    distance_m: float | None = Field(default=None, description="from `near`, great-circle metres")
    created_at: datetime | None = Field(description="when it was first registered (null: before this was recorded)")
    created_by: str | None = Field(
        description="who registered it: operator:<name>, operator:<token fingerprint>, or source:<CloudEvent source>"
        " for the directory topic"
    )
    updated_at: datetime = Field(description="its last change")
    updated_by: str | None = Field(description="who made that change")


def _out(row: Row) -> Provider:
    return Provider(
        provider_id=row["provider_id"],
        name=row["name"],
        kind=row["kind"],
        address=row["address"],
        location=Location(lat=row["lat"], lon=row["lon"]),
        opening_hours=row["opening_hours"],
        active=row["active"],
        distance_m=round(row["distance_m"], 1) if "distance_m" in row else None,
        created_at=row["created_at"],
        created_by=row["created_by"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def parse_near(near: str) -> tuple[float, float]:
    try:
        lat_text, lon_text = near.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise ApiError(422, "validation_error", "near must be lat,lon, e.g. 39.9042,116.4074") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ApiError(422, "validation_error", "near is off the map")
    return lat, lon


def build_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["rewards"], responses=errors(400, 401, 403, 413, 422))
    reader = runtime.require(Role.GATEWAY, Role.MEMBER)
    operator = runtime.require(Role.OPERATOR)

    @router.post("/providers", response_model=Provider, status_code=201, dependencies=[operator])
    async def register(body: ProviderIn, request: Request) -> Provider:
        """Register a provider, or update it (the same id again)."""
        values = body.model_dump(exclude={"location"}) | {"lat": body.location.lat, "lon": body.location.lon}
        by = runtime.auth.actor(request)  # operator:<name>, or the token's fingerprint if unnamed
        async with runtime.unit_of_work() as uow:
            row = await repo.upsert_provider(uow.conn, values, datetime.now(UTC), by)
        assert row is not None
        return _out(row)

    @router.get("/providers", response_model=list[Provider], dependencies=[reader])
    async def providers(
        near: str | None = Query(None, description="lat,lon: nearest first"),
        kind: Kind | None = None,
        limit: int = Query(20, ge=1, le=MAX_LIMIT),
        after: str = Query("", description="without `near`: the last provider_id of the previous page"),
    ) -> list[Provider]:
        async with runtime.pool.acquire() as conn:
            if near is None:
                return [_out(r) for r in await repo.list_providers(conn, limit, after)]
            lat, lon = parse_near(near)
            return [_out(r) for r in await repo.nearest_providers(conn, lat, lon, limit, kind)]

    @router.get("/providers/{provider_id}", response_model=Provider, dependencies=[reader], responses=errors(404))
    async def provider(provider_id: str = Path(pattern=ID_PATTERN)) -> Provider:
        async with runtime.pool.acquire() as conn:
            row = await repo.get_provider(conn, provider_id)
        if row is None:
            raise ApiError(404, "not_found", f"no provider {provider_id}")
        return _out(row)

    return router
