"""The GPU manager: one per process, it decides where each pipeline lives.

Every pipeline run goes through `run(pipeline, fn)` (or the `acquire(pipeline)`
context manager). A pipeline is in one of three tiers: unloaded, warm (weights
in CPU memory) or on a device. `acquire` uses the device it is already on, else
places it on the device with the most room, evicting idle pipelines
least-recently-used first: down to CPU memory while the RAM budget allows (warm
pipelines used longer ago make way), else unloaded. A pipeline in use is never
evicted; one that says it is re-entrant serves several jobs at once.

Planning starts from each pipeline's declared weights and peak working memory;
the first load and the first run measure the real values (torch's CUDA
statistics on a GPU, the process's RSS on the CPU) and the plan uses those from
then on. Weights stay accounted while resident; working memory is reserved only
while a job runs, so idle pipelines cost only their weights.

On an out-of-memory error the manager evicts every idle pipeline, empties the
cache and retries once, then fails the job with what was needed and what was
resident. Waiting for memory is bounded; a request that other requests keep
overtaking gets exclusive claim after `max_overtakes`, so a large pipeline is
not starved by small ones. A pipeline that can never fit whole runs with model
CPU offload when it supports it. Inside a ZeroGPU Space the manager steps aside
and wraps GPU work in `spaces.GPU` with a duration estimated from the job.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from pipelines.base import GiB, Pipeline
from pipelines.errors import PipelineUnavailable

from .devices import Device, detect_devices, is_out_of_memory

log = logging.getLogger("studio.gpu")

DEFAULT_WAIT_S = 600.0
MAX_OVERTAKES = 4


class DeviceOutOfMemory(RuntimeError):
    """A job ran out of device memory even after everything idle was evicted."""


def _gib(nbytes: int) -> str:
    return f"{nbytes / GiB:.2f} GiB"


def zero_gpu_space() -> bool:
    """True inside a Hugging Face ZeroGPU Space (SPACES_ZERO_GPU set and the `spaces` package importable)."""
    if os.environ.get("SPACES_ZERO_GPU", "").lower() not in ("1", "true", "yes"):
        return False
    try:
        import spaces  # noqa: F401 - optional: only ZeroGPU Spaces have it
    except ImportError:
        log.warning("SPACES_ZERO_GPU is set but the spaces package is missing; managing the GPU normally")
        return False
    return True


@dataclass(eq=False)
class Entry:
    """What the manager knows about one pipeline: footprint, tier and use."""

    pipeline: Pipeline
    weights: int
    peak: int
    offload_peak: int
    measured: set = field(default_factory=set)
    home: Device | None = None  # where the weights are; the CPU device means warm; None means unloaded
    offload: Device | None = None  # runs on this device with its weights kept in CPU memory
    users: int = 0
    moving: bool = False  # a load, transfer or unload is under way outside the lock
    last_used: float = 0.0
    loads: int = 0
    evictions: int = 0

    @property
    def name(self) -> str:
        return f"{self.pipeline.feature}/{self.pipeline.name}"


@dataclass(eq=False)
class Lease:
    """One job's claim: where it runs and the working memory reserved for it."""

    entry: Entry
    device: Device
    working: int
    offload: bool
    wait_s: float = 0.0
    load_s: float = 0.0


@dataclass(eq=False)
class Plan:
    device: Device
    offload: bool
    need: int  # bytes that must be free on `device`: weights to bring in plus working memory
    victims: list[Entry]


class GPUManager:
    """Placement, residency and eviction for every pipeline in the process.

    `devices` defaults to the CUDA devices torch finds plus the CPU; tests pass
    fake devices. `clock` is injectable so benchmarks can replay traces on a
    simulated clock.
    """

    def __init__(
        self,
        devices: list[Device] | None = None,
        wait_s: float = DEFAULT_WAIT_S,
        max_overtakes: int = MAX_OVERTAKES,
        clock: Callable[[], float] = time.monotonic,
        zero_gpu: bool | None = None,
    ):
        self.zero_gpu = zero_gpu_space() if zero_gpu is None else zero_gpu
        devices = detect_devices() if devices is None else list(devices)
        if self.zero_gpu and not any(d.kind == "cuda" for d in devices):
            # ZeroGPU attaches a GPU only inside spaces.GPU calls; it counts as present.
            devices.insert(0, Device("cuda", "cuda", 0))
        self.devices = devices
        self.cpu = next((d for d in devices if d.kind == "cpu"), None)
        self.wait_s = wait_s
        self.max_overtakes = max_overtakes
        self.clock = clock
        self._cond = threading.Condition()
        self._entries: dict[int, Entry] = {}
        self._working: dict[Device, int] = {d: 0 for d in devices}
        self._leaving: dict[Device, int] = {d: 0 for d in devices}  # evicted weights not yet moved off
        self._active: dict[Device, int] = {d: 0 for d in devices}
        self._epoch = 0
        self._tickets = itertools.count()
        self._waiting: list[int] = []
        self._blocked: set[int] = set()
        self._overtaken: dict[int, int] = {}
        self._zero_call = self._zero_gpu_wrapper() if self.zero_gpu else None
        self.counters = {
            "loads": 0, "transfers": 0, "evictions": 0, "unloads": 0, "bytes_moved": 0,
            "oom_retries": 0, "oom_failures": 0, "timeouts": 0, "offloaded_runs": 0, "lost": 0,
        }

    # -- what the studio asks ---------------------------------------------------
    @property
    def device_kinds(self) -> set[str]:
        return {d.kind for d in self.devices}

    @property
    def gpu_slots(self) -> int:
        """Jobs that can use a GPU at once: one per GPU (at least one)."""
        return max(1, sum(d.kind != "cpu" for d in self.devices))

    def footprint(self, pipeline: Pipeline) -> int:
        """Weights plus peak working memory, measured where known, else declared."""
        with self._cond:
            entry = self._entry(pipeline)
            return entry.weights + entry.peak

    # -- accounting (call with the lock held) -------------------------------------
    def _entry(self, pipeline: Pipeline) -> Entry:
        entry = self._entries.get(id(pipeline))
        if entry is None:
            weights, peak = int(pipeline.weights_bytes), int(pipeline.peak_bytes)
            offload_peak = int(getattr(pipeline, "offload_peak_bytes", 0) or peak + weights // 4)
            entry = Entry(pipeline, weights, peak, offload_peak, last_used=self.clock())
            self._entries[id(pipeline)] = entry
        return entry

    def _used(self, device: Device) -> int:
        weights = sum(e.weights for e in self._entries.values() if e.home is device)
        return weights + self._working[device]

    def _free(self, device: Device) -> int:
        """Room to plan with; weights still being moved off count until they are gone."""
        return device.budget_bytes - self._used(device) - self._leaving[device]

    def _idle_on(self, device: Device, keep: Entry | None = None) -> list[Entry]:
        """Evictable pipelines on `device`, least recently used first."""
        idle = [e for e in self._entries.values()
                if e.home is device and e.users == 0 and not e.moving and e is not keep]
        return sorted(idle, key=lambda e: e.last_used)

    def _never_fits(self, entry: Entry) -> str | None:
        """Why `entry` can never run here, or None."""
        kinds = [d for d in self.devices if d.kind in entry.pipeline.devices]
        if not kinds:
            return f"{entry.pipeline.name} needs a {' or '.join(entry.pipeline.devices)} device; none is configured."
        if any(self._options(entry, d) for d in kinds):
            return None
        largest = max(d.budget_bytes for d in kinds)
        hint = "" if entry.pipeline.supports_offload else " and it does not support CPU offload"
        return (f"{entry.pipeline.name} needs {_gib(entry.weights + entry.peak)} (weights {_gib(entry.weights)} + "
                f"working {_gib(entry.peak)}), more than the largest device budget ({_gib(largest)}){hint}. "
                "Raise --gpu-budget / --cpu-budget or choose a smaller pipeline.")

    def _options(self, entry: Entry, device: Device) -> list[bool]:
        """Ways `entry` could ever run on `device`: False = whole, True = with CPU offload."""
        if entry.offload is not None:
            return [True] if entry.offload is device else []
        if entry.weights + entry.peak <= device.budget_bytes or entry.home is device:
            return [False]
        if (entry.pipeline.supports_offload and device.kind != "cpu" and self.cpu is not None
                and entry.offload_peak <= device.budget_bytes and entry.weights <= self.cpu.budget_bytes):
            return [True]
        return []

    def _pinned(self, entry: Entry) -> Device | None:
        """The only device `entry` may run on now: where it runs or sits on a GPU; None if free to move."""
        if entry.offload is not None:
            return entry.offload
        if entry.home is not None and (entry.home is not self.cpu or entry.users):
            return entry.home
        return None

    def _plan(self, entry: Entry) -> Plan | None:
        """Where `entry` can run now (with the evictions that takes), or None to wait."""
        if self._busy_itself(entry):
            return None
        pinned = self._pinned(entry)
        if pinned is not None:
            offload = entry.offload is pinned
            need = entry.offload_peak if offload else entry.peak
            victims = self._victims(pinned, need, keep=entry)
            return None if victims is None else Plan(pinned, offload, need, victims)
        for kind in entry.pipeline.devices:
            devices = [d for d in self.devices if d.kind == kind and self._options(entry, d)]
            if not devices:
                continue  # a kind that can never hold it: fall back to the next preferred kind
            devices.sort(key=lambda d: (d is not entry.home, -self._free(d)))
            for device in devices:
                offload = self._options(entry, device)[0]
                room = []  # offloaded weights live in CPU memory: idle pipelines there may have to go
                if offload:
                    need = entry.offload_peak
                    if entry.home is not self.cpu:
                        room = self._victims(self.cpu, entry.weights, keep=entry)
                        if room is None:
                            continue
                else:
                    need = entry.peak + (0 if entry.home is device else entry.weights)
                victims = self._victims(device, need, keep=entry)
                if victims is not None:
                    return Plan(device, offload, need, room + victims)
            return None
        return None

    def _victims(self, device: Device, need: int, keep: Entry) -> list[Entry] | None:
        """Idle pipelines to evict, LRU first, so `need` bytes are free; None if impossible now."""
        free = self._free(device)
        victims = []
        for candidate in self._idle_on(device, keep):
            if free >= need:
                break
            victims.append(candidate)
            free += candidate.weights
        return victims if free >= need else None

    # -- waiting, fairness -------------------------------------------------------
    def _head(self) -> int | None:
        """The oldest request waiting for memory (one waiting for its own busy pipeline does not count)."""
        return next((t for t in self._waiting if t in self._blocked), None)

    def _may_go(self, ticket: int) -> bool:
        """FIFO with bounded overtaking: the oldest waiter, once overtaken enough, goes first."""
        head = self._head()
        return head is None or ticket == head or self._overtaken.get(head, 0) < self.max_overtakes

    @staticmethod
    def _busy_itself(entry: Entry) -> bool:
        return entry.moving or (entry.users > 0 and not entry.pipeline.reentrant)

    def _claim(self, entry: Entry, timeout: float | None) -> tuple[Plan, float]:
        """Wait (bounded) until `entry` can be placed; commit the plan's bookkeeping."""
        reason = self._never_fits(entry)
        if reason:
            raise PipelineUnavailable(reason)
        limit = self.wait_s if timeout is None else timeout
        start = time.monotonic()
        ticket = next(self._tickets)
        self._waiting.append(ticket)
        try:
            while True:
                plan = self._plan(entry) if self._may_go(ticket) else None
                if plan is not None:
                    head = self._head()
                    if head is not None and head != ticket:
                        self._overtaken[head] = self._overtaken.get(head, 0) + 1
                    break
                head = self._head()
                if self._busy_itself(entry):
                    self._blocked.discard(ticket)  # waits for its pipeline, not for memory
                else:
                    self._blocked.add(ticket)
                if self._head() != head:
                    self._cond.notify_all()  # a new oldest waiter: requests the old one held back may go
                    if self._head() == ticket:
                        continue  # this request is now the oldest: it may be allowed to go at once
                remaining = start + limit - time.monotonic()
                if remaining <= 0:
                    self.counters["timeouts"] += 1
                    raise TimeoutError(self._timeout_message(entry, limit))
                self._cond.wait(remaining)
        finally:
            self._waiting.remove(ticket)
            self._blocked.discard(ticket)
            self._overtaken.pop(ticket, None)
            self._cond.notify_all()
        return plan, time.monotonic() - start

    def _timeout_message(self, entry: Entry, limit: float) -> str:
        busy = [f"{e.name} ({_gib(e.weights)} on {e.home.name if e.home else '-'})"
                for e in self._entries.values() if e.users or e.moving]
        return (f"Waited {limit:.0f} s for memory to run {entry.pipeline.name} "
                f"(needs {_gib(entry.weights + entry.peak)}); in use: {', '.join(busy) or 'nothing'}"
                f"{'' if entry.users == 0 else f'; {entry.pipeline.name} itself is busy with another job'}. "
                "Try again shortly.")

    # -- moving weights (outside the lock) -----------------------------------------
    def _evict(self, victims: list[Entry], demote: bool = True) -> list[tuple[Entry, Device | None]]:
        """Decide each victim's new tier (lock held); the caller moves them with `_move_out`.

        A victim on a GPU goes down to CPU memory while the RAM budget has room, dropping idle
        pipelines there that were used less recently than it; else it is unloaded.
        """
        moves = []
        for victim in victims:
            source = victim.home
            to_cpu = demote and source is not self.cpu and self.cpu is not None and victim.offload is None
            if to_cpu:
                drops = self._warm_room(victim)
                to_cpu = drops is not None
                moves += self._evict(drops or [], demote=False)  # listed first: they leave before it arrives
            victim.home = self.cpu if to_cpu else None
            victim.offload = None
            if source is not None:
                self._leaving[source] += victim.weights
            victim.moving = True
            victim.evictions += 1
            self.counters["evictions"] += 1
            moves.append((victim, source))
        return moves

    def _warm_room(self, victim: Entry) -> list[Entry] | None:
        """Idle pipelines in CPU memory, used before `victim`, to drop (LRU first) so it fits there; None if it cannot."""
        free = self._free(self.cpu)
        drops = []
        for old in self._idle_on(self.cpu, keep=victim):
            if free >= victim.weights or old.last_used > victim.last_used:
                break
            drops.append(old)
            free += old.weights
        return drops if free >= victim.weights else None

    def _move_out(self, moves: list[tuple[Entry, Device | None]]) -> None:
        for victim, source in moves:
            touched = [d for d in (source, victim.home) if d is not None]
            with self._cond:
                tokens = [(d, self._start_activity(d)) for d in touched]
            try:
                if victim.home is self.cpu and victim.home is not None:
                    victim.pipeline.to(self.cpu.name)
                else:
                    victim.pipeline.unload()
                    with self._cond:
                        self.counters["unloads"] += 1
            except Exception:
                log.exception("evicting %s failed; unloading it", victim.name)
                victim.pipeline.unload()
                with self._cond:
                    victim.home = None
            finally:
                if source is not None:
                    source.meter.free_cache()
                with self._cond:
                    for device, token in tokens:
                        self._end_activity(device, token)
                    if source is not None:
                        self._leaving[source] -= victim.weights
                    victim.moving = False
                    self._cond.notify_all()

    def _busy(self, device: Device) -> int:
        scope = self.devices if device.kind == "cpu" else [device]  # RSS is process-wide
        return sum(self._active[d] for d in scope)

    def _start_activity(self, device: Device) -> tuple[int, bool]:
        """Mark work that changes `device`'s memory (lock held); returns a token for `_end_activity`."""
        quiet = self._busy(device) == 0
        self._active[device] += 1
        self._epoch += 1
        return self._epoch, quiet

    def _end_activity(self, device: Device, token: tuple[int, bool]) -> bool:
        """End the work (lock held); True if nothing else touched the memory its meter sees meanwhile."""
        self._active[device] -= 1
        epoch, quiet = token
        return quiet and self._epoch == epoch and self._busy(device) == 0

    def _bring_in(self, lease: Lease, previous: Device | None) -> None:
        """Load or move `lease.entry` onto its device, measuring weights the first time."""
        entry, device = lease.entry, lease.device
        pipeline = entry.pipeline
        target = self.cpu if lease.offload else device
        with self._cond:
            token = self._start_activity(target)
        before = target.meter.allocated()
        start = time.monotonic()
        try:
            if previous is None:
                pipeline.load(target.name)
            else:
                pipeline.to(target.name)
            after = target.meter.allocated()
            if lease.offload:
                pipeline.enable_offload(device.name)
        finally:
            with self._cond:
                clean = self._end_activity(target, token)
        lease.load_s = time.monotonic() - start
        if pipeline.measures_itself:
            clean, before, after = True, 0, pipeline.measured_weights_bytes or 0
        with self._cond:
            # A load that allocated nothing on this meter (weights kept elsewhere) keeps the declared size.
            if clean and "weights" not in entry.measured and after > before:
                entry.weights = after - before
                entry.measured.add("weights")
            if previous is None:
                entry.loads += 1
                self.counters["loads"] += 1
            else:
                self.counters["transfers"] += 1
            if target.kind != "cpu":
                self.counters["bytes_moved"] += entry.weights

    # -- the job path ----------------------------------------------------------------
    def _enter(self, pipeline: Pipeline, timeout: float | None) -> Lease:
        with self._cond:
            entry = self._entry(pipeline)
            plan, waited = self._claim(entry, timeout)
            previous = entry.home
            arriving = entry.home is not plan.device and not (plan.offload and entry.offload is plan.device)
            departing = 0
            if arriving:
                # Claim the new place before the victims are placed, so none of them is given its room.
                entry.home = self.cpu if plan.offload else plan.device
                entry.offload = plan.device if plan.offload else None
                entry.moving = True
                if previous is not None and previous is not entry.home:
                    departing = entry.weights  # still on `previous` until it has moved
                    self._leaving[previous] += departing
            moves = self._evict(plan.victims)
            working = entry.offload_peak if plan.offload else entry.peak
            self._working[plan.device] += working
            entry.users += 1
            lease = Lease(entry, plan.device, working, plan.offload, wait_s=waited)
        self._move_out(moves)
        if not arriving:
            return lease
        try:
            self._bring_in(lease, previous if pipeline.loaded else None)
        except BaseException:
            try:
                pipeline.unload()
            finally:
                with self._cond:
                    entry.home, entry.offload = None, None
                    self._release(lease)
                lease.device.meter.free_cache()
            raise
        finally:
            with self._cond:
                if departing:
                    self._leaving[previous] -= departing
                entry.moving = False
                self._cond.notify_all()
        return lease

    def _release(self, lease: Lease) -> None:
        """Return the lease's working memory (lock held)."""
        self._working[lease.device] -= lease.working
        lease.entry.users -= 1
        lease.entry.last_used = self.clock()
        self._cond.notify_all()

    def _exit(self, lease: Lease) -> None:
        with self._cond:
            self._release(lease)

    @contextmanager
    def _measure_run(self, lease: Lease) -> Iterator[None]:
        """Measure working memory above what was allocated when the run started.

        A pipeline that measures itself (a worker, in its own process) reports the
        figure; the manager's meters, which see only this process, stay out of it.
        """
        device, entry = lease.device, lease.entry
        if entry.pipeline.measures_itself:
            yield
            self._note_peak(lease, entry.pipeline.measured_peak_bytes or 0)
            return
        with self._cond:
            token = self._start_activity(device)
        before = device.meter.allocated()
        device.meter.reset_peak()
        try:
            yield
        except BaseException:
            device.meter.peak()  # stops the RSS sampler; a failed run measures nothing
            with self._cond:
                self._end_activity(device, token)
            raise
        working = device.meter.peak() - before
        with self._cond:
            clean = self._end_activity(device, token)
        if clean:
            self._note_peak(lease, working)

    def _note_peak(self, lease: Lease, working: int) -> None:
        """The first measurement replaces the declared working memory; later ones only raise it."""
        if working <= 0:
            return
        with self._cond:
            key = "offload_peak" if lease.offload else "peak"
            entry = lease.entry
            current = getattr(entry, key) if key in entry.measured else 0
            setattr(entry, key, max(current, working))
            entry.measured.add(key)

    def _recover(self, keep: Entry | None, on_cpu: bool = False) -> None:
        """After an out-of-memory error: evict every idle pipeline and empty the caches.

        GPU pipelines go down to CPU memory where it has room; after running out of
        host memory (`on_cpu`) everything idle is unloaded.
        """
        with self._cond:
            devices = [d for d in self.devices if on_cpu or d.kind != "cpu"]
            victims = [e for d in devices for e in self._idle_on(d, keep)]
            moves = self._evict(victims, demote=not on_cpu)
        self._move_out(moves)
        for device in self.devices:
            device.meter.free_cache()

    def lost(self, pipeline: Pipeline) -> None:
        """The process holding `pipeline` ended (killed, crashed, timed out): none of its memory is held now."""
        with self._cond:
            entry = self._entries.get(id(pipeline))
            if entry is not None and (entry.home is not None or entry.offload is not None):
                entry.home, entry.offload = None, None
                self.counters["lost"] += 1
                self._cond.notify_all()

    def _oom_error(self, pipeline: Pipeline, exc: BaseException) -> DeviceOutOfMemory:
        with self._cond:
            entry = self._entry(pipeline)
            self.counters["oom_failures"] += 1
            resident = [f"{e.name} {_gib(e.weights)} on {e.home.name}{' (in use)' if e.users else ''}"
                        for e in self._entries.values() if e.home is not None]
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return DeviceOutOfMemory(
            f"{pipeline.name} ran out of device memory even after every idle pipeline was evicted: it needs "
            f"about {_gib(entry.weights + entry.peak)} (weights {_gib(entry.weights)} + working {_gib(entry.peak)}); "
            f"resident: {', '.join(resident) or 'nothing'}. Device said: {detail}. "
            "Try smaller inputs or lower quality settings."
        )

    def _note_oom(self, lease: Lease) -> None:
        """The run ran out of memory: it needed more working memory than planned."""
        with self._cond:
            key = "offload_peak" if lease.offload else "peak"
            setattr(lease.entry, key, max(getattr(lease.entry, key), self._free(lease.device) + lease.working))

    def run(self, pipeline: Pipeline, fn: Callable[[str], Any], inputs: dict | None = None,
            timeout: float | None = None) -> tuple[Any, dict]:
        """Run `fn(device_name)` with `pipeline` placed; returns (result, placement).

        On out-of-memory (while loading or running) evicts everything idle and
        retries once. `placement` says where it ran, whether with CPU offload,
        how long it waited and loaded, and how many out-of-memory retries it took.
        """
        if self._zero_call is not None and "cuda" in pipeline.devices:
            return self._zero_run(pipeline, fn, inputs or {})
        on_cpu = False
        for attempt in (0, 1):
            if attempt:
                # Outside the except block, so the failed attempt's frames and their tensors are freed first.
                log.warning("%s ran out of memory; evicting idle pipelines and retrying once", pipeline.name)
                self._recover(keep=self._entries.get(id(pipeline)), on_cpu=on_cpu)
            lease = None
            try:
                lease = self._enter(pipeline, timeout)
                with self._measure_run(lease):
                    result = fn(lease.device.name)
                if lease.offload:
                    with self._cond:
                        self.counters["offloaded_runs"] += 1
                return result, self._placement(lease, attempt)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                on_cpu = lease is not None and lease.device.kind == "cpu"
                if lease is not None:
                    self._note_oom(lease)
                    self._exit(lease)
                    lease = None
                if attempt:
                    raise self._oom_error(pipeline, exc) from exc
                with self._cond:
                    self.counters["oom_retries"] += 1
            finally:
                if lease is not None:
                    self._exit(lease)
        raise AssertionError("unreachable")

    @contextmanager
    def acquire(self, pipeline: Pipeline, timeout: float | None = None) -> Iterator[str]:
        """Place `pipeline` and mark it in use; yields the device name.

        An out-of-memory error while loading is retried once after evicting
        everything idle; one raised by the body cleans up the same way and
        becomes `DeviceOutOfMemory` (use `run` to retry the body too).
        """
        if self.zero_gpu and "cuda" in pipeline.devices:
            if not pipeline.loaded:
                pipeline.load("cuda")
            yield "cuda"
            return
        lease = None
        for attempt in (0, 1):
            if attempt:
                self._recover(keep=None)  # outside the except block: the failed load's frames are gone
            try:
                lease = self._enter(pipeline, timeout)
                break
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                if attempt:
                    raise self._oom_error(pipeline, exc) from exc
                with self._cond:
                    self.counters["oom_retries"] += 1
        try:
            with self._measure_run(lease):
                yield lease.device.name
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            on_cpu = lease.device.kind == "cpu"
            self._note_oom(lease)
            self._exit(lease)
            lease = None
            self._recover(keep=None, on_cpu=on_cpu)
            raise self._oom_error(pipeline, exc) from exc
        finally:
            if lease is not None:
                self._exit(lease)

    def _placement(self, lease: Lease, attempt: int) -> dict:
        return {
            "device": lease.device.name,
            "offload": "model_cpu_offload" if lease.offload else None,
            "oom_retries": attempt,
            "wait_s": round(lease.wait_s, 4),
            "load_s": round(lease.load_s, 4),
        }

    # -- ZeroGPU ------------------------------------------------------------------
    def _zero_gpu_wrapper(self) -> Callable:
        import spaces

        def duration(pipeline: Pipeline, fn: Callable, inputs: dict) -> int:
            return max(1, int(round(pipeline.estimate_seconds(inputs))))

        def call(pipeline: Pipeline, fn: Callable, inputs: dict):
            return fn("cuda")

        return spaces.GPU(duration=duration)(call)

    def _zero_run(self, pipeline: Pipeline, fn: Callable[[str], Any], inputs: dict) -> tuple[Any, dict]:
        """ZeroGPU lends a GPU per call: weights go to "cuda" up front (spaces defers the copy)."""
        if not pipeline.loaded:
            pipeline.load("cuda")
        start = time.monotonic()
        result = self._zero_call(pipeline, fn, inputs)
        return result, {"device": "cuda (ZeroGPU)", "offload": None, "oom_retries": 0,
                        "zero_gpu_duration_s": int(round(pipeline.estimate_seconds(inputs))),
                        "wait_s": 0.0, "load_s": round(time.monotonic() - start, 4)}

    # -- observability -------------------------------------------------------------
    def status(self) -> dict:
        """Per device: budget, use and resident pipelines (sizes, tier, in use, last use); counters."""
        with self._cond:
            now = self.clock()
            devices = []
            for device in self.devices:
                resident = []
                for e in self._entries.values():
                    if e.home is not device and e.offload is not device:
                        continue
                    if e.offload is device:
                        tier = "runs here with CPU offload"
                    elif e.offload is not None:
                        tier = f"weights for CPU-offloaded runs on {e.offload.name}"
                    elif device.kind == "cpu" and e.pipeline.devices[0] != "cpu":
                        tier = "warm"
                    else:
                        tier = "on device"
                    resident.append({
                        "pipeline": e.name,
                        "tier": tier,
                        "weights_gib": round(e.weights / GiB, 3),
                        "peak_gib": round(e.peak / GiB, 3),
                        "measured": sorted(e.measured),
                        "in_use": e.users > 0,
                        "users": e.users,
                        "moving": e.moving,
                        "last_used_s_ago": round(now - e.last_used, 1),
                        "loads": e.loads,
                        "evictions": e.evictions,
                    })
                used = self._used(device)
                devices.append({
                    **device.describe(),
                    "used_gib": round(used / GiB, 3),
                    "free_gib": round((device.budget_bytes - used) / GiB, 3),
                    "working_gib": round(self._working[device] / GiB, 3),
                    "resident": resident,
                })
            return {
                "devices": devices,
                "zero_gpu": self.zero_gpu,
                "waiting": len(self._waiting),
                **self.counters,
                "bytes_moved_gib": round(self.counters["bytes_moved"] / GiB, 3),
            }
