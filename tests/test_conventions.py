"""The house rules of docs/CONTRIBUTING.md that a machine can check, checked on every run.

- SQL only in a service's repository.py and the kernel's listed files;
- `os.environ` only in settings modules;
- no FastStream or aiokafka in a service, asyncpg only in its repository (use cases and domain
  modules name rows with `incentives_kernel.db.Row`), and nothing of the engine's inside a service;
- no service imports another (nor the kernel a service);
- every service has the standard files;
- the background jobs table of docs/architecture.md lists exactly the jobs the code registers;
- no session state left on a pooled connection (pools are not reset on release: `db.keep_session`):
  no LISTEN, session-level SET, temporary table or cursor WITH HOLD, and session advisory locks only
  where `db.release_session_lock` lets go of them.
Each check has a test that plants violations in a scratch tree: the check must find them all.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("reports", "points", "rewards", "notify")
KERNEL_SQL = {"inbox.py", "outbox.py", "parking.py", "members.py", "db.py", "roles.py", "operator_books.py"}
STANDARD = (
    "app.py",
    "settings.py",
    "subscribers.py",
    "usecases.py",
    "api.py",
    "repository.py",
    "metrics.py",
    "jobs.py",
)
SQL = re.compile(r"\s*(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|WITH \w+|CREATE|ALTER|DROP|GRANT|REVOKE)\b")
NEVER_IN_SERVICES = ("faststream", "aiokafka", "incentives_kernel.engine", "incentives_kernel.kafka_adapter")
KERNEL_INTERNALS = ("incentives_kernel.outbox", "incentives_kernel.inbox")  # a service writes through a unit of work
# What would outlive a transaction on a pooled connection; db.py (migrate: its lock, and a search_path
# equal to the pool's own) and outbox.py (the relay's lock) let go through db.release_session_lock.
SESSION_STATE = re.compile(
    r"^\s*SET\s+(?!LOCAL\b)|\bLISTEN\b|\bpg_(try_)?advisory_lock\(|\bTEMP(ORARY)?\s+TABLE\b|\bWITH HOLD\b"
)
SESSION_STATE_ALLOWED = {"db.py", "outbox.py"}


def imported(tree: ast.Module) -> list[str]:
    """Modules a file imports at run time (what `if TYPE_CHECKING:` imports is for the type checker only)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def texts(tree: ast.Module) -> list[str]:
    """The strings of a module, an f-string whole (`{}` for each value): `f"UPDATE {t}" " SET x = 1"`
    is one UPDATE, not a SET."""
    parts: set[int] = set()
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            out.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
            parts.update(id(v) for v in node.values)
    strings = (n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return out + [n.value for n in strings if id(n) not in parts]


def violations(root: Path) -> list[str]:
    found: list[str] = []
    kernel = sorted((root / "shared/src/incentives_kernel").glob("*.py"))
    for service in SERVICES:
        package = root / f"services/{service}/src/{service}"
        found += [f"{service}: no {name}" for name in (*STANDARD, "migrations") if not (package / name).exists()]
    for path in kernel + sorted((root / "services").glob("*/src/*/*.py")):
        where, tree = path.relative_to(root), ast.parse(path.read_text(encoding="utf-8"))
        service = path.parent.name if "services" in path.parts else None
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        sql_allowed = path.name == "repository.py" if service else path.name in KERNEL_SQL
        if not sql_allowed and any(SQL.match(s) for s in strings):
            found.append(f"{where}: SQL outside a repository")
        if (service or path.name not in SESSION_STATE_ALLOWED) and any(SESSION_STATE.search(s) for s in texts(tree)):
            found.append(f"{where}: session state on a pooled connection")
        environ = any(isinstance(n, ast.Attribute) and n.attr in ("environ", "getenv") for n in ast.walk(tree))
        if environ and path.name != "settings.py":
            found.append(f"{where}: os.environ outside settings")
        modules = imported(tree)
        top = {m.split(".")[0] for m in modules}
        if service is None:
            found += [f"{where}: the kernel imports {s}" for s in SERVICES if s in top]
            if path.name in ("outcome.py", "uow.py"):
                found += [f"{where}: imports {m}" for m in ("faststream", "aiokafka", "asyncpg") if m in top]
            continue
        found += [f"{where}: imports the service {s}" for s in SERVICES if s in top and s != service]
        found += [f"{where}: imports {m}" for m in NEVER_IN_SERVICES + KERNEL_INTERNALS if m in modules or m in top]
        if "asyncpg" in top and path.name != "repository.py":
            found.append(f"{where}: imports asyncpg outside the repository")
    for path in sorted(root.glob("shared/src/incentives_kernel/migrations/*.sql")) + sorted(
        root.glob("services/*/src/*/migrations/*.sql")
    ):
        text = re.sub(r"^\s*SET\s.*$", "", path.read_text(encoding="utf-8"), flags=re.M)  # an UPDATE's SET lines
        if SESSION_STATE.search(text):
            found.append(f"{path.relative_to(root)}: session state on a pooled connection")
    return found


def test_the_tree_keeps_the_conventions() -> None:
    assert violations(ROOT) == []


def test_the_check_finds_a_planted_violation_of_each_kind(tmp_path: Path) -> None:
    kernel = tmp_path / "shared/src/incentives_kernel"
    kernel.mkdir(parents=True)
    (kernel / "uow.py").write_text(
        "import aiokafka\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import asyncpg\n"
    )
    (kernel / "outcome.py").write_text("from points import usecases\n")
    for service in SERVICES:
        package = tmp_path / f"services/{service}/src/{service}"
        (package / "migrations").mkdir(parents=True)
        for name in STANDARD:
            (package / name).write_text("")
    points = tmp_path / "services/points/src/points"
    (points / "jobs.py").unlink()
    (points / "usecases.py").write_text('import asyncpg\nQ = """SELECT * FROM transfers"""\n')
    (points / "api.py").write_text("import os\nfrom rewards import saga\nURL = os.environ['X']\n")
    (points / "subscribers.py").write_text(
        "from faststream.kafka import KafkaBroker\nfrom incentives_kernel import outbox\n"
    )
    (points / "repository.py").write_text('import asyncpg\nQ = "SELECT 1"\n')  # allowed there
    (points / "metrics.py").write_text(
        'A = "LISTEN reports"\nB = "SET search_path TO x"\nC = "SET LOCAL lock_timeout = 1"\n'
    )
    (points / "migrations" / "0001.sql").write_text("CREATE TEMP TABLE t (x int);\nUPDATE t\n   SET x = 1;\n")
    (kernel / "inbox.py").write_text('Q = "SELECT pg_try_advisory_lock(1)"\n')
    (points / "settings.py").write_text("import os\nX = os.environ.get('X')\n")  # allowed there
    assert sorted(violations(tmp_path)) == sorted(
        [
            "points: no jobs.py",
            "services/points/src/points/usecases.py: SQL outside a repository",
            "services/points/src/points/usecases.py: imports asyncpg outside the repository",
            "services/points/src/points/api.py: os.environ outside settings",
            "services/points/src/points/api.py: imports the service rewards",
            "services/points/src/points/subscribers.py: imports faststream",
            "services/points/src/points/subscribers.py: imports incentives_kernel.outbox",
            "shared/src/incentives_kernel/uow.py: imports aiokafka",
            "shared/src/incentives_kernel/outcome.py: the kernel imports points",
            "services/points/src/points/metrics.py: session state on a pooled connection",
            "services/points/src/points/migrations/0001.sql: session state on a pooled connection",
            "shared/src/incentives_kernel/inbox.py: session state on a pooled connection",
        ]
    )


def test_the_contract_names_what_each_service_consumes() -> None:
    """The AsyncAPI document's consumers (kernel contract.py) are the services' own subscriber tables."""
    import importlib

    from incentives_kernel.contract import CONSUMERS

    for service in SERVICES:
        topics = importlib.import_module(f"{service}.subscribers").TOPICS
        assert set(CONSUMERS[service]) == set(topics), f"contract.CONSUMERS[{service!r}] differs from its TOPICS"


def registered_jobs(root: Path) -> tuple[set[str], list[str]]:
    """The names of the background jobs the kernel and the services register (`every("<name>", ...)`),
    and the calls whose name is not written out (so that no table could be checked against them)."""
    names: set[str] = set()
    unnamed: list[str] = []
    kernel = sorted((root / "shared/src/incentives_kernel").glob("*.py"))
    for path in kernel + sorted((root / "services").glob("*/src/*/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "every"):
                continue
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
            else:
                unnamed.append(f"{path.relative_to(root)}:{node.lineno}: a job whose name is not a string literal")
    return names, unnamed


def jobs_table_problems(root: Path) -> list[str]:
    """What the jobs table gets wrong (architecture.md, section Background jobs: a row starts with `<job>`)."""
    text = (root / "docs/architecture.md").read_text(encoding="utf-8")
    section = text.split("\n## Background jobs\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(\w+)`", section, re.MULTILINE))
    registered, unnamed = registered_jobs(root)
    missing = [f"job {j} is registered but not in architecture.md's jobs table" for j in sorted(registered - listed)]
    stale = [f"architecture.md's jobs table lists {j}, which nothing registers" for j in sorted(listed - registered)]
    return unnamed + missing + stale


def test_the_jobs_table_lists_every_registered_job() -> None:
    registered, _ = registered_jobs(ROOT)
    assert {"expire_parked", "purge_dead_letters", "expire_holds"} <= registered  # the kernel's and a service's
    assert jobs_table_problems(ROOT) == []


def test_the_jobs_check_finds_a_job_missing_from_the_table_and_a_row_for_no_job(tmp_path: Path) -> None:
    kernel = tmp_path / "shared/src/incentives_kernel"
    kernel.mkdir(parents=True)
    (kernel / "runtime.py").write_text(
        "class ServiceRuntime:\n    def consume(self):\n        self.every('expire_parked', 30, self.sweep)\n"
    )
    jobs = tmp_path / "services/rewards/src/rewards"
    jobs.mkdir(parents=True)
    (jobs / "jobs.py").write_text(
        "def schedule(runtime, name):\n"
        "    runtime.every('close_rounds', 5, close)\n"
        "    runtime.every('expire_vouchers', 5, expire)\n"
        "    runtime.every(name, 5, other)\n"
    )
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/architecture.md").write_text(
        "# Architecture\n\n## Background jobs\n\n| job | service | every | what it does |\n|---|---|---|---|\n"
        "| `expire_parked` (`EventConsumer.expire_parked`) | all | 30 s | dead-letters |\n"
        "| `close_rounds` (`rounds.close_due`) | rewards | 5 s | closes |\n"
        "| `age_levels` (`levels.age`) | points | 1 h | ages |\n"
        "\n## Replaying dead letters\n\n| `expire_vouchers` | not the jobs table |\n"
    )
    assert jobs_table_problems(tmp_path) == [
        "services/rewards/src/rewards/jobs.py:4: a job whose name is not a string literal",
        "job expire_vouchers is registered but not in architecture.md's jobs table",
        "architecture.md's jobs table lists age_levels, which nothing registers",
    ]
