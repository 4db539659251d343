"""The studio: builds the Gradio Blocks app from `tabs/` and launches it.

    python app.py [--host 127.0.0.1] [--port 7860] [--outputs outputs] ...

Every flag has an environment variable (shown in --help). Start-up needs no
network and no weights; models load on first use.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shutil
import socket
from pathlib import Path

import gradio as gr

from queueing.devices import DEFAULT_CPU_BUDGET, DEFAULT_GPU_BUDGET, DEFAULT_GPU_RESERVE, parse_budget
from queueing.gpu_manager import DEFAULT_WAIT_S
from queueing.limits import parse_job_timeouts
from queueing.studio import Studio
from tabs import TABS
from tabs.common import ASSETS

ROOT = Path(__file__).resolve().parent

FLAGS = [
    # flag, environment variable, default, type, help
    ("--host", "STUDIO_HOST", "127.0.0.1", str, "address to listen on (0.0.0.0 to serve the network)"),
    ("--port", "STUDIO_PORT", 7860, int, "port to listen on"),
    ("--outputs", "STUDIO_OUTPUTS", str(ROOT / "outputs"), str, "folder for job outputs, one subfolder per job"),
    ("--max-file-size", "STUDIO_MAX_FILE_SIZE", "200mb", str, "largest upload accepted, e.g. 200mb"),
    ("--queue-size", "STUDIO_QUEUE_SIZE", 16, int, "jobs that may wait in the queue before new ones are refused"),
    ("--gpu-slots", "STUDIO_GPU_SLOTS", 1, int,
     "GPU jobs that run at once per GPU; the shared 'gpu' pool is this times the number of GPUs found"),
    ("--gpu-budget", "STUDIO_GPU_BUDGET", DEFAULT_GPU_BUDGET, str,
     "memory the manager may use per GPU: a fraction of the total (0.9) or a size (20GiB), or one per GPU "
     "separated by commas (20GiB,0.8)"),
    ("--gpu-reserve", "STUDIO_GPU_RESERVE", DEFAULT_GPU_RESERVE, str,
     "memory always left free on each GPU for the CUDA context and other processes (512MiB, or a fraction)"),
    ("--cpu-budget", "STUDIO_CPU_BUDGET", DEFAULT_CPU_BUDGET, str,
     "RAM for pipelines on the CPU and warm copies of evicted GPU pipelines: a fraction (0.5) or a size (16GiB)"),
    ("--gpu-wait", "STUDIO_GPU_WAIT", DEFAULT_WAIT_S, float, "seconds a job may wait for device memory before it fails"),
    ("--cpu-slots", "STUDIO_CPU_SLOTS", 2, int,
     "CPU-only jobs that run at once (the built-in pipelines); also the size of their worker pool"),
    ("--job-timeout", "STUDIO_JOB_TIMEOUT", "", str,
     "seconds a job may run before its worker is killed: one number for every job, or a list such as "
     "300,image_to_3d=900,image_to_3d/hunyuan3d-2=1800 (default: per feature, 300-900)"),
    ("--keep-days", "STUDIO_KEEP_DAYS", 30.0, float, "days finished jobs are kept before they are deleted (0 keeps them)"),
    ("--max-disk", "STUDIO_MAX_DISK", "20GiB", str,
     "most disk the outputs folder and Gradio's upload cache may use; the oldest finished jobs go first "
     "(a size, or a fraction of the disk; 0 for no limit)"),
    ("--extra-pipelines", "STUDIO_EXTRA_PIPELINES", "", str,
     "more pipeline classes to register, as module:Class separated by commas (your own adapters)"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="3D generative-AI studio")
    for flag, env, default, kind, help_text in FLAGS:
        parser.add_argument(flag, type=kind, default=kind(os.environ.get(env, default)), help=f"{help_text} [{env}]")
    share_default = os.environ.get("STUDIO_SHARE", "").lower() in ("1", "true", "yes")
    parser.add_argument("--share", action="store_true", default=share_default,
                        help="create a public Gradio share link (off by default) [STUDIO_SHARE]")
    return parser.parse_args(argv)


def free_port() -> int:
    """A port free on 127.0.0.1 now: tests and benches start the studio on one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def studio_from_args(args: argparse.Namespace) -> Studio:
    outputs = Path(args.outputs)
    outputs.mkdir(parents=True, exist_ok=True)
    try:
        timeouts = parse_job_timeouts(args.job_timeout)
        max_disk = parse_budget(args.max_disk, shutil.disk_usage(outputs).total)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    extra = [e.strip() for e in args.extra_pipelines.split(",") if e.strip()]
    return Studio.create(outputs, args.gpu_slots, args.cpu_slots, args.queue_size, args.gpu_budget, args.cpu_budget,
                         args.gpu_wait, args.gpu_reserve, timeouts, args.keep_days, max_disk, extra)


def build_app(studio: Studio) -> gr.Blocks:
    with gr.Blocks(title="3D Studio") as demo:
        gr.Markdown("# 3D Studio\nGenerate, paint, segment, rig and convert 3D assets. "
                    "Every action is also a named API endpoint for `gradio_client` (see *Use via API* below).")
        for name in TABS:
            importlib.import_module(f"tabs.{name}").build(studio, demo)
    # Jobs wait in the studio's pools (queueing.pools), which refuse past --queue-size; Gradio's own queue
    # only bounds a flood of requests. api_open=False closes the /gradio_api/run/ route that skips the queue.
    slots = studio.pools.gpu_slots + studio.pools.cpu_slots
    demo.queue(max_size=4 * (studio.queue_size + slots), api_open=False, default_concurrency_limit=1)
    return demo


def launch(demo: gr.Blocks, studio: Studio, args: argparse.Namespace, prevent_thread_lock: bool = False, **kwargs):
    """Launch with file access limited to the outputs folder and the shipped assets; add `GET /health`.

    The worker pool starts in the background, so the studio answers at once.
    """
    studio.start()
    result = demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=args.max_file_size,
        allowed_paths=[str(studio.outputs), str(ASSETS)],
        show_error=True,
        prevent_thread_lock=True,
        **kwargs,
    )
    add_health_route(demo, studio)
    if not prevent_thread_lock:
        try:
            demo.block_thread()
        finally:
            studio.stop()
    return result


def add_health_route(demo: gr.Blocks, studio: Studio) -> None:
    """`GET /health`: a plain answer outside Gradio's queue, so it comes at once even when the queue is full.

    Added after launch (routes added before are lost) and put first, ahead of Gradio's own routes.
    """
    from fastapi.routing import APIRoute

    def health() -> dict:
        return {"status": "ok", "pools": studio.pools.status(), "jobs": studio.jobs.counts()}

    demo.app.router.routes.insert(0, APIRoute("/health", health, methods=["GET"]))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    studio = studio_from_args(args)
    launch(build_app(studio), studio, args)


if __name__ == "__main__":
    main()
