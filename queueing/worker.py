"""A worker process: it holds pipelines and runs their jobs, so the web server never runs pipeline code.

    python -m queueing.worker    (the supervisor starts it, with the Python of the pipeline's environment)

The interface is five requests, one JSON object a line on stdin, each answered by
JSON events on the process's original stdout (anything the pipeline prints goes to
stderr, so it cannot corrupt the stream):

    {"op": "load", "pipeline": "module:Class", "kwargs": {...}, "device": "cuda:0"}
                                                                    -> {"event": "loaded", "weights_bytes": N}
    {"op": "offload"}                                               -> {"event": "offloaded"}  (weights to CPU memory)
    {"op": "run", "pipeline": ..., "device": ..., "job": {...}}     -> {"event": "progress", ...}*, then
                                                                       {"event": "done", "result": {...}} or
                                                                       {"event": "error", "kind": ..., "message": ...}
    {"op": "memory"}                                                -> {"event": "memory", "rss_bytes": N, ...}
    {"op": "exit"}

A job is a small JSON message plus files in its job folder (see `execute`), so the
same worker can later sit behind a Ray Serve deployment on another machine. The
process ends when the studio does (PR_SET_PDEATHSIG, and end of stdin), even if a
pipeline is stuck in native code.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import psutil
import trimesh

from pipelines.base import Stages, as_scene, free_cuda_cache
from pipelines.errors import InputError, PipelineUnavailable
from pipelines.mesh.export import export_asset
from pipelines.mesh.io import scene_stats
from pipelines.registry import load_class

from .devices import CudaMeter, RssMeter, is_out_of_memory

log = logging.getLogger("studio.worker")


def jsonable(value: Any) -> Any:
    """Plain JSON types for metadata that may hold numpy scalars, arrays, paths or sets."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    if hasattr(value, "item"):
        return jsonable(value.item())
    return str(value)


def job_inputs(job: dict, device: str) -> dict:
    """The pipeline's `inputs`: the job's parameters, its files as paths in the job folder, and the device."""
    folder = Path(job["folder"])
    files = {}
    for key, name in job.get("files", {}).items():
        files[key] = [str(folder / n) for n in name] if isinstance(name, list) else (str(folder / name) if name else None)
    return {**job.get("parameters", {}), **files, "device": device}


def execute(pipeline, job: dict, device: str, report: Callable[[float, str], None]) -> dict:
    """Run one job on a loaded pipeline and write its outputs into the job folder; returns the result message.

    Used by every worker, and in the server process only under ZeroGPU, where GPU
    work must run inside `spaces.GPU` calls of the main process.
    """
    folder = Path(job["folder"])
    stages = Stages(report)
    output = pipeline.run(job_inputs(job, device), stages)
    with stages.stage("export", 0.92):
        glb, path = export_asset(output.asset, job.get("output_format", "glb"), folder)
        images = {}
        for name, image in output.images.items():
            image.save(folder / f"{name}.png")
            images[name] = f"{name}.png"
    asset = output.asset
    scene = as_scene(asset) if isinstance(asset, (trimesh.Trimesh, trimesh.Scene)) else trimesh.load(str(glb), force="scene")
    return {
        "glb": glb.name,
        "file": path.name,
        "images": images,
        "stats": jsonable(scene_stats(scene)),
        "metadata": jsonable(output.metadata),
        "warnings": [str(w) for w in output.warnings],
        "timings_s": stages.timings,
    }


def error_kind(exc: BaseException) -> str:
    """How the studio should treat a failure: the user's input, a missing dependency, memory, or a bug."""
    if isinstance(exc, InputError):
        return "input"
    if isinstance(exc, PipelineUnavailable):
        return "unavailable"
    if is_out_of_memory(exc):
        return "oom"
    return "failed"


def meter_for(device: str):
    """This process's memory on `device`: torch's CUDA statistics, or resident memory on the CPU."""
    if device.startswith("cuda"):
        return CudaMeter(int(device.partition(":")[2] or 0))
    return RssMeter()


class Worker:
    """Pipelines this process holds, by class spec; requests are served one at a time."""

    def __init__(self, send: Callable[[dict], None]):
        self.send = send
        self.pipelines: dict[str, Any] = {}

    def pipeline(self, spec: str, device: str, kwargs: dict | None = None):
        """The held instance of `spec(**kwargs)` on `device`, loading it the first time (pool workers load lazily).

        A load's stages (a first download, reading the weights) reach the studio as progress events.
        """
        key = json.dumps([spec, kwargs or {}], sort_keys=True)
        pipeline = self.pipelines.get(key)
        if pipeline is None:
            pipeline = self.pipelines[key] = load_class(spec)(**(kwargs or {}))
        if not pipeline.loaded:
            pipeline.load(device, Stages(self.progress))
        elif pipeline.device != device:
            pipeline.to(device)
        return pipeline

    def handle(self, request: dict) -> bool:
        """Serve one request; False once the worker should exit."""
        op = request.get("op")
        try:
            if op == "exit":
                return False
            if op == "load":
                meter = meter_for(request["device"])
                before = meter.allocated()
                self.pipeline(request["pipeline"], request["device"], request.get("kwargs"))
                self.send({"event": "loaded", "weights_bytes": max(0, meter.allocated() - before)})
            elif op == "offload":
                for pipeline in self.pipelines.values():
                    if pipeline.loaded:
                        pipeline.to("cpu")
                free_cuda_cache()
                self.send({"event": "offloaded"})
            elif op == "enable_offload":
                for pipeline in self.pipelines.values():
                    pipeline.enable_offload(request["device"])
                self.send({"event": "offload_enabled"})
            elif op == "memory":
                self.send({"event": "memory", **memory_report()})
            elif op == "run":
                self.run(request)
            else:
                self.send({"event": "error", "kind": "failed", "message": f"unknown request {op!r}"})
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the studio as an event
            self.fail(exc)
        return True

    def run(self, request: dict) -> None:
        device = request["device"]
        pipeline = self.pipeline(request["pipeline"], device, request.get("kwargs"))
        meter = meter_for(device)
        before = meter.allocated()
        meter.reset_peak()
        try:
            result = execute(pipeline, request["job"], device, self.progress)
        finally:
            peak = max(0, meter.peak() - before)
        self.send({"event": "done", "result": result, "peak_bytes": peak})

    def progress(self, fraction: float, stage: str) -> None:
        self.send({"event": "progress", "fraction": fraction, "stage": stage})

    def fail(self, exc: BaseException) -> None:
        kind = error_kind(exc)
        if kind in ("failed", "oom"):
            traceback.print_exc(file=sys.stderr)  # the studio logs the worker's stderr; the user gets a clean message
        message = str(exc) if kind != "failed" else f"{type(exc).__name__}: {exc}"
        self.send({"event": "error", "kind": kind, "type": type(exc).__name__, "message": message})
        if kind == "oom":
            free_cuda_cache()


def memory_report() -> dict:
    report = {"pid": os.getpid(), "rss_bytes": psutil.Process().memory_info().rss}
    cuda = CudaMeter.started()
    if cuda is not None:
        report["cuda_allocated_bytes"] = int(cuda.memory_allocated())
        report["cuda_reserved_bytes"] = int(cuda.memory_reserved())
    return report


def die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when the studio's process ends, even mid-way through native code."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if parent and os.getppid() != parent:
        os._exit(0)  # the studio ended before the signal was armed


def main() -> None:
    die_with_parent(int(os.environ.get("STUDIO_WORKER_PARENT", "0")))
    # Keep the original stdout for events; route every print (Python or native) to stderr.
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    lock = threading.Lock()

    def send(message: dict) -> None:
        line = json.dumps(message, default=str)
        with lock:
            events.write(line + "\n")
            events.flush()

    worker = Worker(send)
    send({"event": "ready", "pid": os.getpid(), "python": sys.executable, "started": time.time()})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            send({"event": "error", "kind": "failed", "message": "unreadable request"})
            continue
        if not worker.handle(request):
            break
    os._exit(0)  # skip interpreter teardown: extension modules can hang in it


if __name__ == "__main__":
    main()
