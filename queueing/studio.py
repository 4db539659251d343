"""The studio context shared by every tab, and the one path every job takes.

`Studio.run_job` is the data path of DESIGN.md: pick the pipeline, acquire it
through the GPU manager, run it with progress, export through the shared
exporter into a fresh job folder, and write the job record. Tabs only convert
UI values into `inputs` and errors into `gr.Error`.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.base import FEATURES, ProgressCallback, Stages, as_scene
from pipelines.errors import InputError
from pipelines.mesh.export import check_format, export_asset
from pipelines.mesh.io import scene_stats
from pipelines.registry import Registry

from .devices import DEFAULT_CPU_BUDGET, DEFAULT_GPU_BUDGET, DEFAULT_GPU_RESERVE, detect_devices
from .gpu_manager import DEFAULT_WAIT_S, GPUManager
from .jobs import JobStore
from .pools import Pools

log = logging.getLogger("studio")


@dataclass
class Studio:
    outputs: Path
    registry: Registry
    manager: GPUManager
    pools: Pools = field(default_factory=Pools)
    queue_size: int = 16

    def __post_init__(self):
        self.jobs = JobStore(self.outputs)
        self.registry.device_kinds = self.manager.device_kinds

    @classmethod
    def create(cls, outputs: Path, gpu_slots: int = 1, cpu_slots: int = 2, queue_size: int = 16,
               gpu_budget: str = DEFAULT_GPU_BUDGET, cpu_budget: str = DEFAULT_CPU_BUDGET,
               wait_s: float = DEFAULT_WAIT_S, gpu_reserve: str = DEFAULT_GPU_RESERVE) -> "Studio":
        """`gpu_slots` jobs at once per GPU the manager found (the "gpu" pool is that times the GPU count).

        Budgets and the reserve are fractions or sizes ("20GiB"); see `queueing.devices.parse_budget`.
        """
        manager = GPUManager(detect_devices(gpu_budget, cpu_budget, gpu_reserve), wait_s=wait_s)
        pools = Pools(max(1, gpu_slots) * manager.gpu_slots, cpu_slots)
        return cls(Path(outputs), Registry(device_kinds=manager.device_kinds), manager, pools, queue_size)

    def run_job(
        self,
        feature: str,
        pipeline_name: str | None,
        inputs: dict,
        output_format: str = "glb",
        progress: ProgressCallback | None = None,
    ) -> tuple[str, str, dict]:
        """Run one job; return (viewer GLB path, requested-format path, metadata)."""
        if feature not in FEATURES:
            raise InputError(f"Unknown feature {feature!r}.")
        fmt = check_format(output_format)
        pipeline = self.registry.get(feature, pipeline_name)
        stages = Stages(progress)
        folder = self.jobs.new_folder(feature)
        record = {
            "job_id": folder.name,
            "feature": feature,
            "pipeline": pipeline.name,
            "output_format": fmt,
            "parameters": _public_parameters(inputs),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        try:
            stages.report(0.0, "waiting for a device")
            output, placement = self.manager.run(
                pipeline, lambda device: pipeline.run({**inputs, "device": device}, stages), inputs)
            stages.timings["acquire"] = round(placement["wait_s"] + placement["load_s"], 4)
            if placement["offload"]:
                output.warnings.append(f"{pipeline.name} did not fit in GPU memory whole and ran with "
                                       "model CPU offload (slower).")
            with stages.stage("export", 0.92):
                glb, path = export_asset(output.asset, fmt, folder)
                images = {}
                for name, image in output.images.items():
                    image_path = folder / f"{name}.png"
                    image.save(image_path)
                    images[name] = str(image_path)
            stages.report(1.0, "done")
            metadata = {
                **record,
                "status": "done",
                "device": placement["device"],
                "offload": placement["offload"],
                "placement": placement,
                **output.metadata,
                "output": {**_asset_stats(output.asset, glb), "glb": glb.name, "file": path.name},
                "images": images,
                "timings_s": stages.timings,
                "warnings": output.warnings,
            }
            self.jobs.write_record(folder, metadata)
            return str(glb), str(path), metadata
        except InputError as exc:
            self.jobs.write_record(folder, {**record, "status": "rejected", "error": str(exc)})
            raise
        except Exception as exc:
            log.error("job %s failed:\n%s", folder.name, traceback.format_exc())
            self.jobs.write_record(folder, {**record, "status": "failed", "error": f"{type(exc).__name__}: {exc}"})
            raise

    def status(self) -> dict:
        return {"memory": self.manager.status(), "recent_jobs": self.jobs.recent(10)}


def _public_parameters(inputs: dict) -> dict:
    """JSON-safe parameters for the record; file paths are reduced to their names."""
    out = {}
    for key, value in inputs.items():
        if isinstance(value, (str, Path)) and Path(str(value)).is_absolute():
            out[key] = Path(str(value)).name
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value):
            out[key] = [Path(v).name if isinstance(v, str) and Path(v).is_absolute() else v for v in value]
    return out


def _asset_stats(asset, glb: Path) -> dict:
    import trimesh

    if isinstance(asset, (trimesh.Trimesh, trimesh.Scene)):
        return scene_stats(as_scene(asset))
    return scene_stats(trimesh.load(str(glb), force="scene"))
