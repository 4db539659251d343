"""Humanoid decision of the built-in rigger on the development corpus: a table and its precision and recall.

    python bench/rig_corpus.py [--quick] [--json]

Each shape of tests/rig_corpus.py (built characters and non-humanoids, and the Khronos sample assets in
tests/data/) is written as a GLB +Y up and +Z up, in metres and (without --quick) in millimetres and
kilometres, and rigged in auto mode with up_axis auto. Printed per case: the up axis found, the
skeleton kind, the joint count and any warning. A non-humanoid rigged as humanoid is a false positive.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.base import Stages  # noqa: E402
from pipelines.rig.pipeline import BuiltinRigPipeline  # noqa: E402
from tests import rig_corpus  # noqa: E402


def cases():
    """(name, +Y-up mesh, is humanoid) for every shape of the corpus."""
    for name, mesh in rig_corpus.characters().items():
        yield name, mesh, True
    for name, mesh in rig_corpus.non_humanoids().items():
        yield name, mesh, False
    for name, (path, humanoid) in rig_corpus.real_assets().items():
        yield name, trimesh.load(path, force="mesh"), humanoid


def run(quick: bool) -> list[dict]:
    rows = []
    scales = {"m": 1.0} if quick else rig_corpus.SCALES
    with tempfile.TemporaryDirectory() as folder:
        for name, mesh, humanoid in cases():
            for up in ("+Y", "+Z"):
                for unit, scale in scales.items():
                    path = Path(folder) / "case.glb"
                    rig_corpus.oriented(mesh, up, scale).export(path)
                    output = BuiltinRigPipeline().run({"mesh": str(path), "mode": "auto", "up_axis": "auto"}, Stages())
                    rows.append({
                        "case": name, "humanoid": humanoid, "written_up": up, "unit": unit,
                        "detected_up": output.metadata["up_axis"], "rigged_as": output.metadata["mode"],
                        "joints": output.metadata["joint_count"], "warnings": output.warnings,
                    })
    return rows


def summary(rows: list[dict]) -> dict:
    true_pos = sum(r["humanoid"] and r["rigged_as"] == "humanoid" for r in rows)
    false_pos = sum(not r["humanoid"] and r["rigged_as"] == "humanoid" for r in rows)
    positives = sum(r["humanoid"] for r in rows)
    return {
        "cases": len(rows),
        "precision": true_pos / max(true_pos + false_pos, 1),
        "recall": true_pos / max(positives, 1),
        "up_axis_correct": sum(r["detected_up"] == r["written_up"] for r in rows) / len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="metres only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(args.quick)
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary(rows)}, indent=1))
        return
    print(f"| case | humanoid | written | unit | up found | rigged as | joints | warnings |\n|{' --- |' * 8}")
    for r in rows:
        print(f"| {r['case']} | {'yes' if r['humanoid'] else 'no'} | {r['written_up']} | {r['unit']} | {r['detected_up']} "
              f"| {r['rigged_as']} | {r['joints']} | {' '.join(r['warnings'])[:90]} |")
    print(json.dumps(summary(rows)))


if __name__ == "__main__":
    main()
