"""`POST /v1/member-tokens`: the gateway (or an operator) mints a member token for a rider.

Every service offers it (the keys are shared), so the gateway can ask whichever it talks to. A member
token cannot mint another: only the roles that may act for any member hand out a scope of one.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .auth import Role
from .events import Identifier
from .http_errors import ApiError, errors
from .member_tokens import MAX_TTL_S

if TYPE_CHECKING:
    from .runtime import ServiceRuntime


class MemberTokenIn(BaseModel):
    member_id: Identifier
    ttl_s: int | None = Field(default=None, ge=60, le=MAX_TTL_S, description="default: the configured lifetime")


class MemberTokenOut(BaseModel):
    token: str = Field(description="a bearer token for this member's own data only")
    token_type: str = "Bearer"  # noqa: S105 (the scheme's name, not a secret)
    member_id: str
    expires_at: datetime


def member_tokens_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["member tokens"], responses=errors(400, 401, 403, 413, 422))
    gateway = runtime.require(Role.GATEWAY)

    @router.post(
        "/member-tokens",
        response_model=MemberTokenOut,
        status_code=201,
        dependencies=[gateway],
        responses=errors(503),
        summary="Mint a short-lived token that reads and acts for one member only (extension)",
    )
    async def mint_member_token(body: MemberTokenIn) -> MemberTokenOut:
        keys = runtime.auth.member_keys
        if not keys.enabled:
            raise ApiError(503, "member_tokens_disabled", "no INCENTIVES_MEMBER_TOKEN_KEYS are configured")
        minted = keys.mint(body.member_id, body.ttl_s or runtime.settings.member_token_ttl_s)
        return MemberTokenOut(token=minted.token, member_id=minted.member_id, expires_at=minted.expires_at)

    return router
