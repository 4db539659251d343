"""Limits on jobs: how long each may run, and how much each client may ask for.

Every job has a time limit. Each feature has a default; a pipeline may declare its
own (`Pipeline.timeout_s`, for models known to be slow); `--job-timeout` overrides
both, as one number for every job or as a list that names features and pipelines:

    --job-timeout 300
    --job-timeout 300,image_to_3d=900,image_to_3d/hunyuan3d-2=1800

The most specific entry wins: feature/pipeline, then feature, then the bare number,
then the pipeline's declaration, then the feature's default.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from pipelines.base import FEATURES, Pipeline

FEATURE_TIMEOUTS_S = {
    "text_to_3d": 600.0,
    "image_to_3d": 900.0,
    "paint_mesh": 600.0,
    "segment_mesh": 300.0,
    "rig_mesh": 600.0,
    "complete_parts": 600.0,
    "convert_mesh": 300.0,
}


def parse_job_timeouts(spec: str | float | None) -> dict[str, float]:
    """`--job-timeout` as {"": all jobs, "feature": ..., "feature/pipeline": ...}, in seconds."""
    limits: dict[str, float] = {}
    for item in str(spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.rpartition("=")
        key = key.strip()
        if key and key.split("/")[0] not in FEATURES:
            raise ValueError(f"--job-timeout: {key.split('/')[0]!r} is not a feature; use one of {', '.join(FEATURES)}.")
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"--job-timeout: {item!r} is not 'SECONDS' or 'feature[/pipeline]=SECONDS'.") from None
        if not 0 < seconds < 7 * 24 * 3600:
            raise ValueError(f"--job-timeout: {seconds:g} s is not between 0 and a week.")
        limits[key] = seconds
    return limits


def job_time_limit(pipeline: Pipeline, overrides: dict[str, float]) -> float:
    """Seconds a job of `pipeline` may run (see the module docstring for the order)."""
    for key in (f"{pipeline.feature}/{pipeline.name}", pipeline.feature, ""):
        if key in overrides:
            return overrides[key]
    return float(pipeline.timeout_s or FEATURE_TIMEOUTS_S[pipeline.feature])


# -- per-client limits and quotas ---------------------------------------------------------------------


class LimitExceeded(RuntimeError):
    """A client went past one of its limits; the message names it and when to retry."""

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = max(1, math.ceil(retry_after_s))


@dataclass
class ClientLimits:
    """Per client (an account, else an address): jobs per minute, jobs at once, GPU-seconds and upload bytes a day.

    Built on the `limits` library's moving windows, kept in memory (a restart forgets
    them); 0 turns a limit off.
    """

    jobs_per_minute: int = 30
    concurrent_jobs: int = 32
    gpu_seconds_per_day: float = 4 * 3600
    upload_bytes_per_day: int = 5 * 1024**3
    _limiter: Any = field(default=None, repr=False)

    def __post_init__(self):
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def _item(self, amount: float, per: str):
        from limits import parse

        return parse(f"{max(1, int(amount))}/{per}")

    def _wait(self, item, *identifiers: str) -> float:
        """Seconds until the window of `item` for `identifiers` has room again."""
        return self._limiter.get_window_stats(item, *identifiers).reset_time - time.time()

    def _hit(self, item, kind: str, client: str, cost: int, limit: str) -> None:
        """Count `cost` against `client`'s window of `item`, or refuse naming `limit` and when to retry."""
        if not self._limiter.hit(item, kind, client, cost=cost):
            wait = self._wait(item, kind, client)
            raise LimitExceeded(f"{limit}. Try again in {_duration(wait)}.", wait)

    def admit_job(self, client: str, running: int) -> None:
        """Count a new job for `client`, who has `running` jobs queued or running; raise when past a limit."""
        if self.concurrent_jobs and running >= self.concurrent_jobs:
            raise LimitExceeded(f"Limit reached: {self.concurrent_jobs} jobs at once per client, and {running} of yours "
                                "are queued or running. Try again when one has finished.", 10)
        if self.gpu_seconds_per_day:
            item = self._item(self.gpu_seconds_per_day, "day")
            if not self._limiter.test(item, "gpu", client):
                wait = self._wait(item, "gpu", client)
                raise LimitExceeded(f"Quota reached: {self.gpu_seconds_per_day:g} GPU-seconds per day per client. "
                                    f"Try again in {_duration(wait)}.", wait)
        if self.jobs_per_minute:
            self._hit(self._item(self.jobs_per_minute, "minute"), "jobs", client, 1,
                      f"Rate limit reached: {self.jobs_per_minute} jobs per minute per client")

    def spend_gpu_seconds(self, client: str, seconds: float) -> None:
        """Charge a finished job's time on a GPU to `client`'s daily quota."""
        if self.gpu_seconds_per_day and seconds >= 0.5:
            item = self._item(self.gpu_seconds_per_day, "day")
            # A job may overrun what is left: charge what is left, so the quota reads as spent.
            cost = min(int(round(seconds)), self._limiter.get_window_stats(item, "gpu", client).remaining)
            if cost > 0:
                self._limiter.hit(item, "gpu", client, cost=cost)

    def admit_upload(self, client: str, nbytes: int) -> None:
        """Count `nbytes` of uploads for `client`; raise when past the daily quota."""
        if self.upload_bytes_per_day:
            self._hit(self._item(self.upload_bytes_per_day, "day"), "upload", client, max(1, int(nbytes)),
                      f"Quota reached: {_size(self.upload_bytes_per_day)} of uploads per day per client")


def _size(nbytes: float) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def _duration(seconds: float) -> str:
    seconds = max(1, math.ceil(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: tuple[str, ...]) -> str:
    """The address a request comes from: `X-Forwarded-For` counts only when the peer is a trusted proxy.

    Then the rightmost address that is not itself a trusted proxy is the client's; anything to its
    left was written by the client and proves nothing.
    """
    address = peer or "unknown"
    if forwarded_for and address in trusted_proxies:
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            address = hop
            if hop not in trusted_proxies:
                break
    return address
