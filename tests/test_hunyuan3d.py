"""Hunyuan3D-2 adapters: availability reasons, and CPU generation with tiny random weights of the real classes.

The generation tests build hy3dgen's own DiT, ShapeVAE, DINOv2 conditioner, scheduler and image
processor from a tiny config (with hy3dgen's `instantiate_from_config`, as its loader does), save
them in the layout of the Hub repositories (`<subfolder>/config.yaml`, `model.fp16.safetensors`),
and load them back through the adapter's real loading code from a folder named by its env var.

torchvision: hy3dgen's conditioner imports it for three image transforms (Resize, CenterCrop,
Normalize) and nothing else, and torchvision has no CPU build on these machines. When it is not
installed, these tests put tests/standins (a torch implementation of exactly those transforms, shared
with the Hunyuan3D-2.1 tests) on `sys.path` for their own duration (and drop it and hy3dgen's modules
afterwards); the rest is hy3dgen's code unchanged. When hy3dgen or one of its other imports is missing,
the tests skip and the reason names it.
"""

from __future__ import annotations

import io
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image, ImageDraw

from pipelines.base import Stages
from pipelines.hub import hub_progress
from pipelines.image_to_3d.hunyuan3d import Hunyuan3D2, Hunyuan3D2Mini, Hunyuan3D2MV
from pipelines.mesh.export import export_asset

from .conftest import assert_valid_glb

TINY_STEPS = 3


# -- availability (no hy3dgen needed) -------------------------------------------------------------------

def write_weight_files(folder, subfolder):
    (folder / subfolder).mkdir(parents=True)
    (folder / subfolder / "config.yaml").write_text("model: {}\n")
    (folder / subfolder / "model.fp16.safetensors").write_bytes(b"\0")


def fake_hub_snapshot(cache, repo_id, folders):
    """A hub cache entry for `repo_id` holding `folders` (what another adapter may have downloaded)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for folder in folders:
        write_weight_files(snapshot, folder)


def test_availability_says_what_is_missing_in_order(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("STUDIO_HUNYUAN3D_2_MODEL", raising=False)
    pipeline = Hunyuan3D2()
    monkeypatch.setattr(pipeline, "requires", ("torch", "hy3dgen_not_installed_here"))
    ok, reason = pipeline.availability({"cuda"})
    assert not ok and reason.startswith(
        "missing package(s): hy3dgen_not_installed_here; install with: python app.py models install hunyuan3d-2 "
        "(Tencent Hunyuan Non-Commercial License: ")
    assert "not licensed in the EU" in reason

    monkeypatch.setattr(pipeline, "requires", ("torch",))
    ok, reason = pipeline.availability({"cpu"})
    assert not ok and reason == "needs a cuda device; this machine has cpu"

    ok, reason = pipeline.availability({"cuda", "cpu"})
    assert not ok and "tencent/Hunyuan3D-2 (hunyuan3d-dit-v2-0) are not cached" in reason
    assert "HF_HUB_OFFLINE" in reason and "STUDIO_HUNYUAN3D_2_MODEL" in reason

    # the paint adapter's folders of the same repository are cached, but not this DiT: still unavailable
    fake_hub_snapshot(tmp_path / "hub", "tencent/Hunyuan3D-2", ["hunyuan3d-paint-v2-0"])
    assert not pipeline.availability({"cuda"})[0]

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert pipeline.availability({"cuda"}) == (
        True, "weights for tencent/Hunyuan3D-2 (hunyuan3d-dit-v2-0) download on first use")


def test_weights_come_from_the_hub_cache_or_a_named_folder(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("STUDIO_HUNYUAN3D_2MV_MODEL", raising=False)
    fake_hub_snapshot(tmp_path / "hub", "tencent/Hunyuan3D-2mv", ["hunyuan3d-dit-v2-mv"])
    pipeline = Hunyuan3D2MV()
    monkeypatch.setattr(pipeline, "requires", ())
    assert pipeline.availability({"cuda"}) == (True, "ready (weights on this machine)")
    assert pipeline.local_weights().name == "0" * 40

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("STUDIO_HUNYUAN3D_2MINI_MODEL", str(empty))
    mini = Hunyuan3D2Mini()
    monkeypatch.setattr(mini, "requires", ())
    ok, reason = mini.availability({"cuda"})
    assert not ok and reason.startswith(f"the folder {empty} lacks hunyuan3d-dit-v2-mini/config.yaml")
    write_weight_files(empty, "hunyuan3d-dit-v2-mini")
    assert mini.availability({"cuda"}) == (True, "ready (weights on this machine)")


def test_hub_progress_forwards_file_counts_to_the_job():
    reports = []
    progress_class = hub_progress(Stages(lambda fraction, text: reports.append((fraction, text))), 0.05, "downloading x")
    bar = progress_class(total=2, file=io.StringIO())
    bar.update(1)
    bar.update(1)
    bar.close()
    assert reports == [(0.05, "downloading x: 1/2 files"), (0.05, "downloading x: 2/2 files")]


# -- generation on CPU with tiny random weights ---------------------------------------------------------

STANDINS = str(Path(__file__).parent / "standins")


@pytest.fixture(scope="module")
def hy3dgen():
    """hy3dgen.shapegen, importable for this module's tests (with the torchvision stub when needed)."""
    if importlib.util.find_spec("hy3dgen") is None:
        pytest.skip("hy3dgen is not installed in the studio's Python (pip install --no-deps hy3dgen==2.0.2 "
                    "einops==0.8.2 pymeshlab==2025.7.post1)")
    # diffusers and transformers probe for torchvision when first imported: let them see the real answer.
    import diffusers.utils.torch_utils  # noqa: F401
    import transformers  # noqa: F401

    stubbed = importlib.util.find_spec("torchvision") is None
    saved = {name: module for name, module in sys.modules.items() if name.startswith("hy3dgen")}
    if stubbed:
        sys.path.insert(0, STANDINS)
    try:
        import hy3dgen.shapegen
        from hy3dgen.shapegen.pipelines import instantiate_from_config
    except ImportError as exc:
        _restore(stubbed, saved)
        pytest.skip(f"hy3dgen.shapegen cannot be imported here: {exc}")
    yield instantiate_from_config
    _restore(stubbed, saved)


def _restore(stubbed: bool, saved: dict) -> None:
    """Forget the stub and every hy3dgen module imported on top of it, so later imports see this machine."""
    if not stubbed:
        return
    sys.path.remove(STANDINS)
    for name in [n for n in sys.modules if n.startswith(("hy3dgen", "torchvision"))]:
        del sys.modules[name]
    sys.modules.update(saved)


def tiny_config(multiview: bool) -> dict:
    """The Hub config.yaml's structure and classes, shrunk to a few thousand parameters."""
    return {
        "model": {"target": "hy3dgen.shapegen.models.Hunyuan3DDiT", "params": {
            "in_channels": 8, "context_in_dim": 32, "hidden_size": 32, "mlp_ratio": 2.0, "num_heads": 2,
            "depth": 1, "depth_single_blocks": 1, "axes_dim": [16], "theta": 10000, "qkv_bias": True,
            "guidance_embed": multiview}},
        "vae": {"target": "hy3dgen.shapegen.models.ShapeVAE", "params": {
            "num_latents": 16, "embed_dim": 8, "num_freqs": 4, "include_pi": False, "heads": 2, "width": 32,
            "num_decoder_layers": 1, "qkv_bias": False, "qk_norm": True, "scale_factor": 1.0}},
        "conditioner": {"target": "hy3dgen.shapegen.models.SingleImageEncoder", "params": {"main_image_encoder": {
            "type": "DinoImageEncoderMV" if multiview else "DinoImageEncoder",
            "kwargs": {"config": {"model_type": "dinov2", "hidden_size": 32, "num_hidden_layers": 1,
                                  "num_attention_heads": 2, "intermediate_size": 64, "patch_size": 14,
                                  "image_size": 28},
                       "image_size": 28}}}},
        "scheduler": {"target": "hy3dgen.shapegen.schedulers.FlowMatchEulerDiscreteScheduler",
                      "params": {"num_train_timesteps": 1000}},
        "image_processor": {"target": "hy3dgen.shapegen.preprocessors."
                                      + ("MVImageProcessorV2" if multiview else "ImageProcessorV2"),
                            "params": {"size": 64, "border_ratio": 0.15}},
    }


def save_tiny_weights(instantiate, folder, subfolder: str, multiview: bool) -> None:
    """Random components saved as one fp16 safetensors with `model.` / `vae.` / `conditioner.` prefixes."""
    import safetensors.torch
    import torch
    import yaml

    config = tiny_config(multiview)
    torch.manual_seed(0)
    tensors = {}
    for part in ("model", "vae", "conditioner"):
        for key, value in instantiate(config[part]).state_dict().items():
            tensors[f"{part}.{key}"] = value.detach().to(torch.float16).contiguous()
    (folder / subfolder).mkdir(parents=True)
    (folder / subfolder / "config.yaml").write_text(yaml.safe_dump(config))
    safetensors.torch.save_file(tensors, str(folder / subfolder / "model.fp16.safetensors"))


def ellipse(colour, size: int = 160) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse([size * 0.2, size * 0.1, size * 0.8, size * 0.9], fill=(*colour, 255))
    return image


def generate(pipeline, inputs: dict):
    """Load (unless loaded) and run on the CPU; the progress texts of both, the timings of the run."""
    progress = []
    if not pipeline.loaded:
        pipeline.load("cpu", Stages(lambda fraction, text: progress.append(text)))
    stages = Stages(lambda fraction, text: progress.append(text))
    output = pipeline.run({"steps": TINY_STEPS, "octree_resolution": 64, **inputs}, stages)
    return output, stages, progress


def test_tiny_hunyuan3d_2mini_loads_from_a_named_folder_and_writes_a_valid_glb(hy3dgen, tmp_path, monkeypatch):
    save_tiny_weights(hy3dgen, tmp_path / "weights", "hunyuan3d-dit-v2-mini", multiview=False)
    monkeypatch.setenv("STUDIO_HUNYUAN3D_2MINI_MODEL", str(tmp_path / "weights"))
    pipeline = Hunyuan3D2Mini()
    assert pipeline.extra_availability() == (True, "ready (weights on this machine)")
    output, stages, progress = generate(pipeline, {
        "front": ellipse((200, 40, 30)), "left": ellipse((30, 40, 200)), "face_count": 1500, "textured": True,
    })
    assert type(pipeline.pipe).__name__ == "Hunyuan3DDiTFlowMatchingPipeline"
    assert pipeline.pipe.model.depth == 1  # the tiny config was read from the folder, not a default
    mesh = output.asset
    assert 0 < len(mesh.faces) <= 1500
    assert mesh.visual.kind == "texture" and mesh.visual.material.baseColorTexture is not None
    assert output.warnings == ["Hunyuan3D-2mini (Tencent, 0.6B, non-commercial licence) uses only the front "
                               "image; the left view was ignored. Use hunyuan3d-2mv for several views."]
    assert output.metadata["views"] == {"front": "alpha"} and output.metadata["seed"] == 0
    assert [f"diffusion {i}/{TINY_STEPS}" for i in range(1, TINY_STEPS + 1)] == [
        text for text in progress if text.startswith("diffusion ")]
    assert {"preprocess", "diffusion", "decode_volume", "clean_up", "decimate", "texture"} <= set(stages.timings)
    # fitted to the front silhouette: as tall as the ellipse drawn on the canvas, centred on it
    assert mesh.extents[1] == pytest.approx(0.85, abs=0.02)
    assert abs(mesh.bounds.mean(axis=0)[0]) < 0.02
    assert mesh.bounds[0][1] == pytest.approx(0.0, abs=1e-9)  # standing on the ground, as text-to-3D assets do
    glb, _ = export_asset(mesh, "glb", tmp_path / "out")
    assert_valid_glb(glb)
    loaded = trimesh.load(glb, force="scene")
    assert sum(len(g.faces) for g in loaded.geometry.values()) == len(mesh.faces)


def test_tiny_hunyuan3d_2mv_conditions_on_every_view(hy3dgen, tmp_path):
    save_tiny_weights(hy3dgen, tmp_path / "weights", "hunyuan3d-dit-v2-mv", multiview=True)
    pipeline = Hunyuan3D2MV(tmp_path / "weights")
    pipeline.load("cpu")
    seen = []
    pipeline.pipe.conditioner.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append((tuple(kwargs["image"].shape), kwargs["view_idxs"])),
        with_kwargs=True)
    import torch

    grad_during_decode = []
    pipeline.pipe.vae.register_forward_hook(lambda *args: grad_during_decode.append(torch.is_grad_enabled()))
    views = {"front": ellipse((200, 40, 30)), "back": ellipse((30, 40, 200)), "right": ellipse((30, 200, 40))}
    output, _, _ = generate(pipeline, {**views, "face_count": 1200, "textured": False, "seed": 3})
    # one batch of three 64 px views, in hy3dgen's order: front 0, back 2, right 3
    assert seen == [((1, 3, 3, 64, 64), [(0, 2, 3)])]
    assert grad_during_decode == [False]  # the volume decode keeps no autograd graph
    assert output.metadata["views"] == {"front": "alpha", "back": "alpha", "right": "alpha"}
    assert output.warnings == []
    mesh = output.asset
    assert mesh.visual.kind == "vertex" and 0 < len(mesh.faces) <= 1200
    colours = np.asarray(mesh.visual.vertex_colors)[:, :3].astype(int)
    # the front paints it red, the back blue, the right side green: each view's colour leads somewhere
    assert set(np.argmax(colours, axis=1)) == {0, 1, 2}
    glb, _ = export_asset(mesh, "glb", tmp_path / "out")
    assert_valid_glb(glb)


def test_first_use_downloads_with_progress_in_load_then_generates(hy3dgen, tmp_path, monkeypatch):
    """Not cached: `load` fetches the weights through huggingface_hub (faked here: no network) as a stage."""
    import huggingface_hub

    save_tiny_weights(hy3dgen, tmp_path / "remote", "hunyuan3d-dit-v2-0", multiview=False)
    calls = []

    def snapshot_download(repo_id, allow_patterns=None, local_files_only=False, tqdm_class=None, **kwargs):
        downloaded = any(not offline for _, _, offline in calls)
        calls.append((repo_id, tuple(allow_patterns), local_files_only))
        if local_files_only and not downloaded:
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        if not local_files_only:
            bar = tqdm_class(total=len(allow_patterns), file=io.StringIO())
            for _ in allow_patterns:
                bar.update(1)
            bar.close()
        return str(tmp_path / "remote")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.delenv("STUDIO_HUNYUAN3D_2_MODEL", raising=False)
    pipeline = Hunyuan3D2()
    output, stages, progress = generate(pipeline, {"front": ellipse((90, 90, 90)), "face_count": 800,
                                                   "textured": False})
    files = ("hunyuan3d-dit-v2-0/config.yaml", "hunyuan3d-dit-v2-0/model.fp16.safetensors")
    # load() finds nothing cached, then downloads with progress; run() only runs
    assert calls == [("tencent/Hunyuan3D-2", files, True), ("tencent/Hunyuan3D-2", files, False)]
    assert progress.index("downloading tencent/Hunyuan3D-2: 2/2 files") < progress.index("load weights")
    assert "diffusion" in stages.timings and "load weights" not in stages.timings
    assert len(output.asset.faces) <= 800 and output.metadata["model"] == "tencent/Hunyuan3D-2"
