"""REST compatibility with the studio's predecessors, and the MCP server, added to the launched app.

One module per API family (`aigc` 3DAIGC-API, `hunyuan` the Hunyuan3D-2.1 Space API, `trellis` the TRELLIS
API, `promptar` PromptAR, `synchuman` SyncHuman) and `common` for what they share; `mcp_tools` makes every
named Gradio endpoint an MCP tool. Routes are put ahead of Gradio's own after launch (routes added before
launch are lost); their OpenAPI description is served at /docs, /redoc and /openapi.json.
"""

from __future__ import annotations

from typing import Callable

import gradio as gr
from fastapi import Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from queueing.studio import Studio

from . import aigc, hunyuan, mcp_tools, promptar, synchuman, trellis
from .common import Rest

FAMILIES = (aigc, hunyuan, trellis, promptar, synchuman)
DESCRIPTION = (
    "Compatibility routes for the 3DAIGC-API, Hunyuan3D-2.1, TRELLIS, PromptAR and SyncHuman REST APIs. Every job "
    "runs on the studio's job runtime: it appears in the History tab and /list_jobs, and is held to the same "
    "auth (X-API-Key with --auth), rate limits (429 with Retry-After), queue and time limits. "
    "Gradio's own endpoints are described at /gradio_api/info; MCP clients connect to /gradio_api/mcp/."
)


def mount(demo: gr.Blocks, studio: Studio, who: Callable[[Request], tuple[str | None, str]]) -> list[APIRoute]:
    """Add every family's routes, the API docs and the MCP server to the launched `demo`; returns the REST routes.

    `who(request)` names the caller: (account or None, the client the per-client limits count).
    """
    rest = Rest(studio, who, getattr(demo, "max_file_size", None))
    routes = [route for family in FAMILIES for route in family.build(rest).routes]
    schema = {}

    def openapi() -> dict:
        if not schema:
            schema.update(get_openapi(title="3D Studio REST API", version="1.0.0", description=DESCRIPTION,
                                      routes=routes))
        return schema

    docs = [APIRoute("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
            APIRoute("/docs", lambda: get_swagger_ui_html(openapi_url="/openapi.json", title="3D Studio REST API"),
                     methods=["GET"], include_in_schema=False),
            APIRoute("/redoc", lambda: get_redoc_html(openapi_url="/openapi.json", title="3D Studio REST API"),
                     methods=["GET"], include_in_schema=False)]
    demo.app.router.routes[:0] = [*routes, *docs]
    mcp_tools.mount(demo, rest, demo.local_url)
    return routes
