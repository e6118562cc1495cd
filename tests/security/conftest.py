"""A stack of its own for the security tests: the same services, with one source that must sign."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from incentives_ops.stack import Stack

from tests.support import isolated_stack

# A test key (not a secret): the dispatch platform of district "signed" must sign what it sends.
SIGNED_SOURCE = "/district/signed/dispatch"
SIGNING_KEY = "test-dispatch-signing-key-0001"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def secure_stack() -> AsyncIterator[Stack]:
    """Its own PostgreSQL and broker: consumer groups and role passwords are per cluster, and the
    session's other stack (tests/e2e) must not share either with this one."""
    env = {
        "INCENTIVES_LOG_LEVEL": "DEBUG",  # the most a log can say: it must still say no personal data
        "INCENTIVES_SOURCE_SIGNING_KEYS": json.dumps({SIGNED_SOURCE: [SIGNING_KEY]}),
    }
    async with isolated_stack("incentives-security-", env, database=f"incentives_sec_{uuid.uuid4().hex[:8]}") as s:
        yield s
