"""HTTP routes of the reports service: reads of reports and needs, the department registry (with who
changed each department and when) and KPIs, and the map.

A report and a need are read the same way (`one_case`, `CaseQuery`, `page_of`); the answer models
differ by kind. Not here: any change to a case (cases change through events only, usecases.py), SQL
(repository.py), the KPI definitions (kpis.py), the operator APIs every service has (the kernel's
operator_api.py). The one write here is an operator's department PUT.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse
from incentives_kernel.auth import Caller, Role
from incentives_kernel.db import Row
from incentives_kernel.events import ID_PATTERN
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from incentives_kernel.runtime import ServiceRuntime
from pydantic import BaseModel, Field

from . import kpis
from . import repository as repo
from .areas import BBox, to_geojson
from .usecases import Deps

STATUS_PATTERN = "^(submitted|dispatched|accepted|resolved|rejected|reopened)$"
KPI_DEFAULT_DAYS = 30
KPI_MAX_DAYS = 3 * 366


class StatusEntry(BaseModel):
    status: str
    reason: str | None
    department: str | None = Field(description="the department the step named, as sent")
    held_by: str | None = Field(default=None, description="the department holding the case after the step")
    note: str | None
    changed_at: datetime


class Sla(BaseModel):
    due_at: datetime
    overdue: bool
    overdue_announced_at: datetime | None = None


class Place(BaseModel):
    lat: float
    lon: float
    address: str | None = None


class RatingEntry(BaseModel):
    round: int = Field(description="how many times the case had been reopened when it was rated")
    rating: int
    department: str | None
    earns_point: bool
    rated_at: datetime


class CaseFields(BaseModel):
    member_id: str
    description: str
    status: str
    rejection_reason: str | None
    department: str | None = Field(description="the department the last step named, as sent")
    held_by: str | None = Field(description="the department holding the case: a registered id, or the label")
    district: str | None
    grid_id: str | None
    district_source: str = Field(description="location: placed by its location; member: the member's district")
    submitted_at: datetime
    due_at: datetime
    overdue: bool
    reopened_count: int
    rating: int | None
    sla: Sla
    history: list[StatusEntry] | None = None
    ratings: list[RatingEntry] | None = None


class Report(CaseFields):
    report_id: str
    category: str
    location: Place
    photos: list[dict[str, Any]]
    duplicate_of: str | None
    photo_reused_from: str | None = Field(description="another report that used one of this report's photos first")
    verified_at: datetime | None
    earns_points: bool
    points_earned: int = Field(description="net points the points service credited for this report")


class Need(CaseFields):
    need_id: str
    category: str
    location: Place | None


class ReportPage(BaseModel):
    items: list[Report]
    next_cursor: str | None


class NeedPage(BaseModel):
    items: list[Need]
    next_cursor: str | None


class DepartmentIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    districts: list[str] = Field(default_factory=list, max_length=100, description="served districts; empty: all")


class Department(BaseModel):
    department_id: str
    name: str
    districts: list[str]
    origin: str
    updated_at: datetime = Field(description="when the change in force was applied")
    updated_by: str | None = Field(
        description="who made it: operator:<name> or operator:<token fingerprint> for an operator's PUT, the "
        "registry event's source for the registry's; null for a change from before this was recorded"
    )


class DepartmentChange(BaseModel):
    name: str
    districts: list[str]
    origin: str
    changed_by: str = Field(description="who made the change, as Department.updated_by")
    as_of: datetime = Field(description="the change's own time: the PUT's, or the registry event's")
    changed_at: datetime = Field(description="when it was applied")


class DepartmentKpis(BaseModel):
    department_id: str
    name: str
    registered: bool
    received: int
    resolved: int
    rejected: int
    resolved_on_time: int
    on_time_rate: float | None
    overdue_open: int
    median_hours_to_resolve: float | None
    ratings: int
    average_rating: float | None
    reopened: int


class KpiReport(BaseModel):
    from_: datetime = Field(alias="from", serialization_alias="from")
    to: datetime
    district: str | None
    items: list[DepartmentKpis]


def _case_fields(row: Row, history: list[Row] | None, ratings: list[Row] | None) -> dict[str, Any]:
    due = row["due_at"]
    open_ = row["status"] not in ("resolved", "rejected")
    overdue = open_ and datetime.now(UTC) > due
    return {
        "member_id": row["member_id"],
        "description": row["description"],
        "status": row["status"],
        "rejection_reason": row["rejection_reason"],
        "department": row["department"],
        "held_by": row["held_by"],
        "district": row["district"],
        "grid_id": row["grid_id"],
        "district_source": row["district_source"],
        "submitted_at": row["submitted_at"],
        "due_at": due,
        "overdue": overdue,
        "reopened_count": row["reopened_count"],
        "rating": row["rating"],
        "sla": Sla(due_at=due, overdue=overdue, overdue_announced_at=row["overdue_at"]),
        "history": [StatusEntry(**dict(h)) for h in history] if history is not None else None,
        "ratings": [RatingEntry(**dict(r)) for r in ratings] if ratings is not None else None,
    }


def to_report(row: Row, history: list[Row] | None = None, ratings: list[Row] | None = None) -> Report:
    return Report(
        **_case_fields(row, history, ratings),
        report_id=row["report_id"],
        category=row["category"],
        location=Place(lat=row["lat"], lon=row["lon"], address=row["address"]),
        photos=list(row["photos"] or []),
        duplicate_of=row["duplicate_of"],
        photo_reused_from=row["photo_reused_from"],
        verified_at=row["verified_at"],
        earns_points=row["verified_at"] is not None and row["reversed_at"] is None,
        points_earned=row["points_earned"],
    )


def to_need(row: Row, history: list[Row] | None = None, ratings: list[Row] | None = None) -> Need:
    located = row["lat"] is not None
    return Need(
        **_case_fields(row, history, ratings),
        need_id=row["need_id"],
        category=row["category"],
        location=Place(lat=row["lat"], lon=row["lon"], address=row["address"]) if located else None,
    )


def _bbox(text: str | None) -> BBox | None:
    if text is None:
        return None
    try:
        return BBox.parse(text)
    except ValueError as exc:
        raise ApiError(422, "invalid_bbox", str(exc)) from None


class CaseQuery:
    """The operators' list of reports or of needs: the same filters and paging for both (FastAPI reads
    them from the query string), turned into repository.list_cases' arguments."""

    def __init__(
        self,
        status: str | None = Query(None, pattern=STATUS_PATTERN),
        district: str | None = Query(None, max_length=64),
        grid: str | None = Query(None, max_length=64, description="a grid_id of the areas file"),
        department: str | None = Query(None, max_length=128, description="the holder: a department id or label"),
        overdue: bool = False,
        bbox: str | None = Query(None, max_length=200, description="min_lon,min_lat,max_lon,max_lat"),
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> None:
        self.limit, self.cursor = limit, cursor
        self.filters: dict[str, Any] = {
            "status": status,
            "district": district,
            "grid_id": grid,
            "department": department,
            "overdue_before": datetime.now(UTC) if overdue else None,
            "bbox": _bbox(bbox),
        }


def _window(start: datetime | None, end: datetime | None) -> kpis.Window:
    """[from, to): by default the 30 days to now; times need an offset; at most about three years."""
    for name, at in (("from", start), ("to", end)):
        if at is not None and at.tzinfo is None:
            raise ApiError(422, "invalid_window", f"{name} needs a time zone offset (e.g. 2026-07-01T00:00:00+08:00)")
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=KPI_DEFAULT_DAYS)
    if not start < end:
        raise ApiError(422, "invalid_window", "from must be before to")
    if end - start > timedelta(days=KPI_MAX_DAYS):
        raise ApiError(422, "invalid_window", f"a KPI window is at most {KPI_MAX_DAYS} days")
    return kpis.Window(start, end)


def build_routers(runtime: ServiceRuntime, deps: Deps) -> list[APIRouter]:
    """The reports routes: reads of cases, departments (registry and KPIs), the map."""
    router = APIRouter(prefix="/v1", tags=["reports"], responses=errors(400, 401, 403, 413, 422))
    reader = runtime.require(Role.GATEWAY, Role.MEMBER)
    operator = runtime.require(Role.OPERATOR)
    map_reader = runtime.require(Role.GATEWAY)

    async def page_of(kind: str, limit: int, cursor: str | None, **filters: Any) -> tuple[list[Row], str | None]:
        after = decode_cursor(cursor, datetime, str)
        async with runtime.pool.acquire() as conn:
            rows = await repo.list_cases(conn, kind, after=after, limit=limit + 1, **filters)
        key = repo.KEY[kind]
        nxt = (
            encode_cursor([rows[limit - 1]["submitted_at"].isoformat(), rows[limit - 1][key]])
            if len(rows) > limit
            else None
        )
        return list(rows[:limit]), nxt

    async def one_case(
        kind: str, case_id: str, member_id: str | None, caller: Caller
    ) -> tuple[Row, list[Row], list[Row]]:
        """A case with its history and ratings, if this caller may see it (else 404, as if there were none)."""
        async with runtime.pool.acquire() as conn:
            row = await repo.get_case(conn, kind, case_id)
            if row is None or not caller.sees(row["member_id"], member_id):
                raise ApiError(404, "not_found", f"no {kind} {case_id}")
            return row, await repo.history(conn, kind, case_id), await repo.ratings(conn, kind, case_id)

    # ------------------------------------------------------------------ reports

    @router.get("/reports/{report_id}", response_model=Report, responses=errors(404))
    async def get_report(
        report_id: str = Path(pattern=ID_PATTERN),
        member_id: str | None = Query(None, pattern=ID_PATTERN, description="the member the gateway acts for"),
        caller: Caller = reader,
    ) -> Report:
        return to_report(*await one_case("report", report_id, member_id, caller))

    @router.get("/members/{member_id}/reports", response_model=ReportPage, dependencies=[reader])
    async def member_reports(
        member_id: str = Path(pattern=ID_PATTERN), limit: int = Query(50, ge=1, le=MAX_LIMIT), cursor: str | None = None
    ) -> ReportPage:
        rows, nxt = await page_of("report", limit, cursor, member_id=member_id)
        return ReportPage(items=[to_report(r) for r in rows], next_cursor=nxt)

    @router.get("/reports", response_model=ReportPage, dependencies=[operator])
    async def list_reports(query: CaseQuery = Depends()) -> ReportPage:
        rows, nxt = await page_of("report", query.limit, query.cursor, **query.filters)
        return ReportPage(items=[to_report(r) for r in rows], next_cursor=nxt)

    # ------------------------------------------------------------------ needs

    @router.get("/needs/{need_id}", response_model=Need, responses=errors(404))
    async def get_need(
        need_id: str = Path(pattern=ID_PATTERN),
        member_id: str | None = Query(None, pattern=ID_PATTERN, description="the member the gateway acts for"),
        caller: Caller = reader,
    ) -> Need:
        return to_need(*await one_case("need", need_id, member_id, caller))

    @router.get("/members/{member_id}/needs", response_model=NeedPage, dependencies=[reader])
    async def member_needs(
        member_id: str = Path(pattern=ID_PATTERN), limit: int = Query(50, ge=1, le=MAX_LIMIT), cursor: str | None = None
    ) -> NeedPage:
        rows, nxt = await page_of("need", limit, cursor, member_id=member_id)
        return NeedPage(items=[to_need(r) for r in rows], next_cursor=nxt)

    @router.get("/needs", response_model=NeedPage, dependencies=[operator])
    async def list_needs(query: CaseQuery = Depends()) -> NeedPage:
        rows, nxt = await page_of("need", query.limit, query.cursor, **query.filters)
        return NeedPage(items=[to_need(r) for r in rows], next_cursor=nxt)

    # ------------------------------------------------------------------ departments

    @router.get("/departments", response_model=list[Department], dependencies=[operator])
    async def list_departments() -> list[Department]:
        async with runtime.pool.acquire() as conn:
            return [Department(**{k: r[k] for k in Department.model_fields}) for r in await repo.departments(conn)]

    @router.put("/departments/{department_id}", response_model=Department, responses=errors(409))
    async def put_department(
        department_id: str = Path(pattern=ID_PATTERN), body: DepartmentIn = Body(...), caller: Caller = operator
    ) -> Department:
        """Create or update a department; who (the operator) and when are recorded with it. A registry
        change dated after this request stays in force: 409 `superseded`, nothing changed."""
        if len(set(body.districts)) != len(body.districts):
            raise ApiError(422, "invalid_districts", "districts must not repeat")
        if any(not d or len(d) > 64 for d in body.districts):
            raise ApiError(422, "invalid_districts", "a district is 1..64 characters")
        async with runtime.unit_of_work() as uow:
            applied = await repo.upsert_department(
                uow.conn,
                department_id,
                body.name,
                body.districts,
                origin="operator",
                as_of=datetime.now(UTC),
                actor=caller.actor,
            )
            row = await repo.get_department(uow.conn, department_id)
        assert row is not None
        if not applied:
            # Answering 200 with the registry's state would let the operator believe their change holds.
            raise ApiError(
                409,
                "superseded",
                f"department {department_id} has a newer change in force ({row['updated_by']}, dated"
                f" {row['as_of'].isoformat()}): nothing was changed (a PUT after that time overrides it)",
            )
        return Department(**{k: row[k] for k in Department.model_fields})

    @router.get(
        "/departments/{department_id}/changes",
        response_model=list[DepartmentChange],
        responses=errors(404),
        dependencies=[operator],
    )
    async def department_changes(department_id: str = Path(pattern=ID_PATTERN)) -> list[DepartmentChange]:
        """Every applied change of a department, oldest first: who made it, when, what it set."""
        async with runtime.pool.acquire() as conn:
            if await repo.get_department(conn, department_id) is None:
                raise ApiError(404, "not_found", f"no department {department_id}")
            rows = await repo.department_changes(conn, department_id)
        return [DepartmentChange(**{k: r[k] for k in DepartmentChange.model_fields}) for r in rows]

    async def kpi_rows(window: kpis.Window, district: str | None) -> list[kpis.DepartmentKpis]:
        async with runtime.pool.acquire() as conn:
            registry = {
                r["department_id"]: kpis.Department(r["department_id"], r["name"], tuple(r["districts"]))
                for r in await repo.departments(conn)
            }
            rows = await repo.department_tallies(conn, window.start, window.end, district)
        tallies = {}
        for r in rows:
            t = kpis.Tally(
                **{k: r[k] for k in ("received", "resolved", "rejected", "resolved_on_time", "overdue_open")},
                reopened=r["reopened"],
                ratings=r["ratings"],
                rating_sum=r["rating_sum"],
                median_hours=r["median_hours"],
            )
            tallies[r["department"]] = t
        return kpis.report(tallies, registry, district=district)

    def kpi_model(k: kpis.DepartmentKpis) -> DepartmentKpis:
        return DepartmentKpis(**{f: getattr(k, f) for f in DepartmentKpis.model_fields})

    @router.get("/kpis/departments", dependencies=[operator])
    async def departments_kpis(
        start: datetime | None = Query(None, alias="from", description="window start (inclusive), with offset"),
        end: datetime | None = Query(None, alias="to", description="window end (exclusive); default now"),
        district: str | None = Query(None, max_length=64),
    ) -> JSONResponse:
        window = _window(start, end)
        items = [kpi_model(k) for k in await kpi_rows(window, district)]
        report = KpiReport(**{"from": window.start}, to=window.end, district=district, items=items)
        return JSONResponse(report.model_dump(mode="json", by_alias=True))

    @router.get(
        "/departments/{department_id}/kpis",
        response_model=DepartmentKpis,
        responses=errors(404),
        dependencies=[operator],
    )
    async def department_kpis(
        department_id: str = Path(max_length=128),
        start: datetime | None = Query(None, alias="from"),
        end: datetime | None = Query(None, alias="to"),
    ) -> DepartmentKpis:
        window = _window(start, end)
        for k in await kpi_rows(window, None):
            if k.department_id == department_id:
                return kpi_model(k)
        raise ApiError(404, "not_found", f"no department {department_id} (registered, or with cases in the window)")

    # ------------------------------------------------------------------ the map

    geojson = to_geojson(deps.areas)

    @router.get("/areas", dependencies=[map_reader])
    async def areas() -> dict[str, Any]:
        """The districts and grids (the areas file) as GeoJSON, for the console's map."""
        return geojson

    return [router]
