"""Hunyuan3D shape generation (Tencent): 2mini, 2 and 2mv through hy3dgen, 2.1 through hy3dshape.

A DINOv2 encoder conditions a flow-matching DiT on the cut-out image (2mv: on up
to four views); the ShapeVAE decodes the latent into an occupancy field on an
octree grid and marching cubes extracts the surface. The models make geometry
only, so the studio colours it from the same preprocessed views as the built-in
pipeline (FrontShader / HullShader), in the same frame: +y up, the front camera
at +z, the front silhouette filling the canvas the way the built-in one does.

Weights: `tencent/Hunyuan3D-2mini`, `tencent/Hunyuan3D-2`, `tencent/Hunyuan3D-2mv`,
`tencent/Hunyuan3D-2.1` from the Hugging Face Hub on first use (a job stage with
progress; only the DiT folder's config.yaml and fp16 checkpoint, which holds the
DiT, the ShapeVAE and the image encoder), then from the hub cache offline. A local
folder laid out like the repository (`<folder>/<subfolder>/config.yaml`,
`model.fp16.safetensors`; 2.1: `model.fp16.ckpt`) can be named instead with the
adapter's env var, or given to `python app.py models install NAME --weights DIR`.

The versions differ only in class attributes: the upstream module, the DiT folder
and its checkpoint file, and the surface extractor (`mc_algo`).

2mv takes the studio's view names as hy3dgen's own (front, left, back, right);
that hy3dgen means the same side by "left" as the tab does (the photographer
walked a quarter turn to their left) is not checked against the real weights.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import trimesh

from ..base import GiB, PipelineOutput, Stages, TorchPipeline
from ..errors import InputError, PipelineUnavailable
from ..hub import cached_snapshot, download_snapshot
from ..mesh.repair import decimate
from .builtin import FrontShader, HullShader, carve, colour_mesh, stand_on_ground
from .options import given_views, options
from .preprocess import View, prepare_views, scene_warnings

CANVAS = 1024  # 2mini's image processor works at 1022 px
HULL_GRID = 128  # visual hull used only to tell which view sees a point when colouring
BOX = 1.01  # hy3dgen decodes the field in [-BOX, BOX]^3
NUM_CHUNKS = 200_000  # grid points per decoder batch, as hy3dgen's own app uses


def rgba(view: View):
    """A preprocessed view as the RGBA image hy3dgen's processor expects (alpha = the mask)."""
    from PIL import Image

    alpha = (view.mask * 255).round().astype(np.uint8)[..., None]
    return Image.fromarray(np.concatenate([view.rgb, alpha], axis=2), "RGBA")


def fit_to_front(mesh: trimesh.Trimesh, front: View) -> trimesh.Trimesh:
    """Scale and move the generated mesh so its x/y extent matches the front silhouette on the canvas.

    Canvas units span [-0.5, 0.5]; the mesh is centred in z. This puts it where the
    view shaders sample the images, whatever normalisation the model used.
    """
    rows = np.flatnonzero(front.mask.max(axis=1) > 0.5)
    cols = np.flatnonzero(front.mask.max(axis=0) > 0.5)
    size = front.mask.shape[0]
    top, bottom = 0.5 - rows[0] / size, 0.5 - (rows[-1] + 1) / size
    left, right = cols[0] / size - 0.5, (cols[-1] + 1) / size - 0.5
    (x0, y0, z0), (x1, y1, z1) = mesh.bounds
    scale = (top - bottom) / max(y1 - y0, 1e-9)
    mesh.apply_translation([-(x0 + x1) / 2, -(y0 + y1) / 2, -(z0 + z1) / 2])
    mesh.apply_scale(scale)
    mesh.apply_translation([(left + right) / 2, (top + bottom) / 2, 0.0])
    return mesh


class _Hunyuan3D(TorchPipeline):
    """Shared loading, generation and colouring; subclasses name the upstream, repository and DiT folder."""

    feature = "image_to_3d"
    devices = ("cuda",)
    requires = ("torch", "torchvision", "hy3dgen", "einops", "pymeshlab", "yaml")
    environment = "hunyuan3d-2"
    subfolder = ""
    multiview = False
    # The module exporting Hunyuan3DDiTFlowMatchingPipeline, FloaterRemover and DegenerateFaceRemover.
    upstream = "hy3dgen.shapegen"
    # The DiT folder's checkpoint (DiT, ShapeVAE and conditioner together): what upstream's loader reads for
    # from_pretrained(use_safetensors=..., variant="fp16").
    checkpoint = "model.fp16.safetensors"
    # Upstream's surface extractor: "mc" is scikit-image's marching cubes (any device); "dmc" needs the
    # CUDA-only `diso` package, without which upstream prints a traceback and returns no mesh.
    mc_algo = "mc"

    # -- weights ----------------------------------------------------------------------
    def weight_files(self) -> list[str]:
        return [f"{self.subfolder}/config.yaml", f"{self.subfolder}/{self.checkpoint}"]

    def local_weights(self) -> Path | None:
        """The folder holding the weights if they are on this machine (a named folder or the hub cache)."""
        folder = Path(self.model)
        if folder.is_dir():
            return folder if all((folder / name).is_file() for name in self.weight_files()) else None
        return cached_snapshot(self.model, self.weight_files())

    def extra_availability(self) -> tuple[bool, str]:
        if self.local_weights() is not None:
            return True, "ready (weights on this machine)"
        if Path(self.model).is_dir():
            return False, (f"the folder {self.model} lacks {' and '.join(self.weight_files())}; "
                           f"point {self.env_var} at a folder laid out like {self.repo_id}")
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            return False, (f"weights for {self.model} ({self.subfolder}) are not cached on this machine and "
                           f"HF_HUB_OFFLINE is set; download them once online, or set {self.env_var} to a local folder")
        return True, f"weights for {self.model} ({self.subfolder}) download on first use"

    # -- residency ----------------------------------------------------------------------
    def load(self, device: str, stages: Stages | None = None) -> None:
        """Download the weights if they are not on this machine (a stage with progress), then load them onto `device`."""
        stages = stages or Stages()
        if self.mc_algo == "dmc" and importlib.util.find_spec("diso") is None:
            raise PipelineUnavailable(f"{self.label} extracts its surface with mc_algo='dmc', which needs the diso "
                                      "package (it builds only with CUDA); install diso or use mc_algo='mc'")
        path = self.local_weights()
        if path is None:
            if Path(self.model).is_dir():
                raise PipelineUnavailable(self.extra_availability()[1])
            path = download_snapshot(self.model, self.weight_files(), stages, 0.05)
        with stages.stage("load weights", 0.08):
            self._load_pipe(path, device)
        self.device = device

    def _load_pipe(self, path: Path, device: str) -> None:
        import torch

        upstream = importlib.import_module(self.upstream)
        dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
        # An absolute path makes upstream read this folder instead of $HY3DGEN_MODELS or the hub.
        self.pipe = upstream.Hunyuan3DDiTFlowMatchingPipeline.from_pretrained(
            str(path.resolve()), device=device, dtype=dtype, subfolder=self.subfolder,
            use_safetensors=self.checkpoint.endswith(".safetensors"), variant="fp16",
        )
        self.pipe.set_surface_extractor(self.mc_algo)

    # -- work -------------------------------------------------------------------------------
    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        import torch

        opts = options(inputs)
        sources = given_views(inputs)
        warnings = []
        if not self.multiview:
            warnings += [f"{self.label} uses only the front image; the {name} view was ignored. "
                         "Use hunyuan3d-2mv for several views." for name in sources if name != "front"]
            sources = {"front": sources["front"]}
        with stages.stage("preprocess", 0.02):
            views = {v.name: v for v in prepare_views(sources, opts["remove_background"], CANVAS)}
        warnings += scene_warnings(list(views.values()))
        condition = {name: rgba(view) for name, view in views.items()} if self.multiview else rgba(views["front"])
        steps = opts["steps"]

        def on_step(index, timestep, output):
            stages.report(0.1 + 0.6 * (index + 1) / steps, f"diffusion {index + 1}/{steps}")

        with stages.stage("diffusion", 0.1):
            latents = self.pipe(
                image=condition, num_inference_steps=steps, guidance_scale=opts["guidance"],
                generator=torch.Generator(device="cpu").manual_seed(opts["seed"]),
                output_type="latent", enable_pbar=False, callback=on_step, callback_steps=1,
            )
        with stages.stage("decode_volume", 0.72), torch.inference_mode():
            # upstream's own decoding step, called apart from the diffusion so each has its stage and timing.
            meshes = self.pipe._export(latents, "trimesh", BOX, 0.0, NUM_CHUNKS, opts["octree_resolution"],
                                       self.mc_algo, enable_pbar=False)
        mesh = meshes[0]
        if mesh is None or len(mesh.faces) == 0:  # upstream's extractor returns None where it found no level set
            raise InputError(f"{self.label} found no surface for this image; try another seed, more steps, "
                             "or an image with one object on a plain background.")
        with stages.stage("clean_up", 0.8):
            upstream = importlib.import_module(self.upstream)
            mesh = upstream.DegenerateFaceRemover()(upstream.FloaterRemover()(mesh))
            faces_generated = len(mesh.faces)
        with stages.stage("decimate", 0.83):
            mesh = decimate(mesh, opts["face_count"])
            mesh.fix_normals()
            mesh = fit_to_front(mesh, views["front"])
        with stages.stage("texture" if opts["textured"] else "colour", 0.86):
            if len(views) > 1:
                field, z_centre = carve(views, HULL_GRID)
                shader = HullShader(views, field, z_centre)
            else:
                shader = FrontShader(views["front"])
            coloured = stand_on_ground(colour_mesh(mesh, shader, opts["textured"]))
        return PipelineOutput(
            asset=coloured,
            metadata={
                "seed": opts["seed"], "steps": steps, "guidance": opts["guidance"],
                "octree_resolution": opts["octree_resolution"], "textured": opts["textured"],
                "model": self.model, "subfolder": self.subfolder, "mc_algo": self.mc_algo,
                "views": {name: view.source for name, view in views.items()},
                "faces_generated": faces_generated,
                "watertight": bool(mesh.is_watertight),
                "generator": f"{self.label}: DiT flow matching + ShapeVAE; colours projected from the views",
            },
            warnings=warnings,
            images={f"preprocessed_{name}": view.preview() for name, view in views.items()}
            | {f"mask_{name}": view.mask_image() for name, view in views.items()},
        )


class Hunyuan3D2Mini(_Hunyuan3D):
    name = "hunyuan3d-2mini"
    label = "Hunyuan3D-2mini (Tencent, 0.6B, non-commercial licence)"
    description = "Single image to shape with the small Hunyuan3D-2 DiT; colours projected from the photo."
    weights_bytes = 4 * GiB
    peak_bytes = 6 * GiB
    priority = 20
    repo_id = "tencent/Hunyuan3D-2mini"
    subfolder = "hunyuan3d-dit-v2-mini"
    env_var = "STUDIO_HUNYUAN3D_2MINI_MODEL"


class Hunyuan3D2(_Hunyuan3D):
    name = "hunyuan3d-2"
    label = "Hunyuan3D-2 (Tencent, 1.1B, non-commercial licence)"
    description = "Single image to shape with the full Hunyuan3D-2 DiT; colours projected from the photo."
    weights_bytes = 5 * GiB
    peak_bytes = 8 * GiB
    priority = 30
    repo_id = "tencent/Hunyuan3D-2"
    subfolder = "hunyuan3d-dit-v2-0"
    env_var = "STUDIO_HUNYUAN3D_2_MODEL"


class Hunyuan3D2MV(_Hunyuan3D):
    name = "hunyuan3d-2mv"
    label = "Hunyuan3D-2mv (Tencent, multi-view, non-commercial licence)"
    description = ("Front with optional back/left/right views to shape; colours blended from every view. "
                   "A front image alone works too.")
    weights_bytes = 5 * GiB
    peak_bytes = 8 * GiB
    priority = 25
    repo_id = "tencent/Hunyuan3D-2mv"
    subfolder = "hunyuan3d-dit-v2-mv"
    env_var = "STUDIO_HUNYUAN3D_2MV_MODEL"
    multiview = True


class Hunyuan3D21(_Hunyuan3D):
    """Hunyuan3D-2.1 shape: hy3dshape's 3.3B DiT (MoE layers) from the Hunyuan3D-2.1 repository, single view."""

    name = "hunyuan3d-2.1"
    label = "Hunyuan3D-2.1 (Tencent, 3.3B, community licence)"
    description = ("Single image to shape with the Hunyuan3D-2.1 DiT; colours projected from the photo. "
                   "Runs on CPU in fp32, far slower than on a GPU.")
    devices = ("cuda", "cpu")
    requires = ("torch", "torchvision", "hy3dshape", "timm", "einops", "omegaconf", "pymeshlab", "skimage", "yaml")
    environment = "hunyuan3d-2.1"
    weights_bytes = 7 * GiB  # 3.68B parameters in fp16: DiT 3.05B, ShapeVAE 0.33B, DINOv2-large 0.30B
    peak_bytes = 1 * GiB  # working memory: 8 GB for shape alone (3DAIGC-API's figure) less the weights
    priority = 40
    gpu_for_auto = True  # a full-size job on a CPU takes over an hour (estimated from its FLOPs)
    repo_id = "tencent/Hunyuan3D-2.1"
    subfolder = "hunyuan3d-dit-v2-1"
    env_var = "STUDIO_HUNYUAN3D_21_MODEL"
    upstream = "hy3dshape"
    checkpoint = "model.fp16.ckpt"  # hy3dshape's from_pretrained reads the .ckpt (use_safetensors=False)
