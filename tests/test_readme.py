"""The README is the contract with a new user: its commands and its gradio_client examples must stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.base import FEATURES

from .conftest import ROOT, assert_valid_glb

README = (ROOT / "README.md").read_text()
SET_UP_AND_START = "pip install -r requirements.txt && python app.py"
RUN_THE_TESTS = "python -m pytest -q"


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_the_two_commands_are_there_and_ci_runs_the_test_command():
    commands = [block.strip() for block in bash_blocks()]
    assert SET_UP_AND_START in commands and RUN_THE_TESTS in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert f'"$PYTHON" -m pytest -q' in ci and "requirements-dev.txt" in ci and "npm ci" in ci


def test_every_endpoint_has_an_example_and_every_flag_a_row(studio_server):
    import app

    named = {dep["api_name"] for dep in studio_server["demo"].config["dependencies"]
             if dep.get("api_name") and dep.get("api_visibility", "public") == "public"}
    assert set(FEATURES) <= named
    for endpoint in named | {"system_status", "list_pipelines"}:
        assert f'api_name="/{endpoint}"' in README, f"README has no gradio_client example for /{endpoint}"
    for flag, env, *_ in app.FLAGS:
        assert f"| `{flag}` | `{env}` |" in README, f"README's flag table lacks {flag}"


def test_the_gradio_client_examples_run_against_a_live_studio(studio_server, monkeypatch):
    """Execute the README's scripting example as written, pointed at the test server."""
    [example] = [block for block in re.findall(r"```python\n(.*?)```", README, flags=re.S) if "Client(" in block]
    code = example.replace('Client("http://127.0.0.1:7860/")', f'Client("{studio_server["url"]}", verbose=False)')
    monkeypatch.chdir(ROOT)  # the examples name files in assets/ relative to the repository
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    glbs = [value for value in namespace.values() if isinstance(value, str) and value.endswith(".glb")]
    assert glbs, "the examples returned no GLB"
    assert_valid_glb(*glbs)
    assert namespace["meta"]["parts"] and all(p["watertight"] for p in namespace["meta"]["parts"])
    assert Path(namespace["fbx"]).suffix == ".fbx" and Path(namespace["usdz"]).suffix == ".usdz"


@pytest.mark.parametrize("path", ["requirements.txt", "requirements-dev.txt", "requirements-blender.txt"])
def test_requirements_pin_every_package(path):
    """An unpinned line (above all an unpinned torch) would let pip resolve several GB of CUDA packages."""
    for line in (ROOT / path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            assert "==" in line, f"{path}: {line!r} is not pinned"
