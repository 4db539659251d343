"""Pipelines that misbehave on purpose, for the job runtime's fault tests.

They are real pipeline classes, registered with `--extra-pipelines` or
`Registry.register`, so they run in worker processes exactly as a model would.
Each is a text-to-3D pipeline whose prompt says what to do ("sleep 2.5").
"""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np
import trimesh

from pipelines.base import MiB, Pipeline, PipelineOutput, Stages
from pipelines.errors import InputError


def _seconds(prompt: str, default: float) -> float:
    words = str(prompt or "").split()
    try:
        return float(words[1])
    except (IndexError, ValueError):
        return default


def _box(stages: Stages, **metadata) -> PipelineOutput:
    with stages.stage("building a box", 0.8):
        return PipelineOutput(asset=trimesh.creation.box(), metadata={"worker_pid": os.getpid(), **metadata})


class SleepPipeline(Pipeline):
    """Sleeps for the prompt's seconds ("sleep 2.5"), reporting progress every 0.1 s, then returns a box."""

    name, feature, devices = "test-sleep", "text_to_3d", ("cpu",)

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        seconds = _seconds(inputs.get("prompt"), 1.0)
        start = time.monotonic()
        with stages.stage("sleeping", 0.1):
            while (left := seconds - (time.monotonic() - start)) > 0:
                stages.report(0.1 + 0.6 * (1 - left / seconds), "sleeping")
                time.sleep(min(0.1, left))
        return _box(stages, slept_s=seconds)


class ModelSleepPipeline(SleepPipeline):
    """The sleeper as a model: 64 MiB of weights, so it gets a worker of its own, placed by the GPU manager."""

    name, devices, weights_bytes, peak_bytes = "test-model-sleep", ("cuda", "cpu"), 64 * MiB, 8 * MiB

    def load(self, device: str, stages: Stages | None = None) -> None:
        with (stages or Stages()).stage("load weights", 0.05):
            self.weights = np.ones(64 * MiB // 8)  # real memory the worker measures
        super().load(device, stages)

    def unload(self) -> None:
        self.weights = None
        super().unload()


class HangInNativeCode(Pipeline):
    """Sleeps inside a C call that holds the GIL (as xatlas does on some inputs): nothing in its process runs."""

    name, feature, devices = "test-hang", "text_to_3d", ("cpu",)

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        with stages.stage("hanging in native code", 0.2):
            ctypes.PyDLL(None).sleep(3600)  # PyDLL keeps the GIL through the call
        return _box(stages)


class Segfault(Pipeline):
    """Crashes its process the way a broken extension does."""

    name, feature, devices = "test-segfault", "text_to_3d", ("cpu",)

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        with stages.stage("crashing", 0.2):
            ctypes.string_at(0)
        return _box(stages)


class OutOfMemory(Pipeline):
    """Runs out of memory on every run, as a model does on inputs too big for its device."""

    name, feature, devices = "test-oom", "text_to_3d", ("cpu",)

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        with stages.stage("allocating", 0.2):
            raise MemoryError("simulated: tried to allocate 80.00 GiB")




class CudaProbe(Pipeline):
    """Declares a CUDA device and reports the process it ran in (the ZeroGPU path runs it in the studio's)."""

    name, feature, devices = "test-cuda-probe", "text_to_3d", ("cuda",)

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        return _box(stages, ran_on=inputs["device"])


class EnvironmentProbe(Pipeline):
    """A model with an environment of its own (the spec `tiny-model` that tests/test_environments.py writes):
    it imports its upstream's `tinymodel`, which only that environment has, and says which Python ran it."""

    name, feature, devices = "test-environment-probe", "text_to_3d", ("cpu",)
    environment = "tiny-model"
    requires = ("tinymodel",)

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        import sys

        import tinymodel

        return _box(stages, prefix=sys.prefix, answer=tinymodel.answer(inputs["prompt"]))


class LeakyRefusal(Pipeline):
    """Refuses its input with a message that names server paths, as a library's error text can."""

    name, feature, devices = "test-leaky", "text_to_3d", ("cpu",)

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        raise InputError(f"could not read {__file__} (tried {os.path.dirname(__file__)}/cache/x.bin)")


ALL = [f"tests.fault_pipelines:{cls.__name__}"
       for cls in (SleepPipeline, ModelSleepPipeline, HangInNativeCode, Segfault, OutOfMemory, LeakyRefusal)]
