"""The GPU manager: one per process, it decides where each pipeline lives.

Every pipeline run goes through `acquire(pipeline)`, which makes the pipeline
resident on a device that has room for its weights and working memory,
evicting idle pipelines least-recently-used first, and never one in use.
CPU is a device with a RAM budget, so the same path serves machines with no
GPU; a fake device with a set capacity lets tests exercise eviction anywhere.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import psutil

from pipelines.base import GiB, Pipeline

DEFAULT_WAIT_S = 600.0


@dataclass
class Device:
    """A place pipelines can live: "cuda:0", "cpu", or "fake:0" in tests."""

    name: str
    kind: str
    budget_bytes: int
    total_bytes: int = 0

    def describe(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "total_gib": round(self.total_bytes / GiB, 3),
            "budget_gib": round(self.budget_bytes / GiB, 3),
        }


@dataclass
class Residency:
    pipeline: Pipeline
    device: Device
    bytes: int
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)


def detect_devices(gpu_budget_fraction: float = 0.9, cpu_budget_fraction: float = 0.5) -> list[Device]:
    """CUDA devices seen by torch (if torch is installed) plus the CPU."""
    devices = []
    try:
        import torch

        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                free, total = torch.cuda.mem_get_info(index)
                devices.append(Device(f"cuda:{index}", "cuda", int(total * gpu_budget_fraction), int(total)))
    except ImportError:
        pass
    total_ram = psutil.virtual_memory().total
    devices.append(Device("cpu", "cpu", int(total_ram * cpu_budget_fraction), int(total_ram)))
    return devices


class GPUManager:
    def __init__(self, devices: list[Device] | None = None, wait_s: float = DEFAULT_WAIT_S):
        self.devices = devices if devices is not None else detect_devices()
        self.wait_s = wait_s
        self._lock = threading.Condition()
        self._resident: dict[int, Residency] = {}
        self.counters = {"loads": 0, "evictions": 0}

    @property
    def device_kinds(self) -> set[str]:
        return {d.kind for d in self.devices}

    @staticmethod
    def footprint(pipeline: Pipeline) -> int:
        return int(pipeline.weights_bytes + pipeline.peak_bytes)

    def used_bytes(self, device: Device) -> int:
        return sum(r.bytes for r in self._resident.values() if r.device is device)

    def _candidates(self, pipeline: Pipeline) -> list[Device]:
        order = {kind: rank for rank, kind in enumerate(pipeline.devices)}
        usable = [d for d in self.devices if d.kind in order]
        return sorted(usable, key=lambda d: (order[d.kind], -(d.budget_bytes - self.used_bytes(d))))

    def _evict(self, residency: Residency) -> None:
        residency.pipeline.unload()
        del self._resident[id(residency.pipeline)]
        self.counters["evictions"] += 1

    def _try_place(self, pipeline: Pipeline) -> Residency | None:
        """Place `pipeline` on the best device with room, evicting idle pipelines LRU-first."""
        need = self.footprint(pipeline)
        for device in self._candidates(pipeline):
            if need > device.budget_bytes:
                continue
            idle = sorted(
                (r for r in self._resident.values() if r.device is device and r.users == 0),
                key=lambda r: r.last_used,
            )
            free = device.budget_bytes - self.used_bytes(device)
            reclaimable = free + sum(r.bytes for r in idle)
            if reclaimable < need:
                continue
            while free < need:
                victim = idle.pop(0)
                self._evict(victim)
                free += victim.bytes
            residency = Residency(pipeline, device, need)
            self._resident[id(pipeline)] = residency
            return residency
        return None

    @contextmanager
    def acquire(self, pipeline: Pipeline, timeout: float | None = None) -> Iterator[str]:
        """Make `pipeline` resident and mark it in use; yields the device name."""
        if not self._candidates(pipeline):
            raise RuntimeError(f"{pipeline.name} needs a {'/'.join(pipeline.devices)} device; none is configured.")
        if all(self.footprint(pipeline) > d.budget_bytes for d in self._candidates(pipeline)):
            raise RuntimeError(
                f"{pipeline.name} needs {self.footprint(pipeline) / GiB:.2f} GiB, more than any device's budget."
            )
        deadline = time.monotonic() + (self.wait_s if timeout is None else timeout)
        with self._lock:
            while True:
                residency = self._resident.get(id(pipeline))
                if residency is not None and (residency.users == 0 or pipeline.reentrant):
                    break
                if residency is None:
                    residency = self._try_place(pipeline)
                    if residency is not None:
                        break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"Waited {self.wait_s if timeout is None else timeout:.0f} s for memory to run {pipeline.name}; "
                        "every device is busy with other jobs. Try again shortly."
                    )
                self._lock.wait(remaining)
            residency.users += 1
            residency.last_used = time.monotonic()
        try:
            if not pipeline.loaded:
                pipeline.load(residency.device.name)
                with self._lock:
                    self.counters["loads"] += 1
            yield residency.device.name
        except BaseException:
            with self._lock:
                if not pipeline.loaded and id(pipeline) in self._resident:
                    del self._resident[id(pipeline)]
            raise
        finally:
            with self._lock:
                residency.users -= 1
                residency.last_used = time.monotonic()
                self._lock.notify_all()

    def status(self) -> dict:
        with self._lock:
            now = time.monotonic()
            return {
                "devices": [
                    {
                        **d.describe(),
                        "used_gib": round(self.used_bytes(d) / GiB, 3),
                        "resident": [
                            {
                                "pipeline": f"{r.pipeline.feature}/{r.pipeline.name}",
                                "gib": round(r.bytes / GiB, 3),
                                "in_use": r.users > 0,
                                "idle_s": round(now - r.last_used, 1),
                            }
                            for r in self._resident.values()
                            if r.device is d
                        ],
                    }
                    for d in self.devices
                ],
                **self.counters,
            }
