"""The Pipeline protocol every model and built-in algorithm implements.

A pipeline is one class per model (as in diffusers): it declares what it needs
(packages, devices, memory) so the registry can say whether it is available and
the GPU manager can plan placement, and it does its work in `run`, reporting
progress through `Stages`. Heavy imports happen in `load`, never at import time,
so the studio starts with no weights and no GPU.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import trimesh

ProgressCallback = Callable[[float, str], None]

GiB = 1024**3
MiB = 1024**2

FEATURES = {
    "text_to_3d": "Text to 3D",
    "image_to_3d": "Image to 3D",
    "paint_mesh": "Mesh painting",
    "segment_mesh": "Part segmentation",
    "rig_mesh": "Auto-rigging",
    "complete_parts": "Part completion",
    "convert_mesh": "Mesh tools",
}


class Stages:
    """Reports progress and records how long each named stage took.

    `callback(fraction, description)` is called when a stage starts; the timings
    end up in the job's metadata as `timings_s`.
    """

    def __init__(self, callback: ProgressCallback | None = None):
        self._callback = callback
        self.timings: dict[str, float] = {}

    def report(self, fraction: float, description: str) -> None:
        if self._callback is not None:
            self._callback(min(max(fraction, 0.0), 1.0), description)

    @contextmanager
    def stage(self, name: str, fraction: float) -> Iterator[None]:
        self.report(fraction, name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)


@dataclass
class PipelineOutput:
    """What `Pipeline.run` returns: the asset plus metadata for the caller.

    `asset` is a trimesh Trimesh or Scene (named nodes are kept), or any object
    with `export_glb(path)` for assets trimesh cannot hold (skinned meshes).
    """

    asset: Any
    metadata: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    images: dict[str, Any] = field(default_factory=dict)


class Pipeline:
    """Base class; subclasses set the class attributes and implement `run`.

    Attributes:
        name: registry name, stable for scripts (`pipeline="builtin"`).
        feature: one of FEATURES.
        devices: device kinds it can run on, best first ("cuda", "cpu").
        weights_bytes / peak_bytes: declared footprint; the GPU manager replaces
            them with measured values after the first load and run.
        requires: importable module names it needs.
        install_hint: the command that installs what `requires` names (for a model with an
            `environment`, its install command unless this says more).
        priority: higher wins when `"auto"` picks among available pipelines.
        gpu_for_auto: it runs on a CPU but far too slowly for `"auto"` to pick it there; it
            can still be asked for by name.
        reentrant: one loaded instance may serve two jobs at once.
        supports_offload: `enable_offload` can run it on a GPU too small to hold it.
        offload_peak_bytes: device memory a run with `enable_offload` needs (largest
            component plus working memory); 0 means peak_bytes plus a quarter of the weights.
        timeout_s: how long one job may run, when the feature's default is too short
            (0 keeps the default; `--job-timeout` overrides both, see queueing.limits).
        environment: the model spec (`pipelines/specs/NAME.toml`) whose environment its
            worker runs in once installed (`python app.py models install NAME`); until then
            it runs in the studio's Python if that has its `requires`.
        measures_itself: the pipeline sets `measured_weights_bytes` after a load and
            `measured_peak_bytes` after a run (a worker does, inside its own process);
            the GPU manager uses those instead of its own meters, which see only the
            studio's process.
    """

    name: str = ""
    feature: str = ""
    label: str = ""
    description: str = ""
    devices: tuple[str, ...] = ("cpu",)
    weights_bytes: int = 0
    peak_bytes: int = 0
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    priority: int = 0
    gpu_for_auto: bool = False
    reentrant: bool = False
    supports_offload: bool = False
    offload_peak_bytes: int = 0
    timeout_s: float = 0
    environment: str = ""
    measures_itself: bool = False
    measured_weights_bytes: int | None = None
    measured_peak_bytes: int | None = None

    def __init__(self) -> None:
        self.device: str | None = None

    # -- availability ---------------------------------------------------------
    @property
    def python(self) -> str:
        """The interpreter its worker is started with: its installed environment's, else "" (the studio's)."""
        if not self.environment:
            return ""
        from .environments import interpreter

        return interpreter(self.environment) or ""

    def missing_requirements(self) -> list[str]:
        """What its code imports that its Python lacks (its own environment was checked when installed)."""
        if self.python:
            return []
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def availability(self, device_kinds: set[str]) -> tuple[bool, str]:
        """(available, reason) on a machine offering `device_kinds`."""
        missing = self.missing_requirements()
        if missing:
            from .environments import install_command

            command = self.install_hint or (install_command(self.environment) if self.environment else "")
            hint = f"; install with: {command}" if command else ""
            return False, f"missing package(s): {', '.join(missing)}{hint}"
        if not any(d in device_kinds for d in self.devices):
            return False, f"needs a {' or '.join(self.devices)} device; this machine has {', '.join(sorted(device_kinds))}"
        return self.extra_availability()

    def extra_availability(self) -> tuple[bool, str]:
        """Hook for checks beyond packages and devices (weights present, ...)."""
        return True, "ready"

    # -- residency (the GPU manager calls these) -------------------------------
    @property
    def loaded(self) -> bool:
        return self.device is not None

    def load(self, device: str, stages: Stages | None = None) -> None:
        """Load weights onto `device` (a torch device string such as "cuda:0" or "cpu").

        Weights not on this machine are downloaded here, reported through `stages`, so the manager measures
        them as weights (not as a run's working memory) and the waiting job shows the download.
        """
        self.device = device

    def to(self, device: str) -> None:
        """Move loaded weights to another device (for example offload to "cpu")."""
        self.device = device

    def unload(self) -> None:
        """Free weights entirely."""
        self.device = None

    def enable_offload(self, device: str) -> None:
        """Run on `device` keeping weights in CPU memory (only if `supports_offload`)."""
        raise NotImplementedError(f"{self.name} does not support CPU offload")

    # -- work -----------------------------------------------------------------
    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        raise NotImplementedError

    def spawn_kwargs(self) -> dict:
        """Keyword arguments that re-create this pipeline in a worker process: `type(self)(**spawn_kwargs())`."""
        return {}

    def estimate_seconds(self, inputs: dict) -> float:
        """Expected GPU seconds for `inputs` (ZeroGPU reserves this long); override with a model's own figures.

        The default allows for moving the weights onto a borrowed GPU plus a typical run.
        """
        return 30.0 + 5.0 * self.weights_bytes / GiB

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label or self.name,
            "description": self.description,
            "devices": list(self.devices),
            "declared_weights_gib": round(self.weights_bytes / GiB, 3),
            "declared_peak_gib": round(self.peak_bytes / GiB, 3),
        }



def folder_bytes(path: os.PathLike) -> int:
    """Bytes the files under `path` take (links counted as links; files that vanish meanwhile skipped)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def free_cuda_cache(index: int | None = None) -> None:
    """Collect dropped tensors and give cached CUDA blocks back, on GPU `index` or the current one.

    A no-op for CUDA where torch is not imported or CUDA not started, so it never starts CUDA itself.
    """
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        with torch.cuda.device(torch.cuda.current_device() if index is None else index):
            torch.cuda.empty_cache()


class TorchPipeline(Pipeline):
    """A pipeline whose weights are one torch object with `.to(device)` (a diffusers-style `pipe`).

    `model` is a hub repository id or a local folder saved with `save_pretrained`;
    it defaults to the environment variable `env_var`, then to the folder its model
    install was given (`models install NAME --weights DIR`), then to `repo_id`.
    """

    repo_id: str = ""
    env_var: str = ""

    def __init__(self, model: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.pipe = None
        self.model = str(model or (os.environ.get(self.env_var) if self.env_var else None)
                         or self.installed_weights() or self.repo_id)

    def installed_weights(self) -> str | None:
        if not self.environment:
            return None
        from .environments import installed_weights

        return installed_weights(self.environment, self.repo_id)

    def spawn_kwargs(self) -> dict:
        return {"model": self.model}

    def to(self, device: str) -> None:
        if self.pipe is not None:
            self.pipe.to(device)
        self.device = device

    def unload(self) -> None:
        self.pipe = None
        self.device = None
        free_cuda_cache()


def as_scene(asset: trimesh.Trimesh | trimesh.Scene) -> trimesh.Scene:
    if isinstance(asset, trimesh.Scene):
        return asset
    return trimesh.Scene(asset)
