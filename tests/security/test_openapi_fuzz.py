"""schemathesis against each service's own OpenAPI, on the running security stack.

For every /v1 operation, hypothesis draws requests from the published schema (valid and invalid
parameters and bodies) and sends them with an operator token and with a gateway token. Every answer
must not be a server error and must match the schema the operation declares for its status (the
error responses included: each route declares them with the one error shape). The size is set for CI
(EXAMPLES per operation and role, about a minute in all); raise FUZZ_EXAMPLES to dig deeper locally.
"""

from __future__ import annotations

import asyncio
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from tests.security.http_support import (
    GATEWAY_ONE,
    OPERATOR_ONE,
    SecurityStack,
    http_stack_fixture,  # noqa: F401 (provides the `http_stack` fixture)
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
TOKENS = {"operator": OPERATOR_ONE, "gateway": GATEWAY_ONE}


def fuzz_operation(operation: schemathesis.APIOperation, base_url: str, token: str, examples: int) -> int:
    """Send `examples` drawn cases to one operation; how many were sent. Raises on the first failure."""
    sent = 0

    # valid requests reach the handlers; invalid ones must be refused with a declared 4xx, never a 500
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a CI failure reproduces locally
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
            timeout=30,
        )

    run()
    return sent


def fuzz(base_url: str, token: str, examples: int) -> tuple[dict[str, int], list[str]]:
    """Fuzz every /v1 operation of the service at `base_url`: how many cases each got, and the failures."""
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json").include(path_regex="^/v1")
    failures: list[str] = []
    sent: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        try:
            sent[name] = fuzz_operation(operation, base_url, token, examples)
        except Exception as exc:  # collect every operation's failure, not only the first
            sent[name] = -1
            failures.append(f"{name}: {exc}"[:3000])
    return sent, failures


@pytest.mark.parametrize("role", sorted(TOKENS))
@pytest.mark.parametrize("service", ["points", "rewards", "reports", "notify"])
async def test_no_server_errors_and_every_answer_matches_its_schema(
    http_stack: SecurityStack, service: str, role: str
) -> None:
    sent, failures = await asyncio.to_thread(fuzz, http_stack.urls[service], TOKENS[role], EXAMPLES)
    print(f"{service} as {role}: {sum(sent.values())} requests over {len(sent)} operations")
    assert len(sent) >= 3  # the document was read and has its routes
    assert not failures, "\n\n".join(failures)
    assert all(n >= 1 for n in sent.values()), sent  # every operation was exercised
