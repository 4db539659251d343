"""Model weights from the Hugging Face Hub: cached lookups that never touch the network, and downloads with progress.

Adapters fetch weights on first use inside a job, so the download is a stage the
user sees move; afterwards the hub cache serves them offline.
"""

from __future__ import annotations

from pathlib import Path

from .base import Stages


def hub_progress(stages: Stages, fraction: float, what: str):
    """A tqdm class that forwards the hub's file-count progress to the job's progress bar."""
    from tqdm.auto import tqdm

    class Progress(tqdm):
        def update(self, n=1):
            out = super().update(n)
            if self.total:
                stages.report(fraction, f"{what}: {self.n}/{self.total} files")
            return out

    return Progress


def cached_snapshot(repo_id: str, files: list[str]) -> Path | None:
    """The cached snapshot folder of `repo_id` if every one of `files` is in it; never downloads.

    A snapshot can be cached with only some of a repository's folders (another
    adapter fetched its own), so the files are checked, not just the folder.
    """
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=files, local_files_only=True))
    except Exception:  # not cached: the hub raises several types for this
        return None
    return folder if all((folder / name).is_file() for name in files) else None


def download_snapshot(repo_id: str, files: list[str], stages: Stages, fraction: float) -> Path:
    """Download `files` of `repo_id` into the hub cache as a job stage with progress."""
    from huggingface_hub import snapshot_download

    with stages.stage("download weights (first use)", fraction):
        progress = hub_progress(stages, fraction, f"downloading {repo_id}")
        return Path(snapshot_download(repo_id, allow_patterns=files, tqdm_class=progress))
