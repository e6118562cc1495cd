"""A stack of its own for the security tests, run as production: every rule that holds only there holds here.

INCENTIVES_ENV=prod, tokens and keys as production requires them, no extra development sources, and
who may decide proven the way a production deployment proves it (tests/support.py): the topics the
broker's ACLs give to one principal are declared exclusive
(INCENTIVES_EXCLUSIVE_TOPICS), and every system that shares a topic
with another signs. (The embedded broker enforces no ACLs: declaring a topic exclusive is the
deployment's word, which this stack gives for the topics our tests do not attack through.)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from incentives_ops.stack import Stack

from tests.support import SIGNING_SECRETS, isolated_stack, production_proof

# The dispatch platform of district "signed" signs like every dispatch platform.
SIGNED_SOURCE = "/district/signed/dispatch"
SIGNING_KEY = SIGNING_SECRETS["dispatch-platform"]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def secure_stack() -> AsyncIterator[Stack]:
    """Its own PostgreSQL and broker: consumer groups and role passwords are per cluster, and the
    session's other stack (tests/e2e) must not share either with this one."""
    env = {
        # The stack's own tokens and keys are as strong as production requires.
        **production_proof(),
        "NOTIFY_WEBHOOK_ALLOWED_NETWORKS": "",  # production's default: public addresses only
        "INCENTIVES_LOG_LEVEL": "DEBUG",  # the most a log can say: it must still say no personal data
    }
    async with isolated_stack("incentives-security-", env, database=f"incentives_sec_{uuid.uuid4().hex[:8]}") as s:
        yield s
