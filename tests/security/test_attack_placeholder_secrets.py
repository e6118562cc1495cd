"""Attack: deploy/env.example's placeholders and short tokens are accepted in production.

Before: `change-me-...` values passed start-up and operator/gateway tokens of any length were
accepted. Now a production service refuses to start on either, naming the variable (and never
printing the value).
"""

from __future__ import annotations

import pytest
from incentives_ops.stack import Stack

from tests.security.boundary import serve_refusal


@pytest.mark.parametrize(
    ("var", "value", "said"),
    [
        ("INCENTIVES_OPERATOR_TOKENS", "change-me-operator-token", "placeholder"),
        ("INCENTIVES_PII_KEY", "change-me-pii-key-at-least-32-characters-long", "placeholder"),
        ("INCENTIVES_REPLAY_KEY", "change-me-replay-key-at-least-32-characters", "placeholder"),
        ("INCENTIVES_GATEWAY_TOKENS", "gateway-token-of-31-characters!", "shorter than 32"),
    ],
)
async def test_a_production_service_refuses_to_start(secure_stack: Stack, var: str, value: str, said: str) -> None:
    code, output = await serve_refusal(secure_stack, "rewards", {var: value})
    assert code != 0
    assert var in output and said in output
    assert value not in output


async def test_production_requires_a_replay_key(secure_stack: Stack) -> None:
    code, output = await serve_refusal(secure_stack, "reports", {"INCENTIVES_REPLAY_KEY": ""})
    assert code != 0 and "INCENTIVES_REPLAY_KEY is required" in output
