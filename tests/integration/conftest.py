"""Integration tests get a database of their own (dropped afterwards) on the session's PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.conftest import Infra
from tests.support import scratch_database


@pytest_asyncio.fixture(loop_scope="session")
async def scratch_dsn(infra: Infra) -> AsyncIterator[str]:
    async with scratch_database(infra.admin_dsn, "it") as url:
        yield url
