"""Closing one part into a watertight solid, changing as little of its surface as it can.

The steps go from gentle to drastic and stop at the first that closes the part:
a part already closed (once seams are welded) is returned as it was; small holes
get a fan of existing vertices (`fill_small_holes`, so UVs and colours stay);
larger holes get MeshFix's refined patches, which keep every original face; a part
that still is not a closed solid goes through MeshFix's full cleanup (which removes
self-intersecting faces before patching) if that keeps most of it; an open sheet
is thickened into a thin shell around its own faces (a piece whose every boundary is a
sheet's rim skips the MeshFix steps: their patches would only lie on it, at a cost that
grows faster than the square of its faces); what none of these can close (non-manifold
tangles) is rebuilt from a solid voxelisation by marching cubes. Where new vertices
replace old ones, colours come from the nearest original vertex, or the part's plain
material is kept. Parts are closed at about unit size, so any scale behaves alike.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy import ndimage
from scipy.spatial import cKDTree

from ..mesh.repair import (MAX_HOLE_EDGES, boundary_loops, fill_small_holes, orient, position_ids, sheet_rims,
                           unit_factor)
from ..mesh.texture import texture_image, vertex_colors
from ..rig.skeleton import voxelize_solid

REBUILD_RESOLUTION = 64
# Pieces smaller than this are debris (stray triangles of a scan), not parts.
MIN_PIECE_FACES = 4
# MeshFix's result counts only if it keeps this share of the original vertices.
MIN_KEPT = 0.9
# Wall thickness of a thickened open sheet, as a share of its largest extent.
SHELL_THICKNESS = 0.01
# Rounds of dropping faces a shell cannot hold (each round can expose new ones).
SHELL_CLEANUPS = 4


def welded(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy with vertices at the same position merged (UV and normal seams ignored), collapsed faces dropped.

    Zero-area faces whose three corners are distinct stay: they are slivers that
    still close the surface, and dropping them would open holes.
    """
    out = mesh.copy()
    # Trimesh merges within an absolute distance (in integers that overflow far from the origin):
    # judge at about unit size, from the mesh's own corner.
    corner, factor = mesh.vertices.min(axis=0), unit_factor(mesh.vertices)
    out.vertices = (mesh.vertices - corner) * factor
    out.merge_vertices(merge_tex=True, merge_norm=True)
    out.vertices = out.vertices / factor + corner
    f = out.faces
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2]) & out.unique_faces()
    if not keep.all():
        out.update_faces(keep)
    out.remove_unreferenced_vertices()
    return out


def is_closed(mesh: trimesh.Trimesh) -> bool:
    return welded(mesh).is_watertight


def _solid(mesh: trimesh.Trimesh) -> bool:
    """Closed once UV seams are welded, consistently wound, and with real volume.

    A sheet closed onto itself has no volume; a shell whose inner side touches its
    outer side is closed only until the touching vertices are welded.
    """
    joined = welded(mesh)
    if not (joined.is_watertight and joined.is_winding_consistent):
        return False
    return joined.volume > 1e-4 * float(joined.extents.max()) ** 3


def _orient(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    trimesh.repair.fix_winding(mesh)
    if mesh.is_watertight and mesh.volume < 0:
        mesh.invert()
    return mesh


def _patch_holes(mesh: trimesh.Trimesh) -> trimesh.Trimesh | None:
    """Every hole filled by MeshFix's hole filler (refined patches), without its self-intersection cleanup."""
    import pymeshfix

    tin = pymeshfix.PyTMesh()
    tin.set_quiet(True)
    tin.load_array(np.ascontiguousarray(mesh.vertices, dtype=np.float64),
                   np.ascontiguousarray(mesh.faces, dtype=np.int32))
    tin.fill_small_boundaries(nbe=0, refine=True)
    vertices, faces = tin.return_arrays()
    if len(faces) < 4:
        return None
    return _orient(trimesh.Trimesh(vertices, faces, process=True))


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
    # A sheet one voxel thin never reaches 0.5 once smoothed; its surface is then taken lower, around it.
    vertices, faces, _, _ = marching_cubes(field, level=min(0.5, 0.5 * float(field.max())))
    out = trimesh.Trimesh(volume.to_world(vertices), faces, process=True)
    return _orient(out)


def shell(mesh: trimesh.Trimesh, thickness: float) -> trimesh.Trimesh | None:
    """The open surface `mesh` thickened inwards into a closed shell; None if it cannot be oriented.

    The original faces stay as they are (the outer side); an offset copy, wound the
    other way, is the inner side, and a strip of quads along every boundary joins them.
    Faces no shell can hold are left out: those on an edge of more than two faces
    (fins) and those around a vertex where two holes touch (its wall would be a fin).
    """
    work = mesh.copy()
    for _ in range(SHELL_CLEANUPS):
        drop = _fin_and_pinch_faces(work)
        if not len(drop):
            break
        keep = np.ones(len(work.faces), dtype=bool)
        keep[drop] = False
        work.update_faces(keep)
        work.remove_unreferenced_vertices()
    if len(work.faces) == 0:
        return None
    _orient(work)
    if not work.is_winding_consistent:
        return None
    edges = work.edges  # directed, in face order
    open_edges = edges[trimesh.grouping.group_rows(work.edges_sorted, require_count=1)]
    n = len(work.vertices)
    inner = work.vertices - thickness * work.vertex_normals
    a, b = open_edges[:, 0], open_edges[:, 1]
    faces = np.vstack([
        work.faces,
        work.faces[:, ::-1] + n,
        np.column_stack([b, a, a + n]),
        np.column_stack([b, a + n, b + n]),
    ])
    out = trimesh.Trimesh(np.vstack([work.vertices, inner]), faces, process=False)
    if out.volume < 0:
        out.invert()
    return out


def _fin_and_pinch_faces(mesh: trimesh.Trimesh) -> np.ndarray:
    """Faces on an edge shared by more than two faces, or touching a vertex on more than two open edges."""
    groups = trimesh.grouping.group_rows(mesh.edges_sorted)
    fins = [g for g in groups if len(g) > 2]
    open_edges = mesh.edges_sorted[[g[0] for g in groups if len(g) == 1]]
    pinched = np.flatnonzero(np.bincount(open_edges.ravel(), minlength=len(mesh.vertices)) > 2)
    faces = [mesh.edges_face[np.concatenate(fins)]] if fins else []
    faces.append(np.flatnonzero(np.isin(mesh.faces, pinched).any(axis=1)))
    return np.unique(np.concatenate(faces))


def kept_fraction(before: trimesh.Trimesh, after: trimesh.Trimesh) -> float:
    """Share of `before`'s vertices still present (to rounding) in `after`."""
    distance, _ = cKDTree(after.vertices).query(before.vertices)
    return float((distance <= 1e-6 * max(float(before.extents.max()), 1e-12)).mean())


def _carry_colors(source: trimesh.Trimesh, target: trimesh.Trimesh) -> trimesh.Trimesh:
    """Give `target`, a new surface without UVs, the look of `source`.

    A plain material (a segmented part's colour, no image to sample) is kept as it is;
    otherwise each vertex takes the colour of the nearest `source` vertex (textures become colours).
    """
    visual = source.visual
    if visual.kind is None:
        return target
    if visual.kind == "texture" and (visual.uv is None or texture_image(visual.material) is None):
        target.visual = trimesh.visual.TextureVisuals(material=visual.material.copy())
        return target
    colors = vertex_colors(source)
    _, nearest = cKDTree(source.vertices).query(target.vertices)
    target.visual = trimesh.visual.ColorVisuals(target, vertex_colors=colors[nearest])
    return target


def split_pieces(mesh: trimesh.Trimesh) -> tuple[list[trimesh.Trimesh], int]:
    """(connected pieces of `mesh`, how many debris pieces were left out).

    Faces are connected through shared positions, so UV seams do not split a piece,
    yet each piece keeps its seams (and so its texture).
    """
    faces = position_ids(mesh)[mesh.faces]
    adjacency = trimesh.graph.face_adjacency(faces=faces)
    components = trimesh.graph.connected_components(adjacency, nodes=np.arange(len(faces)))
    kept = [c for c in components if len(c) >= MIN_PIECE_FACES]
    if len(kept) == 1 and len(kept[0]) == len(faces):
        return [mesh], 0
    return [mesh.submesh([np.sort(c)], append=True) for c in kept], len(components) - len(kept)


def close_component(mesh: trimesh.Trimesh, max_hole_edges: int = MAX_HOLE_EDGES) -> tuple[trimesh.Trimesh, str]:
    """(a watertight version of one connected piece, the method that closed it)."""
    filled = mesh.copy()  # holes are found on the seam-joined surface, so UVs and seams stay as they were
    fill_small_holes(filled, max_hole_edges)
    orient(filled)
    if _solid(filled):
        return filled, "filled small holes"
    work = welded(mesh)
    loops = boundary_loops(work)
    # An open sheet (a card, a flat n-gon) goes straight to its shell: a patch over its rim would only lie
    # on it, and MeshFix's patching and cleanup of a rim of thousands of edges take minutes to find that out.
    sheet = bool(loops) and bool(sheet_rims(work, loops).all())
    if not sheet and len(work.faces) >= 4:
        patched = _patch_holes(work)
        if patched is not None and _solid(patched) and kept_fraction(work, patched) >= MIN_KEPT:
            return _carry_colors(mesh, patched), "patched holes"
        # A patch that closes the surface with nothing inside (a sheet with holes in it) leaves no solid to
        # clean up: MeshFix would only cut the patch out again, in time growing with the square of the faces.
        encloses_nothing = patched is not None and is_closed(patched) and not _solid(patched)
        if not encloses_nothing:
            fixed = _meshfix(welded(filled))
            # MeshFix drops what it deems broken; on open sheets that can be much of the surface.
            if fixed is not None and _solid(fixed) and kept_fraction(work, fixed) >= MIN_KEPT:
                return _carry_colors(mesh, fixed), "meshfix"
    thick = shell(work, SHELL_THICKNESS * float(work.extents.max()))
    if thick is not None and _solid(thick):
        return _carry_colors(mesh, thick), "shell"
    return _carry_colors(mesh, rebuild(mesh)), "voxel rebuild"


def close_part(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, str]:
    """(a watertight version of the part, how it was closed); a closed part comes back unchanged."""
    # Trimesh's tolerances are absolute, so the part is closed at about unit size (a power of two scales
    # exactly), then scaled back. Candidates with no volume (a sheet closed onto itself) make trimesh divide
    # by zero for their centre of mass.
    factor = unit_factor(mesh.vertices)
    unit = mesh.copy()
    unit.vertices = unit.vertices * factor
    with np.errstate(divide="ignore", invalid="ignore"):
        closed, method = _close_part(unit)
    if method == "unchanged":
        return mesh, method
    closed.vertices = closed.vertices / factor
    return closed, method


def _close_part(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, str]:
    if is_closed(mesh):
        return mesh, "unchanged"
    pieces = split_pieces(mesh)[0] or [mesh]
    closed, methods = [], []
    for piece in pieces:
        result, method = (piece, "unchanged") if _solid(piece) else close_component(piece)
        closed.append(result)
        methods.append(method)
    # Report the strongest change made to any piece.
    order = ["unchanged", "filled small holes", "patched holes", "meshfix", "shell", "voxel rebuild"]
    method = max(methods, key=order.index)
    result = trimesh.util.concatenate(closed) if len(closed) > 1 else closed[0]
    if result.visual.kind is None and mesh.visual.kind is not None:  # trimesh drops looks it cannot join
        result = _carry_colors(mesh, result)
    if not is_closed(result):  # closed pieces that touch (split at a fin) share edges once welded
        return _carry_colors(mesh, rebuild(mesh)), "voxel rebuild"
    return result, method
