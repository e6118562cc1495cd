"""create_app(settings): the console's one composition root; nothing connects at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from .backends import ServiceError
from .forms import FormError
from .headers import SecurityHeaders
from .pages import catalogue, events, home, members, needs, providers, reports, rounds, signin, webhooks
from .settings import ConsoleSettings
from .web import SESSION_COOKIE, Console, Refused, SignInRequired, public


def create_app(settings: ConsoleSettings) -> FastAPI:
    console = Console(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await console.backends.aclose()

    # No OpenAPI pages: the console is for people; its machine interface is the services' own APIs.
    app = FastAPI(title="incentives console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.console = console
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(packages=[("incentives_console", "static")]), name="static")
    for module in (signin, home, reports, needs, catalogue, rounds, providers, members, webhooks, events):
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        # After a POST the form is gone anyway: come back to the page, not the action.
        back = target if request.method == "GET" else "/"
        response = RedirectResponse(f"/login?next={quote(back, safe='')}", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        page = await public(request)
        return page.render("error.html", status=exc.status, title=page.t(exc.key), detail=exc.detail)

    @app.exception_handler(FormError)
    async def bad_form(request: Request, exc: FormError) -> Response:
        page = await public(request)
        return page.render("error.html", status=exc.status, title=page.t("error.bad_form"), detail=exc.reason)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        page = await public(request)
        if exc.status == 401:
            # The token was taken out of the services' configuration: this session is over.
            console.sessions.drop(request.cookies.get(SESSION_COOKIE))
            return RedirectResponse("/login?expired=1", status_code=303)
        status = {404: 404, 403: 403, 422: 400, 400: 400}.get(exc.status, 502)
        title = page.t("error.unreachable", service=exc.service) if exc.unreachable else page.t("error.service")
        return page.render("error.html", status=status, title=title, detail=exc.message, service=exc.service)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        page = await public(request)
        key = {404: "error.not_found", 405: "error.method"}.get(exc.status_code, "error.bad_request")
        return page.render("error.html", status=exc.status_code, title=page.t(key), detail="")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        page = await public(request)
        where = "; ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:3])
        return page.render("error.html", status=400, title=page.t("error.bad_request"), detail=where)

    return app
