"""The one error shape of every HTTP API: {"error": {"code", "message"}}; never a stack trace."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import Conflict, NotFound

log = structlog.get_logger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: unauthenticated, forbidden, not_found, ...")
    message: str = Field(description="for people; never a stack trace")
    details: Any = Field(default=None, description="validation errors: where and what")


class ErrorBody(BaseModel):
    error: ErrorDetail


_MEANING = {
    400: "Malformed: a body that cannot be decoded, or a cursor this API did not issue",
    401: "No valid bearer token (the response carries `WWW-Authenticate: Bearer`)",
    403: "The token is valid but its role, or the member it acts for, does not allow this",
    404: "Not found, or not visible to this caller",
    409: "Conflicts with the current state (or an id reused for something else)",
    413: "The request body is larger than the limit",
    422: "The request is not valid: `details` says where",
    429: "Too many requests from this caller: wait `Retry-After` seconds",
    503: "Not available in this configuration",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for these error statuses, all with the one error schema."""
    return {s: {"model": ErrorBody, "description": _MEANING[s]} for s in statuses}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return {"error": err}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {**({"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}), **(exc.headers or {})}
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)

    # Use cases say what the state does not allow in their own words; here that becomes HTTP.
    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(error_body("not_found", str(exc)), status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=409)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()[:20]]
        return JSONResponse(error_body("validation_error", "the request is not valid", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(asyncpg.DataError)
    async def _data(_request: Request, exc: asyncpg.DataError) -> JSONResponse:
        # SQLSTATE class 22: the database refused a value that passed validation (a NUL character in a
        # text, a number out of a column's range). The client's input, not our bug: 422, said plainly.
        log.info("input refused by the database", error=type(exc).__name__)
        return JSONResponse(error_body("invalid_value", "a value in the request cannot be stored"), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
        return JSONResponse(error_body("internal", "internal error"), status_code=500)
