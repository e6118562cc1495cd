"""docs/contract/: what `incentives contract export` writes, kept in sync with the code, and usable: an
integrator can validate an event with the exported schema before sending it, and the AsyncAPI document
names every topic (dead letters included), every event type with its schema, and the brokers' security.
The services serve the same document, and an HTML view of it that needs no network."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from incentives_kernel import topics
from incentives_kernel.contract import CONSUMERS, TOPIC_TYPES, asyncapi_document
from incentives_kernel.events import ALL_TYPES, INBOUND_TYPES
from incentives_ops.audit import SUBSCRIPTIONS
from incentives_ops.contract_export import contract_files

from shared.tests.conftest import cloudevent
from tests.ops.prom import ROOT

CONTRACT_DIR = ROOT / "docs" / "contract"


def committed() -> dict[str, str]:
    return {str(p.relative_to(CONTRACT_DIR)): p.read_text() for p in sorted(CONTRACT_DIR.rglob("*.json"))}


def test_the_committed_files_are_what_the_code_exports() -> None:
    fresh, have = contract_files(), committed()
    assert set(have) == set(fresh), f"missing {sorted(set(fresh) - set(have))}, extra {sorted(set(have) - set(fresh))}"
    stale = sorted(name for name in fresh if fresh[name] != have[name])
    assert not stale, f"docs/contract/ is stale: run `uv run incentives contract export`: {stale}"


def test_the_export_command_writes_them(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "incentives_ops.cli", "contract", "export", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json")}
    assert written == set(committed())


@pytest.mark.parametrize("event_type", sorted(INBOUND_TYPES))
def test_an_integrator_can_validate_an_inbound_event_with_its_schema(event_type: str) -> None:
    schema = json.loads((CONTRACT_DIR / "schemas" / f"{event_type}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    event = cloudevent(event_type)
    assert not list(validator.iter_errors(event)), [e.message for e in validator.iter_errors(event)]
    # ... and is told when it is wrong: no data, or another type's.
    assert list(validator.iter_errors({**event, "data": {}}))
    assert list(validator.iter_errors({**event, "type": "something.else"}))


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return json.loads((CONTRACT_DIR / "asyncapi.json").read_text())


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_reference_of_the_asyncapi_document_resolves(asyncapi: dict[str, Any]) -> None:
    for ref in refs(asyncapi):
        node: Any = asyncapi
        assert ref.startswith("#/"), ref
        for part in ref[2:].split("/"):
            assert part in node, f"{ref} does not resolve"
            node = node[part]


def test_asyncapi_has_every_topic_type_schema_dlq_and_security(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in asyncapi["channels"].values()}
    assert addresses == {s.name for s in topics.ALL_TOPICS}, "every topic, its .dlq twin included"
    names = {m["name"] for m in asyncapi["components"]["messages"].values()}
    assert set(ALL_TYPES) <= names
    for message in asyncapi["components"]["messages"].values():
        if message["name"] in ALL_TYPES:
            payload = message["payload"]["schema"]
            assert payload["properties"]["type"]["const"] == message["name"]
            data = payload["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
            assert asyncapi["components"]["schemas"][data]["properties"], data
    dlq = asyncapi["components"]["messages"]["dead_letter"]
    assert {"error.reason", "original.topic", "original.offset"} <= set(dlq["headers"]["properties"])
    scheme = asyncapi["components"]["securitySchemes"]["scram"]
    assert scheme["type"] == "scramSha512"
    assert asyncapi["servers"]["production"]["security"] == [{"$ref": "#/components/securitySchemes/scram"}]
    # Each service dead-letters what it consumes.
    sends = {op["channel"]["$ref"] for op in asyncapi["operations"].values() if op["action"] == "send"}
    for consumed in CONSUMERS.values():
        for topic in consumed:
            dlq_channel = topics.dlq_topic(topic).removeprefix("incentives.").replace(".", "_")
            assert f"#/channels/{dlq_channel}" in sends


def test_the_contract_knows_what_the_services_consume() -> None:
    assert CONSUMERS == SUBSCRIPTIONS
    every = [e for types in TOPIC_TYPES.values() for e in types]
    assert sorted(every) == sorted(ALL_TYPES), "each event type on exactly one topic"


@pytest.fixture(scope="module")
def client() -> TestClient:
    import os

    from incentives_ops.contract_export import _BUILD_ENV

    saved = {k: os.environ.get(k) for k in _BUILD_ENV}
    os.environ.update(_BUILD_ENV)
    try:
        from points.app import create_app

        app = create_app()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return TestClient(app)  # no `with`: the lifespan (database, broker) does not start


def test_a_service_serves_the_document_and_an_offline_html_view(client: TestClient) -> None:
    assert client.get("/asyncapi/contract").json() == asyncapi_document()
    page = client.get("/asyncapi/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    for spec in topics.ALL_TOPICS:
        assert spec.name in text
    for event_type in ALL_TYPES:
        assert event_type in text
    assert "scramSha512" in text
    # Nothing to fetch: no script, stylesheet or font from elsewhere.
    assert "<script" not in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
