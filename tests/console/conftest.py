"""The console as a process beside the session's running services, and one real browser for a module."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from incentives_ops.embedded import free_port
from incentives_ops.stack import Stack
from selenium import webdriver

from tests.console.browser import chromium


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def console_url(stack: Stack) -> AsyncIterator[str]:
    """`incentives console` against the session stack (the same processes the e2e tests use)."""
    url = stack.start_console(free_port())
    try:
        await stack.wait_console(url)
        yield url
    finally:
        await asyncio.to_thread(stack.stop_console)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver
