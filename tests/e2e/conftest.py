"""After every end-to-end test, the audit over all services' data must pass (invariants hold always)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from incentives_ops.audit import audit, render
from incentives_ops.provision import _with
from incentives_ops.stack import Stack


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def audited(request: object) -> AsyncIterator[None]:
    yield
    stack = request.node.funcargs.get("stack")  # only tests that used the running system
    if not isinstance(stack, Stack) or stack.info is None:
        return
    results = await audit(_with(stack.info.admin_dsn, database=stack.opt.database))
    assert all(c.ok for c in results), render(results)
