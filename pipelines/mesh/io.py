"""Loading user meshes safely into trimesh scenes.

Every mesh input in the studio goes through `load_scene`: it checks the file
before trimesh sees it (empty, wrong magic, unsafe zip) and after (no faces,
too many faces), so a bad upload becomes an `InputError` that says what to
change rather than a stack trace.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import trimesh

from ..errors import InputError

MESH_FORMATS = ("glb", "gltf", "obj", "ply", "stl", "off", "zip")
MAX_FACES = 5_000_000
MAX_ZIP_MEMBERS = 64
MAX_ZIP_BYTES = 1024**3


def mesh_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in MESH_FORMATS:
        what = f"Unsupported mesh format '.{suffix}'" if suffix else "The file has no extension"
        raise InputError(f"{what}; upload one of: {', '.join('.' + f for f in MESH_FORMATS)}.")
    return suffix


def _check_bytes(path: Path, fmt: str) -> None:
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"'{path.name}' is empty; upload a mesh file with content.")
    with open(path, "rb") as f:
        head = f.read(12)
    if fmt == "glb":
        if head[:4] != b"glTF":
            raise InputError(f"'{path.name}' is not a binary glTF (.glb) file: it lacks the 'glTF' header.")
        declared = int.from_bytes(head[8:12], "little")
        if declared != size:
            raise InputError(
                f"'{path.name}' is truncated or corrupt: its header says {declared} bytes, the file has {size}."
            )
    if fmt == "zip" and not zipfile.is_zipfile(path):
        raise InputError(f"'{path.name}' is not a valid .zip archive.")


def _extract_zip(path: Path, into: Path) -> Path:
    """Extract a zip holding an OBJ with its MTL and textures; return the OBJ path."""
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise InputError(f"The zip holds {len(members)} files; keep it to one mesh with its materials.")
        if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise InputError("The zip expands to more than 1 GiB; upload a smaller archive.")
        root = into.resolve()
        for member in members:
            target = (into / member.filename).resolve()
            if root not in target.parents:
                raise InputError(f"The zip entry '{member.filename}' points outside the archive.")
        archive.extractall(into, members)
    meshes = sorted(p for p in into.rglob("*") if p.suffix.lower() in (".obj", ".glb", ".gltf", ".ply", ".stl", ".off"))
    if not meshes:
        raise InputError("The zip holds no .obj (or other mesh) file.")
    return meshes[0]


def load_scene(path: str | os.PathLike, max_faces: int = MAX_FACES) -> trimesh.Scene:
    """Load a mesh file (or a zip with an OBJ, its MTL and textures) as a Scene."""
    if path is None:
        raise InputError("No mesh was given; upload a mesh file.")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The mesh file '{path.name}' was not found; upload it again.")
    fmt = mesh_format(path)
    _check_bytes(path, fmt)
    with tempfile.TemporaryDirectory(prefix="studio-mesh-") as tmp:
        source = _extract_zip(path, Path(tmp)) if fmt == "zip" else path
        try:
            loaded = trimesh.load(str(source), file_type=source.suffix.lower().lstrip("."), process=False)
        except Exception as exc:  # trimesh raises many types for corrupt data
            raise InputError(f"'{path.name}' could not be read as .{fmt}: {exc}") from exc
        scene = loaded if isinstance(loaded, trimesh.Scene) else trimesh.Scene(loaded)
        for geom in scene.geometry.values():
            _textured_obj_to_pbr(geom)
            _colour_attribute_as_vertex_colours(geom)
    return validate_scene(scene, path.name, max_faces)


def _textured_obj_to_pbr(geom) -> None:
    """Give an OBJ material with a `map_Kd` texture a PBR material showing the texture as is.

    The texture is read now (trimesh loads it lazily from the temporary folder). Most exporters
    write `Kd 0.8` or less beside `map_Kd`; like Blender's importer we let the texture alone set the
    colour, otherwise the GLB would multiply it by Kd and come out darker than the original. MTL has
    no metalness, so the material is a dielectric (glTF's default metallicFactor 1 renders near black
    without an environment map).
    """
    material = getattr(getattr(geom, "visual", None), "material", None)
    if not isinstance(material, trimesh.visual.material.SimpleMaterial) or material.image is None:
        return
    material.image.load()
    pbr = material.to_pbr()
    pbr.name = material.name
    pbr.baseColorFactor = None
    pbr.metallicFactor = 0.0
    geom.visual.material = pbr


def _colour_attribute_as_vertex_colours(geom) -> None:
    """Keep the vertex colours of a glTF primitive that also has a plain material.

    trimesh loads such a primitive as a material and hides COLOR_0 in `vertex_attributes`; every
    GLB the studio writes is like that (glTF's default material is fully metallic, so vertex-coloured
    meshes get a matte one). The colours come back as vertex colours tinted by the base colour.
    """
    visual = getattr(geom, "visual", None)
    if not isinstance(visual, trimesh.visual.TextureVisuals) or getattr(visual.material, "baseColorTexture", None) is not None:
        return
    colours = visual.vertex_attributes.get("color")
    if colours is None or len(colours) != len(geom.vertices):
        return
    colours = np.asarray(colours, dtype=np.float64)
    if colours.max(initial=0.0) <= 1.0:
        colours = colours * 255.0
    if colours.shape[1] == 3:
        colours = np.column_stack([colours, np.full(len(colours), 255.0)])
    factor = getattr(visual.material, "baseColorFactor", None)
    if factor is not None:
        colours = colours * np.asarray(factor, dtype=np.float64) / 255.0
    geom.visual = trimesh.visual.ColorVisuals(geom, vertex_colors=colours.round().clip(0, 255).astype(np.uint8))


def validate_scene(scene: trimesh.Scene, label: str = "the mesh", max_faces: int = MAX_FACES) -> trimesh.Scene:
    """Keep only triangle meshes with faces and finite vertices; reject what remains empty or too large."""
    kept = {}
    for name, geom in scene.geometry.items():
        if isinstance(geom, trimesh.Trimesh) and len(geom.faces) > 0:
            if not np.isfinite(geom.vertices).all():
                raise InputError(f"{label} has vertices with NaN or infinite coordinates; fix or re-export it.")
            kept[name] = geom
    if not kept:
        raise InputError(f"{label} has no faces (it is empty or only points/lines); upload a surface mesh.")
    for name in set(scene.geometry) - set(kept):
        scene.delete_geometry(name)
    faces = sum(len(g.faces) for g in kept.values())
    if faces > max_faces:
        raise InputError(f"{label} has {faces:,} faces; the limit is {max_faces:,}. Decimate it first.")
    return scene


def scene_stats(scene: trimesh.Scene) -> dict:
    """Counts, watertightness and bounding box for metadata."""
    meshes = [g for g in scene.geometry.values() if isinstance(g, trimesh.Trimesh)]
    bounds = scene.bounds if meshes else np.zeros((2, 3))
    return {
        "vertices": int(sum(len(m.vertices) for m in meshes)),
        "faces": int(sum(len(m.faces) for m in meshes)),
        "parts": len(scene.graph.nodes_geometry),
        "watertight": bool(meshes) and all(_closed(m) for m in meshes),
        "bounding_box": {
            "min": [round(float(v), 6) for v in bounds[0]],
            "max": [round(float(v), 6) for v in bounds[1]],
        },
    }


def _closed(mesh: trimesh.Trimesh) -> bool:
    """Watertight as the surface's positions define it (UV seams split vertices, not the surface)."""
    first, ids = trimesh.grouping.unique_rows(mesh.vertices)
    return trimesh.Trimesh(mesh.vertices[first], ids[mesh.faces], process=False).is_watertight
