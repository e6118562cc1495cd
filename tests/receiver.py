"""A real local HTTP receiver for webhook tests, written as a careful receiver would be.

It checks the signature and the timestamp with the Standard Webhooks reference library (what a
receiver written in any language would use), answers with the statuses a test scripts, and accepts
each `webhook-id` once: a repeated id is answered 200 but not accepted again (deduplication by the
id header).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Request:
    headers: dict[str, str]  # names in lower case
    body: bytes
    signature_ok: bool
    status: int


@dataclass
class Receiver:
    secret: str
    script: list[int] = field(default_factory=list)  # statuses to answer first, in order
    otherwise: int = 200
    requests: list[Request] = field(default_factory=list)
    accepted: dict[str, bytes] = field(default_factory=dict)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        try:
            Webhook(self.secret).verify(body, headers)
            ok = True
        except WebhookVerificationError:
            ok = False
        with self.lock:
            status = 401 if not ok else (self.script.pop(0) if self.script else self.otherwise)
            if status == 200:
                self.accepted.setdefault(headers["webhook-id"], body)
            self.requests.append(Request(headers, body, ok, status))
        return status

    def ids_sent(self) -> list[str]:
        with self.lock:
            return [r.headers["webhook-id"] for r in self.requests]


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.answer({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
