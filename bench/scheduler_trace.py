"""Replay a seeded trace of studio jobs under four residency policies on a fake GPU.

    python bench/scheduler_trace.py [--jobs 600] [--seed 0] [--budget-gib 12] [--json]

The trace is users working through the studio's workflow (generate a shape,
then often paint, segment, rig or complete it), several users interleaved,
over six pipelines whose weights add up to more than twice the GPU budget.
Loading from disk takes time proportional to size; so do host-to-device and
device-to-host copies, at the faster pinned-memory rate.

Policies:
- manager: the real `queueing.gpu_manager.GPUManager` on fake devices (a GPU
  with the budget and CPU memory for warm copies), driven on a simulated clock;
- after_every_job: load from disk, run, unload;
- idle_10s: unload whatever has been idle for 10 s before each job (as
  3DAIGC-API's scheduler does), LRU eviction when the next one still does not fit;
- belady: the offline optimum for a cache of equal-sized items, applied to
  these sizes: evict the resident pipeline needed furthest in the future.

Figures per policy: `loads` (weights loaded from disk), `placements` (times
weights were put on the GPU, from disk or from warm CPU memory; the same as
`loads` for the baselines, which keep nothing warm), `bytes_moved` (weights
copied onto the GPU, whatever their source) and `total_s` (simulated time until
the last job ends, one job on the GPU at a time). With `--json` the last line
is one JSON object with those figures per policy.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.base import GiB, Stages  # noqa: E402
from queueing.devices import fake_device  # noqa: E402
from queueing.fake import FakePipeline  # noqa: E402
from queueing.gpu_manager import GPUManager  # noqa: E402

# name: (weights GiB, peak working GiB, run seconds); 28 GiB of weights in all.
PIPELINES = {
    "image_to_3d": (8.0, 1.5, 25.0),
    "text_to_3d": (5.0, 1.0, 20.0),
    "paint_mesh": (6.0, 1.5, 30.0),
    "segment_mesh": (3.0, 0.5, 6.0),
    "rig_mesh": (2.0, 0.5, 8.0),
    "complete_parts": (4.0, 1.0, 12.0),
}
# After a job on the key, the user's next job is one of these (None ends the session).
NEXT = {
    "image_to_3d": [("paint_mesh", 4), ("image_to_3d", 3), ("segment_mesh", 2), ("rig_mesh", 1), (None, 2)],
    "text_to_3d": [("paint_mesh", 3), ("text_to_3d", 3), ("rig_mesh", 1), ("segment_mesh", 1), (None, 2)],
    "paint_mesh": [("paint_mesh", 3), ("rig_mesh", 2), ("segment_mesh", 1), (None, 3)],
    "segment_mesh": [("complete_parts", 4), ("segment_mesh", 1), (None, 2)],
    "complete_parts": [("paint_mesh", 2), ("rig_mesh", 1), (None, 3)],
    "rig_mesh": [("rig_mesh", 1), (None, 4)],
}
DISK_S_PER_GIB = 0.5  # about 2 GB/s from disk into memory
H2D_S_PER_GIB = 0.045  # pinned host to device, about 24 GB/s
D2H_S_PER_GIB = 0.05
CPU_BUDGET_GIB = 32.0


@dataclass
class Job:
    arrival: float
    pipeline: str


def make_trace(jobs: int, seed: int) -> list[Job]:
    """Users arrive every ~40 s; each works through a workflow with ~20 s of thinking between jobs."""
    rng = random.Random(seed)
    trace: list[Job] = []
    start = 0.0
    while len(trace) < jobs:
        start += rng.expovariate(1 / 40.0)
        t, current = start, rng.choices(["image_to_3d", "text_to_3d"], weights=[3, 2])[0]
        while current is not None and len(trace) < jobs:
            trace.append(Job(t, current))
            t += rng.expovariate(1 / 20.0)
            names, weights = zip(*NEXT[current])
            current = rng.choices(names, weights=weights)[0]
    return sorted(trace, key=lambda job: job.arrival)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def replay_manager(trace: list[Job], budget: int) -> dict:
    """The real manager: jobs one after another on a simulated clock."""
    clock = Clock()
    gpu = fake_device(budget, name="fake:0")
    ram = fake_device(int(CPU_BUDGET_GIB * GiB), name="cpu", kind="cpu")
    manager = GPUManager([gpu, ram], clock=clock)
    bandwidth = {"disk": DISK_S_PER_GIB / GiB, "h2d": H2D_S_PER_GIB / GiB, "d2h": D2H_S_PER_GIB / GiB}
    pipelines = {
        name: FakePipeline(name, [gpu, ram], int(w * GiB), int(p * GiB), run_s=run_s,
                           wait=clock.advance, bandwidth=bandwidth)
        for name, (w, p, run_s) in PIPELINES.items()
    }
    for job in trace:
        clock.now = max(clock.now, job.arrival)
        pipeline = pipelines[job.pipeline]
        manager.run(pipeline, lambda device, p=pipeline: p.run({"device": device}, Stages()))
    counters = manager.counters
    return {
        "loads": counters["loads"],
        "placements": counters["loads"] + counters["transfers"],
        "bytes_moved": counters["bytes_moved"],
        "total_s": round(clock.now, 1),
    }


def replay_simple(trace: list[Job], budget: int, policy: str) -> dict:
    """The baseline policies: weights come from disk each time they are placed, nothing is kept warm."""
    weights = {n: int(w * GiB) for n, (w, _, _) in PIPELINES.items()}
    peak = {n: int(p * GiB) for n, (_, p, _) in PIPELINES.items()}
    run_s = {n: r for n, (_, _, r) in PIPELINES.items()}
    uses: dict[str, list[int]] = {n: [] for n in PIPELINES}
    for i, job in enumerate(trace):
        uses[job.pipeline].append(i)
    resident: dict[str, float] = {}  # name -> last use
    now, loads, moved = 0.0, 0, 0

    def next_use(name: str, i: int) -> int:
        later = [k for k in uses[name] if k > i]
        return later[0] if later else len(trace)

    for i, job in enumerate(trace):
        now = max(now, job.arrival)
        name = job.pipeline
        if policy == "idle_10s":
            for other, last in list(resident.items()):
                if other != name and now - last >= 10.0:
                    del resident[other]
        if name not in resident:
            while sum(weights[n] for n in resident) + weights[name] + peak[name] > budget:
                if policy == "belady":
                    victim = max(resident, key=lambda n: next_use(n, i))
                else:
                    victim = min(resident, key=resident.get)
                del resident[victim]
            loads += 1
            moved += weights[name]
            now += DISK_S_PER_GIB * weights[name] / GiB
        now += run_s[name]
        resident[name] = now
        if policy == "after_every_job":
            del resident[name]
    return {"loads": loads, "placements": loads, "bytes_moved": moved, "total_s": round(now, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-gib", type=float, default=12.0)
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    args = parser.parse_args(argv)

    budget = int(args.budget_gib * GiB)
    trace = make_trace(args.jobs, args.seed)
    total_weights = sum(w for w, _, _ in PIPELINES.values())
    results = {
        "manager": replay_manager(trace, budget),
        "after_every_job": replay_simple(trace, budget, "after_every_job"),
        "idle_10s": replay_simple(trace, budget, "idle_10s"),
        "belady": replay_simple(trace, budget, "belady"),
    }
    print(f"{len(trace)} jobs over {len(PIPELINES)} pipelines, {total_weights:.0f} GiB of weights "
          f"on a {args.budget_gib:g} GiB budget ({total_weights / args.budget_gib:.2f}x), seed {args.seed}")
    print(f"{'policy':<16}{'loads':>7}{'placements':>12}{'GiB moved':>11}{'total s':>10}")
    for name, r in results.items():
        print(f"{name:<16}{r['loads']:>7}{r['placements']:>12}{r['bytes_moved'] / GiB:>11.1f}{r['total_s']:>10.1f}")
    manager, belady, every = results["manager"], results["belady"], results["after_every_job"]
    ratios = {
        "bytes_vs_belady": round(manager["bytes_moved"] / max(1, belady["bytes_moved"]), 3),
        "loads_after_every_job_vs_manager": round(every["loads"] / max(1, manager["loads"]), 2),
        "placements_after_every_job_vs_manager": round(every["placements"] / max(1, manager["placements"]), 2),
        "placements_after_every_job_vs_belady": round(every["placements"] / max(1, belady["placements"]), 2),
    }
    print(f"manager bytes moved / Belady: {ratios['bytes_vs_belady']:.3f} (target <= 1.3)")
    print(f"unload-after-every-job loads / manager loads: "
          f"{ratios['loads_after_every_job_vs_manager']:.2f} (target >= 2)")
    print(f"unload-after-every-job placements on the GPU / manager placements: "
          f"{ratios['placements_after_every_job_vs_manager']:.2f} "
          f"(the offline optimum reaches {ratios['placements_after_every_job_vs_belady']:.2f} on this trace)")
    if args.json:
        print(json.dumps(results))
    return {**results, "ratios": ratios}


if __name__ == "__main__":
    main()
