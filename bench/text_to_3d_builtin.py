"""Seconds per stage of the built-in Text to 3D pipeline, per template and detail level.

Prints the encoder's load time, then for every template (prompted with its first
description) the median seconds of a plain and a textured run. Run:
`python bench/text_to_3d_builtin.py [--detail low|medium|high] [--repeat N]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.base import Stages  # noqa: E402
from pipelines.text_to_3d.builtin import BuiltinTextTo3D  # noqa: E402
from pipelines.text_to_3d.templates import TEMPLATES  # noqa: E402


def timed(pipeline: BuiltinTextTo3D, inputs: dict, repeat: int) -> tuple[float, int]:
    seconds, faces = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = pipeline.run(inputs, Stages())
        seconds.append(time.perf_counter() - start)
        faces = sum(len(g.faces) for g in out.asset.geometry.values())
    return statistics.median(seconds), faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detail", default="medium", choices=("low", "medium", "high"))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    pipeline = BuiltinTextTo3D()
    start = time.perf_counter()
    pipeline.load("cpu")
    print(f"encoder load and template embeddings: {time.perf_counter() - start:.2f} s")
    print(f"{'template':15s} {'faces':>7s} {'plain s':>8s} {'textured s':>11s}")
    for name, template in TEMPLATES.items():
        inputs = {"prompt": template.descriptions[0], "seed": 0, "detail": args.detail}
        plain, faces = timed(pipeline, inputs, args.repeat)
        textured, _ = timed(pipeline, {**inputs, "textured": True}, args.repeat)
        print(f"{name:15s} {faces:7d} {plain:8.2f} {textured:11.2f}")


if __name__ == "__main__":
    main()
