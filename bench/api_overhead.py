"""What the job API costs: `/convert_mesh` through gradio_client against the same job without HTTP.

In one run, N iterations each (after warm-up):
- api:    `Client.predict(..., api_name="/convert_mesh")` on the studio, started as the tests start it
          (upload, queue, job, download of both result files);
- direct: `Studio.run_job("convert_mesh", ...)`, the path the endpoint's handler calls, no HTTP;
- no-op:  a bare Gradio app with one `gr.api` no-op, queued with the studio's queue settings: the
          fixed cost of a queued gradio_client call.
Prints p50/p95/mean per path and the ratios. Run: `python bench/api_overhead.py [-n 30] [--mesh FILE]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

import app  # noqa: E402


def timed(call, iterations: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return np.array(seconds)


def start_studio(outputs: Path, queue_size: int):
    args = app.parse_args(["--port", str(app.free_port()), "--outputs", str(outputs), "--queue-size", str(queue_size)])
    studio = app.studio_from_args(args)
    demo = app.build_app(studio)
    _, url, _ = app.launch(demo, studio, args, prevent_thread_lock=True, quiet=True)
    return demo, studio, url


def start_noop(queue_size: int):
    """A bare app: one queued no-op endpoint with the studio's queue settings."""

    def noop() -> str:
        return "ok"

    with gr.Blocks() as demo:
        gr.api(noop, api_name="noop", concurrency_limit=None)
    demo.queue(max_size=queue_size, api_open=False)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=app.free_port(), prevent_thread_lock=True, quiet=True)
    return demo, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--iterations", type=int, default=30, help="timed calls per path")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per path first")
    parser.add_argument("--mesh", type=Path, default=ROOT / "assets" / "capsule.glb", help="mesh to convert")
    parser.add_argument("--format", default="glb", help="output format")
    parser.add_argument("--no-repair", dest="repair", action="store_false", help="convert only (the UI repairs by default)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as outputs:
        studio_demo, studio, studio_url = start_studio(Path(outputs), queue_size=16)
        noop_demo, noop_url = start_noop(queue_size=16)
        try:
            studio_client = Client(studio_url, verbose=False)
            noop_client = Client(noop_url, verbose=False)
            mesh = str(options.mesh.resolve())
            inputs = {"mesh": mesh, "target_faces": None, "repair": options.repair}
            results = {
                "api /convert_mesh": timed(lambda: studio_client.predict(
                    handle_file(mesh), options.format, None, options.repair, api_name="/convert_mesh"),
                    options.iterations, options.warmup),
                "direct Studio.run_job": timed(lambda: studio.run_job(
                    "convert_mesh", "builtin", inputs, options.format), options.iterations, options.warmup),
                "api no-op": timed(lambda: noop_client.predict(api_name="/noop"), options.iterations, options.warmup),
            }
        finally:
            studio_demo.close()
            noop_demo.close()

    print(f"{options.mesh.name} -> {options.format}, repair={options.repair}, {options.iterations} calls each "
          f"after {options.warmup} warm-up")
    print(f"{'path':<24}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    stats = {}
    for name, seconds in results.items():
        p50, p95 = np.percentile(seconds, [50, 95]) * 1000
        stats[name] = (p50, p95)
        print(f"{name:<24}{p50:>10.1f}{p95:>10.1f}{seconds.mean() * 1000:>10.1f}")
    api, direct, noop = (stats[k] for k in results)
    print(f"api / direct:             p50 {api[0] / direct[0]:.2f}x   p95 {api[1] / direct[1]:.2f}x")
    print(f"api - direct (overhead):  p50 {api[0] - direct[0]:.1f} ms   p95 {api[1] - direct[1]:.1f} ms")
    print(f"no-op (fixed API cost):   p50 {noop[0]:.1f} ms   p95 {noop[1]:.1f} ms "
          f"= {noop[0] / api[0]:.0%} of the API call's p50")


if __name__ == "__main__":
    main()
