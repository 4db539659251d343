"""Devices the GPU manager places pipelines on, and how each one reports its memory.

A device has a budget (what the manager may plan with) below its total, so a
reserve stays free for the CUDA context, allocator fragmentation and other
processes (ComfyUI keeps a similar reserve). Each device has a meter that the
manager uses to measure real footprints: torch's CUDA allocator statistics on a
GPU, the process's resident memory on the CPU, and a counter on the fake device
that tests and benchmarks use.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field

import psutil

from pipelines.base import GiB, MiB, free_cuda_cache

DEFAULT_GPU_BUDGET = "0.9"
DEFAULT_CPU_BUDGET = "0.5"
DEFAULT_GPU_RESERVE = "512MiB"


class SimulatedOutOfMemory(MemoryError):
    """What a fake device raises when an allocation would pass its capacity."""


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's CUDA out-of-memory error, a host MemoryError, or the fake device's."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError)


def parse_budget(spec: str | float | int, total: int) -> int:
    """Bytes for a budget given as a fraction of `total` ("0.8") or a size ("20", "20GiB", "512MiB", "40KiB").

    A bare number up to 1 is a fraction; a bigger one is GiB.
    """
    text = str(spec).strip()
    match = re.fullmatch(r"(?i)([0-9]*\.?[0-9]+)\s*(gib|gb|g|mib|mb|m|kib|kb|k)?", text)
    if not match:
        raise ValueError(f"Budget {spec!r} is neither a fraction such as 0.8 nor a size such as 20GiB.")
    value, unit = float(match.group(1)), (match.group(2) or "").lower()
    if not unit:
        return int(total * value) if value <= 1 else int(value * GiB)
    return int(value * {"k": 1024, "m": MiB, "g": GiB}[unit[0]])


class Meter:
    """Memory in use on one device, with a high-water mark the manager resets around a load or run."""

    def allocated(self) -> int:
        raise NotImplementedError

    def reset_peak(self) -> None:
        raise NotImplementedError

    def peak(self) -> int:
        raise NotImplementedError

    def free_cache(self) -> None:
        """Give cached but unused memory back (after unloading, and before an out-of-memory retry)."""
        gc.collect()


class CudaMeter(Meter):
    """torch's allocator statistics for one CUDA device, as this process sees them.

    A process that has not started CUDA (the studio's server, whose pipelines run in
    workers) reads zero and never starts it: a CUDA context would cost it device memory.
    """

    def __init__(self, index: int):
        self.index = index

    @staticmethod
    def started():
        """`torch.cuda` if this process has started CUDA, else None."""
        torch = sys.modules.get("torch")
        return torch.cuda if torch is not None and torch.cuda.is_initialized() else None

    def allocated(self) -> int:
        cuda = self.started()
        return int(cuda.memory_allocated(self.index)) if cuda else 0

    def reset_peak(self) -> None:
        cuda = self.started()
        if cuda:
            cuda.reset_peak_memory_stats(self.index)

    def peak(self) -> int:
        cuda = self.started()
        return int(cuda.max_memory_allocated(self.index)) if cuda else 0

    def free_cache(self) -> None:
        free_cuda_cache(self.index)


class RssMeter(Meter):
    """The process's resident memory; the peak comes from a sampling thread, since RSS has no reset."""

    interval_s = 0.005

    def __init__(self):
        self._process = psutil.Process()
        self._peak = 0
        self._stop: threading.Event | None = None
        self._lock = threading.Lock()

    def allocated(self) -> int:
        return int(self._process.memory_info().rss)

    def reset_peak(self) -> None:
        with self._lock:
            if self._stop is not None:
                self._stop.set()
            self._peak = self.allocated()
            self._stop = stop = threading.Event()
        threading.Thread(target=self._sample, args=(stop,), daemon=True, name="rss-peak").start()

    def _sample(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            rss = self.allocated()
            with self._lock:
                self._peak = max(self._peak, rss)

    def peak(self) -> int:
        rss = self.allocated()
        with self._lock:
            if self._stop is not None:
                self._stop.set()
                self._stop = None
            self._peak = max(self._peak, rss)
            return self._peak


class FakeMemory(Meter):
    """A device with a set capacity: pipelines in tests and benchmarks allocate on it by hand.

    Passing the capacity raises `SimulatedOutOfMemory`, the stand-in for torch's
    CUDA out-of-memory error.
    """

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.used = 0
        self._peak = 0
        self._lock = threading.Lock()

    def alloc(self, nbytes: int) -> None:
        with self._lock:
            if self.used + nbytes > self.capacity:
                raise SimulatedOutOfMemory(
                    f"fake device out of memory: tried to allocate {nbytes / GiB:.2f} GiB with "
                    f"{(self.capacity - self.used) / GiB:.2f} GiB free of {self.capacity / GiB:.2f} GiB"
                )
            self.used += nbytes
            self._peak = max(self._peak, self.used)

    def release(self, nbytes: int) -> None:
        with self._lock:
            self.used -= nbytes
            if self.used < 0:
                raise RuntimeError("fake device released more than was allocated")

    def allocated(self) -> int:
        return self.used

    def reset_peak(self) -> None:
        with self._lock:
            self._peak = self.used

    def peak(self) -> int:
        return self._peak

    def free_cache(self) -> None:
        pass


@dataclass(eq=False)
class Device:
    """A place pipelines live: "cuda:0", "cpu", or a fake device in tests.

    `kind` is what pipelines name in `Pipeline.devices` ("cuda" or "cpu"); a fake
    device usually poses as "cuda" so GPU pipelines can be tested anywhere.
    """

    name: str
    kind: str
    budget_bytes: int
    total_bytes: int = 0
    meter: Meter = field(default_factory=Meter)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "total_gib": round(self.total_bytes / GiB, 3),
            "budget_gib": round(self.budget_bytes / GiB, 3),
        }


def fake_device(capacity: int, name: str = "fake:0", kind: str = "cuda", reserve: int = 0) -> Device:
    """A device with `capacity` bytes whose budget is the capacity less `reserve`."""
    return Device(name, kind, int(capacity - reserve), int(capacity), FakeMemory(capacity))


def cpu_device(budget: str | float = DEFAULT_CPU_BUDGET) -> Device:
    total = psutil.virtual_memory().total
    return Device("cpu", "cpu", parse_budget(budget, total), int(total), RssMeter())


CPU_TORCH_INSTALL = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"


def torch_build() -> dict:
    """Which torch is installed and for what hardware, read from its package metadata without importing it.

    The local version says it on the PyTorch index (2.13.0+cpu, +cu128, +rocm6.4); plain PyPI's Linux wheel
    has none and is the CUDA build when it requires nvidia-* packages.
    """
    try:
        dist = importlib.metadata.distribution("torch")
    except importlib.metadata.PackageNotFoundError:
        return {"version": None, "build": "not installed"}
    version = dist.version
    local = version.partition("+")[2]
    nvidia = [r for r in dist.requires or [] if r.startswith("nvidia-")]
    if local.startswith("cu") or (not local and nvidia):
        build = f"CUDA {local[2:-1]}.{local[-1]}" if local.startswith("cu") and len(local) > 3 else "CUDA"
    elif local.startswith("rocm"):
        build = f"ROCm {local[4:]}"
    else:
        build = "CPU"
    return {"version": version, "build": build, "nvidia_packages": len(nvidia)}


def describe_hardware(devices: list[Device]) -> str:
    """One start-up line: the torch build and the devices found, with the CPU install hint where it helps."""
    torch = torch_build()
    line = (f"torch {torch['version']} ({torch['build']} build); devices: "
            + ", ".join(f"{d.name} ({d.total_bytes / GiB:.1f} GiB)" for d in devices))
    if torch["build"].startswith("CUDA") and not any(d.kind == "cuda" for d in devices):
        line += (". No GPU was found, so the CUDA build's packages only take disk space; a CPU-only machine can "
                 f"use the CPU build instead: {CPU_TORCH_INSTALL}")
    return line


def gpu_memory() -> list[tuple[int, int]]:
    """(free, total) bytes of each GPU this process may use, without starting CUDA here.

    torch answers when it is already imported; else `nvidia-smi` does (respecting a
    numeric CUDA_VISIBLE_DEVICES); torch is imported only on a machine with an NVIDIA
    driver but no `nvidia-smi`. A machine with neither has no GPU.
    """
    torch = sys.modules.get("torch")
    if torch is None and shutil.which("nvidia-smi"):
        return _nvidia_smi_memory()
    if torch is None:
        if not os.path.exists("/proc/driver/nvidia"):
            return []
        try:
            import torch
        except ImportError:
            return []
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.mem_get_info(index) for index in range(torch.cuda.device_count())]


def _nvidia_smi_memory() -> list[tuple[int, int]]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,memory.free,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = {}
    for line in out.strip().splitlines():
        index, free, total = (int(float(v)) for v in line.split(","))
        rows[index] = (free * MiB, total * MiB)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and all(v.strip().isdigit() for v in visible.split(",") if v.strip()):
        return [rows[int(v)] for v in visible.split(",") if v.strip() and int(v) in rows]
    return [rows[i] for i in sorted(rows)]


def cuda_devices(budget: str | float = DEFAULT_GPU_BUDGET, reserve: str | int = DEFAULT_GPU_RESERVE) -> list[Device]:
    """Every CUDA device found; the budget never eats into `reserve` or memory other processes hold.

    `budget` is one value for every GPU or a comma-separated list, one per GPU in
    order ("20GiB,0.8"); `reserve` is bytes or a size or fraction like a budget.
    """
    memory = gpu_memory()
    if not memory:
        return []
    budgets = [b for b in str(budget).split(",") if b.strip()]
    count = len(memory)
    if len(budgets) not in (1, count):
        raise ValueError(f"--gpu-budget {budget!r} gives {len(budgets)} budgets for {count} GPUs; give one or {count}.")
    devices = []
    for index, (free, total) in enumerate(memory):
        keep = int(reserve) if isinstance(reserve, int) else parse_budget(reserve, total)
        usable = max(0, min(parse_budget(budgets[min(index, len(budgets) - 1)], total), free - keep))
        devices.append(Device(f"cuda:{index}", "cuda", int(usable), int(total), CudaMeter(index)))
    return devices


def detect_devices(gpu_budget: str | float = DEFAULT_GPU_BUDGET, cpu_budget: str | float = DEFAULT_CPU_BUDGET,
                   gpu_reserve: str | int = DEFAULT_GPU_RESERVE) -> list[Device]:
    """The CUDA devices found (see `gpu_memory`) plus the CPU."""
    return [*cuda_devices(gpu_budget, gpu_reserve), cpu_device(cpu_budget)]
