"""`GET /v1/whoami`: who the presented token is, as the services record it.

Every service answers it (the tokens are shared), so a client (the operator console at sign-in) can
learn its role and the actor its changes are recorded as (`operator:<name>` for a named operator
entry) without holding the token configuration itself. It tells a caller only about its own token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .auth import Caller, Role
from .http_errors import errors

if TYPE_CHECKING:
    from .runtime import ServiceRuntime


class WhoAmI(BaseModel):
    role: str = Field(description="operator | gateway | member")
    actor: str = Field(description="as audit trails record this caller: operator:<name or token fingerprint>, ...")
    name: str | None = Field(default=None, description="the person a named operator token belongs to")
    member_id: str | None = Field(default=None, description="for a member token, the member it acts for")
    via: str | None = Field(
        default=None, description="the delegating operator entry that said who acts (X-Acting-Operator)"
    )


def whoami_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["whoami"], responses=errors(401, 403))
    anyone = runtime.require(*Role)

    @router.get("/whoami", response_model=WhoAmI, summary="The caller's role and actor name (extension)")
    async def whoami(caller: Caller = anyone) -> WhoAmI:
        return WhoAmI(
            role=caller.role, actor=caller.actor, name=caller.name, member_id=caller.member_id, via=caller.via
        )

    return router
