"""The job store: every job from the moment it is accepted, in an embedded SQLite database (WAL).

The database sits in the outputs folder (`jobs.sqlite`), next to one folder per job
that holds its input files and its outputs. A record is written when the job is
accepted (queued), updated as it runs (stage, progress) and closed with its final
status: done, failed, cancelled or interrupted (the server stopped while it was
queued or running; `recover` marks those at start-up).

Everything stored goes through `storable`, so one odd value (a 2**64 seed, NaN, a
megabyte of text) can never break a listing, and every read tolerates a damaged row.
SQLite serialises writers across processes on one machine; several studio
processes on several machines would share a server database instead (README).
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("studio.jobs")

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINAL = ("done", "failed", "cancelled", "interrupted")
FINISHED = f"status IN ({', '.join(repr(s) for s in FINAL)})"  # SQL: the job has its final status
DATABASE = "jobs.sqlite"
MAX_TEXT = 10_000
MAX_ITEMS = 1_000_000  # per-face labels are long lists; only their values need bounding
MAX_DEPTH = 8
SAFE_INT = 2**53  # JSON readers (JavaScript among them) keep integers exact up to here

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    feature TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    owner TEXT,
    client TEXT,
    status TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT '',
    progress REAL DEFAULT 0,
    parameters TEXT NOT NULL DEFAULT '{}',
    files TEXT NOT NULL DEFAULT '{}',
    output_format TEXT NOT NULL DEFAULT 'glb',
    folder TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    outputs TEXT NOT NULL DEFAULT '{}',
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
"""
JSON_COLUMNS = ("parameters", "files", "outputs", "metadata")


def interrupted_reason(was: str) -> str:
    """Why a job that was `was` ("running", "waiting in the queue") when the studio stopped has no result."""
    return f"The studio stopped while this job was {was}; run it again (History tab, or /rerun_job)."


def storable(value: Any, depth: int = 0) -> Any:
    """`value` as JSON that any reader takes: big integers as strings, NaN and infinities as None, long text cut."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -SAFE_INT <= value <= SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, dict):
        items = list(value.items())[:MAX_ITEMS]
        return {storable(str(k))[:200]: storable(v, depth + 1) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [storable(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    if hasattr(value, "tolist"):
        return storable(value.tolist(), depth)
    return storable(str(value), depth)


def _dumps(value: Any) -> str:
    return json.dumps(storable(value), allow_nan=False)


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}


class JobStore:
    """Job records in `root/jobs.sqlite` and job folders under `root`."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / DATABASE
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        if "client" not in {row["name"] for row in self._query("PRAGMA table_info(jobs)")}:
            self._execute("ALTER TABLE jobs ADD COLUMN client TEXT")  # stores written before clients were recorded

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ----------------------------------------------------------------------
    def create(self, feature: str, pipeline: str, parameters: dict, output_format: str,
               owner: str | None = None, client: str | None = None) -> tuple[str, Path]:
        """Record a new job as queued and make its folder; returns (id, folder).

        The folder is named `<time>-<feature>-<id>`, so sorting names sorts jobs by
        start time. The record is written first: a folder without one is an orphan.
        """
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f".{int(now * 1e6) % 1_000_000:06d}"
        job_id = secrets.token_hex(6)
        folder = f"{stamp}-{feature}-{job_id}"
        self._execute(
            "INSERT INTO jobs (id, feature, pipeline, owner, client, status, parameters, output_format, folder, created) "
            "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
            (job_id, feature, pipeline, owner, client, _dumps(parameters), output_format, folder, now))
        path = self.root / folder
        path.mkdir(parents=True)
        return job_id, path

    def update(self, job_id: str, **fields: Any) -> None:
        """Set columns of one job; dicts and lists are stored as sanitised JSON."""
        if not fields:
            return
        columns, values = [], []
        for key, value in fields.items():
            if key == "status" and value not in STATUSES:
                raise ValueError(f"unknown job status {value!r}")
            columns.append(f"{key} = ?")
            if key in JSON_COLUMNS:
                values.append(_dumps(value))
            elif isinstance(value, str):
                values.append(storable(value))
            elif isinstance(value, float) and not math.isfinite(value):
                values.append(None)
            else:
                values.append(value)
        self._execute(f"UPDATE jobs SET {', '.join(columns)} WHERE id = ?", (*values, job_id))

    def finish(self, job_id: str, status: str, error: str | None = None, **fields: Any) -> None:
        self.update(job_id, status=status, error=error, finished=time.time(), **fields)

    def delete(self, job_id: str) -> bool:
        """Delete a job's record and its folder; False if there was no such job."""
        record = self.get(job_id)
        if record is None:
            return False
        shutil.rmtree(self.root / record["folder"], ignore_errors=True)
        self._execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return True

    def recover(self) -> list[str]:
        """At start-up: jobs left queued or running by a server that stopped become interrupted.

        Folders that no record names (a crash between the two writes) are removed.
        Returns the ids of the interrupted jobs.
        """
        rows = self._query("SELECT id, status FROM jobs WHERE status IN ('queued', 'running')")
        now = time.time()
        for row in rows:
            was = "running" if row["status"] == "running" else "waiting in the queue"
            self._execute(
                "UPDATE jobs SET status = 'interrupted', finished = ?, error = ? WHERE id = ?",
                (now, interrupted_reason(was), row["id"]))
        known = {row["folder"] for row in self._query("SELECT folder FROM jobs")}
        for path in self.root.iterdir():
            if path.is_dir() and path.name not in known and not path.name.startswith("."):
                shutil.rmtree(path, ignore_errors=True)
                log.info("removed orphan job folder %s", path.name)
        return [row["id"] for row in rows]

    # -- reading -----------------------------------------------------------------------
    def get(self, job_id: str) -> dict | None:
        if not isinstance(job_id, str) or not job_id.isalnum() or len(job_id) > 64:
            return None
        return next(iter(self._records("SELECT * FROM jobs WHERE id = ?", (job_id,))), None)

    def by_folder(self, folder: str) -> dict | None:
        return next(iter(self._records("SELECT * FROM jobs WHERE folder = ?", (folder,))), None)

    def recent(self, limit: int = 20, owner: str | None = None, feature: str | None = None,
               client: str | None = None) -> list[dict]:
        """The latest jobs, newest first; `client` keeps those one client (an account or an address) submitted."""
        sql, args = "SELECT * FROM jobs", []
        where = []
        for column, value in (("owner", owner), ("feature", feature or None), ("client", client)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC LIMIT ?"
        args.append(max(1, min(int(limit), 1000)))
        return self._records(sql, args)

    def finished_before(self, cutoff: float) -> list[dict]:
        return self._records(f"SELECT * FROM jobs WHERE {FINISHED} AND COALESCE(finished, created) < ? "
                             "ORDER BY created", (cutoff,))

    def oldest_finished(self, limit: int = 50) -> list[dict]:
        return self._records(f"SELECT * FROM jobs WHERE {FINISHED} ORDER BY created LIMIT ?", (limit,))

    def counts(self) -> dict[str, int]:
        return {row["status"]: row["n"] for row in self._query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")}

    def _records(self, sql: str, args: tuple | list = ()) -> list[dict]:
        """The rows `sql` selects, as records; damaged ones are left out."""
        return [r for r in (self._record(row) for row in self._query(sql, args)) if r is not None]

    def _record(self, row: sqlite3.Row) -> dict | None:
        """A row as a dict of JSON-safe values; a damaged row is logged and gives None, never an error."""
        try:
            record = {key: row[key] for key in row.keys()}
            for key in JSON_COLUMNS:
                record[key] = _loads(record[key])
            for key in ("progress", "created", "started", "finished"):
                value = record.get(key)
                record[key] = value if isinstance(value, (int, float)) and math.isfinite(value) else None
            return storable(record)
        except Exception:  # noqa: BLE001 - one bad row must not break a listing
            log.exception("unreadable job record")
            return None

    def _execute(self, sql: str, args: tuple | list = ()) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def _query(self, sql: str, args: tuple | list = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()
