"""Swap bandwidth and out-of-memory recovery of the GPU manager on a real CUDA GPU.

    python bench/gpu_swap.py [--gib 6] [--pipelines 3] [--rounds 4] [--cap-gib 16]

Builds `--pipelines` torch modules of `--gib` GiB each (fp16 linear layers,
weights packed into pinned host memory by `queueing.pinned.PinnedWeights`),
caps this process's CUDA memory at `--cap-gib` (torch's per-process memory
fraction, so the allocator raises a real `torch.cuda.OutOfMemoryError` there)
and gives the manager a budget just below the cap, so only some of them fit.

1. Swap bandwidth: the pipelines are acquired round-robin, the worst case for
   LRU, so every job brings its weights back from warm CPU memory. Bandwidth
   is weights / time of the manager's transfer, against a raw pinned
   host-to-device copy of the same size measured in the same run.
2. Out-of-memory recovery: a small pipeline whose run allocates more than is
   left beside the idle residents (but fits once they are gone) hits a real
   OOM; the manager evicts the idle pipelines, empties the cache and retries.
   Then one whose run can never fit fails with the manager's message, and the
   accounting and the allocator are checked to be back where they were.
Needs CUDA; on a machine without it, it says so and exits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.base import GiB, Pipeline, Stages  # noqa: E402
from queueing.devices import cpu_device, cuda_devices  # noqa: E402
from queueing.gpu_manager import DeviceOutOfMemory, GPUManager  # noqa: E402
from queueing.pinned import PinnedWeights  # noqa: E402

WIDTH = 8192  # one fp16 layer is WIDTH * WIDTH * 2 bytes = 128 MiB


class LinearStack(Pipeline):
    """`gib` GiB of fp16 linear layers; a run pushes a small batch through them and may allocate `extra` bytes."""

    feature = "text_to_3d"
    devices = ("cuda",)

    def __init__(self, name: str, gib: float, extra: int = 0):
        super().__init__()
        self.name = name
        self.layers = max(1, int(gib * GiB) // (WIDTH * WIDTH * 2))
        self.weights_bytes = self.layers * WIDTH * WIDTH * 2
        self.peak_bytes = 256 * 1024**2
        self.extra = extra
        self.weights: PinnedWeights | None = None

    def load(self, device: str, stages: Stages | None = None) -> None:
        import torch

        module = torch.nn.Sequential(*[
            torch.nn.utils.skip_init(torch.nn.Linear, WIDTH, WIDTH, bias=False, dtype=torch.float16)
            for _ in range(self.layers)
        ])
        self.weights = PinnedWeights(module)
        self.weights.to(device)
        self.device = device

    def to(self, device: str) -> None:
        self.weights.to(device)
        self.device = device

    def unload(self) -> None:
        self.weights = None
        self.device = None

    def run(self, device: str) -> float:
        import torch

        with torch.inference_mode():
            x = torch.ones(16, WIDTH, dtype=torch.float16, device=device)
            for layer in self.weights.module:
                x = torch.nn.functional.normalize(layer(x), dim=-1).half()
            if self.extra:
                scratch = torch.empty(self.extra, dtype=torch.uint8, device=device)
                scratch.fill_(1)
                del scratch
            torch.cuda.synchronize(device)
            return float(x.float().sum())


def raw_pinned_copy(nbytes: int, device: str, repeats: int = 3) -> float:
    """GB/s of one host-to-device copy from pinned memory into a preallocated buffer (best of `repeats`)."""
    import torch

    host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    target = torch.empty(nbytes, dtype=torch.uint8, device=device)
    target.copy_(host, non_blocking=True)
    torch.cuda.synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        target.copy_(host, non_blocking=True)
        torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    del host, target
    torch.cuda.empty_cache()
    return nbytes / min(times) / 1e9


def swap_bandwidth(manager: GPUManager, pipelines: list[LinearStack], rounds: int) -> list[float]:
    """GB/s of each transfer from warm CPU memory the manager made while serving round-robin jobs."""
    rates = []
    for _ in range(rounds):
        for pipeline in pipelines:
            transfers = manager.counters["transfers"]
            _, placement = manager.run(pipeline, pipeline.run)
            if manager.counters["transfers"] > transfers:
                rates.append(pipeline.weights_bytes / placement["load_s"] / 1e9)
    return rates


def oom_recovery(manager: GPUManager, device: str, cap: int) -> None:
    import torch

    resident_before = [r["pipeline"] for d in manager.status()["devices"] if d["name"] == device
                       for r in d["resident"]]
    needs_room = LinearStack("needs-room", 1, extra=cap - 4 * GiB)
    _, placement = manager.run(needs_room, needs_room.run)
    print(f"  {needs_room.name}: ran with {placement['oom_retries']} out-of-memory retry after "
          f"evicting {', '.join(resident_before) or 'nothing'}; counters: oom_retries="
          f"{manager.counters['oom_retries']}")
    if placement["oom_retries"] != 1:
        print("  (no OOM happened: the idle residents left enough room; lower --cap-gib)")
    too_big = LinearStack("too-big", 1, extra=2 * cap)
    try:
        manager.run(too_big, too_big.run)
        print("  too-big: unexpectedly ran")
    except DeviceOutOfMemory as exc:
        print(f"  too-big: failed as it should: {exc}")
    status = manager.status()
    in_use = [r["pipeline"] for d in status["devices"] for r in d["resident"] if r["in_use"]]
    planned = next(d["used_gib"] for d in status["devices"] if d["name"] == device)
    print(f"  afterwards: in use {in_use or 'nothing'}, working memory reserved "
          f"{sum(d['working_gib'] for d in status['devices'])} GiB, manager accounts {planned:.2f} GiB on "
          f"{device}, torch has {torch.cuda.memory_allocated(device) / GiB:.2f} GiB allocated, "
          f"oom_failures={manager.counters['oom_failures']}")
    _, placement = manager.run(needs_room, needs_room.run)
    print(f"  the manager still serves jobs: {needs_room.name} ran on {placement['device']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=6.0, help="weights per pipeline")
    parser.add_argument("--pipelines", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4, help="round-robin passes over the pipelines")
    parser.add_argument("--cap-gib", type=float, default=16.0,
                        help="CUDA memory this process may use; the manager's budget is 0.5 GiB below it")
    parser.add_argument("--device", default="cuda:0")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        sys.exit("bench/gpu_swap.py needs a CUDA GPU and torch with CUDA; none was found "
                 f"(torch {torch.__version__}). Run it on a GPU machine.")
    device = torch.device(args.device)
    index = device.index or 0
    free, total = torch.cuda.mem_get_info(index)
    cap = int(args.cap_gib * GiB)
    if cap > free:
        sys.exit(f"--cap-gib {args.cap_gib} is more than the {free / GiB:.1f} GiB free on {args.device}.")
    torch.cuda.set_per_process_memory_fraction(cap / total, index)
    gpu = next(d for d in cuda_devices(f"{args.cap_gib - 0.5}GiB", reserve=0) if d.name == f"cuda:{index}")
    manager = GPUManager([gpu, cpu_device("0.6")])
    print(f"{torch.cuda.get_device_name(index)}: {total / GiB:.1f} GiB, capped at {args.cap_gib:g} GiB, "
          f"manager budget {gpu.budget_bytes / GiB:.1f} GiB; {args.pipelines} pipelines of {args.gib:g} GiB")

    pipelines = [LinearStack(f"stack{i}", args.gib) for i in range(args.pipelines)]
    raw = raw_pinned_copy(pipelines[0].weights_bytes, gpu.name)
    rates = swap_bandwidth(manager, pipelines, args.rounds)
    if not rates:
        sys.exit("No swaps happened: all pipelines fit; raise --pipelines or --gib, or lower --cap-gib.")
    swap = statistics.median(rates)
    print(f"raw pinned host-to-device copy: {raw:.1f} GB/s")
    print(f"manager swap-in from warm CPU memory: median {swap:.1f} GB/s over {len(rates)} swaps "
          f"(min {min(rates):.1f}, max {max(rates):.1f})")
    print(f"swap / raw: {swap / raw:.2f} (target >= 0.70)")
    counters = manager.counters
    print(f"loads {counters['loads']}, transfers {counters['transfers']}, evictions {counters['evictions']}, "
          f"moved onto the GPU {counters['bytes_moved'] / GiB:.1f} GiB")

    print("out-of-memory recovery:")
    oom_recovery(manager, gpu.name, cap)


if __name__ == "__main__":
    main()
