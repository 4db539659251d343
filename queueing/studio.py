"""The studio context shared by every tab, and the one path every job takes.

    submit   check the request, record the job as queued (it has an id from here on),
             copy its input files into the job folder and take a place in line;
    execute  wait for a slot, let the GPU manager place the pipeline's worker, run the
             job there under its time limit with progress, and close the record.

Pipeline code runs in worker processes (`queueing.supervisor`), never here; the only
exception is a ZeroGPU Space, whose GPU work must run inside `spaces.GPU` calls of this
process. Tabs only convert UI values into `inputs` and errors into `gr.Error`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import environments
from pipelines.base import FEATURES, Pipeline, ProgressCallback
from pipelines.errors import InputError, PipelineUnavailable, scrub_paths
from pipelines.mesh.export import check_format
from pipelines.registry import Registry

from .devices import DEFAULT_CPU_BUDGET, DEFAULT_GPU_BUDGET, DEFAULT_GPU_RESERVE, detect_devices, torch_build
from .gpu_manager import DEFAULT_WAIT_S, DeviceOutOfMemory, GPUManager
from .jobs import JobStore, interrupted_reason, storable
from .limits import ClientLimits, client_address, job_time_limit
from .pools import Pools, Ticket
from .retention import Retention, gradio_cache
from .supervisor import JobCancelled, JobContext, JobError, Supervisor, set_current_job
from .users import Users
from .worker import execute, jsonable

log = logging.getLogger("studio")

# Inputs that are files: they are copied into the job folder and reach the worker as paths there.
FILE_INPUTS = ("mesh", "front", "back", "left", "right", "image", "back_image", "left_image", "right_image")
PROGRESS_WRITE_S = 1.0  # the store records progress at most this often (and at every new stage)


@dataclass(eq=False)
class Job:
    """A job between acceptance and its final status."""

    id: str
    feature: str
    pipeline: Pipeline
    folder: Path
    parameters: dict
    files: dict
    output_format: str
    ticket: Ticket
    context: JobContext
    owner: str | None = None
    client: str = ""
    warnings: list = field(default_factory=list)
    accepted: float = field(default_factory=time.monotonic)


@dataclass
class Studio:
    outputs: Path
    registry: Registry
    manager: GPUManager
    pools: Pools = field(default_factory=Pools)
    queue_size: int = 64
    job_timeouts: dict = field(default_factory=dict)
    keep_days: float = 0.0
    max_disk_bytes: int = 0
    users: Users | None = None
    client_limits: ClientLimits = field(default_factory=ClientLimits)
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self):
        self.outputs = Path(self.outputs).resolve()
        self.jobs = JobStore(self.outputs)
        interrupted = self.jobs.recover()
        if interrupted:
            log.warning("%d jobs were queued or running when the studio last stopped; marked interrupted",
                        len(interrupted))
        self.registry.device_kinds = self.manager.device_kinds
        self.pools.max_waiting = self.queue_size
        self.supervisor = Supervisor(self.pools.cpu_slots + self.pools.gpu_slots, self.manager.lost)
        self.retention = Retention(self.jobs, self.keep_days, self.max_disk_bytes, gradio_cache())
        # Threads that wait for slots and workers: one per job that may be running or waiting.
        self.executor = ThreadPoolExecutor(self.queue_size + self.pools.gpu_slots + self.pools.cpu_slots + 4,
                                           thread_name_prefix="job")
        self._active: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._stopping = False

    @classmethod
    def create(cls, outputs: Path, gpu_slots: int = 1, cpu_slots: int = 2, queue_size: int = 64,
               gpu_budget: str = DEFAULT_GPU_BUDGET, cpu_budget: str = DEFAULT_CPU_BUDGET,
               wait_s: float = DEFAULT_WAIT_S, gpu_reserve: str = DEFAULT_GPU_RESERVE,
               job_timeouts: dict | None = None, keep_days: float = 0.0, max_disk_bytes: int = 0,
               extra_pipelines: list[str] | None = None, users: Users | None = None,
               client_limits: ClientLimits | None = None, trusted_proxies: tuple[str, ...] = ()) -> "Studio":
        """`gpu_slots` jobs at once per GPU the manager found (the "gpu" pool is that times the GPU count).

        Budgets and the reserve are fractions or sizes ("20GiB"); see `queueing.devices.parse_budget`.
        `extra_pipelines` are "module:Class" entries registered after the built-in ones.
        """
        manager = GPUManager(detect_devices(gpu_budget, cpu_budget, gpu_reserve), wait_s=wait_s)
        pools = Pools(max(1, gpu_slots) * manager.gpu_slots, cpu_slots, queue_size)
        registry = Registry(device_kinds=manager.device_kinds)
        for entry in extra_pipelines or []:
            registry.register_entry(entry)
        return cls(Path(outputs), registry, manager, pools, queue_size, dict(job_timeouts or {}), keep_days,
                   max_disk_bytes, users, client_limits or ClientLimits(), tuple(trusted_proxies))

    def start(self) -> None:
        """Background work that must not delay start-up: the worker pool and retention."""
        self.supervisor.pool.warm_up()
        self.retention.start()

    def stop(self) -> None:
        """Stop every worker; jobs still queued or running end as interrupted, to be run again."""
        self._stopping = True
        for job in list(self._active.values()):
            job.context.cancelled.set()
        self.retention.stop()
        self.supervisor.stop()

    # -- the job path -------------------------------------------------------------------
    def client_id(self, user: str | None, peer: str | None = None, forwarded_for: str | None = None) -> str:
        """Whom the per-client limits count: the account, else the address (see `limits.client_address`)."""
        return f"user:{user}" if user else f"address:{client_address(peer, forwarded_for, self.trusted_proxies)}"

    def submit(self, feature: str, pipeline_name: str | None, inputs: dict, output_format: str = "glb",
               owner: str | None = None, client: str | None = None, warnings: list[str] | None = None) -> Job:
        """Accept a job: it is recorded as queued, with an id, before this returns; refusals raise at once.

        `client` (see `client_id`) is held to the per-client limits and recorded; None (a script in this
        process) is not. `warnings` (say, a requested model replaced by another) go into the job's metadata.
        """
        if feature not in FEATURES:
            raise InputError(f"Unknown feature {feature!r}.")
        fmt = check_format(output_format)
        pipeline = self.registry.get(feature, pipeline_name)
        sources = {}
        for key in FILE_INPUTS:
            value = inputs.get(key)
            if value in (None, ""):
                continue
            path = Path(str(value))
            if not path.is_file():
                raise InputError(f"The {key.replace('_', ' ')} file could not be read; upload it again.")
            sources[key] = path
        parameters = jsonable({k: v for k, v in inputs.items() if k not in FILE_INPUTS})
        if client is not None:
            with self._lock:
                running = sum(job.client == client for job in self._active.values())
            self.client_limits.admit_job(client, running)
        ticket = self.pools.admit(self.pools.pool_for(pipeline))
        try:
            job_id, folder = self.jobs.create(feature, pipeline.name, parameters, fmt, owner, client)
        except BaseException:
            self.pools.leave(ticket)
            raise
        try:
            files = {key: _bring_input(path, folder / "inputs" / key) for key, path in sources.items()}
            self.jobs.update(job_id, files=files, **({"metadata": {"warnings": warnings}} if warnings else {}))
        except OSError as exc:
            self.pools.leave(ticket)
            self._close(job_id, folder, "failed", "The uploaded files could not be stored; try again.", drop=True)
            raise InputError("The uploaded files could not be stored; try again.") from exc
        limit = job_time_limit(pipeline, self.job_timeouts)
        job = Job(job_id, feature, pipeline, folder, parameters, files, fmt, ticket,
                  JobContext(f"{feature}/{pipeline.name}", limit), owner, client or "", list(warnings or ()))
        with self._lock:
            self._active[job_id] = job
        return job

    def execute(self, job: Job, progress: ProgressCallback | None = None) -> tuple[str, str, dict]:
        """Run an accepted job to its end; returns (viewer GLB path, requested-format path, metadata)."""
        last = {"stage": None, "time": 0.0}

        def report(fraction: float, stage: str) -> None:
            if progress is not None:
                progress(fraction, stage)
            now = time.monotonic()
            if stage != last["stage"] or now - last["time"] > PROGRESS_WRITE_S:
                last.update(stage=stage, time=now)
                self.jobs.update(job.id, stage=stage, progress=round(float(fraction), 4))

        job.context.report = report
        set_current_job(job.context)
        try:
            self.pools.wait(job.ticket, job.context,
                            lambda position: report(0.0, f"job {job.id}: waiting in line (position {position})"))
            job.context.started = time.monotonic()  # the time limit counts from here
            queued_s = job.context.started - job.accepted
            self.jobs.update(job.id, status="running", started=time.time())
            report(0.0, f"job {job.id}: waiting for a device")
            glb, path, metadata = self._run(job, report, queued_s)
            self.jobs.finish(job.id, "done", stage="done", progress=1.0, metadata=metadata,
                             outputs={"glb": glb.name, "file": path.name, "images": metadata["images"]})
            report(1.0, "done")
            return str(glb), str(path), metadata
        except (InputError, PipelineUnavailable) as exc:
            self._close(job.id, job.folder, "failed", str(exc), drop=True)  # a refused request keeps no folder
            raise
        except JobCancelled as exc:
            if self._stopping:
                reason = interrupted_reason("running" if job.ticket.admitted else "waiting in the queue")
                self._close(job.id, job.folder, "interrupted", reason)
                raise JobCancelled(reason) from exc
            self._close(job.id, job.folder, "cancelled", str(exc))
            raise
        except (JobError, TimeoutError, DeviceOutOfMemory, MemoryError) as exc:
            self._close(job.id, job.folder, "failed", str(exc) or "The machine ran out of memory for this job.")
            raise
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self._close(job.id, job.folder, "failed", f"Internal error ({type(exc).__name__}); see the server log.")
            raise
        finally:
            if job.ticket.admitted and job.client and self._uses_gpu(job.pipeline):
                # Failed and cancelled runs held the GPU too.
                self.client_limits.spend_gpu_seconds(job.client, time.monotonic() - job.context.started)
            self.pools.leave(job.ticket)
            set_current_job(None)
            with self._lock:
                self._active.pop(job.id, None)

    def _uses_gpu(self, pipeline: Pipeline) -> bool:
        return "cuda" in pipeline.devices and "cuda" in self.manager.device_kinds

    def _run(self, job: Job, report: ProgressCallback, queued_s: float) -> tuple[Path, Path, dict]:
        message = {"id": job.id, "feature": job.feature, "folder": str(job.folder), "parameters": job.parameters,
                   "files": job.files, "output_format": job.output_format}
        pipeline = job.pipeline
        if self.manager.zero_gpu and "cuda" in pipeline.devices:
            placed = pipeline  # ZeroGPU: GPU work runs in this process, inside spaces.GPU

            def work(device: str) -> dict:
                return execute(pipeline, message, device, report)
        else:
            placed = self.supervisor.placed(pipeline)

            def work(device: str) -> dict:
                return placed.run_job(message, device, report)

        result, placement = self.manager.run(placed, work, job.parameters)
        warnings = [*job.warnings, *result["warnings"]]
        if placement["offload"]:
            warnings.append(f"{pipeline.name} did not fit in GPU memory whole and ran with model CPU offload (slower).")
        metadata = {
            "job_id": job.id,
            "folder": job.folder.name,
            "feature": job.feature,
            "pipeline": pipeline.name,
            "output_format": job.output_format,
            "parameters": {**job.parameters, **{k: Path(v).name for k, v in job.files.items()}},
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "status": "done",
            "device": placement["device"],
            "offload": placement["offload"],
            "placement": placement,
            "time_limit_s": job.context.limit_s,
            **result["metadata"],
            "output": {**result["stats"], "glb": result["glb"], "file": result["file"]},
            "images": result["images"],
            "timings_s": {"queued": round(queued_s, 4), "acquire": round(placement["wait_s"] + placement["load_s"], 4),
                          **result["timings_s"]},
            "warnings": warnings,
        }
        metadata = storable(scrub_paths(metadata))  # names, never server paths; JSON every reader takes
        (job.folder / "job.json").write_text(json.dumps(metadata, indent=2))
        return job.folder / result["glb"], job.folder / result["file"], metadata

    def _close(self, job_id: str, folder: Path, status: str, error: str, drop: bool = False) -> None:
        self.jobs.finish(job_id, status, error=scrub_paths(error))
        if drop:
            shutil.rmtree(folder, ignore_errors=True)

    def run_job(self, feature: str, pipeline_name: str | None, inputs: dict, output_format: str = "glb",
                progress: ProgressCallback | None = None, owner: str | None = None) -> tuple[str, str, dict]:
        """Submit and execute in one call, from this thread (scripts, tests and benchmarks)."""
        return self.execute(self.submit(feature, pipeline_name, inputs, output_format, owner), progress)

    # -- who sees what ---------------------------------------------------------------------
    def may_see(self, record: dict | None, user: str | None) -> bool:
        """Without accounts every job is everyone's; with them, a job is its owner's and the admins'."""
        if record is None:
            return False
        return self.users is None or self.users.is_admin(user) or record.get("owner") == user

    def owner_filter(self, user: str | None) -> str | None:
        """The owner to list jobs of for `user` (None lists everyone's)."""
        return None if self.users is None or self.users.is_admin(user) else (user or "")

    def job(self, job_id: str, user: str | None = None) -> dict | None:
        """`job_id`'s record if `user` may see it (else None, as if there were no such job)."""
        record = self.jobs.get(job_id)
        return record if self.may_see(record, user) else None

    def find_job(self, job_id: str, user: str | None = None) -> dict:
        """`job_id`'s record if `user` may see it; else an InputError that says there is no such job."""
        record = self.job(job_id, user)
        if record is None:
            raise InputError(f"There is no job {job_id!r}; list jobs with /list_jobs.")
        return record

    def may_open_folder(self, path: Path, user: str | None) -> bool:
        """Whether `user` may download `path`, which lies under the outputs folder: only files of jobs they may see."""
        parts = path.relative_to(self.outputs).parts
        return len(parts) > 1 and self.may_see(self.jobs.by_folder(parts[0]), user)

    def cancel(self, job_id: str, user: str | None = None) -> bool:
        """Cancel a queued or running job: a running one has its worker killed. False if it is not active."""
        with self._lock:
            job = self._active.get(job_id)
        if job is None or not self.may_see({"owner": job.owner}, user):
            return False
        job.context.cancelled.set()
        return True

    def rerun(self, job_id: str, owner: str | None = None, client: str | None = None) -> Job:
        """Submit a new job for `owner` with the same feature, pipeline, parameters and input files as `job_id`."""
        record = self.find_job(job_id, owner)
        folder = self.outputs / record["folder"]
        inputs = dict(record["parameters"])
        for key, name in record["files"].items():
            if not (folder / name).is_file():
                raise InputError(f"Job {job_id}'s {key} file is gone (its folder was cleaned up); upload it again.")
            inputs[key] = str(folder / name)
        return self.submit(record["feature"], record["pipeline"], inputs, record["output_format"], owner, client)

    def result(self, job_id: str, user: str | None = None) -> tuple[str, str, dict]:
        """The outputs of a finished job: (viewer GLB path, requested-format path, metadata)."""
        record = self.find_job(job_id, user)
        if record["status"] != "done":
            reason = f": {record['error']}" if record.get("error") else ""
            raise InputError(f"Job {job_id} has no result; it is {record['status']}{reason}")
        folder = self.outputs / record["folder"]
        glb, path = folder / record["outputs"].get("glb", ""), folder / record["outputs"].get("file", "")
        if not (glb.is_file() and path.is_file()):
            raise InputError(f"Job {job_id}'s files are gone (deleted or cleaned up by retention).")
        return str(glb), str(path), record["metadata"]

    def job_file(self, job_id: str, name: str, user: str | None = None) -> Path | None:
        """A file a job wrote (by the name its metadata gives), or None; never a path outside the job's folder."""
        record = self.job(job_id, user)
        if record is None:
            return None
        outputs = record["outputs"]
        if name not in (outputs.get("glb"), outputs.get("file"), *outputs.get("images", {}).values()):
            return None
        path = self.outputs / record["folder"] / name
        return path if path.is_file() else None

    def status(self, user: str | None = None) -> dict:
        """Devices, pools, workers and job counts; the recent jobs are those `user` may see."""
        return {
            "torch": torch_build(),
            "memory": self.manager.status(),
            "pools": self.pools.status(),
            "workers": self.supervisor.workers(),
            "jobs": self.jobs.counts(),
            "recent_jobs": [job_summary(r) for r in self.jobs.recent(10, owner=self.owner_filter(user))],
            "models": self.models(),
        }

    def models(self) -> list[dict]:
        """Every model's environment: installed or not, disk use, licence, and the command that installs it."""
        return environments.listing()


def job_summary(record: dict) -> dict:
    """What a job listing or lookup shows: status, stage, times and error; no parameters, no paths."""
    return {key: record.get(key) for key in ("id", "feature", "pipeline", "status", "stage", "progress", "created",
                                             "started", "finished", "error", "output_format")}


def _bring_input(source: Path, folder: Path) -> str:
    """Put an uploaded file into the job folder (a hard link when it can be); returns its path in the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return str(target.relative_to(folder.parents[1]))

