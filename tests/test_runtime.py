"""The job runtime under faults: killed, hung, crashed and out-of-memory workers, cancellation, a server
restart with jobs in flight, and 50 clients at once. Each test ends with the server answering and every
job in the store with a final status and a reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from queueing.jobs import FINAL, JobStore

from .conftest import ROOT, assert_valid_glb, free_port, launched
from .fault_pipelines import ALL

ASSETS = ROOT / "assets"
TIME_LIMITS = "text_to_3d/test-hang=2,paint_mesh=6"


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def health(url: str) -> dict:
    with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=10) as response:
        return json.loads(response.read())


def job_id_of(job) -> str:
    """The id a job reports in its first progress message ("job <id>: queued")."""
    def found():
        for unit in job.status().progress_data or []:
            if unit.desc and unit.desc.startswith("job "):
                return unit.desc.split()[1].rstrip(":")
        return None
    return wait_for(found, what="the job id in the progress messages")


def assert_settled(store: JobStore, outputs: Path) -> None:
    """Every job final with a reason when it did not finish, and no folder without a record."""
    records = store.recent(1000)
    for record in records:
        assert record["status"] in FINAL, record
        if record["status"] != "done":
            assert record["error"], record
    known = {r["folder"] for r in records}
    folders = {p.name for p in outputs.iterdir() if p.is_dir()}
    assert folders <= known, folders - known


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    with launched(tmp_path_factory.mktemp("runtime-outputs"), "--queue-size", "64", "--job-timeout", TIME_LIMITS,
                  "--extra-pipelines", ",".join(ALL), "--rate-limit", "0", "--client-jobs", "0") as server:
        yield {**server, "client": Client(server["url"], verbose=False)}


def text_job(client: Client, prompt: str, pipeline: str):
    return client.submit(prompt, pipeline, 0, 7.5, 32, "medium", False, "glb", api_name="/text_to_3d")


def busy_worker_pid(studio, label: str) -> int:
    return wait_for(lambda: next((w["pid"] for w in studio.supervisor.workers()
                                  if w["busy"] and w["worker"] == label and w["pid"]), None),
                    what=f"a busy worker running {label}")


def test_the_job_id_comes_first_and_finds_the_job_later(faulty):
    client = faulty["client"]
    job = text_job(client, "sleep 0.5", "test-sleep")
    job_id = job_id_of(job)
    _, _, meta = job.result(timeout=60)
    assert meta["job_id"] == job_id and meta["worker_pid"] != os.getpid()
    status = client.predict(job_id, api_name="/job_status")
    assert status["status"] == "done" and status["progress"] == 1.0
    viewer, _, again = client.predict(job_id, api_name="/job_result")
    assert again["job_id"] == job_id
    assert_valid_glb(viewer)
    assert job_id in [j["id"] for j in client.predict(50, "", api_name="/list_jobs")]


def test_kill_9_of_a_worker_fails_its_job_and_the_next_job_runs(faulty):
    client, studio = faulty["client"], faulty["studio"]
    job = text_job(client, "sleep 30", "test-sleep")
    job_id = job_id_of(job)
    pid = busy_worker_pid(studio, "text_to_3d/test-sleep")
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(AppError, match=r"died \(signal 9, SIGKILL"):
        job.result(timeout=60)
    record = studio.jobs.get(job_id)
    assert record["status"] == "failed" and "signal 9" in record["error"]
    _, _, meta = text_job(client, "sleep 0.1", "test-sleep").result(timeout=60)
    assert meta["status"] == "done" and meta["worker_pid"] != pid
    assert health(faulty["url"])["status"] == "ok"


def test_a_worker_hung_in_native_code_is_killed_at_its_time_limit(faulty):
    client, studio = faulty["client"], faulty["studio"]
    job = text_job(client, "hang", "test-hang")
    job_id = job_id_of(job)
    wait_for(lambda: studio.jobs.get(job_id)["status"] == "running", what="the hang to start")
    # The studio keeps answering while the worker is stuck holding its GIL.
    status = client.predict(api_name="/system_status")
    assert any(w["busy"] for w in status["workers"])
    assert health(faulty["url"])["status"] == "ok"
    with pytest.raises(AppError, match=r"ran out of time: text_to_3d/test-hang was stopped after 2 s"):
        job.result(timeout=60)
    assert studio.jobs.get(job_id)["status"] == "failed"
    _, _, meta = text_job(client, "sleep 0.1", "test-sleep").result(timeout=60)
    assert meta["status"] == "done"


def test_paint_of_a_mesh_that_hangs_xatlas_ends_with_a_message(faulty, tmp_path):
    """The 49-byte OBJ that froze the whole studio for 15 minutes: now one worker is stopped, or it is refused."""
    bad = tmp_path / "huge.obj"
    bad.write_text("v 1e38 1e38 1e38\nv -1e38 1e38 -1e38\nv 1e38 -1e38 1e38\nf 1 2 3\n")
    client = faulty["client"]
    job = client.submit(handle_file(str(bad)), "red plastic", None, "auto", 512, 0, "glb", api_name="/paint_mesh")
    with pytest.raises(AppError) as error:
        job.result(timeout=120)
    message = str(error.value)
    assert "Traceback" not in message and str(tmp_path) not in message
    assert "ran out of time" in message or "coordinates" in message.lower() or "mesh" in message.lower(), message
    assert health(faulty["url"])["status"] == "ok"
    _, _, meta = client.predict(handle_file(str(ASSETS / "capsule.glb")), "glb", None, True, api_name="/convert_mesh")
    assert meta["status"] == "done"


def test_a_segfault_fails_the_job_with_the_reason(faulty):
    client = faulty["client"]
    with pytest.raises(AppError, match=r"died \(signal 11, SIGSEGV: a crash in native code\)"):
        text_job(client, "crash", "test-segfault").result(timeout=60)
    _, _, meta = text_job(client, "sleep 0.1", "test-sleep").result(timeout=60)
    assert meta["status"] == "done"


def test_out_of_memory_is_retried_once_then_fails_clearly(faulty):
    client, studio = faulty["client"], faulty["studio"]
    before = studio.manager.status()
    with pytest.raises(AppError, match="ran out of device memory even after every idle pipeline was evicted"):
        text_job(client, "oom", "test-oom").result(timeout=60)
    after = studio.manager.status()
    assert after["oom_retries"] == before["oom_retries"] + 1
    assert after["oom_failures"] == before["oom_failures"] + 1
    assert all(not r["in_use"] for d in after["devices"] for r in d["resident"])


def test_cancelling_a_running_job_stops_its_worker(faulty):
    client, studio = faulty["client"], faulty["studio"]
    job = text_job(client, "sleep 60", "test-sleep")
    job_id = job_id_of(job)
    pid = busy_worker_pid(studio, "text_to_3d/test-sleep")
    job.cancel()
    wait_for(lambda: studio.jobs.get(job_id)["status"] == "cancelled", what="the job to be cancelled")
    wait_for(lambda: subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0,
             what="the worker to be stopped")
    _, _, meta = text_job(client, "sleep 0.1", "test-sleep").result(timeout=60)
    assert meta["status"] == "done"


def test_a_model_worker_that_dies_frees_its_memory_in_the_manager(faulty):
    client, studio = faulty["client"], faulty["studio"]
    _, _, meta = text_job(client, "sleep 0.1", "test-model-sleep").result(timeout=120)
    resident = {r["pipeline"]: r for d in studio.manager.status()["devices"] for r in d["resident"]}
    assert "text_to_3d/test-model-sleep" in resident
    assert "weights" in resident["text_to_3d/test-model-sleep"]["measured"]
    job = text_job(client, "sleep 30", "test-model-sleep")
    os.kill(busy_worker_pid(studio, "text_to_3d/test-model-sleep"), signal.SIGKILL)
    with pytest.raises(AppError, match="died"):
        job.result(timeout=60)
    resident = {r["pipeline"] for d in studio.manager.status()["devices"] for r in d["resident"]}
    assert "text_to_3d/test-model-sleep" not in resident
    _, _, meta = text_job(client, "sleep 0.1", "test-model-sleep").result(timeout=120)
    assert meta["status"] == "done"


def test_fifty_concurrent_clients_all_get_their_result(faulty):
    url, studio = faulty["url"], faulty["studio"]
    results, errors = [], []

    def one(index: int) -> None:
        try:
            client = Client(url, verbose=False)
            if index % 2:
                _, _, meta = client.predict(handle_file(str(ASSETS / "capsule.glb")), "glb", None, False,
                                            api_name="/convert_mesh")
            else:
                _, _, meta = text_job(client, "sleep 0.2", "test-sleep").result(timeout=300)
            results.append(meta["job_id"])
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors[:3]
    assert len(set(results)) == 50
    assert all(studio.jobs.get(job_id)["status"] == "done" for job_id in results)
    assert health(url)["status"] == "ok"


# -- a server killed with jobs in flight ------------------------------------------------------------


def start_server(outputs: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--outputs", str(outputs), "--cpu-slots", "1",
         "--extra-pipelines", ",".join(ALL)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"

    def up():
        try:
            return health(url)
        except OSError:
            assert process.poll() is None, "the studio exited during start-up"
            return None
    try:
        wait_for(up, timeout=120, what="the studio to start")
    except BaseException:
        process.kill()
        raise
    return process


def test_a_server_killed_with_one_job_running_and_one_queued(tmp_path):
    outputs, port = tmp_path / "outputs", free_port()
    server = start_server(outputs, port)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        statuses = lambda: {j["id"]: j["status"] for j in client.predict(10, "", api_name="/list_jobs")}  # noqa: E731
        running = text_job(client, "sleep 60", "test-sleep")
        running_id = job_id_of(running)
        wait_for(lambda: statuses() == {running_id: "running"}, what="the first job to run")
        waiting_id = job_id_of(text_job(client, "sleep 0.5", "test-sleep"))
        wait_for(lambda: statuses() == {running_id: "running", waiting_id: "queued"}, what="one running, one queued")
        worker_pids = [w["pid"] for w in client.predict(api_name="/system_status")["workers"] if w["pid"]]
        server.kill()
        server.wait(30)
        # The workers end with the server (parent-death signal), even one in the middle of a job.
        wait_for(lambda: all(subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode
                             for pid in worker_pids), what="the workers to end with the server")

        server = start_server(outputs, port)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for job_id, was in ((running_id, "running"), (waiting_id, "waiting in the queue")):
            status = client.predict(job_id, api_name="/job_status")
            assert status["status"] == "interrupted"
            assert f"stopped while this job was {was}" in status["error"]
        _, _, meta = text_job(client, "sleep 0.1", "test-sleep").result(timeout=120)
        assert meta["status"] == "done"
        with pytest.raises(AppError, match="has no result; it is interrupted"):
            client.predict(running_id, api_name="/job_result")
        # Run the interrupted job again from its stored parameters and files.
        _, _, meta = client.predict(waiting_id, api_name="/rerun_job")
        assert meta["status"] == "done" and meta["parameters"]["prompt"] == "sleep 0.5"
    finally:
        server.kill()
        server.wait(30)
    store = JobStore(outputs)
    assert_settled(store, outputs)
    store.close()


# -- limits, retention, ZeroGPU ---------------------------------------------------------------------


def test_time_limits_come_from_the_flag_the_pipeline_and_the_feature():
    from pipelines.mesh_tools import MeshToolsPipeline
    from queueing.limits import FEATURE_TIMEOUTS_S, job_time_limit, parse_job_timeouts

    from .fault_pipelines import SleepPipeline

    tools, sleeper = MeshToolsPipeline(), SleepPipeline()
    assert job_time_limit(tools, {}) == FEATURE_TIMEOUTS_S["convert_mesh"]
    sleeper.timeout_s = 42
    assert job_time_limit(sleeper, {}) == 42  # the pipeline's own declaration beats the feature's default
    limits = parse_job_timeouts("300, text_to_3d=900, text_to_3d/test-sleep=5")
    assert limits == {"": 300, "text_to_3d": 900, "text_to_3d/test-sleep": 5}
    assert (job_time_limit(sleeper, limits), job_time_limit(tools, limits)) == (5, 300)
    assert job_time_limit(sleeper, parse_job_timeouts("text_to_3d=7")) == 7
    for bad in ("soon", "-1", "nothing=5", "text_to_3d=", "1e9"):
        with pytest.raises(ValueError, match="--job-timeout"):
            parse_job_timeouts(bad)


def test_a_worker_is_pinned_to_its_gpu():
    from queueing.supervisor import _worker_device

    assert _worker_device("cuda:3") == ("cuda:0", {"CUDA_VISIBLE_DEVICES": "3"})
    assert _worker_device("cpu") == ("cpu", {})


def test_a_refused_request_leaves_no_folder_and_a_deleted_job_no_files(faulty):
    client, studio, outputs = faulty["client"], faulty["studio"], faulty["outputs"]
    before = {p.name for p in outputs.iterdir() if p.is_dir()}
    with pytest.raises(AppError, match="target_faces must be between 4"):
        client.predict(handle_file(str(ASSETS / "capsule.glb")), "glb", 1, True, api_name="/convert_mesh")
    assert {p.name for p in outputs.iterdir() if p.is_dir()} == before
    assert studio.jobs.recent(1)[0]["status"] == "failed"

    _, _, meta = client.predict(handle_file(str(ASSETS / "capsule.glb")), "stl", None, False, api_name="/convert_mesh")
    folder = outputs / meta["folder"]
    assert (folder / "model.stl").is_file() and (folder / "inputs" / "mesh" / "capsule.glb").is_file()
    assert client.predict(meta["job_id"], api_name="/delete_job") == {"id": meta["job_id"], "deleted": True}
    assert not folder.exists() and studio.jobs.get(meta["job_id"]) is None
    with pytest.raises(AppError, match="There is no job"):
        client.predict(meta["job_id"], api_name="/job_status")


def test_retention_bounds_age_and_disk(tmp_path):
    from queueing.retention import Retention

    store = JobStore(tmp_path / "outputs")
    cache = tmp_path / "gradio-cache"
    cache.mkdir()
    ids = []
    for index in range(4):
        job_id, folder = store.create("convert_mesh", "builtin", {}, "glb")
        (folder / "model.glb").write_bytes(b"x" * 100_000)
        store.finish(job_id, "done")
        ids.append(job_id)
    running, _ = store.create("convert_mesh", "builtin", {}, "glb")
    store.update(running, status="running")
    old_upload = cache / "old"
    old_upload.mkdir()
    (old_upload / "a.glb").write_bytes(b"y" * 100_000)
    os.utime(old_upload, (time.time() - 40 * 86400,) * 2)
    store.update(ids[0], finished=time.time() - 40 * 86400)

    removed = Retention(store, keep_days=30, max_disk_bytes=0, cache=cache).sweep()
    assert removed == {"jobs": 1, "uploads": 1} and store.get(ids[0]) is None and not old_upload.exists()
    # Over the disk limit the oldest finished jobs go first (two must go to free 150 kB); a running job stays.
    from pipelines.base import folder_bytes

    limit = folder_bytes(store.root) + folder_bytes(cache) - 150_000
    assert Retention(store, keep_days=0, max_disk_bytes=limit, cache=cache).sweep() == {"jobs": 2, "uploads": 0}
    assert [store.get(i) is None for i in ids[1:]] == [True, True, False]
    assert store.get(running)["status"] == "running"


def test_zero_gpu_runs_gpu_work_in_this_process_and_the_builtins_in_workers(tmp_path, zero_gpu_calls):
    from pipelines.registry import Registry
    from queueing.devices import cpu_device
    from queueing.gpu_manager import GPUManager
    from queueing.studio import Studio

    registry = Registry(entries=["tests.fault_pipelines:CudaProbe", "tests.fault_pipelines:SleepPipeline"])
    studio = Studio(tmp_path, registry, GPUManager([cpu_device()], zero_gpu=True))
    try:
        _, _, meta = studio.run_job("text_to_3d", "test-cuda-probe", {"prompt": "probe"})
        assert meta["worker_pid"] == os.getpid() and meta["device"] == "cuda (ZeroGPU)" and zero_gpu_calls
        _, _, meta = studio.run_job("text_to_3d", "test-sleep", {"prompt": "sleep 0.1"})
        assert meta["worker_pid"] != os.getpid()
    finally:
        studio.stop()


def test_a_model_load_reports_its_stages_to_the_job_that_waits_for_it(tmp_path):
    """A worker's load (a first download, reading weights) is part of the job's progress, ahead of its run."""
    from pipelines.registry import Registry
    from queueing.devices import cpu_device
    from queueing.gpu_manager import GPUManager
    from queueing.studio import Studio

    registry = Registry(entries=["tests.fault_pipelines:ModelSleepPipeline"])
    studio = Studio(tmp_path, registry, GPUManager([cpu_device()]))
    try:
        stages = []
        studio.run_job("text_to_3d", "test-model-sleep", {"prompt": "sleep 0.1"}, progress=lambda f, s: stages.append(s))
        assert "load weights" in stages and stages.index("load weights") < stages.index("sleeping")
        stages.clear()
        studio.run_job("text_to_3d", "test-model-sleep", {"prompt": "sleep 0.1"}, progress=lambda f, s: stages.append(s))
        assert "load weights" not in stages and "sleeping" in stages  # resident: no second load
    finally:
        studio.stop()


def test_the_server_process_never_imports_model_code(tmp_path):
    """A built-in text-to-3D job needs torch (its sentence encoder); only its worker may import it."""
    code = (
        "import sys, app\n"
        "studio = app.studio_from_args(app.parse_args(['--outputs', sys.argv[1]]))\n"
        "app.build_app(studio)\n"
        "_, _, meta = studio.run_job('text_to_3d', 'builtin', {'prompt': 'a red chair'})\n"
        "studio.stop()\n"
        "print(meta['status'], sorted(m for m in ('torch', 'diffusers', 'transformers', 'sentence_transformers')"
        " if m in sys.modules))\n")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.stdout.strip().splitlines()[-1] == "done []", result.stderr[-2000:]


def test_gpus_are_found_without_starting_cuda_in_the_server(monkeypatch):
    from queueing import devices

    answer = "0, 70000, 81559\n1, 81000, 81559\n2, 1000, 81559\n"
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(devices.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(devices.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, answer, ""))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    gpus = devices.cuda_devices("0.5", reserve="1GiB")
    assert [d.name for d in gpus] == ["cuda:0", "cuda:1"]  # the visible ones, renumbered as CUDA does
    assert gpus[0].total_bytes == 81559 * 2**20 and gpus[0].budget_bytes == 0  # 1000 MiB free, less the reserve
    assert gpus[1].budget_bytes == int(81559 * 2**20 * 0.5)
    assert "torch" not in sys.modules


def test_a_studio_stopped_with_a_job_running_marks_it_interrupted(tmp_path):
    import app

    studio = app.studio_from_args(app.parse_args(["--outputs", str(tmp_path), "--cpu-slots", "1",
                                                  "--extra-pipelines", "tests.fault_pipelines:SleepPipeline"]))
    jobs = [studio.submit("text_to_3d", "test-sleep", {"prompt": "sleep 60"}) for _ in range(2)]
    errors = []
    threads = [threading.Thread(target=lambda job=job: errors.append(_ended(studio, job))) for job in jobs]
    for thread in threads:
        thread.start()
    wait_for(lambda: studio.jobs.get(jobs[0].id)["status"] == "running", what="the first job to run")
    studio.stop()
    for thread in threads:
        thread.join(60)
    assert [studio.jobs.get(job.id)["error"] for job in jobs] == [
        "The studio stopped while this job was running; run it again (History tab, or /rerun_job).",
        "The studio stopped while this job was waiting in the queue; run it again (History tab, or /rerun_job)."]
    assert {studio.jobs.get(job.id)["status"] for job in jobs} == {"interrupted"} and len(errors) == 2


def _ended(studio, job) -> str:
    try:
        studio.execute(job)
    except Exception as exc:  # noqa: BLE001 - the test reads the message
        return str(exc)
    return "finished"


def test_no_server_path_reaches_a_client(faulty):
    client, studio = faulty["client"], faulty["studio"]
    with pytest.raises(AppError) as error:
        text_job(client, "leak", "test-leaky").result(timeout=60)
    assert str(error.value) == "could not read fault_pipelines.py (tried x.bin)"
    _, _, meta = client.predict(handle_file(str(ASSETS / "capsule.glb")), "glb", None, True, api_name="/convert_mesh")
    seen = json.dumps([meta, client.predict(1000, "", api_name="/list_jobs"), client.predict(api_name="/system_status"),
                       *(studio.jobs.recent(1000))])
    for secret in (str(ROOT), str(faulty["outputs"]), "/tmp/"):
        assert secret not in seen


def test_every_job_settles_with_a_reason(faulty):
    """Runs last in this module: after every fault and refusal above, nothing is left queued or running."""
    assert_settled(faulty["studio"].jobs, faulty["outputs"])
