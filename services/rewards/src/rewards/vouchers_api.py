"""HTTP routes providers use at the counter: read a voucher, redeem it (once, while it is valid)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from fastapi import APIRouter, Path
from incentives_kernel.auth import Caller, Role
from incentives_kernel.db import Conn, Row
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.runtime import ServiceRuntime
from pydantic import BaseModel, Field

from . import repository as repo
from . import saga, vouchers
from .lifecycle import RedemptionStatus, ResultStatus
from .rounds_api import mask_member
from .saga import Deps

CODE_PATTERN = r"^[0-9A-Za-z*~$=\- ]{17,40}$"  # Crockford base32, its check symbols, dashes


class VoucherStatus(StrEnum):
    """A redemption's state in a counter's words."""

    VALID = "valid"
    IN_NOTICE = "in_notice"
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Voucher(BaseModel):
    code: str
    status: str = Field(description="valid | in_notice | redeemed | expired | cancelled")
    reward_id: str
    reward_name: str
    member: str = Field(description="the holder's member id, masked")
    expires_at: datetime | None
    redeemed_by: str | None
    redeemed_at: datetime | None


def voucher_status(row: Row, now: datetime) -> VoucherStatus:
    """What a provider sees: the redemption's state in a counter's words."""
    if row["status"] == RedemptionStatus.FULFILLED:
        return VoucherStatus.REDEEMED
    if row["status"] == RedemptionStatus.EXPIRED or (
        row["status"] == RedemptionStatus.CONFIRMED and row["expires_at"] is not None and row["expires_at"] <= now
    ):
        return VoucherStatus.EXPIRED
    if row["status"] != RedemptionStatus.CONFIRMED:
        return VoucherStatus.CANCELLED
    if row["result_status"] == ResultStatus.PROVISIONAL:  # a place won in a round still under public notice
        return VoucherStatus.IN_NOTICE
    return VoucherStatus.VALID


def _out(row: Row, code: str, now: datetime) -> Voucher:
    return Voucher(
        code=code,
        status=voucher_status(row, now),
        reward_id=row["reward_id"],
        reward_name=row["reward_name"],
        member=mask_member(row["member_id"]),
        expires_at=row["expires_at"],
        redeemed_by=row["redeemed_by"],
        redeemed_at=row["fulfilled_at"],
    )


def _may_serve(caller: Caller, row: Row) -> None:
    """403 unless the reward lists this provider (or lists none); operators may do everything."""
    if caller.role is Role.OPERATOR:
        return
    listed = row["providers"]
    if listed and caller.provider_id not in listed:
        raise ApiError(403, "provider_not_listed", f"this provider may not serve {row['reward_id']}")


def build_router(runtime: ServiceRuntime, deps: Deps) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["rewards"], responses=errors(400, 401, 403, 413, 422))
    provider = runtime.require(Role.PROVIDER)

    async def find(conn: Conn, code: str, *, lock: bool = False) -> tuple[Row, str]:
        canonical = vouchers.normalise(code)
        row = await repo.redemption_by_voucher(conn, canonical, lock=lock) if canonical else None
        if row is None or canonical is None:
            raise ApiError(404, "not_found", "no such voucher (check the code)")
        return row, canonical

    @router.get("/vouchers/{code}", response_model=Voucher, responses=errors(404))
    async def get_voucher(code: str = Path(pattern=CODE_PATTERN), caller: Caller = provider) -> Voucher:
        async with runtime.pool.acquire() as conn:
            row, canonical = await find(conn, code)
        _may_serve(caller, row)
        return _out(row, canonical, datetime.now(UTC))

    @router.post("/vouchers/{code}/redeem", response_model=Voucher, responses=errors(404, 409))
    async def redeem(code: str = Path(pattern=CODE_PATTERN), caller: Caller = provider) -> Voucher:
        by = caller.provider_id or caller.actor  # a provider by its id; an operator by name (else fingerprint)
        async with runtime.unit_of_work() as uow:
            row, canonical = await find(uow.conn, code, lock=True)
            _may_serve(caller, row)
            now = datetime.now(UTC)
            match voucher_status(row, now):
                case VoucherStatus.REDEEMED:
                    raise ApiError(
                        409,
                        "already_redeemed",
                        f"redeemed by {row['redeemed_by'] or 'an operator'} at {row['fulfilled_at'].isoformat()}",
                    )
                case VoucherStatus.EXPIRED:
                    raise ApiError(409, "expired", f"the voucher expired at {row['expires_at'].isoformat()}")
                case VoucherStatus.CANCELLED:
                    raise ApiError(409, "not_redeemable", f"the redemption is {row['status']}")
                case VoucherStatus.IN_NOTICE:
                    raise ApiError(409, "in_notice", "the place is under public notice: redeemable once it is final")
            await saga.fulfil(uow, row["redemption_id"], deps=deps, by=by)
            after, _ = await find(uow.conn, canonical)
        return _out(after, canonical, now)

    return router
