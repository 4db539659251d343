"""Shap-E (OpenAI) through diffusers: text to 3D and image to 3D as vertex-coloured meshes.

Weights come from the Hugging Face Hub on first use (the download is a job
stage with progress), stay in the hub cache and load offline afterwards; a
local folder saved with `save_pretrained` works too (`STUDIO_SHAP_E_MODEL`,
`STUDIO_SHAP_E_IMG2IMG_MODEL`). The diffusion runs to latents, and the
renderer's marching cubes turns a latent into a mesh at the grid size the
`detail` knob asks for.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from .base import GiB, PipelineOutput, Stages, TorchPipeline
from .errors import InputError
from .hub import cached_snapshot, hub_progress
from .image_to_3d import options as image_options
from .image_to_3d.preprocess import prepare_views
from .mesh.repair import decimate
from .mesh.texture import bake_vertex_colors
from .mesh.up_axis import Z_UP_TO_Y_UP  # Shap-E meshes are z-up in a [-1, 1] cube; glTF is y-up in metres
from .text_to_3d.options import options

GRID_SIZES = {"low": 64, "medium": 128, "high": 192}
TEXTURE_FACES = 30_000  # decimate before baking: xatlas slows down sharply above this
TEXTURE_SIZE = 1024
TARGET_SIZE_M = 1.0
MAX_IMAGE_GRID = 256
IMAGE_SIZE = 256  # the preprocessed view; CLIP resizes it to 224
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".msgpack", ".h5", ".onnx")


def skipped_files(files: list[str]) -> list[str]:
    """Repository files a download can skip: every weight format but safetensors where a folder has safetensors.

    diffusers loads safetensors first, so the duplicate pickles, Flax and ONNX copies would only cost disk and time.
    """
    folders_with_safetensors = {os.path.dirname(f) for f in files if f.endswith(".safetensors")}
    return [f for f in files if f.endswith(WEIGHT_SUFFIXES) and not f.endswith(".safetensors")
            and os.path.dirname(f) in folders_with_safetensors]


def to_trimesh(raw) -> trimesh.Trimesh:
    """A diffusers `MeshDecoderOutput` as a y-up trimesh with vertex colours, 1 m across, on the ground."""
    vertices = raw.verts.detach().float().cpu().numpy()
    faces = raw.faces.detach().cpu().numpy().astype(np.int64)
    if len(faces) == 0:
        raise InputError("Shap-E produced an empty shape; try another seed or a more concrete prompt.")
    rgb = np.stack([raw.vertex_channels[c].detach().float().cpu().numpy() for c in "RGB"], axis=1)
    colors = np.concatenate([np.clip(rgb * 255.0, 0, 255).round(), np.full((len(rgb), 1), 255.0)], axis=1)
    mesh = trimesh.Trimesh(vertices, faces, vertex_colors=colors.astype(np.uint8), process=True)
    if mesh.is_watertight and mesh.volume < 0:
        mesh.invert()  # marching-cubes tables differ in winding; normals must point out
    mesh.apply_transform(Z_UP_TO_Y_UP)
    mesh.apply_scale(TARGET_SIZE_M / max(float(mesh.extents.max()), 1e-9))
    low, high = mesh.bounds
    mesh.apply_translation([-(low[0] + high[0]) / 2, -low[1], -(low[2] + high[2]) / 2])
    return mesh


class _ShapE(TorchPipeline):
    """Shared loading and decoding; subclasses say which diffusers pipeline and how to condition it."""

    devices = ("cuda", "cpu")
    requires = ("torch", "diffusers", "transformers")
    environment = "shap-e"
    priority = 10

    # -- weights ----------------------------------------------------------------
    def local_weights(self) -> Path | None:
        """The folder holding the weights if they are on this machine (a local folder or the hub cache)."""
        if Path(self.model).is_dir():
            return Path(self.model) if (Path(self.model) / "model_index.json").is_file() else None
        return cached_snapshot(self.model, ["model_index.json"])

    def availability(self, device_kinds: set[str]) -> tuple[bool, str]:
        ok, reason = super().availability(device_kinds)
        if not ok:
            return ok, reason
        if self.local_weights() is not None:
            slow = "" if "cuda" in device_kinds else "; without a GPU a run takes minutes"
            return True, f"ready (weights on this machine{slow})"
        from huggingface_hub import constants

        fetch = (f"download them once on a machine with internet (python -c \"from huggingface_hub import "
                 f"snapshot_download; snapshot_download('{self.repo_id}')\") or point {self.env_var} at a folder "
                 "saved with save_pretrained")
        if constants.HF_HUB_OFFLINE:
            return False, f"weights for {self.model} are not on this machine and HF_HUB_OFFLINE is set; {fetch}"
        if "cuda" not in device_kinds:
            return False, (f"weights for {self.model} are not on this machine, and without a GPU a run takes minutes; "
                           f"{fetch}")
        return True, f"weights for {self.model} download on first use (about {self.weights_bytes / GiB:.1f} GiB)"

    def _download(self, stages: Stages) -> Path:
        from huggingface_hub import HfApi, snapshot_download

        with stages.stage("download weights (first use)", 0.02):
            skip = skipped_files(HfApi().list_repo_files(self.model))
            return Path(snapshot_download(self.model, ignore_patterns=skip or None,
                                          tqdm_class=hub_progress(stages, 0.02, "downloading weights")))

    def _load_pipe(self, path: Path, device: str) -> None:
        import torch

        dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
        pipe = self.pipeline_class().from_pretrained(str(path), dtype=dtype)
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(device)

    def _full_precision_on_cpu(self) -> None:
        import torch

        if not str(self.device).startswith("cuda") and self.pipe.dtype != torch.float32:
            self.pipe.to(torch.float32)  # loaded in half precision on a GPU, now running on the CPU

    # -- residency ------------------------------------------------------------------
    def load(self, device: str, stages: Stages | None = None) -> None:
        """Download the weights if they are not on this machine (a stage with progress), then load them."""
        stages = stages or Stages()
        path = self.local_weights() or self._download(stages)
        with stages.stage("load weights", 0.05):
            self._load_pipe(path, device)
        self.device = device

    # -- work -------------------------------------------------------------------------
    def pipeline_class(self):
        raise NotImplementedError

    def _generate(self, condition: dict, opts: dict, grid_size: int, stages: Stages) -> trimesh.Trimesh:
        import torch

        generator = torch.Generator(device="cpu").manual_seed(int(opts["seed"]))
        steps = int(opts["steps"])

        calls = [0]

        def on_prior_call(module, args, output):
            # Heun evaluates the prior twice per step; the schedule length counts every evaluation.
            calls[0] += 1
            total = max(len(self.pipe.scheduler.timesteps), 1)
            stages.report(0.1 + 0.6 * min(calls[0] / total, 1.0), f"diffusion {min(calls[0], total)}/{total}")

        hook = self.pipe.prior.register_forward_hook(on_prior_call)
        try:
            with stages.stage("diffusion", 0.1):
                latents = self.pipe(
                    **condition,
                    guidance_scale=float(opts["guidance"]),
                    num_inference_steps=steps,
                    generator=generator,
                    output_type="latent",
                ).images
        finally:
            hook.remove()
        with stages.stage("decode mesh", 0.72):
            raw = self.pipe.shap_e_renderer.decode_to_mesh(latents[:1], self.pipe.device, grid_size=grid_size)
            return to_trimesh(raw)

    def _finish(self, mesh: trimesh.Trimesh, textured: bool, stages: Stages, metadata: dict) -> PipelineOutput:
        if textured:
            with stages.stage("bake texture", 0.85):
                mesh = bake_vertex_colors(decimate(mesh, TEXTURE_FACES), TEXTURE_SIZE, roughness=0.8, metallic=0.0)
        return PipelineOutput(
            asset=mesh,
            metadata={
                **metadata,
                "model": self.model,
                "generator": "Shap-E (diffusion); the mesh is scaled so its largest side is 1 m",
            },
        )


class ShapETextPipeline(_ShapE):
    name = "shap-e"
    feature = "text_to_3d"
    label = "Shap-E (OpenAI, diffusers)"
    description = "Text-conditioned diffusion of an implicit 3D function, decoded with marching cubes; vertex colours."
    weights_bytes = int(1.5 * GiB)
    peak_bytes = int(2.0 * GiB)
    repo_id = "openai/shap-e"
    env_var = "STUDIO_SHAP_E_MODEL"

    def pipeline_class(self):
        from diffusers import ShapEPipeline

        return ShapEPipeline

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        opts = options(inputs)
        self._full_precision_on_cpu()
        mesh = self._generate({"prompt": opts["prompt"]}, opts, GRID_SIZES[opts["detail"]], stages)
        metadata = {"prompt": opts["prompt"], "seed": opts["seed"], "guidance": opts["guidance"],
                    "steps": opts["steps"], "detail": opts["detail"], "grid_size": GRID_SIZES[opts["detail"]],
                    "textured": opts["textured"]}
        return self._finish(mesh, opts["textured"], stages, metadata)


class ShapEImagePipeline(_ShapE):
    name = "shap-e"
    feature = "image_to_3d"
    label = "Shap-E image to 3D (OpenAI, diffusers)"
    description = "Image-conditioned Shap-E (CLIP image embedding); one front view; vertex colours."
    weights_bytes = int(1.6 * GiB)
    peak_bytes = int(2.0 * GiB)
    priority = 5  # a real model, but a single view: dedicated reconstruction models rank above it
    repo_id = "openai/shap-e-img2img"
    env_var = "STUDIO_SHAP_E_IMG2IMG_MODEL"

    def pipeline_class(self):
        from diffusers import ShapEImg2ImgPipeline

        return ShapEImg2ImgPipeline

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        opts = image_options.options(inputs)
        views = image_options.given_views(inputs)
        grid_size = min(opts["octree_resolution"], MAX_IMAGE_GRID)
        warnings = [f"Shap-E uses only the front image; the {name} view was ignored." for name in views if name != "front"]
        if opts["octree_resolution"] > MAX_IMAGE_GRID:
            warnings.append(f"Shap-E's marching-cubes grid is capped at {MAX_IMAGE_GRID}; used {MAX_IMAGE_GRID}.")
        with stages.stage("preprocess", 0.01):
            (front,) = prepare_views({"front": views["front"]}, opts["remove_background"], IMAGE_SIZE)
        self._full_precision_on_cpu()
        mesh = self._generate({"image": front.preview()}, opts, grid_size, stages)
        faces_extracted = len(mesh.faces)
        with stages.stage("decimate", 0.8):
            mesh = decimate(mesh, opts["face_count"])
        metadata = {"seed": opts["seed"], "guidance": opts["guidance"], "steps": opts["steps"], "grid_size": grid_size,
                    "faces_extracted": faces_extracted, "mask": front.source, "textured": opts["textured"]}
        output = self._finish(mesh, opts["textured"], stages, metadata)
        output.warnings.extend(warnings)
        output.images.update({"preprocessed_front": front.preview(), "mask_front": front.mask_image()})
        return output
