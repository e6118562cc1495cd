"""Which failures are retried (transient) and which are dead-lettered (permanent)."""

from __future__ import annotations

import asyncpg
import pytest
from incentives_kernel.errors import InvalidEvent, PermanentError, is_transient

exc = asyncpg.exceptions


@pytest.mark.parametrize(
    "error",
    [
        OSError("network unreachable"),
        ConnectionRefusedError(),
        ConnectionResetError(),
        TimeoutError(),
        exc.ConnectionDoesNotExistError(),  # 08003
        exc.ConnectionFailureError(),  # 08006
        exc.CannotConnectNowError(),  # 57P03: the server is starting up
        exc.AdminShutdownError(),  # 57P01
        exc.TooManyConnectionsError(),  # 53300
        exc.DiskFullError(),  # 53100
        exc.SerializationError(),  # 40001
        exc.DeadlockDetectedError(),  # 40P01
        exc.LockNotAvailableError(),  # 55P03
        exc.ReadOnlySQLTransactionError(),  # 25006: failover left us on a replica
        asyncpg.InterfaceError("connection is closed"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient(error) -> None:
    assert is_transient(error) is True


@pytest.mark.parametrize(
    "error",
    [
        exc.UniqueViolationError(),  # 23505
        exc.ForeignKeyViolationError(),  # 23503
        exc.CheckViolationError(),  # 23514
        exc.NotNullViolationError(),
        exc.DataError(),  # 22000
        exc.NumericValueOutOfRangeError(),  # 22003
        exc.InvalidTextRepresentationError(),  # 22P02
        exc.UndefinedTableError(),  # 42P01
        exc.UndefinedColumnError(),
        exc.PostgresSyntaxError(),
        exc.InsufficientPrivilegeError(),  # 42501
        exc.RaiseError(),  # P0001
        exc.ObjectInUseError(),  # 55006, not the lock timeout 55P03
        exc.InFailedSQLTransactionError(),  # 25P02
        ValueError("bad"),
        KeyError("x"),
        RuntimeError("bug"),
        InvalidEvent("invalid_data", "x"),
        PermanentError("illegal_transition", "x"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_permanent(error) -> None:
    assert is_transient(error) is False


def test_sqlstates_behind_the_cases() -> None:
    assert exc.ConnectionDoesNotExistError.sqlstate == "08003"
    assert exc.ReadOnlySQLTransactionError.sqlstate == "25006"
    assert exc.UniqueViolationError.sqlstate == "23505"
    assert exc.LockNotAvailableError.sqlstate == "55P03"


def test_postgres_error_without_sqlstate_is_permanent() -> None:
    class Odd(asyncpg.PostgresError):
        sqlstate = None

    assert is_transient(Odd()) is False


def test_error_kinds_carry_reason_and_message() -> None:
    err = PermanentError("illegal_transition", "a report that is resolved cannot become dispatched")
    assert err.reason == "illegal_transition"
    assert err.message == str(err)
    inv = InvalidEvent("too_large", "big")
    assert (inv.reason, inv.message, str(inv)) == ("too_large", "big", "big")
