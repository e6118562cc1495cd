"""A stack of its own for the security tests: the same services, with one source that must sign."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from incentives_ops.embedded import free_port
from incentives_ops.stack import Stack, StackOptions

# A test key (not a secret): the dispatch platform of district "signed" must sign what it sends.
SIGNED_SOURCE = "/district/signed/dispatch"
SIGNING_KEY = "test-dispatch-signing-key-0001"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def secure_stack() -> AsyncIterator[Stack]:
    """Its own PostgreSQL and broker: consumer groups and role passwords are per cluster, and the
    session's other stack (tests/e2e) must not share either with this one."""
    state = Path(tempfile.mkdtemp(prefix="incentives-security-"))
    s = Stack(
        StackOptions(
            state_dir=state,
            pg_port=free_port(),
            kafka_port=free_port(),
            database=f"incentives_sec_{uuid.uuid4().hex[:8]}",
            ports={name: free_port() for name in ("reports", "points", "rewards", "notify")},
            extra_env={
                "INCENTIVES_LOG_LEVEL": "DEBUG",  # the most a log can say: it must still say no personal data
                "INCENTIVES_SOURCE_SIGNING_KEYS": json.dumps({SIGNED_SOURCE: [SIGNING_KEY]}),
            },
        )
    )
    await s.start()
    try:
        await s.wait_ready(timeout=120)
        yield s
    finally:
        await asyncio.to_thread(s.stop)
        shutil.rmtree(state, ignore_errors=True)
