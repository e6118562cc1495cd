"""`make run` keeps the operator, gateway and provider tokens given in its environment and generates
only the missing ones (CONTRACT.md, Version 2: "Tokens in the embedded run")."""

from __future__ import annotations

from pathlib import Path

import pytest
from incentives_ops.run import options_from_env
from incentives_ops.stack import DEMO_PROVIDERS, dev_tokens, first_clear


def test_given_tokens_are_kept_and_only_missing_ones_generated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INCENTIVES_OPERATOR_TOKENS", "my-own-operator-token-0123456789abcdef")
    monkeypatch.delenv("INCENTIVES_GATEWAY_TOKENS", raising=False)
    monkeypatch.setenv("INCENTIVES_PROVIDER_TOKENS", "station-7:my-station-token")
    given = options_from_env(tmp_path).given_tokens
    assert given == {"operator": "my-own-operator-token-0123456789abcdef", "provider": "station-7:my-station-token"}
    operators, gateways, providers = dev_tokens(given)
    assert operators == "my-own-operator-token-0123456789abcdef"
    assert providers == "station-7:my-station-token"
    assert gateways.startswith("dev-gateway-") and len(gateways) >= 32


def test_nothing_given_generates_all_and_a_token_per_demo_provider() -> None:
    operators, gateways, providers = dev_tokens({})
    assert operators.startswith("dev-operator-") and gateways.startswith("dev-gateway-")
    assert [e.split(":")[0] for e in providers.split(",")] == list(DEMO_PROVIDERS)


def test_the_printed_token_is_the_first_given_in_clear() -> None:
    assert first_clear("sha256:" + "a" * 64 + ", second-token, third") == "second-token"
    assert first_clear("sha256:" + "a" * 64) == ""
