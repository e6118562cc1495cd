# syntax=docker/dockerfile:1
#
# One image for the four services (reports, points, rewards, notify), the operator console and the CLI.
#   docker build -t incentives:0.1.0 .
#   docker run --rm incentives:0.1.0 serve points        # ENTRYPOINT is the `incentives` CLI
# docker-compose.yml builds it and runs `serve <name>`, `console`, `topics create` and `db provision` from it.

# Both stages use the same interpreter: the venv built in the first one links to its python.
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

# ---------------------------------------------------------------- build: resolve and install the venv
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install uv==0.13.9

WORKDIR /src

# Third-party dependencies first, from the lock alone, so that a code change does not reinstall them.
# A workspace needs every member's pyproject.toml to be resolved.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/pyproject.toml
COPY services/reports/pyproject.toml services/reports/pyproject.toml
COPY services/points/pyproject.toml services/points/pyproject.toml
COPY services/rewards/pyproject.toml services/rewards/pyproject.toml
COPY services/notify/pyproject.toml services/notify/pyproject.toml
COPY ops/pyproject.toml ops/pyproject.toml
COPY console/pyproject.toml console/pyproject.toml
RUN uv sync --frozen --no-dev --all-packages --no-install-workspace --no-editable

# Then the workspace itself (.dockerignore keeps out .venv, tests, bench, caches, .git, .env).
# --no-editable installs the members as real wheels (with their migrations/*.sql and templates), so the
# runtime stage needs the venv only, not the source tree.
COPY . .
RUN uv sync --frozen --no-dev --all-packages --no-editable \
 && /app/.venv/bin/incentives --help >/dev/null

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 incentives \
 && useradd --system --uid 10001 --gid incentives --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin incentives

COPY --from=build /app/.venv /app/.venv

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INCENTIVES_ENV=prod

WORKDIR /app
USER 10001:10001

EXPOSE 8081 8082 8083 8084 8090

ENTRYPOINT ["incentives"]
CMD ["--help"]
