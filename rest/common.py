"""What every REST family shares: who calls, uploads, starting and awaiting jobs, job files, and errors.

Every REST job goes through `Studio.submit` / `Studio.execute`, the path the Gradio endpoints take, so it
has the same record (History tab, /list_jobs), limits, time limit, auth and output files.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fastapi import Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute

from pipelines.errors import InputError, PipelineUnavailable
from queueing.limits import LimitExceeded
from queueing.pools import QueueFull
from queueing.studio import Job, Studio
from tabs.common import refusal

UPLOADS = ".rest_uploads"  # under the outputs folder; a dot folder is never taken for an orphan job folder
UPLOAD_HOURS = 24.0  # 3DAIGC's file ids expire after a day
CONTENT_TYPES = {
    ".glb": "model/gltf-binary", ".gltf": "model/gltf+json", ".obj": "application/wavefront-obj", ".fbx": "model/fbx",
    ".ply": "model/ply", ".stl": "model/stl", ".usdz": "model/vnd.usdz+zip", ".zip": "application/zip",
    ".png": "image/png", ".jpg": "image/jpeg", ".json": "application/json",
}


class RestError(Exception):
    """A refusal with its HTTP status; each family renders it in its own error shape."""

    def __init__(self, status: int, message: str, code: str = "API_ERROR", retry_after_s: int | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.retry_after_s = status, message, code, retry_after_s


def error_route(render: Callable[[RestError], dict]) -> type[APIRoute]:
    """A route class that answers a `RestError` as `render` shapes it (exception handlers cannot be added to a
    running app, so each family's routes carry their own)."""

    class Route(APIRoute):
        def get_route_handler(self):
            handler = super().get_route_handler()

            async def handle(request: Request):
                try:
                    return await handler(request)
                except RestError as exc:
                    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
                    return JSONResponse(render(exc), exc.status, headers=headers)

            return handle

    return Route


def detail_error(exc: RestError) -> dict:
    """FastAPI's own error shape, used by the Hunyuan3D-2.1, PromptAR and SyncHuman documents."""
    return {"detail": exc.message}


def refused(exc: BaseException, job_id: str | None = None) -> RestError:
    """`exc` (from submitting or running a job) as a RestError with the message a Gradio user would see."""
    message = refusal(exc, job_id).message
    if isinstance(exc, LimitExceeded):
        return RestError(429, message, "RATE_LIMITED", exc.retry_after_s)
    if isinstance(exc, QueueFull):
        return RestError(503, message, "QUEUE_FULL", 30)
    if isinstance(exc, PipelineUnavailable):
        return RestError(400, message, "MODEL_NOT_AVAILABLE")
    if isinstance(exc, InputError):
        return RestError(400, message, "INVALID_VALUE")
    return RestError(500, message, "JOB_FAILED")


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the account (None without accounts) and the client the per-client limits count."""

    user: str | None
    client: str


class Rest:
    """The studio as the REST routes see it: callers, uploads, jobs and their files."""

    def __init__(self, studio: Studio, who: Callable[[Request], tuple[str | None, str]], max_file_size: int | None):
        self.studio = studio
        self.who = who
        self.max_bytes = max_file_size or 0
        self.uploads = studio.outputs / UPLOADS

    # -- callers --------------------------------------------------------------------------
    def caller(self, request: Request) -> Caller:
        """The caller; with accounts, a request without a valid API key (or login cookie) is refused."""
        user, client = self.who(request)
        if self.studio.users is not None and user is None:
            raise RestError(401, "Not authenticated: send your API key in the X-API-Key header "
                                 "(make one with 'python -m queueing.users key NAME --file USERS_FILE').", "UNAUTHORIZED")
        return Caller(user, client)

    # -- uploads --------------------------------------------------------------------------
    def _new_folder(self) -> tuple[str, Path]:
        self._prune()
        token = secrets.token_hex(12)
        folder = self.uploads / token
        folder.mkdir(parents=True)
        return token, folder

    def _prune(self) -> None:
        """Drop uploads older than UPLOAD_HOURS (file ids that were never used, or used up)."""
        if not self.uploads.is_dir():
            return
        cutoff = time.time() - UPLOAD_HOURS * 3600
        for folder in self.uploads.iterdir():
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    def _admit(self, caller: Caller, folder: Path, size: int, what: str) -> None:
        if size == 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise RestError(400, f"The {what} file is empty; send the file's contents.", "FILE_UPLOAD_ERROR")
        try:
            self.studio.client_limits.admit_upload(caller.client, size)
        except LimitExceeded as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise RestError(429, str(exc), "RATE_LIMITED", exc.retry_after_s) from exc

    async def store(self, upload: UploadFile, caller: Caller, what: str, info: dict | None = None) -> tuple[str, Path]:
        """Save an uploaded file (up to --max-file-size, counted against the upload quota); returns (file id, path)."""
        token, folder = self._new_folder()
        path = folder / safe_name(upload.filename, what)
        size = 0
        with open(path, "wb") as out:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if self.max_bytes and size > self.max_bytes:
                    out.close()
                    shutil.rmtree(folder, ignore_errors=True)
                    raise RestError(413, f"The {what} file is larger than the {self.max_bytes / 2**20:g} MiB this "
                                         "studio accepts (--max-file-size).", "FILE_UPLOAD_ERROR")
                out.write(chunk)
        self._admit(caller, folder, size, what)
        self._describe(folder, caller, path, size, what, info)
        return token, path

    def store_base64(self, data: str, caller: Caller, what: str, name: str) -> Path:
        """Save a base64-encoded file (3DAIGC's `*_base64` fields, TRELLIS's `image_data`)."""
        try:
            content = base64.b64decode(data.split(",", 1)[-1] if data.startswith("data:") else data, validate=True)
        except (binascii.Error, ValueError):
            raise RestError(400, f"The {what} is not valid base64; encode the file's bytes.", "INVALID_VALUE") from None
        if self.max_bytes and len(content) > self.max_bytes:
            raise RestError(413, f"The {what} file is larger than this studio accepts (--max-file-size).",
                            "FILE_UPLOAD_ERROR")
        _, folder = self._new_folder()
        path = folder / safe_name(name, what)
        path.write_bytes(content)
        self._admit(caller, folder, len(content), what)
        self._describe(folder, caller, path, len(content), what, None)
        return path

    def _describe(self, folder: Path, caller: Caller, path: Path, size: int, what: str, info: dict | None) -> None:
        record = {"filename": path.name, "file_type": what, "size": size, "uploaded": time.time(), "user": caller.user,
                  **(info or {})}
        (folder / "upload.json").write_text(json.dumps(record))

    def uploaded(self, file_id: str, caller: Caller, what: str) -> tuple[Path, dict]:
        """The file behind `file_id` and its record; only its uploader (or anyone, without accounts) may use it."""
        folder = self.uploads / file_id if re.fullmatch(r"[0-9a-f]{24}", str(file_id or "")) else None
        try:
            record = json.loads((folder / "upload.json").read_text()) if folder else None
        except (OSError, ValueError):
            record = None
        if record is None or (self.studio.users is not None and record.get("user") != caller.user):
            raise RestError(404, f"There is no uploaded file {file_id!r} (ids expire after {UPLOAD_HOURS:g} hours); "
                                 f"upload the {what} again.", "NOT_FOUND")
        if record.get("file_type") != what:
            raise RestError(400, f"File {file_id!r} was uploaded as a {record.get('file_type')}, not a {what}.",
                            "INVALID_VALUE")
        return folder / record["filename"], record

    def discard(self, *paths: Path | None) -> None:
        """Remove single-use uploads once their job has its own copies."""
        for path in paths:
            if path is not None and path.parent.parent == self.uploads:
                shutil.rmtree(path.parent, ignore_errors=True)

    # -- jobs -----------------------------------------------------------------------------
    def submit(self, caller: Caller, feature: str, pipeline: str | None, inputs: dict, output_format: str = "glb",
               warnings: list[str] | None = None) -> Job:
        """Accept a job for `caller` (refusals as RestError: 400 bad input, 429 limits, 503 full queue)."""
        try:
            return self.studio.submit(feature, pipeline, inputs, output_format or "glb", caller.user, caller.client,
                                      warnings)
        except Exception as exc:  # noqa: BLE001 - every refusal becomes an answer
            raise refused(exc) from exc

    def start(self, job: Job):
        """Run an accepted job in the background; its end is in the job store."""
        future = self.studio.executor.submit(self.studio.execute, job)
        future.add_done_callback(lambda done: done.exception())  # nobody awaits it; the failure is recorded
        return future

    async def finish(self, job: Job) -> tuple[str, str, dict]:
        """Run an accepted job and wait for it without holding a server thread; failures as RestError."""
        future = self.start(job)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            self.studio.cancel(job.id)
            raise
        except Exception as exc:  # noqa: BLE001
            raise refused(exc, job.id) from exc

    def record(self, job_id: str, caller: Caller) -> dict:
        """The job's record, or 404 when there is none the caller may see."""
        record = self.studio.job(str(job_id), caller.user)
        if record is None:
            raise RestError(404, f"There is no job {job_id!r}.", "NOT_FOUND")
        return record

    def result(self, job_id: str, caller: Caller) -> tuple[Path, Path, dict]:
        """A finished job's (viewer GLB, file in its format, metadata); 404 unknown job, 400 not finished."""
        self.record(job_id, caller)
        try:
            glb, path, metadata = self.studio.result(str(job_id), caller.user)
        except InputError as exc:
            raise RestError(400, str(exc), "JOB_NOT_READY") from exc
        return Path(glb), Path(path), metadata

    def job_file(self, job_id: str, name: str, caller: Caller) -> Path:
        """One of a job's output files by name; 404 for anything else."""
        path = self.studio.job_file(str(job_id), name, caller.user)
        if path is None:
            raise RestError(404, f"Job {job_id!r} has no file {name!r}.", "NOT_FOUND")
        return path


def safe_name(name: str | None, fallback: str) -> str:
    """A client's file name reduced to a plain name with its extension (never a path)."""
    base = Path(str(name or "")).name or fallback
    return re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[:120] or "file"


def file_response(path: Path, filename: str | None = None, headers: dict | None = None) -> FileResponse:
    return FileResponse(path, filename=filename or path.name, headers=headers,
                        media_type=CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"))


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def iso(stamp: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)) if stamp else None


def took(record: dict) -> float | None:
    """Seconds from start to end of a finished job."""
    if record.get("finished") and record.get("started"):
        return round(record["finished"] - record["started"], 3)
    return None


def percent(record: dict) -> int:
    return 100 if record["status"] == "done" else int(round(100 * float(record.get("progress") or 0)))
