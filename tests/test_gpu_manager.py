"""The GPU manager on fake devices: eviction, in-use protection, out-of-memory recovery,
waits, concurrency, measured footprints, offload, fairness, ZeroGPU, and the studio job path."""

from __future__ import annotations

import random
import sys
import threading
import time
import types

import numpy as np
import pytest

from pipelines.base import GiB, MiB, Pipeline, PipelineOutput, Stages
from pipelines.errors import PipelineUnavailable
from queueing.devices import (FakeMemory, SimulatedOutOfMemory, cpu_device, cuda_devices, describe_hardware, fake_device,
                              parse_budget, torch_build)
from queueing.fake import FakePipeline
from queueing.gpu_manager import DeviceOutOfMemory, GPUManager
from queueing.studio import Studio


@pytest.fixture
def gpu():
    return fake_device(10 * GiB)


@pytest.fixture
def ram():
    return fake_device(100 * GiB, name="cpu", kind="cpu")


def make(name, devices, weights_gib=3.0, peak_gib=0.5, **kwargs):
    return FakePipeline(name, devices, int(weights_gib * GiB), int(peak_gib * GiB), **kwargs)


def use(manager, pipeline, hold=None):
    """Run one job; `hold` is an optional callable run while the pipeline is in use."""
    def fn(device):
        out = pipeline.run({"device": device}, Stages())
        if hold is not None:
            hold()
        return out
    return manager.run(pipeline, fn)[1]


def resident(manager, device_name):
    device = next(d for d in manager.status()["devices"] if d["name"] == device_name)
    return {r["pipeline"].split("/")[1]: r for r in device["resident"]}


def assert_consistent(manager):
    """Nothing in use, no working memory reserved, and every fake meter matches the plan."""
    status = manager.status()
    for device in status["devices"]:
        assert device["working_gib"] == 0, device
        assert not any(r["in_use"] or r["moving"] for r in device["resident"]), device
        assert device["used_gib"] <= device["budget_gib"] + 1e-9
    for device in manager.devices:
        if isinstance(device.meter, FakeMemory):
            planned = sum(e.weights for e in manager._entries.values() if e.home is device)
            assert device.meter.used == planned, device.name


class _Dist:
    def __init__(self, version, requires):
        self.version, self.requires = version, requires


@pytest.mark.parametrize("version, requires, build", [
    ("2.13.0+cpu", [], "CPU"),
    ("2.13.0+cu128", [], "CUDA 12.8"),
    ("2.13.0+rocm6.4", [], "ROCm 6.4"),
    ("2.13.0", ["nvidia-cublas-cu12==12.8.4.1; platform_system == 'Linux'", "filelock"], "CUDA"),
    ("2.13.0", ["filelock", "sympy>=1.13.3"], "CPU"),
])
def test_torch_build_is_read_from_package_metadata(monkeypatch, version, requires, build):
    monkeypatch.setattr("importlib.metadata.distribution", lambda name: _Dist(version, requires))
    assert torch_build()["build"] == build
    line = describe_hardware([cpu_device()])
    assert f"torch {version} ({build} build); devices: cpu (" in line
    # Only a CUDA build on a machine without a GPU gets the hint to install the CPU build.
    assert ("download.pytorch.org/whl/cpu" in line) == build.startswith("CUDA")
    assert "download.pytorch.org/whl/cpu" not in describe_hardware([cpu_device(), fake_device(8 * GiB, "cuda:0")])


def test_the_installed_torch_is_named_without_importing_it():
    imported = "torch" in sys.modules
    info = torch_build()
    assert info["version"] and info["version"].startswith("2.")
    assert ("torch" in sys.modules) == imported


def test_parse_budget():
    assert parse_budget("0.5", 8 * GiB) == 4 * GiB
    assert parse_budget(1, 8 * GiB) == 8 * GiB
    assert parse_budget("20", 8 * GiB) == 20 * GiB
    assert parse_budget("20GiB", 0) == 20 * GiB
    assert parse_budget("512MiB", 0) == 512 * MiB
    with pytest.raises(ValueError, match="fraction"):
        parse_budget("lots", 0)


def two_fake_gpus(monkeypatch, free=(30 * GiB, 70 * GiB), total=80 * GiB):
    """torch as seen by `cuda_devices`: two GPUs of `total` bytes with `free` bytes free."""
    cuda = types.SimpleNamespace(is_available=lambda: True, device_count=lambda: len(free),
                                 mem_get_info=lambda index: (free[index], total))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))


def test_gpu_budgets_by_flag_keep_the_reserve_and_what_others_hold(monkeypatch):
    two_fake_gpus(monkeypatch)
    budgets = [d.budget_bytes for d in cuda_devices("0.5", reserve="1GiB")]
    assert budgets == [29 * GiB, 40 * GiB]  # cuda:0 is capped by its free memory less the reserve
    budgets = [d.budget_bytes for d in cuda_devices("20GiB,0.9", reserve=0)]
    assert budgets == [20 * GiB, 70 * GiB]  # 0.9 of cuda:1 is more than its 70 GiB free
    with pytest.raises(ValueError, match="3 budgets for 2 GPUs"):
        cuda_devices("1,2,3")


def test_gpu_pool_follows_the_number_of_gpus(monkeypatch, tmp_path):
    import app

    monkeypatch.setenv("STUDIO_GPU_BUDGET", "24GiB")
    monkeypatch.setenv("STUDIO_GPU_RESERVE", "2GiB")
    args = app.parse_args([])
    assert (args.gpu_budget, args.gpu_reserve, args.gpu_slots) == ("24GiB", "2GiB", 1)
    two_fake_gpus(monkeypatch)
    studio = Studio.create(tmp_path, args.gpu_slots, 1, 4, args.gpu_budget, "1GiB", 5, args.gpu_reserve)
    assert [d.name for d in studio.manager.devices] == ["cuda:0", "cuda:1", "cpu"]
    assert [d.budget_bytes for d in studio.manager.devices[:2]] == [24 * GiB, 24 * GiB]
    assert studio.pools.status()["gpu"]["slots"] == 2
    assert Studio.create(tmp_path / "b", 2, 1, 4).pools.gpu_slots == 4


def test_lru_eviction_goes_to_cpu_then_unloads(gpu, ram):
    manager = GPUManager([gpu, ram])
    a, b, c, d = (make(n, [gpu, ram]) for n in "abcd")
    for p in (a, b, c, a):
        assert use(manager, p)["device"] == "fake:0"
    assert set(resident(manager, "fake:0")) == {"a", "b", "c"}
    use(manager, d)  # needs 3.5 GiB with 1 GiB free: b is the least recently used
    assert set(resident(manager, "fake:0")) == {"a", "c", "d"}
    assert resident(manager, "cpu")["b"]["tier"] == "warm"
    assert b.loaded and b.device == "cpu"
    use(manager, b)  # back from CPU memory: a transfer, not a load; c is now the LRU
    assert b.loads == 1 and b.moves == 2
    assert set(resident(manager, "fake:0")) == {"a", "b", "d"}
    assert manager.counters["loads"] == 4 and manager.counters["transfers"] == 1
    assert manager.counters["evictions"] == 2
    assert_consistent(manager)


def test_without_cpu_room_evicted_pipelines_are_unloaded(gpu):
    small_ram = fake_device(2 * GiB, name="cpu", kind="cpu")
    manager = GPUManager([gpu, small_ram])
    a, b, c, d = (make(n, [gpu, small_ram]) for n in "abcd")
    for p in (a, b, c, d):
        use(manager, p)
    assert not a.loaded and a.device is None
    assert "a" not in resident(manager, "cpu")
    assert manager.counters["unloads"] == 1
    assert_consistent(manager)


def test_full_cpu_memory_keeps_the_more_recently_used_pipelines_warm(gpu):
    small_ram = fake_device(7 * GiB, name="cpu", kind="cpu")
    manager = GPUManager([gpu, small_ram])
    a, b, c, d, e, f = (make(n, [gpu, small_ram]) for n in "abcdef")
    for p in (a, b, c, d, e):  # d pushes a to CPU memory, e pushes b
        use(manager, p)
    assert set(resident(manager, "cpu")) == {"a", "b"}
    use(manager, f)  # c leaves the GPU; CPU memory is full, so a (used before c) makes way
    assert set(resident(manager, "cpu")) == {"b", "c"} and not a.loaded and c.device == "cpu"
    assert manager.counters["unloads"] == 1 and manager.counters["evictions"] == 4
    assert_consistent(manager)


def test_in_use_is_never_evicted_and_wait_times_out(gpu, ram):
    manager = GPUManager([gpu, ram])
    big_a = make("a", [gpu, ram], weights_gib=6)
    b = make("b", [gpu, ram], weights_gib=5)
    inside = threading.Event()
    release = threading.Event()
    holder = threading.Thread(target=use, args=(manager, big_a, lambda: (inside.set(), release.wait(5))))
    holder.start()
    assert inside.wait(5)
    with pytest.raises(TimeoutError, match=r"Waited 0 s for memory to run b.*in use: text_to_3d/a"):
        with manager.acquire(b, timeout=0.2):
            pass
    assert big_a.device == "fake:0" and resident(manager, "fake:0")["a"]["in_use"]
    assert manager.counters["timeouts"] == 1 and manager.counters["evictions"] == 0
    release.set()
    holder.join(5)
    placement = use(manager, b)  # now a is idle and gets evicted
    assert placement["device"] == "fake:0"
    assert resident(manager, "cpu")["a"]["tier"] == "warm"
    assert_consistent(manager)


def test_waiting_job_proceeds_when_memory_frees(gpu, ram):
    manager = GPUManager([gpu, ram])
    a = make("a", [gpu, ram], weights_gib=6)
    b = make("b", [gpu, ram], weights_gib=5)
    inside = threading.Event()
    holder = threading.Thread(target=use, args=(manager, a, lambda: (inside.set(), time.sleep(0.3))))
    holder.start()
    assert inside.wait(5)
    placement = use(manager, b)
    holder.join(5)
    assert placement["wait_s"] > 0
    assert resident(manager, "fake:0").keys() == {"b"}
    assert_consistent(manager)


def test_out_of_memory_in_run_evicts_idle_and_retries(gpu, ram):
    manager = GPUManager([gpu, ram])
    a, b = make("a", [gpu, ram]), make("b", [gpu, ram])
    x = make("x", [gpu, ram], weights_gib=2, peak_gib=0.5, real_peak=4 * GiB)  # declares too little working memory
    use(manager, a)
    use(manager, b)
    placement = use(manager, x)  # 6 GiB resident + 2 + 4 > 10: OOM, evict a and b, retry
    assert placement["oom_retries"] == 1
    assert manager.counters["oom_retries"] == 1 and manager.counters["oom_failures"] == 0
    assert set(resident(manager, "cpu")) == {"a", "b"}
    assert manager.footprint(x) == 6 * GiB  # measured working memory replaced the declared 0.5 GiB
    assert_consistent(manager)


def test_out_of_memory_twice_fails_with_message_and_clean_accounting(gpu, ram):
    manager = GPUManager([gpu, ram])
    a = make("a", [gpu, ram])
    x = make("x", [gpu, ram], weights_gib=2, peak_gib=1, real_peak=20 * GiB)
    use(manager, a)
    with pytest.raises(DeviceOutOfMemory, match=r"x ran out of device memory.*needs about .* GiB.*resident: .*x"):
        use(manager, x)
    assert manager.counters["oom_retries"] == 1 and manager.counters["oom_failures"] == 1
    assert_consistent(manager)
    assert use(manager, a)["oom_retries"] == 0  # the manager still works afterwards
    assert_consistent(manager)


def test_out_of_memory_while_loading_is_retried(gpu):
    manager = GPUManager([gpu])  # no CPU tier: evicted pipelines are unloaded
    a = make("a", [gpu], weights_gib=6)
    x = make("x", [gpu], weights_gib=1, real_weights=5 * GiB)  # real weights larger than declared
    use(manager, a)
    placement = use(manager, x)
    assert placement["oom_retries"] == 1 and not a.loaded
    assert manager.footprint(x) == int(5.5 * GiB)
    assert_consistent(manager)


def test_acquire_turns_out_of_memory_in_body_into_clear_error(gpu, ram):
    manager = GPUManager([gpu, ram])
    a = make("a", [gpu, ram])
    with pytest.raises(DeviceOutOfMemory, match="a ran out of device memory"):
        with manager.acquire(a) as device:
            assert device == "fake:0"
            raise SimulatedOutOfMemory("simulated")
    assert_consistent(manager)


def test_measured_footprints_replace_declared(gpu, ram):
    manager = GPUManager([gpu, ram])
    p = make("p", [gpu, ram], weights_gib=1, peak_gib=1, real_weights=3 * GiB, real_peak=2 * GiB)
    assert manager.footprint(p) == 2 * GiB
    use(manager, p)
    assert manager.footprint(p) == 5 * GiB
    row = resident(manager, "fake:0")["p"]
    assert row["weights_gib"] == 3 and row["peak_gib"] == 2 and row["measured"] == ["peak", "weights"]
    # The plan now uses 3 GiB for p: q (6 + 0.5) fits beside it without eviction.
    use(manager, make("q", [gpu, ram], weights_gib=6))
    assert set(resident(manager, "fake:0")) == {"p", "q"}
    assert_consistent(manager)


class AllocatingPipeline(Pipeline):
    """A CPU pipeline whose run really touches ~300 MB, to check RSS measurement."""

    name, feature, devices, peak_bytes = "alloc", "convert_mesh", ("cpu",), 1 * MiB

    def run(self, inputs, stages):
        block = np.ones(300 * MiB // 8)
        time.sleep(0.05)
        return PipelineOutput(asset=float(block.sum()))


def test_cpu_run_measures_process_memory():
    manager = GPUManager([cpu_device("4GiB")])
    pipeline = AllocatingPipeline()
    manager.run(pipeline, lambda device: pipeline.run({}, Stages()))
    assert manager.footprint(pipeline) >= 200 * MiB


def test_offload_chosen_when_whole_pipeline_cannot_fit(ram):
    small = fake_device(4 * GiB)
    manager = GPUManager([small, ram])
    big = make("big", [small, ram], weights_gib=6, peak_gib=1, supports_offload=True, offload_peak=2 * GiB)
    placement = use(manager, big)
    assert placement == {**placement, "device": "fake:0", "offload": "model_cpu_offload"}
    assert big.offload_to == "fake:0" and big.device == "cpu"
    assert resident(manager, "fake:0")["big"]["tier"] == "runs here with CPU offload"
    assert manager.counters["offloaded_runs"] == 1
    assert_consistent(manager)
    plain = make("plain", [small, ram], weights_gib=6, peak_gib=1)
    with pytest.raises(PipelineUnavailable, match="more than the largest device budget.*does not support CPU offload"):
        use(manager, plain)


def test_offload_makes_room_in_cpu_memory_for_its_weights():
    small, ram = fake_device(4 * GiB), fake_device(8 * GiB, name="cpu", kind="cpu")
    manager = GPUManager([small, ram], wait_s=1)
    on_cpu = make("on_cpu", [small, ram], weights_gib=3, kinds=("cpu",))
    big = make("big", [small, ram], weights_gib=6, supports_offload=True, offload_peak=2 * GiB)
    assert use(manager, on_cpu)["device"] == "cpu"
    assert use(manager, big)["offload"] == "model_cpu_offload"  # the idle CPU pipeline made way
    assert not on_cpu.loaded and big.device == "cpu"
    assert_consistent(manager)


def test_reentrant_pipeline_serves_two_jobs_at_once(gpu, ram):
    manager = GPUManager([gpu, ram])
    shared = make("shared", [gpu, ram], reentrant=True)
    together = threading.Barrier(2, timeout=10)
    users_seen, errors = [], []

    def job():
        try:
            with manager.acquire(shared) as device:
                together.wait()  # both jobs hold the pipeline here
                users_seen.append(resident(manager, "fake:0")["shared"]["users"])
                shared.run({"device": device}, Stages())
                together.wait()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and users_seen == [2, 2]
    assert shared.loads == 1 and shared.runs == 2
    assert_consistent(manager)


def test_many_threads_no_double_placement_and_sums_add_up(gpu, ram):
    manager = GPUManager([gpu, ram], wait_s=30)
    pipelines = [make(f"p{i}", [gpu, ram], weights_gib=w, peak_gib=0.5, run_s=0.002, reentrant=(i == 0))
                 for i, w in enumerate([1, 2, 2.5, 3, 4, 5])]
    errors, seen_over = [], []
    stop = threading.Event()

    def worker(seed):
        rng = random.Random(seed)
        try:
            for _ in range(12):
                use(manager, rng.choice(pipelines))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def monitor():
        while not stop.is_set():
            for device in manager.status()["devices"]:
                if device["used_gib"] > device["budget_gib"] + 1e-9:
                    seen_over.append(device)
            time.sleep(0.001)

    watcher = threading.Thread(target=monitor)
    watcher.start()
    workers = [threading.Thread(target=worker, args=(seed,)) for seed in range(16)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    stop.set()
    watcher.join(5)
    assert not errors and not seen_over
    assert sum(p.runs for p in pipelines) == 16 * 12
    assert all(p.max_running == 1 for p in pipelines[1:])  # never two jobs on a non-reentrant pipeline
    assert manager.counters["oom_retries"] == 0  # the plan never oversubscribed the device
    for p in pipelines:  # each pipeline is in exactly one place, and the manager knows where
        entry = manager._entries[id(p)]
        assert p.device == (entry.home.name if entry.home else None)
        assert entry.loads == p.loads
    assert manager.counters["loads"] == sum(p.loads for p in pipelines)
    assert_consistent(manager)


@pytest.mark.parametrize("round_", range(8))
def test_many_threads_acquire_at_once_and_hold_what_they_were_given(gpu, ram, round_):
    """`acquire` directly, as other code uses it: each holder finds its pipeline where it was told.

    Several rounds, because a lost wake-up shows only in some interleavings (as a time-out).
    """
    manager = GPUManager([gpu, ram], wait_s=20)
    pipelines = [make(f"q{i}", [gpu, ram], weights_gib=w, peak_gib=0.5, reentrant=(i == 1))
                 for i, w in enumerate([1.5, 2, 3, 3.5, 4.5])]
    holding = {p.name: 0 for p in pipelines}
    lock = threading.Lock()
    problems = []

    def worker(seed):
        rng = random.Random(seed)
        try:
            for _ in range(15):
                p = rng.choice(pipelines)
                with manager.acquire(p) as device:
                    with lock:
                        holding[p.name] += 1
                        if holding[p.name] > 1 and not p.reentrant:
                            problems.append(f"{p.name} held twice")
                    if p.device != device:
                        problems.append(f"{p.name} on {p.device}, told {device}")
                    fake0 = next(d for d in manager.status()["devices"] if d["name"] == "fake:0")
                    if fake0["used_gib"] > fake0["budget_gib"] + 1e-9:
                        problems.append(f"over budget: {fake0}")
                    p.run({"device": device}, Stages())
                    with lock:
                        holding[p.name] -= 1
        except Exception as exc:  # noqa: BLE001 - reported below
            problems.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(round_ * 12 + seed,)) for seed in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert problems == []
    assert sum(p.runs for p in pipelines) == 12 * 15
    assert manager.counters["oom_retries"] == 0 and manager.counters["evictions"] > 0
    assert_consistent(manager)


@pytest.mark.parametrize("max_overtakes, big_gets_in", [(3, True), (10**6, False)])
def test_large_pipeline_is_not_starved_by_small_ones(gpu, ram, max_overtakes, big_gets_in):
    """Two small jobs hand the device to each other so one is always in use; only aging lets the big one in.

    Each small job stays in use until the other has started again, unless the other
    is held back by the manager (two requests waiting: the big one and that small one).
    """
    manager = GPUManager([gpu, ram], max_overtakes=max_overtakes)
    smalls = [make(f"s{i}", [gpu, ram], weights_gib=2) for i in range(2)]
    big = make("big", [gpu, ram], weights_gib=9)
    relay = threading.Condition()
    entered = [0, 0]
    stop = threading.Event()

    def hold(i):
        with relay:
            entered[i] += 1
            relay.notify_all()
            seen = entered[1 - i]
            deadline = time.monotonic() + 30  # only against a hang; longer than the big job's time-outs below
            while not (entered[1 - i] > seen or stop.is_set() or manager.status()["waiting"] >= 2):
                if time.monotonic() > deadline:
                    break
                relay.wait(0.01)

    def small_jobs(i):
        while not stop.is_set():
            use(manager, smalls[i], lambda: hold(i))

    threads = [threading.Thread(target=small_jobs, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    with relay:
        assert relay.wait_for(lambda: min(entered) >= 2, timeout=5)
    try:
        if big_gets_in:
            _, placement = manager.run(big, lambda device: big.run({"device": device}, Stages()), timeout=5)
            assert placement["device"] == "fake:0"
            assert manager.counters["evictions"] >= 2  # both small ones made room
        else:
            with pytest.raises(TimeoutError, match="Waited 2 s for memory to run big"):
                with manager.acquire(big, timeout=1.5):
                    pass
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert_consistent(manager)


def test_zero_gpu_steps_aside_and_asks_for_an_estimated_duration(monkeypatch, gpu, zero_gpu_calls):
    calls = zero_gpu_calls

    class Stepped(FakePipeline):
        def estimate_seconds(self, inputs):
            return 5 + 0.5 * inputs["steps"]

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert not GPUManager([fake_device(100 * GiB, name="cpu", kind="cpu")]).zero_gpu
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    manager = GPUManager([fake_device(100 * GiB, name="cpu", kind="cpu")])
    assert manager.zero_gpu and "cuda" in manager.device_kinds
    p = Stepped("z", [fake_device(100 * GiB, name="cuda", kind="cuda")], 8 * GiB, GiB)
    for steps in (10, 50):
        result, placement = manager.run(p, lambda device: device, {"steps": steps})
        assert result == "cuda" and placement["device"] == "cuda (ZeroGPU)"
    assert calls == [10, 30] and placement["zero_gpu_duration_s"] == 30
    assert p.loads == 1  # loaded once, kept for later calls


def test_pinned_weights_pack_a_module_into_one_host_buffer():
    import torch

    from queueing.pinned import PinnedWeights

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.BatchNorm1d(5), torch.nn.Linear(5, 3).half())
    module.eval()
    x = torch.randn(4, 7)
    expected = module[2](module[1](module[0](x)).half())
    weights = PinnedWeights(module, pin=False)
    start, end = weights.host.data_ptr(), weights.host.data_ptr() + weights.nbytes
    tensors = [*module.parameters(), *module.buffers()]
    assert all(start <= t.data_ptr() < end and (t.data_ptr() - start) % 512 == 0 for t in tensors)
    assert torch.equal(module[2](module[1](module[0](x)).half()), expected)
    weights.to("cpu")
    assert weights.device_buffer is None and weights.device == "cpu"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message shown without CUDA")
def test_gpu_swap_bench_says_it_needs_cuda():
    import subprocess

    from .conftest import ROOT

    help_text = subprocess.run([sys.executable, "bench/gpu_swap.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert help_text.returncode == 0 and "--cap-gib" in help_text.stdout
    result = subprocess.run([sys.executable, "bench/gpu_swap.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and "needs a CUDA GPU" in result.stderr


def test_status_and_system_tab_show_budget_use_residents_and_counters(gpu, ram):
    from tabs.system import memory_report

    manager = GPUManager([gpu, ram])
    a = make("a", [gpu, ram], weights_gib=1, real_weights=2 * GiB)
    b = make("b", [gpu, ram], weights_gib=7)
    use(manager, a)
    with manager.acquire(b):
        status = manager.status()
        report = memory_report(status)
    fake0 = next(d for d in status["devices"] if d["name"] == "fake:0")
    assert (fake0["budget_gib"], fake0["used_gib"], fake0["working_gib"]) == (10, 9.5, 0.5)
    rows = {r["pipeline"]: r for r in fake0["resident"]}
    assert rows["text_to_3d/a"]["weights_gib"] == 2 and rows["text_to_3d/a"]["in_use"] is False
    assert rows["text_to_3d/b"]["in_use"] is True and rows["text_to_3d/b"]["loads"] == 1
    assert status["loads"] == 2 and status["evictions"] == 0 and status["oom_retries"] == 0
    assert "**fake:0** (cuda): 9.5 of 10.0 GiB budget in use" in report
    assert "| text_to_3d/b | on device | 7.0 | 0.5 | weights | yes |" in report
    assert "| text_to_3d/a | on device | 2.0 | 0.5 | peak, weights | no |" in report
