"""Seconds to complete and to rig a flat n-gon, against a closed mesh of as many faces, in one run.

A flat polygon of N corners (one OBJ face, which the loader fans into N-2 sliver triangles) used to
hold the slot for minutes: closing it sent it through MeshFix's hole patching and full cleanup, whose
cost grows faster than the square of its faces and which cannot close a sheet anyway. The pipelines now
shell such a sheet at once. The script also times that patching and cleanup alone on the same n-gon
(what the old path spent), and the same two pipelines on a baseline: an icosphere with a hole, of about
as many faces.

Run: `python bench/bounded_cost.py [--sides 250 1000] [--skip-meshfix]`.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.base import Stages  # noqa: E402
from pipelines.complete import solidify  # noqa: E402
from pipelines.complete.pipeline import BuiltinCompletionPipeline  # noqa: E402
from pipelines.mesh.io import load_scene  # noqa: E402
from pipelines.rig.pipeline import BuiltinRigPipeline  # noqa: E402


def ngon_obj(path: Path, sides: int) -> Path:
    angles = 2 * math.pi * np.arange(sides) / sides
    lines = [f"v {math.cos(a):.6f} {math.sin(a):.6f} 0\n" for a in angles]
    path.write_text("".join(lines) + "f " + " ".join(str(i + 1) for i in range(sides)) + "\n")
    return path


def holed_sphere(path: Path, faces: int) -> Path:
    """An icosphere with about `faces` faces and a small cap removed (so completion has a hole to fill)."""
    subdivisions = max(1, round(math.log(max(faces, 80) / 20, 4)))
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    sphere.update_faces(sphere.triangles_center[:, 2] < 0.95)
    sphere.remove_unreferenced_vertices()
    sphere.export(path)
    return path


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[250, 1000])
    parser.add_argument("--skip-meshfix", action="store_true",
                        help="do not time MeshFix's patching and cleanup (the old path; minutes past 1000 sides)")
    args = parser.parse_args()
    complete, rig = BuiltinCompletionPipeline(), BuiltinRigPipeline()
    with tempfile.TemporaryDirectory() as folder:
        for sides in args.sides:
            ngon = ngon_obj(Path(folder) / f"ngon{sides}.obj", sides)
            base = holed_sphere(Path(folder) / f"sphere{sides}.ply", sides)
            row = {}
            for label, path in (("n-gon", ngon), ("baseline", base)):
                row[label] = (seconds(lambda: complete.run({"mesh": str(path)}, Stages())),
                              seconds(lambda: rig.run({"mesh": str(path)}, Stages())))
            (ngon_complete, ngon_rig), (base_complete, base_rig) = row["n-gon"], row["baseline"]
            print(f"{sides}-gon: completion {ngon_complete:.2f} s ({ngon_complete / base_complete:.1f}x the "
                  f"baseline's {base_complete:.2f} s), rigging {ngon_rig:.2f} s ({ngon_rig / base_rig:.1f}x the "
                  f"baseline's {base_rig:.2f} s)", flush=True)
            if not args.skip_meshfix:
                sheet = solidify.welded(next(iter(load_scene(ngon).geometry.values())))
                old_path = seconds(lambda: (solidify._patch_holes(sheet), solidify._meshfix(sheet)))
                print(f"  MeshFix's patching and cleanup of the same sheet alone (the old path): {old_path:.2f} s, "
                      f"{old_path / ngon_complete:.0f}x today's whole completion", flush=True)


if __name__ == "__main__":
    main()
