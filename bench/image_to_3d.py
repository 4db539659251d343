"""Seconds per stage of an Image to 3D pipeline (the built-in one by default), for 512 px and 1024 px inputs.

Single view: scikit-image's astronaut photograph, resized (background removed by
GrabCut). Multi-view: four renders made here of a shaded ellipsoid with a
different colour per side. Run: `python bench/image_to_3d.py [--repeat N] [--pipeline NAME]`.
Targets (issue 4): built-in single view under 3 s, multi-view under 6 s at 1024 px.
A model adapter (`--pipeline hunyuan3d-2mini`) is loaded once on the best device
first; its load time is printed apart from the per-case figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.base import Stages  # noqa: E402
from pipelines.image_to_3d.builtin import BuiltinImageTo3D  # noqa: E402
from pipelines.mesh.export import export_asset  # noqa: E402


def photo(size: int) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.LANCZOS)


def ellipsoid_view(size: int, half_width: float, half_height: float, colour) -> Image.Image:
    """An orthographic render of an ellipsoid: lit like a sphere, on a transparent background."""
    rows, cols = np.mgrid[:size, :size]
    u = (cols + 0.5 - size / 2) / (size * half_width)
    v = (rows + 0.5 - size / 2) / (size * half_height)
    r2 = u**2 + v**2
    inside = r2 < 1
    light = np.clip(0.35 + 0.65 * np.sqrt(np.clip(1 - r2, 0, 1)) - 0.2 * v, 0, 1)
    stripes = 0.85 + 0.15 * np.sign(np.sin(12 * v))
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = (np.array(colour)[None, None] * (light * stripes)[..., None]).clip(0, 255)
    rgba[..., 3] = inside * 255
    return Image.fromarray(rgba)


def views(size: int) -> dict:
    return {
        "front": ellipsoid_view(size, 0.3, 0.42, (220, 60, 40)),
        "back": ellipsoid_view(size, 0.3, 0.42, (40, 60, 220)),
        "left": ellipsoid_view(size, 0.18, 0.42, (40, 200, 60)),
        "right": ellipsoid_view(size, 0.18, 0.42, (220, 200, 40)),
    }


def make_pipeline(name: str):
    """The pipeline to time; an adapter is checked for availability and loaded first."""
    if name == "builtin":
        return BuiltinImageTo3D()
    import torch

    from pipelines.errors import InputError
    from pipelines.registry import Registry

    kinds = {"cpu"} | ({"cuda"} if torch.cuda.is_available() else set())
    try:
        pipeline = Registry(device_kinds=kinds).get("image_to_3d", name)
    except InputError as exc:
        sys.exit(str(exc))
    device = "cuda" if "cuda" in kinds and "cuda" in pipeline.devices else "cpu"
    start = time.perf_counter()
    pipeline.load(device)
    print(f"load {name} on {device}: {time.perf_counter() - start:.1f} s", flush=True)
    return pipeline


def measure(pipeline, inputs: dict, repeat: int) -> tuple[dict, float, int]:
    """Best of `repeat` runs: per-stage seconds (export included), total seconds, faces."""
    best = None
    for _ in range(repeat):
        stages = Stages()
        start = time.perf_counter()
        output = pipeline.run(inputs, stages)
        with tempfile.TemporaryDirectory() as folder, stages.stage("export_glb", 0.95):
            export_asset(output.asset, "glb", Path(folder))
        total = time.perf_counter() - start
        if best is None or total < best[1]:
            best = (dict(stages.timings), total, len(output.asset.faces))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest is printed")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--pipeline", default="builtin", help="registered image_to_3d pipeline name")
    args = parser.parse_args()
    pipeline = make_pipeline(args.pipeline)
    print(f"{'case':<28} {'total s':>8}  faces   stages (s)")
    for size in args.sizes:
        cases = {
            f"single view {size}px textured": {"front": photo(size), "textured": True},
            f"single view {size}px colours": {"front": photo(size), "textured": False},
            f"multi-view {size}px textured": {**views(size), "textured": True},
            f"multi-view {size}px colours": {**views(size), "textured": False},
        }
        for name, inputs in cases.items():
            timings, total, faces = measure(pipeline, inputs, args.repeat)
            stages = "  ".join(f"{k}={v:.2f}" for k, v in timings.items())
            print(f"{name:<28} {total:8.2f}  {faces:>6}  {stages}", flush=True)


if __name__ == "__main__":
    main()
