"""Readiness of the parts that run in the background (consumer, relay), for /readyz."""

from __future__ import annotations


class Health:
    def __init__(self) -> None:
        self._problems: dict[str, str] = {}

    def set(self, component: str, ok: bool, why: str) -> None:
        if ok:
            self._problems.pop(component, None)
        else:
            self._problems[component] = why or "unhealthy"

    @property
    def problems(self) -> dict[str, str]:
        return dict(self._problems)
