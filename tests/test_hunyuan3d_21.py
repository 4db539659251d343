"""Hunyuan3D-2.1 shape, end to end on CPU: its own environment built from the upstream snapshot, tiny random
weights of hy3dshape's real classes, and a job through the studio whose worker runs in that environment.

The environment is installed as a user would, `python app.py models install hunyuan3d-2.1 --source TARBALL
--weights DIR --studio-torch`, from the real spec: `--studio-torch` because only the studio's CPU torch
installs on these machines (the spec's CUDA torch pin is not installed); hy3dshape's other packages (einops,
omegaconf, timm, pymeshlab, ...) come from PyPI through the installer. The weights are then made by the
environment's own Python with hy3dshape's classes (tests/tiny_hunyuan3d_21.py) in the folder the install
was given, laid out as tencent/Hunyuan3D-2.1 is, and loaded by hy3dshape's own from_pretrained.

torchvision has no CPU build here. While these tests run, PYTHONPATH (which the installer's import check and
the studio's workers inherit) holds tests/standins, a stand-in that implements in plain torch exactly what
hy3dshape's image encoder calls (Compose, Resize, CenterCrop, Normalize) and only names what timm imports at
import time (FrozenBatchNorm2d, dataset classes, ...; hy3dshape imports timm for layer classes its inference
never builds). Everything else is upstream's code unchanged.

What CPU cannot test: the first stage that needs CUDA is "load weights" on a GPU, where the adapter loads the
checkpoint in fp16 (here fp32 on CPU), and so the fp16 diffusion and decoding after it. The real 3.3B
weights were not run either. mc_algo='dmc' (diso, CUDA only) is not used: the adapter extracts with 'mc'.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from pipelines import environments
from pipelines.errors import PipelineUnavailable
from pipelines.image_to_3d.hunyuan3d import Hunyuan3D21

from .conftest import assert_valid_glb

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT.parent / "shared" / "upstream" / "hunyuan3d-2.1-5e3ec6def575.tar.gz"
STANDINS = ROOT / "tests" / "standins"
STEPS = 3


def test_the_adapter_reads_exactly_the_weights_its_spec_installs():
    spec = environments.specs(environments.SPECS)["hunyuan3d-2.1"]
    pipeline = Hunyuan3D21()
    assert pipeline.environment == spec.name and pipeline.feature in spec.features
    entry = next(w for w in spec.weights if w["repo"] == pipeline.repo_id)
    assert pipeline.weight_files() == ["hunyuan3d-dit-v2-1/config.yaml", "hunyuan3d-dit-v2-1/model.fp16.ckpt"]
    assert all(any(fnmatch.fnmatch(f, p) for p in entry["files"]) for f in pipeline.weight_files())
    assert (pipeline.weights_bytes + pipeline.peak_bytes) / 2**30 == spec.vram_gib
    assert spec.upstream["commit"].startswith("5e3ec6def575")  # the snapshot's commit


def test_dmc_without_diso_is_refused_before_loading(tmp_path, monkeypatch):
    if importlib.util.find_spec("diso") is not None:
        pytest.skip("diso is installed here")
    pipeline = Hunyuan3D21(tmp_path)
    monkeypatch.setattr(pipeline, "mc_algo", "dmc")
    with pytest.raises(PipelineUnavailable, match="mc_algo='dmc', which needs the diso package"):
        pipeline.load("cpu")
    assert not pipeline.loaded


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """hunyuan3d-2.1 installed from the snapshot in a temporary models home, with tiny weights made in it."""
    if not SNAPSHOT.is_file():
        pytest.skip(f"the upstream snapshot {SNAPSHOT.name} is not in shared/upstream beside the repository")
    tmp = tmp_path_factory.mktemp("hunyuan3d-2.1")
    weights = tmp / "weights" / "Hunyuan3D-2.1"
    weights.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_MODELS_HOME", str(tmp / "home"))
        patch.delenv("STUDIO_MODEL_SPECS", raising=False)
        patch.delenv("STUDIO_HUNYUAN3D_21_MODEL", raising=False)
        before = Hunyuan3D21().availability({"cpu"})
        if importlib.util.find_spec("torchvision") is None:
            patch.setenv("PYTHONPATH", str(STANDINS))
        done = subprocess.run([sys.executable, "app.py", "models", "install", "hunyuan3d-2.1", "--source",
                               str(SNAPSHOT), "--weights", str(weights.parent), "--studio-torch"],
                              cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        python = environments.interpreter("hunyuan3d-2.1")
        made = subprocess.run([python, "-m", "tests.tiny_hunyuan3d_21", str(weights)], cwd=ROOT,
                              env=os.environ.copy(), capture_output=True, text=True, timeout=300)
        assert made.returncode == 0, made.stderr
        yield {"before": before, "install": done.stdout, "python": python, "weights": weights, "tmp": tmp}


def test_install_from_the_snapshot_makes_it_available_and_auto_picks_it_on_a_gpu_machine(installed):
    ok, reason = installed["before"]
    assert not ok and reason.startswith("missing package(s): ") and "hy3dshape" in reason.split(";")[0]
    assert ("install with: python app.py models install hunyuan3d-2.1 (Tencent Hunyuan 3D 2.1 Community License: "
            "code and weights: not licensed in the EU, the UK or South Korea") in reason
    assert "installing timm==1.0.31 without their dependencies" in installed["install"]
    assert "checking: import hy3dshape.pipelines" in installed["install"]
    # the studio's own Python cannot import the upstream; the environment's can
    probe = "import hy3dshape.pipelines"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode != 0

    from pipelines.registry import Registry

    # Without a GPU a full-size job would take over an hour: auto keeps to the built-in, a name still reaches it.
    assert Registry(device_kinds={"cpu"}).get("image_to_3d", "auto").name == "builtin"
    assert Registry(device_kinds={"cpu"}).get("image_to_3d", "hunyuan3d-2.1").python == installed["python"]
    pipeline = Registry(device_kinds={"cpu", "cuda"}).get("image_to_3d", "auto")
    assert pipeline.name == "hunyuan3d-2.1" and pipeline.python == installed["python"]
    assert pipeline.model == str(installed["weights"].resolve())  # the folder the install was given
    assert pipeline.availability({"cpu"}) == (True, "ready (weights on this machine)")


def test_a_photo_becomes_a_mesh_through_the_studio_in_the_models_environment(installed):
    from skimage import data

    from queueing.devices import cpu_device
    from queueing.gpu_manager import GPUManager
    from queueing.studio import Studio
    from pipelines.registry import Registry

    photo = installed["tmp"] / "chelsea.png"
    Image.fromarray(data.chelsea()).save(photo)  # scikit-image's cat photo: RGB, background removed by the studio
    registry = Registry(entries=["pipelines.image_to_3d.hunyuan3d:Hunyuan3D21"], device_kinds={"cpu"})
    studio = Studio(installed["tmp"] / "outputs", registry, GPUManager([cpu_device()]))
    progress = []
    try:
        glb, _, meta = studio.run_job(
            "image_to_3d", "hunyuan3d-2.1",
            {"front": str(photo), "steps": STEPS, "octree_resolution": 64, "face_count": 3000, "seed": 1},
            progress=lambda fraction, text: progress.append(text))
    finally:
        studio.stop()

    assert meta["pipeline"] == "hunyuan3d-2.1" and meta["mc_algo"] == "mc" and meta["steps"] == STEPS
    assert meta["subfolder"] == "hunyuan3d-dit-v2-1" and meta["views"] == {"front": meta["views"]["front"]}
    steps = [text for text in progress if text.startswith("diffusion ")]
    assert steps == [f"diffusion {i}/{STEPS}" for i in range(1, STEPS + 1)]
    assert "load weights" in progress
    assert_valid_glb(glb)
    mesh = trimesh.load(glb, force="mesh")
    assert 0 < len(mesh.faces) <= 3000 and meta["faces_generated"] >= len(mesh.faces)
    # +Y up and standing on the ground: the file's y runs from 0 to the cut-out's height, exactly (up to float32),
    # as the adapter fits it to the photo; a file turned Z-up would put the random blob's z extent there instead.
    mask = np.asarray(Image.open(Path(glb).parent / meta["images"]["mask_front"]).convert("L")) > 127
    rows = np.flatnonzero(mask.max(axis=1))
    top, bottom = 0.5 - rows[0] / mask.shape[0], 0.5 - (rows[-1] + 1) / mask.shape[0]
    assert mesh.bounds[:, 1] == pytest.approx([0.0, top - bottom], abs=1e-4)
