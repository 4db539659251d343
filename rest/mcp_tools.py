"""Every named Gradio endpoint as an MCP tool, served over streamable HTTP at `/gradio_api/mcp/` (and over SSE
at `/gradio_api/mcp/sse`, as Gradio's own MCP server offers both).

Built with the `mcp` package (Gradio's own MCP server needs the `gradio[mcp]` extra, which pins an older
pydantic than the studio's). A tool call is a `gradio_client` call to this studio's own endpoint, so it takes
the path every script takes: Gradio's queue, the tab's checks, the job runtime, auth and per-client limits.
Its description is the endpoint's docstring with each parameter's label; files go in as a `data:` URI
(base64) or as a URL this studio served (a result of an earlier call) and come back as URLs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import json
import mimetypes
import re
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import anyio
import gradio as gr
import httpx
from fastapi import Request
from gradio_client import Client, handle_file
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.responses import JSONResponse
from starlette.routing import Route

from .common import CONTENT_TYPES, Rest

PATH = "/gradio_api/mcp"
FILE_HINT = ("a file: a data: URI with its type, e.g. 'data:model/gltf-binary;base64,...' or 'data:image/png;base64,"
             "...', or the URL of a file this studio returned from an earlier call")
SUFFIXES = {**{mime: suffix for suffix, mime in CONTENT_TYPES.items()}, "model/obj": ".obj", "image/webp": ".webp"}


class ToolError(ValueError):
    """A tool argument the studio cannot use; the message says what to send instead."""


def is_file(parameter: dict) -> bool:
    return "path" in parameter["type"].get("properties", {})


def tool_schema(parameter: dict) -> dict:
    """A parameter's JSON schema for an agent: files are strings (see FILE_HINT), the rest as Gradio describes them."""
    if is_file(parameter):
        schema = {"type": "string", "description": f"{parameter.get('label') or parameter['parameter_name']}: {FILE_HINT}"}
    else:
        schema = {k: v for k, v in parameter["type"].items() if k not in ("$defs", "additional_description", "title")}
        hint = parameter.get("python_type", {}).get("description")
        schema["description"] = "; ".join(x for x in (parameter.get("label"), hint) if x) or parameter["parameter_name"]
    if parameter.get("parameter_has_default"):
        schema["default"] = parameter["parameter_default"]
    return schema


def tools_of(demo: gr.Blocks) -> dict[str, dict]:
    """Per public named endpoint: its MCP tool, its file parameters and its output labels."""
    docs = {fn.api_name: inspect.getdoc(fn.fn) for fn in demo.fns.values() if fn.fn is not None and fn.api_name}
    found = {}
    for path, endpoint in demo.get_api_info()["named_endpoints"].items():
        name = path.lstrip("/")
        params = endpoint["parameters"]
        returns = [r.get("label") or f"output {i}" for i, r in enumerate(endpoint["returns"])]
        description = (docs.get(name) or f"The studio's /{name} endpoint.") + (
            f"\n\nReturns a JSON object with: {', '.join(returns)} (files as URLs)." if len(returns) > 1 else
            "\n\nReturns its result as JSON (files as URLs).")
        schema = {"type": "object", "properties": {p["parameter_name"]: tool_schema(p) for p in params},
                  "required": [p["parameter_name"] for p in params if not p.get("parameter_has_default")]}
        found[name] = {"tool": types.Tool(name=name, description=description, inputSchema=schema),
                       "files": {p["parameter_name"] for p in params if is_file(p)}, "returns": returns}
    return found


def plain(value, rebase):
    """A Gradio result as JSON for an agent: files as their URL (`rebase`d to the address the agent used) and
    name, never a server path."""
    if isinstance(value, dict) and "url" in value and "path" in value:
        return {"url": rebase(value["url"]), "name": value.get("orig_name") or Path(str(value["path"])).name}
    if isinstance(value, dict):
        return {k: plain(v, rebase) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, rebase) for v in value]
    return value


class StudioMCP:
    """The MCP server and its ASGI endpoint; started on the first request, in the server's own event loop."""

    def __init__(self, demo: gr.Blocks, rest: Rest, url: str):
        self.rest, self.url = rest, url.rstrip("/")
        self.tools = tools_of(demo)
        self.server = Server("3d-studio", instructions="3D generation, painting, segmentation, rigging and mesh "
                                                       "conversion jobs; results come back as file URLs.")
        self.server.list_tools()(self.list_tools)
        self.server.call_tool()(self.call_tool)
        self.manager = StreamableHTTPSessionManager(app=self.server, stateless=True, json_response=True)
        self.sse = SseServerTransport(f"{PATH}/messages/")
        self._started: asyncio.Event | None = None
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    async def list_tools(self) -> list[types.Tool]:
        return [entry["tool"] for entry in self.tools.values()]

    async def call_tool(self, name: str, arguments: dict) -> list[types.TextContent]:
        entry = self.tools.get(name)
        if entry is None:
            raise ToolError(f"There is no tool {name!r}; list the tools first.")
        request = self.server.request_context.request
        headers = self._forwarded(request)
        public = str(request.base_url).rstrip("/") if request is not None else self.url
        with tempfile.TemporaryDirectory() as folder:
            args = {}
            for key, value in (arguments or {}).items():
                if key in entry["files"] and value:
                    args[key] = handle_file(await self._file(str(value), Path(folder), headers, public))
                else:
                    args[key] = value
            client = await anyio.to_thread.run_sync(self._client, headers.get("X-API-Key", ""))
            result = await anyio.to_thread.run_sync(lambda: client.predict(api_name=f"/{name}", **args))

        def rebase(url: str) -> str:
            return public + url[len(self.url):] if url.startswith(self.url + "/") else url

        several = isinstance(result, tuple) and len(result) == len(entry["returns"]) > 1
        answer = dict(zip(entry["returns"], (plain(v, rebase) for v in result))) if several else plain(result, rebase)
        return [types.TextContent(type="text", text=json.dumps(answer))]

    def _forwarded(self, request) -> dict:
        """The caller's API key, passed on to the studio's endpoint (which runs the job as the caller)."""
        key = request.headers.get("x-api-key") if request is not None else None
        return {"X-API-Key": key} if key else {}

    def _client(self, key: str) -> Client:
        with self._lock:
            if key not in self._clients:
                self._clients[key] = Client(self.url, headers={"X-API-Key": key} if key else None,
                                            download_files=False, verbose=False)
            return self._clients[key]

    async def _file(self, value: str, folder: Path, headers: dict, public: str) -> str:
        """A file argument as a local file to upload: a data: URI decoded, or a URL of this studio fetched."""
        match = re.fullmatch(r"data:([\w.+/-]+)?(?:;[\w=.-]+)*;base64,(.*)", value, re.S)
        if match:
            mime = match.group(1) or ""
            suffix = SUFFIXES.get(mime) or mimetypes.guess_extension(mime) or ""
            if not suffix:
                raise ToolError(f"Say the file's type in the data: URI (e.g. data:model/gltf-binary;base64,...); "
                                f"got {mime or 'none'}.")
            try:
                content = base64.b64decode(match.group(2), validate=True)
            except (binascii.Error, ValueError):
                raise ToolError("The data: URI is not valid base64.") from None
            path = folder / f"input{suffix}"
            path.write_bytes(content)
            return str(path)
        for base in (public, self.url):  # a URL of this studio, as the agent or the studio itself named it
            if value.startswith(base + "/"):
                value = self.url + value[len(base):]
                break
        else:
            raise ToolError(f"A file argument must be {FILE_HINT}.")
        async with httpx.AsyncClient(timeout=60) as http:
            response = await http.get(value, headers=headers)
        if response.status_code != 200:
            raise ToolError(f"The studio answered {response.status_code} for that file URL; use a URL it returned.")
        path = folder / (Path(unquote(urlparse(value).path)).name or "input")
        path.write_bytes(response.content)
        return str(path)

    async def refused(self, scope, receive, send) -> bool:
        """With accounts, a request without a valid API key is answered 401 here."""
        if self.rest.studio.users is None or self.rest.who(Request(scope, receive))[0] is not None:
            return False
        response = JSONResponse({"error": "Not authenticated: send your API key in the X-API-Key header."}, 401)
        await response(scope, receive, send)
        return True

    async def sse_connect(self, scope, receive, send):
        """GET /gradio_api/mcp/sse: one MCP session over server-sent events."""
        if await self.refused(scope, receive, send):
            return
        async with self.sse.connect_sse(scope, receive, send) as (read, write):
            await self.server.run(read, write, self.server.create_initialization_options())

    async def sse_message(self, scope, receive, send):
        """POST /gradio_api/mcp/messages/?session_id=...: a client message for an SSE session."""
        if not await self.refused(scope, receive, send):
            await self.sse.handle_post_message(scope, receive, send)

    async def __call__(self, scope, receive, send):
        """Streamable HTTP: the MCP session manager runs in the server's event loop from the first request on."""
        if await self.refused(scope, receive, send):
            return
        if self._started is None:
            self._started = asyncio.Event()
            asyncio.get_running_loop().create_task(self._run())
        await self._started.wait()
        await self.manager.handle_request(scope, receive, send)

    async def _run(self) -> None:
        async with self.manager.run():
            self._started.set()
            await asyncio.Event().wait()  # for the life of the server


class Asgi:
    """A coroutine (scope, receive, send) as an ASGI app (Starlette would take a bare method for a request handler)."""

    def __init__(self, handler):
        self.handler = handler

    async def __call__(self, scope, receive, send):
        await self.handler(scope, receive, send)


def mount(demo: gr.Blocks, rest: Rest, url: str) -> StudioMCP:
    """Serve the MCP tools at /gradio_api/mcp/ (with and without the slash) and /gradio_api/mcp/sse."""
    mcp = StudioMCP(demo, rest, url)
    methods = ["GET", "POST", "DELETE"]
    demo.app.router.routes[:0] = [Route(PATH, mcp, methods=methods), Route(PATH + "/", mcp, methods=methods),
                                  Route(PATH + "/sse", Asgi(mcp.sse_connect), methods=["GET"]),
                                  Route(PATH + "/messages/", Asgi(mcp.sse_message), methods=["POST"])]
    return mcp
