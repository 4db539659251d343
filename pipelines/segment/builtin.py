"""Built-in part segmentation (CPU, no weights): spectral clustering of the face graph."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import trimesh

from ..base import Pipeline, PipelineOutput, Stages
from ..errors import InputError
from ..mesh.io import flatten, load_scene
from .spectral import segment_mesh

MIN_PARTS, MAX_PARTS = 2, 32


def check_num_parts(value) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number.is_integer():
        raise InputError(f"num_parts must be a whole number from {MIN_PARTS} to {MAX_PARTS}; got {value!r}.")
    if not MIN_PARTS <= number <= MAX_PARTS:
        raise InputError(f"num_parts must be from {MIN_PARTS} to {MAX_PARTS}; got {int(number)}.")
    return int(number)


def part_colours(count: int) -> np.ndarray:
    """`count` clearly different RGBA colours: farthest-point picks in CIELAB from a 6-level RGB grid.

    Each pick is the grid colour farthest from all earlier ones, so the first colours stay the
    same whatever `count` is; very dark and very light colours are left out so parts stand out
    on the viewer's light background. 32 colours are at least 29 Delta-E apart.
    """
    return _palette()[:count].copy()


@lru_cache(maxsize=1)
def _palette() -> np.ndarray:
    from skimage.color import rgb2lab

    levels = np.linspace(0.0, 1.0, 6)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = rgb2lab(grid[None])[0]
    keep = (lab[:, 0] > 30) & (lab[:, 0] < 90)
    grid, lab = grid[keep], lab[keep]
    chosen = [int(np.argmin(np.linalg.norm(grid - (1.0, 0.6, 0.2), axis=1)))]  # start from orange
    distance = np.linalg.norm(lab - lab[chosen[0]], axis=1)
    while len(chosen) < MAX_PARTS:
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.linalg.norm(lab - lab[chosen[-1]], axis=1))
    rgb = np.round(grid[chosen] * 255).astype(np.uint8)
    return np.hstack([rgb, np.full((MAX_PARTS, 1), 255, np.uint8)])


def parts_scene(mesh: trimesh.Trimesh, labels: np.ndarray) -> trimesh.Scene:
    """One node per part, named part_00, part_01, ..., each with its own matte colour material.

    A material rather than vertex colours: glTF gives a primitive without a material the default,
    fully metallic one, which three.js and Blender draw near black away from the light.
    """
    scene = trimesh.Scene()
    colours = part_colours(labels.max() + 1)
    for part in range(labels.max() + 1):
        piece = mesh.submesh([np.flatnonzero(labels == part)], append=True)
        name = f"part_{part:02d}"
        piece.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(
            name=name, baseColorFactor=colours[part], metallicFactor=0.0, roughnessFactor=0.8))
        scene.add_geometry(piece, node_name=name, geom_name=name)
    return scene


class BuiltinSegmentPipeline(Pipeline):
    name = "builtin"
    feature = "segment_mesh"
    label = "Built-in spectral segmentation"
    description = ("Spectral clustering of the face graph (weighted by shared edge length and dihedral angle, "
                   "concave creases cut first) into exactly num_parts connected parts.")
    devices = ("cpu",)
    reentrant = True

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        count = check_num_parts(inputs.get("num_parts", 4))
        with stages.stage("load", 0.05):
            scene = load_scene(inputs["mesh"])
            mesh = flatten(scene)
        if len(mesh.faces) < count:
            raise InputError(f"The mesh has only {len(mesh.faces)} faces; ask for at most that many parts.")
        with stages.stage("segment", 0.2):
            labels, info = segment_mesh(mesh.vertices, mesh.faces, count, seed=int(inputs.get("seed") or 0))
        with stages.stage("build parts", 0.85):
            asset = parts_scene(mesh, labels)
        warnings = []
        if info["pieces"] > count:
            warnings.append(f"The mesh has {info['pieces']} separate pieces but {count} parts were asked for; "
                            "nearby pieces share a part.")
        degenerate = int((mesh.area_faces <= 0).sum())
        if degenerate:
            warnings.append(f"{degenerate} zero-area face(s) were labelled with the part around them.")
        faces_per_part = np.bincount(labels, minlength=count)
        area_per_part = np.bincount(labels, mesh.area_faces, minlength=count)
        metadata = {
            "num_parts": count,
            "parts": [{"name": f"part_{p:02d}", "faces": int(faces_per_part[p]), "area": round(float(area_per_part[p]), 6),
                       "color": part_colours(count)[p][:3].tolist()} for p in range(count)],
            "labels": labels.tolist(),
            "labels_order": "one label per input face, meshes taken in scene node order",
            "graph_nodes": info["nodes"],
            "pieces": info["pieces"],
        }
        return PipelineOutput(asset=asset, metadata=metadata, warnings=warnings)
