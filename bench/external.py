"""An external load generator: M1's input produced by kafkajs (Node), a Kafka client no one here wrote.

The records are written to a JSONL file and `bench/kafkajs/produce.cjs` sends them with kafkajs
(acks=-1, not idempotent). kafkajs is found through NODE_PATH: `BENCH_KAFKAJS_MODULES` if set, else
the project's Node package dir `clients/node/node_modules`, else `/tmp/kafkajs/node_modules`
(`npm install --prefix /tmp/kafkajs kafkajs`). kcat/librdkafka is not used here: it cannot parse
the embedded Tansu 0.6.0's ApiVersions v3 response ("Read underflow"); it serves the compose path.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.workload import Record, to_jsonl

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "kafkajs" / "produce.cjs"


def modules_dir() -> Path | None:
    for candidate in (
        os.environ.get("BENCH_KAFKAJS_MODULES"),
        ROOT / "clients/node/node_modules",
        "/tmp/kafkajs/node_modules",  # noqa: S108 - read only, where a developer installed it by hand
    ):
        if candidate and (Path(candidate) / "kafkajs" / "package.json").exists():
            return Path(candidate)
    return None


def available() -> str | None:
    """None when kafkajs can run here, else why not."""
    if not shutil.which("node"):
        return "node is not installed"
    if modules_dir() is None:
        return "kafkajs is not installed (clients/node/node_modules, or npm install --prefix /tmp/kafkajs kafkajs)"
    return None


async def produce(bootstrap: str, records: Sequence[Record]) -> float:
    """Seconds kafkajs took to have every record acknowledged (its own clock); raises if it failed."""
    why = available()
    if why:
        raise RuntimeError(f"the kafkajs producer cannot run: {why}")
    with tempfile.TemporaryDirectory(prefix="bench-kafkajs-") as tmp:
        path = Path(tmp) / "records.jsonl"
        await asyncio.to_thread(path.write_text, to_jsonl(list(records)))
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            bootstrap,
            str(path),
            env={**os.environ, "NODE_PATH": str(modules_dir())},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=600)
        except (TimeoutError, asyncio.CancelledError):
            proc.kill()
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"kafkajs producer exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
        report = json.loads(out.decode().strip().splitlines()[-1])
        if report["records"] != len(records):
            raise RuntimeError(f"kafkajs producer sent {report['records']} of {len(records)} records")
        return float(report["seconds"])
