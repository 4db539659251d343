"""MCP: every named endpoint is a tool an MCP client can list and call over streamable HTTP, with files in and out."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json

import httpx
import pytest
import requests
import trimesh
from gradio_client import Client
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from queueing.users import main as users_cli

from .conftest import ROOT, launched

ASSETS = ROOT / "assets"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with launched(tmp_path_factory.mktemp("outputs"), "--rate-limit", "0", "--client-jobs", "0") as running:
        yield running["url"].rstrip("/")


async def session_calls(base: str, calls: list[tuple[str, dict]], headers: dict | None = None):
    """(tools listed, results of `calls` in order) from one MCP session."""
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=600)) as http, \
            streamable_http_client(f"{base}/gradio_api/mcp/", http_client=http) as (read, write, _), \
            ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        results = []
        for name, arguments in calls:
            results.append(await session.call_tool(name, arguments))
        return tools, results


def answer_of(result) -> dict:
    assert not result.isError, result.content[0].text
    return json.loads(result.content[0].text)


def downloaded_mesh(url: str, file_type: str, headers: dict | None = None) -> trimesh.Trimesh:
    response = requests.get(url, headers=headers, timeout=60)
    assert response.status_code == 200
    return trimesh.load(io.BytesIO(response.content), file_type=file_type, force="mesh")


def test_every_named_endpoint_is_a_described_tool(server):
    endpoints = requests.get(f"{server}/gradio_api/info", timeout=30).json()["named_endpoints"]
    tools, _ = asyncio.run(session_calls(server, []))
    by_name = {tool.name: tool for tool in tools}
    assert set(by_name) == {name.lstrip("/") for name in endpoints}
    for path, endpoint in endpoints.items():
        tool = by_name[path.lstrip("/")]
        assert len(tool.description.split()) >= 5 and "Returns" in tool.description, tool.name
        assert list(tool.inputSchema["properties"]) == [p["parameter_name"] for p in endpoint["parameters"]]
    text = by_name["text_to_3d"].inputSchema
    assert text["required"] == ["prompt"] and "builtin" in text["properties"]["pipeline"]["enum"]
    assert "data:" in by_name["segment_mesh"].inputSchema["properties"]["mesh"]["description"]


def test_sse_transport_lists_and_calls_the_same_tools(server):
    async def over_sse():
        async with sse_client(f"{server}/gradio_api/mcp/sse") as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            names = [tool.name for tool in (await session.list_tools()).tools]
            return names, await session.call_tool("list_pipelines", {})

    names, listing = asyncio.run(over_sse())
    assert "text_to_3d" in names and "list_pipelines" in names
    assert answer_of(listing)["text_to_3d"]["auto"] == "builtin"


def test_a_job_through_mcp_with_files_in_and_out(server):
    capsule = "data:model/gltf-binary;base64," + base64.b64encode((ASSETS / "capsule.glb").read_bytes()).decode()
    _, (generated, converted, empty) = asyncio.run(session_calls(server, [
        ("text_to_3d", {"prompt": "a red wooden chair", "output_format": "stl"}),
        ("convert_mesh", {"mesh": capsule, "output_format": "ply"}),
        ("text_to_3d", {"prompt": "   "}),
    ]))
    made = answer_of(generated)
    assert len(downloaded_mesh(made["Download"]["url"], "stl").faces) > 0
    assert len(downloaded_mesh(made["Result"]["url"], "glb").faces) > 0
    job_id = made["Metadata"]["job_id"]
    assert job_id in {job["id"] for job in Client(server, verbose=False).predict(50, "", api_name="/list_jobs")}
    assert len(downloaded_mesh(answer_of(converted)["Download"]["url"], "ply").faces) > 0
    assert empty.isError and "prompt" in empty.content[0].text.lower()
    # a result URL goes back in as the next tool's input
    _, (segmented,) = asyncio.run(session_calls(server, [
        ("segment_mesh", {"mesh": made["Result"]["url"], "num_parts": 3})]))
    parts = requests.get(answer_of(segmented)["Download"]["url"], timeout=60).content
    assert len(trimesh.load(io.BytesIO(parts), file_type="glb").geometry) >= 2


def test_mcp_with_accounts_needs_a_key_and_runs_as_its_user(tmp_path):
    users_file = tmp_path / "users.json"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr("sys.stdin", io.StringIO("carol-password\n"))
        users_cli(["add", "carol", "--file", str(users_file), "--password-stdin"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        users_cli(["key", "carol", "--file", str(users_file)])
    headers = {"X-API-Key": out.getvalue().strip()}
    with launched(tmp_path / "outputs", "--auth", str(users_file)) as running:
        base = running["url"].rstrip("/")
        refused = requests.post(f"{base}/gradio_api/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                headers={"Accept": "application/json, text/event-stream"}, timeout=30)
        assert refused.status_code == 401
        _, (made,) = asyncio.run(session_calls(base, [("text_to_3d", {"prompt": "a blue teapot"})], headers))
        job_id = answer_of(made)["Metadata"]["job_id"]
        assert running["studio"].jobs.get(job_id)["owner"] == "carol"
        assert len(downloaded_mesh(answer_of(made)["Result"]["url"], "glb", headers).faces) > 0
