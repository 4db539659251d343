"""The Hugging Face Space bundle: its entry point builds the studio, and its settings match the repository."""

from __future__ import annotations

import importlib.util

import gradio as gr
import yaml

from .conftest import ROOT

SPACE = ROOT / "hf_space"


def load_entry():
    spec = importlib.util.spec_from_file_location("hf_space_entry", SPACE / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return dict(line.split("==") for line in lines if line and not line.startswith("-"))


def test_entry_point_builds_the_studio_without_launching(tmp_path):
    entry = load_entry()
    assert entry.STUDIO == ROOT
    demo, studio, args = entry.build(["--outputs", str(tmp_path)])
    assert isinstance(demo, gr.Blocks)
    api_names = {fn.api_name for fn in demo.fns.values()}
    assert {"convert_mesh", "system_status", "list_pipelines"} <= api_names
    assert studio.outputs == tmp_path and args.host == "127.0.0.1"
    assert studio.manager.status()["loads"] == 0


def test_space_listens_on_all_interfaces_and_the_space_port():
    entry = load_entry()
    assert entry.space_argv({}) == []
    assert entry.space_argv({"SPACE_ID": "user/studio", "PORT": "7861"}) == ["--host", "0.0.0.0", "--port", "7861"]
    args = entry.studio_app.parse_args(entry.space_argv({"SPACE_ID": "user/studio"}))
    assert (args.host, args.port, args.share) == ("0.0.0.0", 7860, False)


def test_space_front_matter_and_requirements_match_the_repository():
    front_matter = yaml.safe_load((SPACE / "README.md").read_text().split("---")[1])
    assert front_matter["sdk"] == "gradio" and front_matter["sdk_version"] == gr.__version__
    assert str(front_matter["python_version"]) == "3.11"
    assert (SPACE / front_matter["app_file"]).is_file()
    core, space = pins(ROOT / "requirements.txt"), pins(SPACE / "requirements.txt")
    assert {name: space.get(name) for name in core} == core
    assert "torch" in space and "spaces" in space
