"""What the reports and needs pages share: the statuses, the page size, the next page's address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

STATUSES = ("submitted", "dispatched", "accepted", "resolved", "rejected", "reopened")
PAGE_SIZE = 50


def next_url(path: str, filters: Mapping[str, Any], cursor: str | None) -> str | None:
    """The list's next page with the same filters (the template escapes the `&`s)."""
    if not cursor:
        return None
    query = [
        ("overdue=true" if value else "") if name == "overdue" else f"{name}={quote(str(value), safe='')}"
        for name, value in filters.items()
    ]
    return f"{path}?" + "&".join(part for part in query if part) + f"&cursor={quote(cursor, safe='')}"
