"""The supervisor: starts, watches and ends the worker processes that run every pipeline.

Built-in CPU pipelines share a pool of workers; each model pipeline gets a worker of
its own, pinned to one device and started with the Python of its environment. What
the GPU manager places is a stand-in `Pipeline` per registered pipeline:

- `ModelWorker`: resident = its worker is alive with the weights on the device; warm =
  the weights are in CPU memory inside the worker; evicted = the process has ended,
  which frees all of its device memory, fragmentation included.
- `PoolWorker`: a built-in pipeline, served by whichever pool worker is free.

A job that runs past its time limit, or is cancelled, has its worker killed; a worker
that dies (a segfault, `kill -9`, the OOM killer) fails its job with the reason, and
the next job starts a new one. Either way the GPU manager is told the memory is free.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipelines.base import Pipeline, ProgressCallback
from pipelines.errors import InputError, PipelineUnavailable, scrub_paths
from pipelines.registry import class_spec


log = logging.getLogger("studio.supervisor")

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0  # a worker's Python and imports, before it says it is ready
MOVE_TIMEOUT_S = 300.0  # an eviction (weights to CPU memory) outside any job
EXIT_GRACE_S = 3.0


class JobError(RuntimeError):
    """A job ended without a result; the message is meant for the user."""


class JobTimedOut(JobError, TimeoutError):
    """The job ran past its time limit and its worker was killed."""


class JobCancelled(JobError):
    """The job was cancelled while it ran and its worker was killed."""


class WorkerDied(JobError):
    """The worker process ended in the middle of a request."""


class PipelineFailed(JobError):
    """The pipeline raised an error that is not the user's doing; details are in the server log."""


class WorkerOutOfMemory(MemoryError):
    """The pipeline ran out of memory in its worker; the GPU manager evicts idle pipelines and retries once."""


@dataclass
class JobContext:
    """The job a thread is serving: its deadline and its cancel flag, checked while a worker works for it."""

    label: str
    limit_s: float
    report: ProgressCallback | None = None  # the job's progress, for stages of a load done on its behalf
    started: float = field(default_factory=time.monotonic)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def deadline(self) -> float:
        return self.started + self.limit_s

    def check(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled("The job was cancelled; its worker was stopped.")
        if time.monotonic() > self.deadline:
            raise JobTimedOut(
                f"The job ran out of time: {self.label} was stopped after {self.limit_s:g} s, its time limit. "
                "Try a smaller input or lower quality settings, or raise the limit with --job-timeout.")


_current = threading.local()


def current_job() -> JobContext | None:
    return getattr(_current, "job", None)


def set_current_job(job: JobContext | None) -> None:
    """Bind `job` to this thread: worker requests made from it obey its deadline and cancel flag."""
    _current.job = job


def death_reason(returncode: int | None) -> str:
    if returncode is None:
        return "it stopped answering"
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        hint = {signal.SIGKILL: ": killed by hand or by the system's out-of-memory killer",
                signal.SIGSEGV: ": a crash in native code", signal.SIGABRT: ": native code aborted"}.get(number, "")
        return f"signal {number}, {name}{hint}"
    return f"exit code {returncode}"


_EOF = object()


class WorkerProcess:
    """One worker: a `python -m queueing.worker` process and the threads that read its events and its log."""

    _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker-spawner")

    def __init__(self, label: str, python: str = sys.executable, env: dict | None = None):
        self.label = label
        self.python = python
        self.env = env or {}
        self.process: subprocess.Popen | None = None
        self.events: queue.Queue = queue.Queue()
        self.lock = threading.Lock()  # one request at a time
        self.busy = False
        self.jobs = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the process and wait until it says it is ready."""
        env = {**os.environ, **self.env, "STUDIO_WORKER_PARENT": str(os.getpid()), "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        # Spawned from one long-lived thread: the kernel's parent-death signal follows the thread that forked.
        self.process = self._spawner.submit(
            subprocess.Popen, [self.python, "-m", "queueing.worker"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True).result()
        self.events = queue.Queue()
        threading.Thread(target=self._read_events, args=(self.process, self.events), daemon=True,
                         name=f"worker-events-{self.pid}").start()
        threading.Thread(target=self._read_log, args=(self.process,), daemon=True,
                         name=f"worker-log-{self.pid}").start()
        ready = self._next_event(time.monotonic() + START_TIMEOUT_S, None)
        if ready.get("event") != "ready":
            self.kill()
            raise WorkerDied(f"the worker for {self.label} did not start")
        log.info("started worker %s (pid %s, %s)", self.label, self.pid, self.python)

    def _read_events(self, process: subprocess.Popen, events: queue.Queue) -> None:
        for line in process.stdout:
            try:
                events.put(json.loads(line))
            except json.JSONDecodeError:
                log.warning("worker %s wrote an unreadable event: %.200s", self.label, line)
        events.put(_EOF)

    def _read_log(self, process: subprocess.Popen) -> None:
        worker_log = logging.getLogger(f"studio.worker.{self.label}")
        for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                worker_log.info("[pid %s] %s", process.pid, line)

    def _next_event(self, deadline: float, job: JobContext | None) -> dict:
        """The next event, checking the job's deadline and cancel flag (and `deadline`) every 50 ms."""
        while True:
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                event = None
            if event is _EOF:
                raise WorkerDied(f"the worker running {self.label} died ({death_reason(self._returncode())})")
            if event is not None:
                return event
            try:
                if job is not None:
                    job.check()
                elif time.monotonic() > deadline:
                    raise JobTimedOut(f"the worker running {self.label} did not answer in time")
            except JobError:
                self.kill()
                raise

    def _returncode(self) -> int | None:
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def request(self, message: dict, on_progress: ProgressCallback | None = None) -> dict:
        """Send one request and wait for its final event, under the current job's limits (else MOVE_TIMEOUT_S)."""
        job = current_job()
        with self.lock:
            if not self.alive:
                self.start()
            self.busy = True
            try:
                try:
                    self.process.stdin.write((json.dumps(message) + "\n").encode())
                    self.process.stdin.flush()
                except (BrokenPipeError, OSError):
                    raise WorkerDied(f"the worker running {self.label} died "
                                     f"({death_reason(self._returncode())})") from None
                deadline = time.monotonic() + MOVE_TIMEOUT_S
                while True:
                    event = self._next_event(deadline, job)
                    if event.get("event") == "progress":
                        if on_progress is not None:
                            on_progress(float(event.get("fraction", 0.0)), str(event.get("stage", "")))
                        continue
                    if event.get("event") == "error":
                        raise self._error(event)
                    return event
            finally:
                self.busy = False

    def _error(self, event: dict) -> Exception:
        kind, message = event.get("kind"), scrub_paths(str(event.get("message", "")))
        if kind == "input":
            return InputError(message)
        if kind == "unavailable":
            return PipelineUnavailable(message)
        if kind == "oom":
            return WorkerOutOfMemory(message)
        log.error("%s failed in its worker (pid %s): %s", self.label, self.pid, message)
        return PipelineFailed(f"{self.label} failed with an internal error ({event.get('type', 'error')}).")

    def kill(self) -> None:
        """End the process at once (SIGKILL), wherever it is, and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self._returncode()
            log.warning("killed worker %s (pid %s)", self.label, self.pid)

    def stop(self) -> None:
        """Ask the process to exit, then kill it if it does not."""
        if not self.alive:
            return
        try:
            self.process.stdin.write(b'{"op": "exit"}\n')
            self.process.stdin.flush()
            self.process.wait(timeout=EXIT_GRACE_S)
        except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
            self.kill()

    def describe(self) -> dict:
        return {"worker": self.label, "pid": self.pid if self.alive else None, "alive": self.alive,
                "busy": self.busy, "jobs": self.jobs}


def _worker_device(device: str) -> tuple[str, dict]:
    """The device name inside the worker and the environment that pins it there (cuda:3 -> cuda:0, GPU 3 only)."""
    if device.startswith("cuda:"):
        return "cuda:0", {"CUDA_VISIBLE_DEVICES": device.split(":")[1]}
    return device, {}


class StandIn(Pipeline):
    """What the GPU manager places for a registered pipeline: its footprint and devices, run elsewhere.

    The pipeline itself is re-created in a worker from `spec` and `kwargs`; sizes are
    measured there and reported back (`measures_itself`).
    """

    measures_itself = True

    def __init__(self, pipeline: Pipeline):
        super().__init__()
        self.pipeline = pipeline
        self.spec, self.kwargs = class_spec(pipeline), pipeline.spawn_kwargs()
        for attr in ("name", "feature", "label", "devices", "weights_bytes", "peak_bytes", "supports_offload",
                     "offload_peak_bytes"):
            setattr(self, attr, getattr(pipeline, attr))

    def estimate_seconds(self, inputs: dict) -> float:
        return self.pipeline.estimate_seconds(inputs)

    def run_message(self, job: dict, device: str) -> dict:
        return {"op": "run", "pipeline": self.spec, "kwargs": self.kwargs, "device": device, "job": job}

    def finished(self, event: dict) -> dict:
        """The result of a run's final event, noting the peak memory the worker measured."""
        self.measured_peak_bytes = int(event.get("peak_bytes", 0)) or None
        return event["result"]


class ModelWorker(StandIn):
    """A model pipeline's stand-in: a worker process of its own, on one device."""

    reentrant = False  # one worker serves one job at a time

    def __init__(self, pipeline: Pipeline, on_lost: Callable[[Pipeline], None]):
        super().__init__(pipeline)
        self.on_lost = on_lost
        self.worker: WorkerProcess | None = None
        self.pinned: str | None = None  # the device the worker process was started for

    def _request(self, message: dict, on_progress: ProgressCallback | None = None) -> dict:
        try:
            return self.worker.request(message, on_progress)
        except (JobError, MemoryError):
            if not self.worker.alive:
                self._lost()
            raise

    def _lost(self) -> None:
        """The process is gone: nothing of this pipeline is held anywhere any more."""
        self.device = self.pinned = None
        self.on_lost(self)

    def load(self, device: str) -> None:
        inner, env = _worker_device(device)
        if self.worker is None or self.pinned != device:
            self.unload()
            self.worker = WorkerProcess(f"{self.feature}/{self.name}", self.pipeline.python or sys.executable, env)
            self.pinned = device
        job = current_job()
        event = self._request({"op": "load", "pipeline": self.spec, "kwargs": self.kwargs, "device": inner},
                              job.report if job is not None else None)
        self.measured_weights_bytes = int(event.get("weights_bytes", 0)) or None
        self.device = device

    def to(self, device: str) -> None:
        if device == "cpu" and self.pinned not in (None, "cpu"):
            self._request({"op": "offload"})
            self.device = "cpu"
        else:
            self.load(device)

    def enable_offload(self, device: str) -> None:
        self._request({"op": "enable_offload", "device": _worker_device(device)[0]})

    def unload(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.device = self.pinned = None

    def run_job(self, job: dict, device: str, on_progress: ProgressCallback) -> dict:
        event = self._request(self.run_message(job, _worker_device(device)[0]), on_progress)
        self.worker.jobs += 1
        return self.finished(event)

    def workers(self) -> list[WorkerProcess]:
        return [self.worker] if self.worker is not None else []


class WorkerPool:
    """Worker processes for the built-in CPU pipelines, any of which serves any of them."""

    def __init__(self, size: int):
        self.size = max(1, size)
        self.workers = [WorkerProcess(f"builtin-{i}") for i in range(self.size)]
        self._idle = queue.Queue()
        for worker in self.workers:
            self._idle.put(worker)

    def warm_up(self) -> None:
        """Start every worker in the background, so the first jobs find them ready."""
        for worker in self.workers:
            self._start_in_background(worker)

    @staticmethod
    def _start_in_background(worker: WorkerProcess) -> None:
        def start() -> None:
            with worker.lock:
                if not worker.alive:
                    try:
                        worker.start()
                    except Exception:  # noqa: BLE001 - the job that needs it starts it again and reports
                        log.exception("could not start pool worker %s", worker.label)

        threading.Thread(target=start, daemon=True, name=f"start-{worker.label}").start()

    def run(self, message: dict, on_progress: ProgressCallback, label: str) -> dict:
        worker = self._idle.get()
        try:
            worker.label = label
            event = worker.request(message, on_progress)
            worker.jobs += 1
            return event
        finally:
            worker.label = f"builtin-{self.workers.index(worker)}"
            if not worker.alive:
                self._start_in_background(worker)  # killed or died: its replacement starts now, not on the next job
            self._idle.put(worker)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


class PoolWorker(StandIn):
    """A built-in CPU pipeline's stand-in: it runs on any worker of the pool."""

    reentrant = True  # the pool serves as many jobs at once as it has workers

    def __init__(self, pipeline: Pipeline, pool: WorkerPool):
        super().__init__(pipeline)
        self.pool = pool

    def run_job(self, job: dict, device: str, on_progress: ProgressCallback) -> dict:
        return self.finished(self.pool.run(self.run_message(job, device), on_progress, f"{self.feature}/{self.name}"))


class Supervisor:
    """Hands the GPU manager one stand-in per registered pipeline and keeps the worker processes."""

    def __init__(self, pool_size: int, on_lost: Callable[[Pipeline], None]):
        self.pool = WorkerPool(pool_size)
        self.on_lost = on_lost
        self._placed: dict[int, Pipeline] = {}
        self._lock = threading.Lock()

    @staticmethod
    def pooled(pipeline: Pipeline) -> bool:
        """Built-in CPU pipelines share the pool; a pipeline with weights or a GPU gets a worker of its own."""
        return tuple(pipeline.devices) == ("cpu",) and not pipeline.weights_bytes and not pipeline.python

    def placed(self, pipeline: Pipeline) -> PoolWorker | ModelWorker:
        with self._lock:
            stand_in = self._placed.get(id(pipeline))
            if stand_in is None:
                stand_in = (PoolWorker(pipeline, self.pool) if self.pooled(pipeline)
                            else ModelWorker(pipeline, self.on_lost))
                self._placed[id(pipeline)] = stand_in
            return stand_in

    def workers(self) -> list[dict]:
        with self._lock:
            models = [w for p in self._placed.values() if isinstance(p, ModelWorker) for w in p.workers()]
        return [w.describe() for w in [*self.pool.workers, *models]]

    def stop(self) -> None:
        self.pool.stop()
        with self._lock:
            for stand_in in self._placed.values():
                if isinstance(stand_in, ModelWorker):
                    stand_in.unload()
