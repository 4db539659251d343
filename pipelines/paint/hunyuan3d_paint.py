"""Hunyuan3D-2 paint (Tencent, non-commercial licence) through hy3dgen's texture pipeline.

A delighting model cleans the reference photo, a multiview diffusion model paints
six views conditioned on the mesh's normal and position renders, and they are
baked into a UV texture. hy3dgen's renderer needs its `custom_rasterizer` CUDA
extension, so this runs on NVIDIA GPUs only. Weights: `tencent/Hunyuan3D-2`
(folders hunyuan3d-delight-v2-0 and hunyuan3d-paint-v2-0), from the Hugging Face
cache or `$HY3DGEN_MODELS`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from ..base import GiB, Pipeline, PipelineOutput, Stages, free_cuda_cache
from ..errors import InputError
from ..hub import download_snapshot
from ..image_io import load_image
from ..knobs import up_axis_knob
from ..mesh.io import flatten, load_scene
from ..mesh.up_axis import resolve_up, turn_y_up
from ..mesh.texture import with_texture
from .builtin import check_paintable, check_texture_size

MODEL_ID = "tencent/Hunyuan3D-2"
WEIGHT_FOLDERS = ["hunyuan3d-delight-v2-0/*", "hunyuan3d-paint-v2-0/*"]


class Hunyuan3DPaintAdapter(Pipeline):
    name = "hunyuan3d-2-paint"
    feature = "paint_mesh"
    label = "Hunyuan3D-2 paint (multiview diffusion, non-commercial licence)"
    description = ("Image-guided texturing: delights the reference photo, generates six consistent views with "
                   "Hunyuan3D-Paint and bakes them into a UV texture.")
    devices = ("cuda",)
    weights_bytes = 6 * GiB
    peak_bytes = 14 * GiB
    requires = ("torch", "diffusers", "hy3dgen", "custom_rasterizer")
    environment = "hunyuan3d-2"
    install_hint = ("python app.py models install hunyuan3d-2, then build hy3dgen's custom_rasterizer CUDA extension "
                    "into that environment (Hunyuan3D-2 repository, hy3dgen/texgen/custom_rasterizer: pip install .)")

    def availability(self, device_kinds: set[str]) -> tuple[bool, str]:
        """The GPU comes first in the reason: without CUDA no install makes it run."""
        if "cuda" not in device_kinds:
            return False, ("needs an NVIDIA GPU with CUDA (hy3dgen renders with its custom_rasterizer CUDA "
                           f"extension); this machine has {', '.join(sorted(device_kinds))}. On a CUDA machine: "
                           f"{self.install_hint}")
        return super().availability(device_kinds)
    priority = 10
    supports_offload = True

    def __init__(self, paint_pipeline=None, model_path: str = MODEL_ID):
        super().__init__()
        self.model_path = model_path
        self.paint = paint_pipeline

    def load(self, device: str, stages: Stages | None = None) -> None:
        """Fetch the delight and paint folders unless `model_path` is a local folder (a stage with progress), then load.

        hy3dgen would download them itself, unseen; a local folder makes it read that instead.
        """
        if self.paint is None:
            from hy3dgen.texgen import Hunyuan3DPaintPipeline

            stages = stages or Stages()
            folder = (Path(self.model_path) if Path(self.model_path).is_dir()
                      else download_snapshot(self.model_path, WEIGHT_FOLDERS, stages, 0.02))
            with stages.stage("load weights", 0.05):
                self.paint = Hunyuan3DPaintPipeline.from_pretrained(str(folder.resolve()))
        self.to(device)

    def _diffusion_pipelines(self) -> list:
        models = getattr(self.paint, "models", {})
        return [model.pipeline for model in models.values() if hasattr(model, "pipeline")]

    def to(self, device: str) -> None:
        for pipeline in self._diffusion_pipelines():
            pipeline.to(device)
        for model in getattr(self.paint, "models", {}).values():
            if hasattr(model, "device"):
                model.device = device
        self.device = device

    def enable_offload(self, device: str) -> None:
        if self.paint is None:
            self.load("cpu")
        self.paint.enable_model_cpu_offload(device=device)
        self.device = device

    def unload(self) -> None:
        self.paint = None
        self.device = None
        free_cuda_cache()

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        size = check_texture_size(inputs.get("texture_size", 2048))
        if inputs.get("image") is None:
            raise InputError("Hunyuan3D-2 paint needs a reference image; the 'builtin' painter paints from a prompt alone.")
        with stages.stage("load", 0.05):
            scene = load_scene(inputs["mesh"])
            check_paintable(scene)
            up = resolve_up(scene, up_axis_knob(inputs))  # its cameras orbit a +Y-up mesh
            mesh = flatten(turn_y_up(scene, up))
            image = load_image(inputs["image"], "reference image")
        warnings = [f"Hunyuan3D-2 paint uses only the front image; the {view} view was ignored."
                    for view in ("back_image", "left_image", "right_image") if inputs.get(view) is not None]
        warnings += up.warnings()
        self.paint.config.texture_size = size
        if hasattr(self.paint, "render"):
            self.paint.render.set_default_texture_resolution(size)
        with stages.stage("multiview diffusion and baking", 0.2):
            import torch

            torch.manual_seed(int(inputs.get("seed") or 0))
            painted = self.paint(mesh.copy(), image=image)
        if isinstance(painted, trimesh.Scene):
            painted = painted.dump(concatenate=True)
        if not np.allclose(painted.vertices[painted.faces], mesh.vertices[mesh.faces], atol=1e-6):
            raise RuntimeError("Hunyuan3D-2 paint changed the mesh's geometry; refusing its result.")
        material = painted.visual.material
        texture = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
        if texture is None:
            raise RuntimeError("Hunyuan3D-2 paint returned no texture.")
        textured = with_texture(painted, texture.convert("RGB"), roughness=0.8, metallic=0.0, name="hunyuan3d_paint")
        return PipelineOutput(
            asset=textured,
            metadata={"mode": "image", "views": ["front"], "texture_size": size, "seed": int(inputs.get("seed") or 0),
                      "model": self.model_path, **up.metadata()},
            warnings=warnings,
            images={"texture": texture.convert("RGB")},
        )
