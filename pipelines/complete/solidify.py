"""Closing one part into a watertight solid, changing as little of its surface as it can.

The steps go from gentle to drastic and stop at the first that closes the part:
a part already closed (once seams are welded) is returned as it was; small holes
get a fan of existing vertices (`fill_small_holes`, so UVs and colours stay);
larger holes go to MeshFix, which keeps the original faces and patches the rest;
what MeshFix cannot close (open sheets, badly broken pieces) is rebuilt from a
solid voxelisation by marching cubes, with colours carried over from the
nearest original vertex.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy import ndimage
from scipy.spatial import cKDTree

from ..mesh.repair import MAX_HOLE_EDGES, fill_small_holes
from ..mesh.texture import vertex_colors
from ..rig.skeleton import voxelize_solid

REBUILD_RESOLUTION = 64
# Pieces smaller than this are debris (stray triangles of a scan), not parts.
MIN_PIECE_FACES = 4


def welded(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy with vertices at the same position merged (UV and normal seams ignored), bad faces dropped."""
    out = mesh.copy()
    out.merge_vertices(merge_tex=True, merge_norm=True)
    keep = out.nondegenerate_faces(height=1e-12) & out.unique_faces()
    if not keep.all():
        out.update_faces(keep)
    out.remove_unreferenced_vertices()
    return out


def is_closed(mesh: trimesh.Trimesh) -> bool:
    return welded(mesh).is_watertight


def _solid(mesh: trimesh.Trimesh) -> bool:
    """Closed, consistently wound, and with real volume (a sheet closed onto itself has none)."""
    if not (mesh.is_watertight and mesh.is_winding_consistent):
        return False
    return mesh.volume > 1e-4 * float(mesh.extents.max()) ** 3


def _orient(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    trimesh.repair.fix_winding(mesh)
    if mesh.is_watertight and mesh.volume < 0:
        mesh.invert()
    return mesh


def _meshfix(mesh: trimesh.Trimesh) -> trimesh.Trimesh | None:
    import pymeshfix

    vertices, faces = pymeshfix.clean_from_arrays(
        np.ascontiguousarray(mesh.vertices, dtype=np.float64), np.ascontiguousarray(mesh.faces, dtype=np.int32)
    )
    if len(faces) < 4:
        return None
    return _orient(trimesh.Trimesh(vertices, faces, process=True))


def rebuild(mesh: trimesh.Trimesh, resolution: int = REBUILD_RESOLUTION) -> trimesh.Trimesh:
    """A watertight surface around the solid voxelisation of `mesh` (marching cubes on a smoothed volume)."""
    from skimage.measure import marching_cubes

    volume = voxelize_solid(mesh, resolution)
    field = ndimage.gaussian_filter(volume.occupancy.astype(np.float32), sigma=0.7)
    vertices, faces, _, _ = marching_cubes(field, level=0.5)
    out = trimesh.Trimesh(volume.to_world(vertices), faces, process=True)
    return _orient(out)


def _carry_colors(source: trimesh.Trimesh, target: trimesh.Trimesh) -> trimesh.Trimesh:
    """Give `target` the vertex colours of the nearest `source` vertex (textures become colours)."""
    if source.visual.kind is None:
        return target
    colors = vertex_colors(source)
    _, nearest = cKDTree(source.vertices).query(target.vertices)
    target.visual = trimesh.visual.ColorVisuals(target, vertex_colors=colors[nearest])
    return target


def split_pieces(mesh: trimesh.Trimesh) -> list[trimesh.Trimesh]:
    """Connected pieces of a welded mesh, debris left out (split's own hole filling is off: we report what we fill)."""
    return [p for p in mesh.split(only_watertight=False, repair=False) if len(p.faces) >= MIN_PIECE_FACES]


def close_component(mesh: trimesh.Trimesh, max_hole_edges: int = MAX_HOLE_EDGES) -> tuple[trimesh.Trimesh, str]:
    """(a watertight version of one connected piece, the method that closed it)."""
    work = welded(mesh)
    if len(work.faces) >= 4:
        fill_small_holes(work, max_hole_edges)
        _orient(work)
        if _solid(work):
            return work, "filled small holes"
        fixed = _meshfix(work)
        if fixed is not None and _solid(fixed):
            return _carry_colors(mesh, fixed), "meshfix"
    return _carry_colors(mesh, rebuild(mesh)), "voxel rebuild"


def close_part(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, str]:
    """(a watertight version of the part, how it was closed); a closed part comes back unchanged."""
    if is_closed(mesh):
        return mesh, "unchanged"
    pieces = split_pieces(welded(mesh)) or [welded(mesh)]
    closed, methods = [], []
    for piece in pieces:
        result, method = (piece, "unchanged") if _solid(_orient(piece)) else close_component(piece)
        closed.append(result)
        methods.append(method)
    # Report the strongest change made to any piece.
    order = ["unchanged", "filled small holes", "meshfix", "voxel rebuild"]
    method = max(methods, key=order.index)
    return (trimesh.util.concatenate(closed) if len(closed) > 1 else closed[0]), method
