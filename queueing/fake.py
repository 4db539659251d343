"""A pipeline that only occupies memory on fake devices, for tests and the scheduler benchmark.

It allocates its weights on load and its working memory during a run on the
devices' `FakeMemory` meters, so the manager's measurements, evictions and
out-of-memory handling act on it as on a real model. `wait(seconds)` stands in
for the time a load or a run takes: `time.sleep` in tests, a simulated clock's
advance in the benchmark.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from pipelines.base import Pipeline, PipelineOutput, Stages

from .devices import Device


class FakePipeline(Pipeline):
    """Weights of `real_weights` bytes and a run peak of `real_peak` bytes, declared as `weights_bytes`/`peak_bytes`."""

    feature = "text_to_3d"

    def __init__(self, name: str, devices: list[Device], weights: int, peak: int,
                 real_weights: int | None = None, real_peak: int | None = None,
                 kinds: tuple[str, ...] = ("cuda",), reentrant: bool = False, supports_offload: bool = False,
                 offload_peak: int = 0, load_s: float = 0.0, run_s: float = 0.0,
                 wait: Callable[[float], None] = time.sleep, bandwidth: dict[str, float] | None = None):
        super().__init__()
        self.name = name
        self.devices = kinds
        self.weights_bytes, self.peak_bytes = int(weights), int(peak)
        self.real_weights = int(weights if real_weights is None else real_weights)
        self.real_peak = int(peak if real_peak is None else real_peak)
        self.reentrant, self.supports_offload = reentrant, supports_offload
        self.offload_peak_bytes = int(offload_peak)
        self.load_s, self.run_s, self.wait = load_s, run_s, wait
        self.bandwidth = bandwidth or {}  # seconds per byte for "disk", "h2d", "d2h"; overrides load_s
        self._by_name = {d.name: d for d in devices}
        self._lock = threading.Lock()
        self.offload_to: str | None = None
        self.loads = self.moves = self.runs = self.running = self.max_running = 0

    def _meter(self, device: str):
        return self._by_name[device].meter

    def _transfer(self, kind: str, fallback: float) -> None:
        self.wait(self.bandwidth[kind] * self.real_weights if kind in self.bandwidth else fallback)

    def load(self, device: str, stages: Stages | None = None) -> None:
        self._meter(device).alloc(self.real_weights)
        self._transfer("disk", self.load_s)
        self.device = device
        self.loads += 1

    def to(self, device: str) -> None:
        if device == self.device:
            return
        self._meter(device).alloc(self.real_weights)
        self._meter(self.device).release(self.real_weights)
        self._transfer("d2h" if self._by_name[device].kind == "cpu" else "h2d", 0.0)
        self.device = device
        self.moves += 1

    def unload(self) -> None:
        if self.device is not None:
            self._meter(self.device).release(self.real_weights)
        self.device = None
        self.offload_to = None

    def enable_offload(self, device: str) -> None:
        self.offload_to = device

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        device = inputs["device"]
        working = self.real_peak if self.offload_to is None else self.offload_peak_bytes or self.real_peak
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            with stages.stage("run", 0.1):
                self._meter(device).alloc(working)
                try:
                    self.wait(self.run_s)
                finally:
                    self._meter(device).release(working)
        finally:
            with self._lock:
                self.running -= 1
                self.runs += 1
        import trimesh

        return PipelineOutput(trimesh.creation.box(), metadata={"fake": self.name})
