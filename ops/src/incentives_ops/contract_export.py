"""`incentives contract export`: the contract files integrators generate clients from and validate with.

    <out>/asyncapi.json             the whole system's AsyncAPI 3.0 document (kernel contract.py)
    <out>/openapi-<service>.json    each service's OpenAPI document, as its /openapi.json serves it
    <out>/schemas/<type>.json       one JSON Schema per event type: a whole CloudEvent of that type

Built from the code; tests/ops/test_contract_files.py fails when docs/contract/ differs from it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from incentives_kernel.contract import asyncapi_document, event_schemas

from .services import SERVICES

# Enough for a service's app to be built (it connects to nothing until started): the OpenAPI document
# depends on the code only, never on these values.
_BUILD_ENV = {
    "INCENTIVES_ENV": "dev",
    "DATABASE_URL": "postgresql://contract@127.0.0.1:1/contract",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "INCENTIVES_PII_KEY": "contract-export-pii-key-0123456789abcdef",
}


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def openapi_documents() -> dict[str, dict[str, Any]]:
    import importlib

    saved = {k: os.environ.get(k) for k in _BUILD_ENV}
    os.environ.update(_BUILD_ENV)
    try:
        out = {}
        for name, info in SERVICES.items():
            settings = info.settings_class()()
            app = importlib.import_module(f"{name}.app").create_app(settings)
            out[name] = app.openapi()
        return out
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def contract_files() -> dict[str, str]:
    """Relative path -> content of every file of the export."""
    files = {"asyncapi.json": _dump(asyncapi_document())}
    for name, document in openapi_documents().items():
        files[f"openapi-{name}.json"] = _dump(document)
    for event_type, schema in event_schemas().items():
        files[f"schemas/{event_type}.json"] = _dump(schema)
    return files


def export(out: Path) -> list[Path]:
    """Write the files under `out`, removing schema files of types that no longer exist."""
    files = contract_files()
    (out / "schemas").mkdir(parents=True, exist_ok=True)
    for stale in (out / "schemas").glob("*.json"):
        if f"schemas/{stale.name}" not in files:
            stale.unlink()
    written = []
    for relative, content in files.items():
        path = out / relative
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
