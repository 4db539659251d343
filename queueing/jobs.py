"""Job folders and records: one folder per job under the outputs folder, never overwritten."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path


class JobStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def new_folder(self, feature: str) -> Path:
        """A fresh folder such as `outputs/20261124-120501.042137-convert_mesh-3fa9c2d1`.

        The microsecond stamp leads the name, so sorting names sorts jobs by start time.
        """
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f".{int(now * 1e6) % 1_000_000:06d}"
        while True:
            folder = self.root / f"{stamp}-{feature}-{secrets.token_hex(4)}"
            try:
                folder.mkdir(parents=True)
                return folder
            except FileExistsError:
                continue

    @staticmethod
    def write_record(folder: Path, record: dict) -> None:
        (folder / "job.json").write_text(json.dumps(record, indent=2, default=str))

    def recent(self, limit: int = 20) -> list[dict]:
        """The latest job records, newest first (they survive restarts)."""
        records = []
        for path in sorted(self.root.glob("*/job.json"), reverse=True)[:limit]:
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
        return records
