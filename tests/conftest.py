"""Shared fixtures: a live studio on a free port, a gradio_client for it, and glTF validation."""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from app import free_port  # noqa: E402,F401  (re-exported for the test modules)

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def launched(outputs: Path, *flags: str):
    """The real app with `flags`, launched in this process on 127.0.0.1 on a free port; stopped afterwards."""
    import app

    args = app.parse_args(["--port", str(app.free_port()), "--outputs", str(outputs), *flags])
    studio = app.studio_from_args(args)
    demo = app.build_app(studio)
    _, url, _ = app.launch(demo, studio, args, prevent_thread_lock=True, quiet=True)
    try:
        yield {"url": url, "studio": studio, "demo": demo, "outputs": outputs}
    finally:
        demo.close()
        studio.stop()


@pytest.fixture
def zero_gpu_calls(monkeypatch) -> list:
    """A stand-in `spaces` package (ZeroGPU's): `spaces.GPU(duration=...)` runs the function and records each
    duration it would ask ZeroGPU for, in the returned list."""
    import sys
    import types

    durations = []

    def gpu(duration):
        def wrap(fn):
            def call(*args):
                durations.append(duration(*args))
                return fn(*args)
            return call
        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    return durations


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory):
    """The real app with its own outputs folder."""
    # Many tests call it in quick succession from one address: no per-client limits here (tests/test_limits.py).
    with launched(tmp_path_factory.mktemp("outputs"), "--queue-size", "8", "--rate-limit", "0",
                  "--client-jobs", "0") as server:
        yield server


@pytest.fixture(scope="session")
def client(studio_server):
    from gradio_client import Client

    return Client(studio_server["url"], verbose=False)


def validate_gltf(*paths) -> list[dict]:
    """Khronos glTF-Validator reports (errors, warnings, messages) for each GLB."""
    result = subprocess.run(
        ["node", str(ROOT / "tools" / "validate_gltf.mjs"), *map(str, paths)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(result.stdout)


def assert_valid_glb(*paths, allow_warnings: bool = True) -> None:
    for report in validate_gltf(*paths):
        assert report["errors"] == 0, report
        if not allow_warnings:
            assert report["warnings"] == 0, report


def load_glb_mesh(path):
    """The one mesh of a GLB the studio wrote, read back by the studio's own loader (which keeps vertex colours)."""
    from pipelines.mesh.io import load_scene

    scene = load_scene(path)
    assert len(scene.geometry) == 1
    return next(iter(scene.geometry.values()))
