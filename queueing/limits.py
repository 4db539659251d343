"""Limits on jobs: how long each may run.

Every job has a time limit. Each feature has a default; a pipeline may declare its
own (`Pipeline.timeout_s`, for models known to be slow); `--job-timeout` overrides
both, as one number for every job or as a list that names features and pipelines:

    --job-timeout 300
    --job-timeout 300,image_to_3d=900,image_to_3d/hunyuan3d-2=1800

The most specific entry wins: feature/pipeline, then feature, then the bare number,
then the pipeline's declaration, then the feature's default.
"""

from __future__ import annotations

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
