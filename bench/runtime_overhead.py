"""What the job runtime costs: a job through worker processes against the same pipeline called in process.

In one run, for a 10 ms job and a 1 s job (`tests.fault_pipelines.SleepPipeline`), N iterations each:
- in process: `queueing.worker.execute(pipeline, job, "cpu", ...)`, the function a worker runs;
- runtime:    `Studio.run_job(...)`: job record, input files, pool slot, GPU manager, worker round trip,
              export and metadata, as every endpoint runs it (without HTTP; see bench/api_overhead.py).
Prints p50 per path, the overhead in ms and as a share of the job, then the studio's start-up time
(`python app.py` until `GET /health` answers) against a bare `python -c "import gradio"` in the same run.

    python bench/runtime_overhead.py [-n 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import app  # noqa: E402
from bench.api_overhead import timed  # noqa: E402
from queueing.worker import execute  # noqa: E402
from tests.fault_pipelines import SleepPipeline  # noqa: E402

SPEC = "tests.fault_pipelines:SleepPipeline"


def in_process(pipeline: SleepPipeline, outputs: Path, seconds: float):
    counter = iter(range(10**9))

    def call():
        folder = outputs / f"in-process-{seconds}-{next(counter)}"
        folder.mkdir()
        execute(pipeline, {"folder": str(folder), "parameters": {"prompt": f"sleep {seconds}"}, "files": {},
                           "output_format": "glb"}, "cpu", lambda fraction, stage: None)
    return call


def startup_seconds(outputs: Path) -> float:
    port = app.free_port()
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--outputs", str(outputs)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                return time.perf_counter() - start
            except OSError:
                if server.poll() is not None:
                    raise SystemExit("the studio exited during start-up")
                time.sleep(0.02)
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--iterations", type=int, default=20, help="timed jobs per path and job length")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        outputs = Path(tmp)
        studio = app.studio_from_args(app.parse_args(["--outputs", str(outputs / "studio"), "--extra-pipelines", SPEC]))
        studio.start()
        pipeline = SleepPipeline()
        pipeline.load("cpu")
        print(f"{'job':<8}{'in process p50 ms':>20}{'runtime p50 ms':>18}{'overhead ms':>14}{'overhead':>10}")
        try:
            for seconds in (0.01, 1.0):
                iterations = options.iterations if seconds < 0.5 else max(3, options.iterations // 4)
                local = timed(in_process(pipeline, outputs, seconds), iterations, warmup=1)
                runtime = timed(lambda: studio.run_job("text_to_3d", "test-sleep", {"prompt": f"sleep {seconds}"}),
                                iterations, warmup=1)
                a, b = np.median(local) * 1000, np.median(runtime) * 1000
                print(f"{seconds * 1000:>5.0f} ms{a:>20.1f}{b:>18.1f}{b - a:>14.1f}{(b - a) / a:>10.1%}")
        finally:
            studio.stop()
        bare = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import gradio"], check=True)
            bare.append(time.perf_counter() - start)
        startup = [startup_seconds(outputs / f"startup-{i}") for i in range(3)]
        print(f"start-up until /health answers: median {np.median(startup):.2f} s "
              f"= {np.median(startup) / np.median(bare):.2f}x a bare 'import gradio' ({np.median(bare):.2f} s)")


if __name__ == "__main__":
    main()
