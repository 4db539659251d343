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
import socket
from pathlib import Path

import gradio as gr

from queueing.devices import DEFAULT_CPU_BUDGET, DEFAULT_GPU_BUDGET, DEFAULT_GPU_RESERVE
from queueing.gpu_manager import DEFAULT_WAIT_S
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
    ("--cpu-slots", "STUDIO_CPU_SLOTS", 2, int, "CPU-only jobs that run at once (mesh tools)"),
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
    return Studio.create(Path(args.outputs), args.gpu_slots, args.cpu_slots, args.queue_size,
                         args.gpu_budget, args.cpu_budget, args.gpu_wait, args.gpu_reserve)


def build_app(studio: Studio) -> gr.Blocks:
    with gr.Blocks(title="3D Studio") as demo:
        gr.Markdown("# 3D Studio\nGenerate, paint, segment, rig and convert 3D assets. "
                    "Every action is also a named API endpoint for `gradio_client` (see *Use via API* below).")
        for name in TABS:
            importlib.import_module(f"tabs.{name}").build(studio, demo)
    demo.queue(**studio.pools.queue_kwargs(studio.queue_size))
    return demo


def launch(demo: gr.Blocks, studio: Studio, args: argparse.Namespace, **kwargs):
    """Launch with file access limited to the outputs folder and the shipped assets."""
    return demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=args.max_file_size,
        allowed_paths=[str(studio.outputs), str(ASSETS)],
        show_error=True,
        **kwargs,
    )


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    studio = studio_from_args(args)
    launch(build_app(studio), studio, args)


if __name__ == "__main__":
    main()
