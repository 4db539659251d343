"""Retention: disk use stays bounded by `--keep-days` and `--max-disk`.

Finished jobs older than `keep_days` are deleted with their folders. While the
outputs folder plus Gradio's upload cache hold more than `max_disk` bytes, the
oldest finished jobs and the oldest cached uploads go first, whichever is older.
Queued and running jobs, and uploads younger than an hour, are never touched.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from pipelines.base import folder_bytes

from .jobs import JobStore

log = logging.getLogger("studio.retention")

UPLOAD_GRACE_S = 3600.0  # an upload may belong to a job that is about to be submitted
INTERVAL_S = 600.0


def gradio_cache() -> Path:
    """Where Gradio keeps uploads and the files it serves (GRADIO_TEMP_DIR, else <tmp>/gradio)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


class Retention:
    def __init__(self, store: JobStore, keep_days: float, max_disk_bytes: int, cache: Path | None = None):
        self.store = store
        self.keep_days = keep_days
        self.max_disk_bytes = max_disk_bytes
        self.cache = cache
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, daemon=True, name="retention").start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - retention must never take the studio down
                log.exception("retention sweep failed")
            self._stop.wait(INTERVAL_S)

    def _cache_entries(self) -> list[tuple[float, int, Path]]:
        """(modified time, bytes, path) of each upload folder in Gradio's cache, oldest first."""
        if self.cache is None or not self.cache.is_dir():
            return []
        entries = []
        for path in self.cache.iterdir():
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            size = folder_bytes(path) if path.is_dir() else path.stat().st_size
            entries.append((mtime, size, path))
        return sorted(entries)

    def sweep(self) -> dict:
        """Apply both limits once; returns what was removed."""
        removed_jobs, removed_uploads = 0, 0
        if self.keep_days > 0:
            cutoff = time.time() - self.keep_days * 86400
            for record in self.store.finished_before(cutoff):
                removed_jobs += self.store.delete(record["id"])
            for mtime, _, path in self._cache_entries():
                if mtime < cutoff:
                    _remove(path)
                    removed_uploads += 1
        if self.max_disk_bytes > 0:
            cached = self._cache_entries()
            used = folder_bytes(self.store.root) + sum(size for _, size, _ in cached)
            jobs = self.store.oldest_finished(limit=1000)
            uploads = [e for e in cached if e[0] < time.time() - UPLOAD_GRACE_S]
            while used > self.max_disk_bytes and (jobs or uploads):
                job_time = (jobs[0].get("finished") or jobs[0].get("created") or 0) if jobs else float("inf")
                if uploads and uploads[0][0] < job_time:
                    _, size, path = uploads.pop(0)
                    _remove(path)
                    removed_uploads += 1
                    used -= size
                else:
                    record = jobs.pop(0)
                    size = folder_bytes(self.store.root / record["folder"])
                    removed_jobs += self.store.delete(record["id"])
                    used -= size
        if removed_jobs or removed_uploads:
            log.info("retention removed %d jobs and %d cached uploads", removed_jobs, removed_uploads)
        return {"jobs": removed_jobs, "uploads": removed_uploads}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
