"""HttpGuard: /v1 needs a valid token before anything else; bodies over the limit get 413, declared or streamed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from incentives_kernel.auth import TokenAuth
from incentives_kernel.http_errors import install_error_handlers
from incentives_kernel.http_guard import HttpGuard
from pydantic import BaseModel

LIMIT = 1024
AUTH = {"Authorization": "Bearer op"}


class Body(BaseModel):
    text: str


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(HttpGuard, auth=TokenAuth("op", "gw"), max_body_bytes=LIMIT)

    @app.post("/v1/echo")
    async def echo(body: Body) -> dict[str, int]:
        return {"length": len(body.text)}

    @app.post("/open")
    async def open_(body: Body) -> dict[str, int]:
        return {"length": len(body.text)}

    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("path", ["/v1/echo", "/v1/no-such-route", "/v1"])
def test_no_token_is_401_before_routing_and_parsing(client: TestClient, path: str) -> None:
    r = client.post(path, content=b"{not json")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "unauthenticated"


def test_outside_v1_needs_no_token(client: TestClient) -> None:
    assert client.post("/open", json={"text": "hi"}).status_code == 200


def test_within_the_limit_passes(client: TestClient) -> None:
    r = client.post("/v1/echo", json={"text": "x" * (LIMIT - 20)}, headers=AUTH)
    assert r.status_code == 200, r.text


def test_declared_length_over_the_limit_is_413(client: TestClient) -> None:
    r = client.post("/v1/echo", json={"text": "x" * LIMIT}, headers=AUTH)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 200
        yield b'"}'

    r = client.post("/v1/echo", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_a_small_streamed_body_passes(client: TestClient) -> None:
    r = client.post(
        "/v1/echo", content=iter([b'{"text": ', b'"hi"}']), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
