"""The system's AsyncAPI document as a page beside /docs, rendered here on the server: it works offline
(no CDN, no script), as the Swagger page does not need to for the HTTP API's own contract.

GET /asyncapi/contract      the document (JSON), as docs/contract/asyncapi.json
GET /asyncapi/docs          the same as HTML: servers, channels, operations, and each message's schema
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

from .contract import asyncapi_document

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}
h1,h2,h3{font-weight:600} code,pre{font-family:ui-monospace,monospace;font-size:.85rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem} td,th{border:1px solid #ccc;padding:.3rem .5rem;
text-align:left;vertical-align:top} th{background:#f4f4f4} pre{background:#f7f7f7;padding:.6rem;overflow:auto}
details{margin:.3rem 0} .send{color:#a35200} .receive{color:#1b6e20}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _ref_name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def render(doc: dict[str, Any]) -> str:
    info = doc["info"]
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{_e(info['title'])} {_e(info['version'])}: AsyncAPI</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(info['title'])} <small>{_e(info['version'])}</small></h1><p>{_e(info['description'])}</p>",
        '<p><a href="/asyncapi/contract">the document (JSON)</a> · <a href="/docs">HTTP API</a></p>',
        "<h2 id=servers>Servers</h2><table><tr><th>name</th><th>host</th><th>protocol</th><th>security</th>"
        "<th>description</th></tr>",
    ]
    for name, server in doc["servers"].items():
        security = ", ".join(_ref_name(s) for s in server.get("security", [])) or "none"
        out.append(
            f"<tr><td>{_e(name)}</td><td><code>{_e(server['host'])}</code></td><td>{_e(server['protocol'])}</td>"
            f"<td>{_e(security)}</td><td>{_e(server.get('description', ''))}</td></tr>"
        )
    out.append("</table><h3>Security schemes</h3><table><tr><th>name</th><th>type</th><th>description</th></tr>")
    for name, scheme in doc["components"].get("securitySchemes", {}).items():
        out.append(
            f"<tr><td>{_e(name)}</td><td>{_e(scheme['type'])}</td><td>{_e(scheme.get('description', ''))}</td></tr>"
        )
    out.append("</table><h2 id=channels>Channels</h2>")
    for cid, channel in doc["channels"].items():
        out.append(f"<h3 id=channel-{_e(cid)}><code>{_e(channel['address'])}</code></h3>")
        out.append(f"<p>{_e(channel.get('description', ''))}</p><ul>")
        for op_id, op in doc["operations"].items():
            if op["channel"]["$ref"] == f"#/channels/{cid}":
                out.append(
                    f"<li class={_e(op['action'])}><b>{_e(op['action'])}</b> {_e(op.get('summary', op_id))}</li>"
                )
        out.append("</ul><p>messages: ")
        out.append(", ".join(f'<a href="#message-{_e(m)}">{_e(m)}</a>' for m in channel.get("messages", {})) or "none")
        out.append("</p>")
    out.append("<h2 id=messages>Messages</h2>")
    for mid, message in doc["components"]["messages"].items():
        out.append(f"<h3 id=message-{_e(mid)}><code>{_e(message['name'])}</code></h3>")
        out.append(f"<p>{_e(message.get('summary', ''))} <small>({_e(message.get('contentType', ''))})</small></p>")
        if "headers" in message:
            headers = json.dumps(message["headers"], indent=2)
            out.append(f"<details><summary>headers</summary><pre>{_e(headers)}</pre></details>")
        payload = message["payload"]
        schema = payload.get("schema", payload)
        data_ref = schema.get("properties", {}).get("data", {}).get("$ref")
        out.append(f"<details><summary>payload</summary><pre>{_e(json.dumps(schema, indent=2))}</pre></details>")
        if data_ref:
            name = data_ref.rsplit("/", 1)[-1]
            data = doc["components"]["schemas"][name]
            out.append(f"<details open><summary>data: {_e(name)}</summary>{_properties_table(data)}</details>")
    out.append("<h2 id=schemas>Schemas</h2>")
    for name, schema in doc["components"]["schemas"].items():
        out.append(f"<details id=schema-{_e(name)}><summary>{_e(name)}</summary>{_properties_table(schema)}</details>")
    out.append("</body></html>")
    return "".join(out)


def _properties_table(schema: dict[str, Any]) -> str:
    properties = schema.get("properties")
    if not properties:
        return f"<pre>{_e(json.dumps(schema, indent=2))}</pre>"
    required = set(schema.get("required", []))
    rows = ["<table><tr><th>field</th><th>required</th><th>schema</th><th>description</th></tr>"]
    for field, spec in properties.items():
        described = {k: v for k, v in spec.items() if k not in ("title", "description")}
        rows.append(
            f"<tr><td><code>{_e(field)}</code></td><td>{'yes' if field in required else ''}</td>"
            f"<td><code>{_e(json.dumps(described))}</code></td><td>{_e(spec.get('description', ''))}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


@lru_cache(maxsize=1)
def _page() -> str:
    return render(asyncapi_document())


def asyncapi_router() -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/asyncapi/contract", summary="The whole system's AsyncAPI 3.0 document (events and topics)")
    async def contract() -> JSONResponse:
        return JSONResponse(asyncapi_document())

    @router.get("/asyncapi/docs", summary="The same document as an HTML page", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(_page())

    return router
