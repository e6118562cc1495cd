"""Department KPIs over a window: the definition, pure. `department_kpis.sql` computes the same in
PostgreSQL (tests/integration/test_kpis_sql.py holds the two together on random histories).

Inputs: each case (report or need) with its district, submission time, due time (the SLA, from
submission), its steps in the order they were applied, each with the department holding the case
after the step (`held_by`: the registered department's id, or the label of an unregistered one), and
its ratings with the department they rate. A window is [start, end): a step or rating is in it when
its business time (`changed_at`, `rated_at`) is.

For a street office holding departments to account, a case's outcome belongs to the department that
held it when the outcome happened, and its receipt to every department that received it:

- `received`: cases that came to the department in the window: a step made it the holder (the first
  department a case gets, or a transfer to it). Counted once per case, however often it came back.
- `resolved` / `rejected`: resolutions and rejections in the window by the department holding the
  case then (the department the step names, if it names one). A case resolved, reopened and resolved
  again counts twice: each resolution is work done, and the reopening is counted too (below).
- `resolved_on_time`: those resolutions at or before the case's `due_at`. The SLA runs from
  submission, across transfers: a promise to the rider that the department which finally resolves
  the case carries, as does the one it was transferred from in its `received` and overdue figures.
- `on_time_rate`: resolved_on_time / resolved (null when nothing was resolved).
- `median_hours_to_resolve`: the median, over those resolutions, of the hours from submission to
  resolution: what the rider waited (null when nothing was resolved).
- `overdue_open`: at the window's end, cases open (not resolved or rejected), past `due_at`, and held
  by the department. With `end` = now, what is overdue on its desk now.
- `ratings` / `average_rating`: ratings given in the window, of the department whose resolution was
  rated (the holder when rated), and their mean (null when none).
- `reopened`: reopenings in the window, of the department that had resolved the case (the holder
  before the reopening step).
- With a district, only the cases placed in that district (where the problem is, areas.py) count.

Steps without any department are nobody's: dispatch's own rejections and resolutions before any
department was named count for no department.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from .lifecycle import REJECTED, REOPENED, RESOLVED

CLOSED = frozenset({RESOLVED, REJECTED})


@dataclass(frozen=True, slots=True)
class Step:
    status: str
    held_by: str | None  # the department holding the case after this step
    at: datetime


@dataclass(frozen=True, slots=True)
class CaseRating:
    rating: int
    department: str | None  # the department holding the case when it was rated
    at: datetime


@dataclass(frozen=True, slots=True)
class Case:
    kind: str
    case_id: str
    district: str | None
    submitted_at: datetime
    due_at: datetime
    steps: tuple[Step, ...]  # in the order applied, the `submitted` step first
    ratings: tuple[CaseRating, ...] = ()


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a KPI window needs times with an offset")
        if not self.start < self.end:
            raise ValueError("a KPI window must end after it starts")

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(slots=True)
class Tally:
    """The raw figures of one department (what the SQL returns, row by row)."""

    received: int = 0
    resolved: int = 0
    rejected: int = 0
    resolved_on_time: int = 0
    overdue_open: int = 0
    reopened: int = 0
    ratings: int = 0
    rating_sum: int = 0
    median_hours: float | None = None
    hours: list[float] = field(default_factory=list, repr=False)


def tally(cases: Iterable[Case], window: Window, *, district: str | None = None) -> dict[str, Tally]:
    """The figures of every department with any, over `window`, for the cases of `district` (all: None)."""
    out: dict[str, Tally] = {}
    received: dict[str, set[tuple[str, str]]] = {}

    def of(department: str) -> Tally:
        return out.setdefault(department, Tally())

    for case in cases:
        if district is not None and case.district != district:
            continue
        key = (case.kind, case.case_id)
        before: str | None = None
        for step in case.steps:
            if step.at in window:
                if step.held_by is not None and step.held_by != before:
                    received.setdefault(step.held_by, set()).add(key)
                if step.status == RESOLVED and step.held_by is not None:
                    t = of(step.held_by)
                    t.resolved += 1
                    t.resolved_on_time += step.at <= case.due_at
                    t.hours.append((step.at - case.submitted_at).total_seconds() / 3600)
                elif step.status == REJECTED and step.held_by is not None:
                    of(step.held_by).rejected += 1
                elif step.status == REOPENED and before is not None:
                    of(before).reopened += 1
            before = step.held_by
        last = [s for s in case.steps if s.at < window.end]
        if last:
            state = last[-1]
            if state.status not in CLOSED and case.due_at < window.end and state.held_by is not None:
                of(state.held_by).overdue_open += 1
        for r in case.ratings:
            if r.at in window and r.department is not None:
                t = of(r.department)
                t.ratings += 1
                t.rating_sum += r.rating
    for department, keys in received.items():
        of(department).received = len(keys)
    for t in out.values():
        t.median_hours = statistics.median(t.hours) if t.hours else None
    return out


@dataclass(frozen=True, slots=True)
class Department:
    """A registered department (the registry's row)."""

    department_id: str
    name: str
    districts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DepartmentKpis:
    """The contract's fields for one department over a window."""

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


def present(department: str, t: Tally, registry: Mapping[str, Department]) -> DepartmentKpis:
    """The contract's fields from the raw figures (rates rounded: 4 places, hours and ratings 2)."""
    known = registry.get(department)
    return DepartmentKpis(
        department_id=department,
        name=known.name if known else department,
        registered=known is not None,
        received=t.received,
        resolved=t.resolved,
        rejected=t.rejected,
        resolved_on_time=t.resolved_on_time,
        on_time_rate=round(t.resolved_on_time / t.resolved, 4) if t.resolved else None,
        overdue_open=t.overdue_open,
        median_hours_to_resolve=round(t.median_hours, 2) if t.median_hours is not None else None,
        ratings=t.ratings,
        average_rating=round(t.rating_sum / t.ratings, 2) if t.ratings else None,
        reopened=t.reopened,
    )


def report(
    tallies: Mapping[str, Tally], registry: Mapping[str, Department], *, district: str | None = None
) -> list[DepartmentKpis]:
    """Every department with figures, and every registered one (serving `district`, if given) even at
    zero, so a department doing nothing shows; registered first, then unregistered, each by id."""
    shown = dict(tallies)
    for d in registry.values():
        if district is None or not d.districts or district in d.districts:
            shown.setdefault(d.department_id, Tally())
    rows = [present(dep, t, registry) for dep, t in shown.items()]
    return sorted(rows, key=lambda k: (not k.registered, k.department_id))
