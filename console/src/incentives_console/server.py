"""`incentives console` (and `python -m incentives_console`): the console process, until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from incentives_kernel.logging import configure_logging

from .settings import ConsoleSettings


def serve(settings: ConsoleSettings | None = None) -> None:
    import uvicorn

    from .app import create_app

    settings = settings or ConsoleSettings()
    configure_logging("console", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=5,
    )


def main() -> int:
    try:
        settings = ConsoleSettings()
    except ValueError as exc:  # pydantic's ValidationError: say which setting, then stop
        print(f"incentives console: {exc}", file=sys.stderr)
        return 2
    serve(settings)
    return 0
