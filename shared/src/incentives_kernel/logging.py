"""structlog JSON logs with the event id bound per message, and personal data redacted.

Redaction is by key (phone, id_number, name, ...) and by shape (mainland mobile numbers and
18-character resident identity numbers anywhere in a string), so a value that slips into a free
text message is masked too.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SENSITIVE_KEYS = frozenset(
    {"phone", "id_number", "identity_number", "name", "password", "token", "authorization", "secret", "address"}
)
# Also after a country code (+86..., 0086...): the digits 86 may then stand right before it.
_MOBILE = re.compile(r"(?:(?<=86)|(?<!\d))(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")


# In identifiers a number counts only as a token of its own (no letter or digit either side): hex ids
# (UUIDs, digests) often hold 11 digits in a row, and refusing those would drop genuine events.
_MOBILE_TOKEN = re.compile(r"(?<![0-9A-Za-z])(?:\+?86|0086)?1[3-9]\d{9}(?![0-9A-Za-z])")


# Either shape, in one search: every event's id, source, subject and member id pass through here.
PERSONAL_TOKEN = re.compile(f"{_MOBILE_TOKEN.pattern}|{_RESIDENT_ID.pattern}")


def holds_personal_number(identifier: str) -> bool:
    """Whether an identifier (event id, source, subject, member id, URL) carries a phone or ID number."""
    return PERSONAL_TOKEN.search(identifier) is not None


def redact_text(text: str) -> str:
    text = _RESIDENT_ID.sub(r"\1********\2", text)
    return _MOBILE.sub(r"\1****\2", text)


def _sensitive(key: object) -> bool:
    return isinstance(key, str) and key.lower() in SENSITIVE_KEYS


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: ("***" if _sensitive(k) else _redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact(v) for v in value]
    return value


def redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if _sensitive(key):
            event_dict[key] = "***"
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def configure_logging(service: str, level: str = "INFO", debug_loggers: str = "") -> None:
    """JSON lines on stdout; the standard library's loggers (uvicorn, aiokafka, faststream) too."""
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            lambda _l, _m, ed: {"service": service, **ed},
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # For diagnosis (setting debug_loggers, e.g. aiokafka.consumer.fetcher): those loggers at DEBUG.
    for name in filter(None, debug_loggers.split(",")):
        logging.getLogger(name.strip()).setLevel(logging.DEBUG)
