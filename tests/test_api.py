"""The job API: named endpoints, system endpoints, queue limits, flags and what the file route serves."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from pipelines.base import FEATURES
from queueing.jobs import JobStore

from .conftest import ROOT, assert_valid_glb, launched

ASSETS = ROOT / "assets"


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- endpoints ------------------------------------------------------------------------------------


def test_foundation_endpoints_are_named_and_documented(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/convert_mesh", "/system_status", "/list_pipelines"} <= set(endpoints)
    names = [p["parameter_name"] for p in endpoints["/convert_mesh"]["parameters"]]
    assert names == ["mesh", "output_format", "target_faces", "repair"]
    assert len(endpoints["/convert_mesh"]["returns"]) == 3


def test_system_status_reports_devices_memory_and_queue(client):
    client.predict(handle_file(str(ASSETS / "capsule.glb")), "glb", None, False, api_name="/convert_mesh")
    status = client.predict(api_name="/system_status")
    cpu = next(d for d in status["memory"]["devices"] if d["name"] == "cpu")
    assert cpu["budget_gib"] > 0 and cpu["total_gib"] >= cpu["budget_gib"]
    assert any(r["pipeline"] == "convert_mesh/builtin" for r in cpu["resident"])
    assert status["queue"]["max_size"] == 8 and status["queue"]["waiting"] >= 0
    assert status["recent_jobs"][0]["feature"] == "convert_mesh"


def test_recent_jobs_are_newest_first_within_one_second(tmp_path):
    store = JobStore(tmp_path)
    for feature in ("segment_mesh", "convert_mesh", "complete_parts"):  # not in alphabetical order
        store.create(feature, "builtin", {}, "glb")
    assert [r["feature"] for r in store.recent()] == ["complete_parts", "convert_mesh", "segment_mesh"]


def test_one_odd_record_never_breaks_a_listing(tmp_path):
    """A 2**64 seed, NaN and infinity, megabytes of text and odd keys are stored as JSON any reader takes."""
    store = JobStore(tmp_path)
    job_id, _ = store.create("text_to_3d", "builtin", {"seed": 2**64, "guidance": float("nan"),
                                                       "steps": float("inf"), "prompt": "x" * 3_000_000,
                                                       1: {"deep": [[[[[[[[[[1]]]]]]]]]]}}, "glb")
    store.update(job_id, progress=float("nan"), metadata={"seed": -(2**70)})
    record = store.recent()[0]
    assert record["parameters"]["seed"] == str(2**64) and record["parameters"]["guidance"] is None
    assert record["metadata"]["seed"] == str(-(2**70)) and record["progress"] is None
    assert len(record["parameters"]["prompt"]) < 20_000
    json.dumps(record, allow_nan=False)  # what Gradio's JSON and the REST answers need
    store.close()
    reopened = JobStore(tmp_path)  # and after a restart
    assert reopened.get(job_id)["parameters"]["seed"] == str(2**64)


def test_list_pipelines_covers_every_feature(client):
    listing = client.predict(api_name="/list_pipelines")
    assert set(listing) == set(FEATURES)
    tools = listing["convert_mesh"]
    assert tools["auto"] == "builtin"
    assert tools["pipelines"][0]["available"] is True
    for feature in listing.values():
        for row in feature["pipelines"]:
            assert isinstance(row["available"], bool) and row["reason"]


# -- what the server refuses ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["convert_mesh", "system_status"])
def test_direct_post_bypassing_the_queue_is_refused(studio_server, name):
    code, body = http("POST", f"{studio_server['url']}gradio_api/run/{name}", b'{"data": [null, "glb", null, true]}')
    assert code >= 400 and "queue" in body.lower()


def outside_paths(studio_server) -> list[str]:
    outputs = Path(studio_server["outputs"])
    return [
        "/etc/passwd",
        str(ROOT / "app.py"),
        "app.py",
        "../app.py",
        str(ROOT / "tests" / "conftest.py"),
        f"{ASSETS}/../app.py",
        f"{outputs}/../../../../etc/passwd",
        str(outputs.parent),
    ]


def test_file_route_refuses_paths_outside_outputs_uploads_and_assets(studio_server):
    for path in outside_paths(studio_server):
        code, body = http("GET", f"{studio_server['url']}gradio_api/file={path}")
        assert code in (403, 404), (path, code)
        assert "root:" not in body and "import gradio" not in body


def test_file_route_serves_outputs_and_assets(client, studio_server):
    _, _, meta = client.predict(handle_file(str(ASSETS / "capsule.glb")), "stl", None, False, api_name="/convert_mesh")
    output = Path(studio_server["outputs"]) / meta["folder"] / "model.stl"
    for path in (output, ASSETS / "capsule.glb"):
        code, _ = http("GET", f"{studio_server['url']}gradio_api/file={path}")
        assert code == 200, path


# -- flags ------------------------------------------------------------------------------------------


def test_flags_have_safe_defaults_and_environment_equivalents(monkeypatch):
    import app

    args = app.parse_args([])
    # gpu_slots is jobs at once per GPU found (see Studio.create).
    assert (args.host, args.port, args.share, args.queue_size, args.gpu_slots) == ("127.0.0.1", 7860, False, 64, 1)
    monkeypatch.setenv("STUDIO_PORT", "9123")
    monkeypatch.setenv("STUDIO_QUEUE_SIZE", "3")
    monkeypatch.setenv("STUDIO_SHARE", "1")
    args = app.parse_args([])
    assert (args.port, args.queue_size, args.share) == (9123, 3, True)
    assert app.parse_args(["--port", "9200"]).port == 9200


def test_startup_loads_no_model(tmp_path):
    import app

    studio = app.Studio.create(tmp_path, 1, 1, 4)
    app.build_app(studio)
    status = studio.manager.status()
    assert status["loads"] == 0
    assert all(not d["resident"] for d in status["devices"])
    assert not any(studio.registry.get(f, row["name"]).loaded for f, listing in studio.registry.listing().items()
                   for row in listing["pipelines"] if row["available"])


# -- a small studio with a one-place queue and a pipeline the test holds --------------------------


def sleep_job(client: Client, prompt: str):
    return client.submit(prompt, "test-sleep", 0, 7.5, 32, "medium", False, "glb", api_name="/text_to_3d")


@pytest.fixture(scope="module")
def tight_studio(tmp_path_factory):
    with launched(tmp_path_factory.mktemp("tight-outputs"), "--queue-size", "1", "--cpu-slots", "1",
                  "--max-file-size", "10kb", "--extra-pipelines", "tests.fault_pipelines:SleepPipeline") as server:
        yield {**server, "client": Client(server["url"], verbose=False)}


def test_full_queue_answers_clearly_and_recovers(tight_studio):
    client, studio = tight_studio["client"], tight_studio["studio"]
    running = sleep_job(client, "sleep 60")
    # gr.Progress reaches the client while the job runs.
    wait_for(lambda: any(p.desc.endswith(": sleeping") for p in (running.status().progress_data or [])),
             what="progress from the running job")
    # From a second client: Gradio's cancel stops every running call of an endpoint from one client.
    waiting = sleep_job(Client(tight_studio["url"], verbose=False), "sleep 0.1")
    wait_for(lambda: studio.pools.status()["cpu"]["waiting"] == 1, what="the second job to wait in line")
    wait_for(lambda: any("waiting in line (position 1)" in (p.desc or "")
                         for p in (waiting.status().progress_data or [])), what="the place in line")

    refused = sleep_job(client, "sleep 0.1")
    with pytest.raises(AppError, match="queue is full"):
        refused.result(timeout=30)
    # Status and health still answer while the queue is full.
    assert client.predict(api_name="/system_status")["queue"]["waiting"] == 1
    code, _ = http("GET", f"{tight_studio['url']}health")
    assert code == 200

    running.cancel()
    viewer, _, meta = waiting.result(timeout=60)
    assert meta["status"] == "done"
    assert_valid_glb(viewer)
    _, _, meta = sleep_job(client, "sleep 0.1").result(timeout=60)
    assert meta["status"] == "done"


def test_uploads_over_the_size_limit_are_refused(tight_studio):
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        tight_studio["client"].predict(handle_file(str(ASSETS / "capsule.glb")), "glb", None, True,
                                       api_name="/convert_mesh")
    # The server enforces the limit too, for clients that skip the check.
    boundary = "studio-test-boundary"
    for size, expected in ((5_000, 200), (20_000, 413)):
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.glb"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + b"x" * size + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(f"{tight_studio['url']}gradio_api/upload", data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        assert code == expected, size
