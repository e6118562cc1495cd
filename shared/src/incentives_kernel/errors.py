"""Error kinds that decide what happens to a message: dead-letter it, or retry it.

A *permanent* error can never pass however often the message is retried (bad JSON, a schema
violation, a business rule such as an illegal transition): the message goes to `<topic>.dlq` and
the consumer moves on. A *transient* error (database or broker unreachable) is retried with backoff
without committing the offset.
"""

from __future__ import annotations

import asyncio

import asyncpg


class InvalidEvent(Exception):
    """The bytes are not a valid event of a known type. `reason` is a short stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class PermanentError(Exception):
    """A business rule that can never pass for this event (dead-lettered with `reason`)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class NotFound(Exception):
    """What a request names does not exist (HTTP 404 `not_found`); raised by use cases routes call."""


class Conflict(Exception):
    """A request the current state does not allow (HTTP 409 with `code`); raised by use cases routes call."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# SQLSTATE classes that mean "the database, not the message, is the problem right now".
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57", "40", "55P03", "25006")


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same message later may succeed (infrastructure trouble)."""
    if isinstance(exc, (OSError, asyncio.TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed" is the network; "another operation is in progress" is our bug.
        return "closed" in str(exc)
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None) or ""
        return sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    return False
