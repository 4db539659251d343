"""Model environments: the specs, and the installer building a model a Python of its own that its worker runs in."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pipelines import environments
from pipelines.base import FEATURES
from pipelines.registry import Registry, load_class

ROOT = Path(__file__).resolve().parents[1]

TINY_SPEC = """
name = "tiny-model"
label = "A tiny model for the installer's tests"
features = ["text_to_3d"]
vram_gib = 0.1
check = "tinymodel"

[licence]
name = "MIT"
applies = "everything"

[upstream]
git = "https://example.invalid/tiny-model.git"
commit = "0123456789ab"
paths = ["src"]

[[weights]]
repo = "someone/tiny-weights"
gib = 0.001
"""
TINY_CODE = "def answer(prompt):\n    return f'tiny saw {prompt}'\n"


def models(*args: str, env: dict) -> subprocess.CompletedProcess:
    """`python app.py models ...`, as a user runs it."""
    return subprocess.run([sys.executable, "app.py", "models", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_every_shipped_spec_is_pinned_and_serves_the_adapters_that_name_it():
    shipped = environments.specs(environments.SPECS)
    assert {"shap-e", "hunyuan3d-2"} <= set(shipped)
    for spec in shipped.values():
        assert spec.vram_gib > 0 and spec.licence["name"] and spec.weights
        assert all("==" in r for r in (*spec.torch, *spec.requirements))
    named = [p for f in FEATURES for p in Registry()._pipelines[f].values() if p.environment]
    assert {p.environment for p in named} == set(shipped)
    for pipeline in named:
        assert pipeline.feature in shipped[pipeline.environment].features
        if hasattr(pipeline, "repo_id"):  # its weights are among those the install fetches
            assert pipeline.repo_id in {w["repo"] for w in shipped[pipeline.environment].weights}


def test_a_spec_that_is_not_pinned_is_refused(tmp_path):
    (tmp_path / "loose.toml").write_text(TINY_SPEC.replace('"tiny-model"', '"loose"', 1)
                                         + '[python]\nrequirements = ["numpy>=1"]\n')
    with pytest.raises(ValueError, match="'numpy>=1' is not pinned with =="):
        environments.specs(tmp_path)


@pytest.fixture
def models_home(tmp_path, monkeypatch):
    """A specs folder holding `tiny-model`, an empty models home, and the tiny upstream as a tarball."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "tiny-model.toml").write_text(TINY_SPEC)
    monkeypatch.setenv("STUDIO_MODEL_SPECS", str(specs))
    monkeypatch.setenv("STUDIO_MODELS_HOME", str(tmp_path / "home"))
    source = tmp_path / "tiny-model-0123456789ab.tar.gz"
    with tarfile.open(source, "w:gz") as archive:
        data = TINY_CODE.encode()
        info = tarfile.TarInfo("src/tinymodel/__init__.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    (tmp_path / "weights" / "tiny-weights").mkdir(parents=True)
    return {"source": source, "weights": tmp_path / "weights", "home": tmp_path / "home",
            "env": {**os.environ, "STUDIO_MODEL_SPECS": str(specs), "STUDIO_MODELS_HOME": str(tmp_path / "home")}}


def test_install_builds_an_environment_the_model_runs_in_then_remove_takes_it_away(models_home, tmp_path):
    from queueing.devices import cpu_device
    from queueing.gpu_manager import GPUManager
    from queueing.studio import Studio

    probe = load_class("tests.fault_pipelines:EnvironmentProbe")()
    ok, reason = probe.availability({"cpu"})
    assert not ok and reason == ("missing package(s): tinymodel; install with: python app.py models install "
                                 "tiny-model (MIT: everything)")
    listed = models("list", env=models_home["env"])
    assert "tiny-model" in listed.stdout and "not installed: python app.py models install tiny-model" in listed.stdout

    done = models("install", "tiny-model", "--source", str(models_home["source"]), "--weights",
                  str(models_home["weights"]), "--studio-torch", env=models_home["env"])
    assert done.returncode == 0, done.stderr
    assert "checking: import tinymodel" in done.stdout and "installed tiny-model" in done.stdout
    python = environments.interpreter("tiny-model")
    assert python and Path(python).is_relative_to(models_home["home"] / "tiny-model")
    assert environments.installed_weights("tiny-model", "someone/tiny-weights") == str(
        (models_home["weights"] / "tiny-weights").resolve())
    row = next(r for r in environments.listing() if r["name"] == "tiny-model")
    assert row["installed"] and row["disk_gib"] > 0 and row["licence"] == "MIT"

    # The studio's own Python cannot import the upstream; the job's worker, started with the model's, can.
    assert subprocess.run([sys.executable, "-c", "import tinymodel"], cwd=ROOT, capture_output=True).returncode != 0
    assert probe.availability({"cpu"}) == (True, "ready") and probe.python == python
    registry = Registry(entries=["tests.fault_pipelines:EnvironmentProbe"])
    studio = Studio(tmp_path / "outputs", registry, GPUManager([cpu_device()]))
    try:
        _, _, meta = studio.run_job("text_to_3d", "test-environment-probe", {"prompt": "a cube"})
        assert next(m for m in studio.status()["models"] if m["name"] == "tiny-model")["installed"]
    finally:
        studio.stop()
    assert meta["answer"] == "tiny saw a cube"
    assert meta["prefix"] == "venv"  # the environment's folder (metadata keeps no server path)

    assert models("remove", "tiny-model", env=models_home["env"]).returncode == 0
    assert environments.installed("tiny-model") is None and not (models_home["home"] / "tiny-model").exists()
    assert not probe.availability({"cpu"})[0]


def test_a_failed_install_says_why_and_leaves_nothing(models_home, tmp_path):
    not_code = tmp_path / "notes.txt"
    not_code.write_text("not a tarball")
    failed = models("install", "tiny-model", "--source", str(not_code), "--studio-torch", env=models_home["env"])
    assert failed.returncode == 1 and "neither a folder nor a tarball" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not (models_home["home"] / "tiny-model").exists()
    missing = models("install", "tiny-model", "--source", str(models_home["source"]), "--weights", str(tmp_path),
                     "--studio-torch", env=models_home["env"])
    assert missing.returncode == 1 and "lacks the folder(s) tiny-weights" in missing.stderr
    unknown = models("install", "no-such-model", env=models_home["env"])
    assert unknown.returncode == 1 and "No model called 'no-such-model'; the models are: tiny-model" in unknown.stderr
