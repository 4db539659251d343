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
import sys
from pathlib import Path

import gradio as gr
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import Route

import rest
from pipelines import environments
from queueing.devices import DEFAULT_CPU_BUDGET, DEFAULT_GPU_BUDGET, DEFAULT_GPU_RESERVE, describe_hardware, parse_budget
from queueing.gpu_manager import DEFAULT_WAIT_S
from queueing.limits import ClientLimits, LimitExceeded, parse_job_timeouts
from queueing.studio import Studio
from queueing.users import Users
from tabs import TABS
from tabs.common import ASSETS

ROOT = Path(__file__).resolve().parent
LOOPBACK = ("127.0.0.1", "localhost", "::1")
log = logging.getLogger("studio")

FLAGS = [
    # flag, environment variable, default, type, help
    ("--host", "STUDIO_HOST", "127.0.0.1", str, "address to listen on (0.0.0.0 to serve the network)"),
    ("--port", "STUDIO_PORT", 7860, int, "port to listen on"),
    ("--outputs", "STUDIO_OUTPUTS", str(ROOT / "outputs"), str, "folder for job outputs, one subfolder per job"),
    ("--max-file-size", "STUDIO_MAX_FILE_SIZE", "200mb", str, "largest upload accepted, e.g. 200mb"),
    ("--queue-size", "STUDIO_QUEUE_SIZE", 64, int, "jobs that may wait in the queue before new ones are refused"),
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
    ("--auth", "STUDIO_AUTH", "", str,
     "users file (made with 'python -m queueing.users'): browsers log in, scripts send an API key in X-API-Key; "
     "each user sees only their own jobs, admins see all (default: no accounts, for a studio on your own machine)"),
    ("--rate-limit", "STUDIO_RATE_LIMIT", 30, int, "jobs one client (an account, else an address) may start per minute; 0: no limit"),
    ("--client-jobs", "STUDIO_CLIENT_JOBS", 32, int, "jobs one client may have queued or running at once; 0: no limit"),
    ("--gpu-seconds-per-day", "STUDIO_GPU_SECONDS_PER_DAY", 14400.0, float,
     "seconds of GPU time one client may use per day; 0: no limit"),
    ("--upload-quota", "STUDIO_UPLOAD_QUOTA", "5GiB", str, "bytes one client may upload per day (a size); 0: no limit"),
    ("--trusted-proxies", "STUDIO_TRUSTED_PROXIES", "", str,
     "addresses of reverse proxies whose X-Forwarded-For header is believed, comma-separated (default: none)"),
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
        users = Users(Path(args.auth)) if args.auth else None
        limits = ClientLimits(max(0, args.rate_limit), max(0, args.client_jobs), max(0.0, args.gpu_seconds_per_day),
                              parse_budget(args.upload_quota, 0) if args.upload_quota.strip() != "0" else 0)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    extra = [e.strip() for e in args.extra_pipelines.split(",") if e.strip()]
    return Studio.create(outputs, args.gpu_slots, args.cpu_slots, args.queue_size, args.gpu_budget, args.cpu_budget,
                         args.gpu_wait, args.gpu_reserve, timeouts, args.keep_days, max_disk, extra, users, limits,
                         tuple(p.strip() for p in args.trusted_proxies.split(",") if p.strip()))


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
    log.info(describe_hardware(studio.manager.devices))
    warning = exposure_warning(args, studio)
    if warning:
        log.warning(warning)
    # uvicorn rewrites the client's address from X-Forwarded-For for the peers this names (by default
    # loopback, so anyone on the machine could pose as any address): only --trusted-proxies.
    os.environ["FORWARDED_ALLOW_IPS"] = ",".join(studio.trusted_proxies)
    studio.start()
    result = demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=args.max_file_size,
        allowed_paths=[str(studio.outputs), str(ASSETS)],
        show_error=True,
        prevent_thread_lock=True,
        auth=studio.users.check_password if studio.users else None,
        auth_message="Log in with your studio account; scripts send an API key in the X-API-Key header.",
        **kwargs,
    )
    if studio.users is not None:
        # Gradio takes one of a password check and a request check: after launch, the request check
        # (API key, else the login cookie) decides who every request comes from.
        demo.app.auth_dependency = lambda request: identify(demo, studio.users, request)
    add_health_route(demo, studio)
    guard_outputs(demo, studio)
    guard_uploads(demo, studio)
    rest.mount(demo, studio, lambda request: (identify(demo, studio.users, request), request_client(demo, studio, request)))
    if not prevent_thread_lock:
        try:
            demo.block_thread()
        finally:
            studio.stop()
    return result


def exposure_warning(args: argparse.Namespace, studio: Studio) -> str | None:
    """What to say when the studio is reachable beyond this machine with no accounts."""
    if studio.users is not None or (not args.share and args.host in LOOPBACK):
        return None
    where = "a public share link" if args.share else args.host
    return (f"The studio listens on {where} with no accounts: anyone who can reach it can run jobs and download "
            "every job's files. Start it with --auth USERS_FILE (make one with 'python -m queueing.users add NAME "
            "--admin --file USERS_FILE').")


def identify(demo: gr.Blocks, users: Users | None, request) -> str | None:
    """Who sent `request`: the owner of its API key, else the user its login cookie names; None if nobody
    (and always without accounts)."""
    if users is None:
        return None
    key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if key:
        return users.user_for_key(key)
    app = demo.app
    token = (request.cookies.get(f"access-token-{app.cookie_id}")
             or request.cookies.get(f"access-token-unsecure-{app.cookie_id}"))
    return app.tokens.get(token)


def gradio_route(demo: gr.Blocks, path: str, method: str):
    """Gradio's own route for `method` `path`, wherever its router keeps it (its API routes sit in an included router)."""
    routers = [demo.app.router, *(getattr(r, "original_router", None) for r in demo.app.router.routes)]
    return next(r for router in routers if router is not None for r in router.routes
                if getattr(r, "path", "") == path and method in getattr(r, "methods", ()))


def guard_outputs(demo: gr.Blocks, studio: Studio) -> None:
    """Under the outputs folder only files of job folders are served; with accounts, only to the job's owner and admins.

    Gradio serves files at `/gradio_api/file=PATH` (and the older `/gradio_api/file/PATH`); the guard is put
    ahead of both and hands every other path to Gradio's own handler, which applies `allowed_paths`.
    """
    path = "/gradio_api/file={path_or_url:path}"
    serve = gradio_route(demo, path, "GET").endpoint

    async def file(path_or_url: str, request: Request):
        target = Path(path_or_url).resolve()
        if target.is_relative_to(studio.outputs):
            user = identify(demo, studio.users, request)
            if studio.users is not None and user is None:
                raise HTTPException(status_code=401, detail="Not authenticated")
            if not studio.may_open_folder(target, user):
                raise HTTPException(status_code=404, detail="File not found")
        return await serve(path_or_url, request)

    async def file_by_slash(path: str, request: Request):
        return await file(path, request)

    demo.app.router.routes[:0] = [APIRoute(path, file, methods=["GET", "HEAD"]),
                                  APIRoute("/gradio_api/file/{path:path}", file_by_slash, methods=["GET"])]


def request_client(demo: gr.Blocks, studio: Studio, request) -> str:
    """The client a raw request counts against (see `Studio.client_id`)."""
    peer = request.client.host if request.client else None
    return studio.client_id(identify(demo, studio.users, request), peer, request.headers.get("x-forwarded-for"))


def guard_uploads(demo: gr.Blocks, studio: Studio) -> None:
    """Uploads count against the client's daily upload quota; past it the answer is 429 with Retry-After."""
    path = "/gradio_api/upload"
    upload = gradio_route(demo, path, "POST")

    class QuotaCheck:
        async def __call__(self, scope, receive, send):
            request = Request(scope, receive)
            try:
                studio.client_limits.admit_upload(request_client(demo, studio, request),
                                                  int(request.headers.get("content-length") or 0))
            except LimitExceeded as exc:
                response = JSONResponse({"error": str(exc)}, status_code=429,
                                        headers={"Retry-After": str(exc.retry_after_s)})
                return await response(scope, receive, send)
            await upload.handle(scope, receive, send)

    demo.app.router.routes.insert(0, Route(path, QuotaCheck(), methods=["POST"]))


def add_health_route(demo: gr.Blocks, studio: Studio) -> None:
    """`GET /health`: a plain answer outside Gradio's queue, so it comes at once even when the queue is full.

    Added after launch (routes added before are lost) and put first, ahead of Gradio's own routes.
    """
    def health() -> dict:
        return {"status": "ok", "pools": studio.pools.status(), "jobs": studio.jobs.counts()}

    demo.app.router.routes.insert(0, APIRoute("/health", health, methods=["GET"]))


def main(argv: list[str] | None = None) -> None:
    """Start the studio; `python app.py models ...` manages the models' environments instead."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["models"]:
        raise SystemExit(environments.main(argv[1:]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    studio = studio_from_args(args)
    launch(build_app(studio), studio, args)


if __name__ == "__main__":
    main()
