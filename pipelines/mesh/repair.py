"""Mesh repair and decimation on trimesh meshes, keeping UVs and colours.

Small functions on one `trimesh.Trimesh` each; callers loop over a scene's
geometry so named parts survive.
"""

from __future__ import annotations

import numpy as np
import trimesh
import fast_simplification

MAX_HOLE_EDGES = 64
# A loop whose patch would be this large a share of its piece is the rim of a sheet, not a hole.
SHEET_PATCH_SHARE = 0.75


def repair(mesh: trimesh.Trimesh, max_hole_edges: int = MAX_HOLE_EDGES) -> dict:
    """Repair `mesh` in place; return counts of what was changed.

    Merges duplicate vertices (only where UVs and colours agree, so texture seams
    survive), drops degenerate and duplicate faces and unused vertices, makes the
    winding consistent with normals pointing outwards, and fills boundary loops of
    up to `max_hole_edges` edges. Winding and holes are judged on the surface as
    positions define it, so a UV seam is neither a hole nor a winding break.
    """
    # Tolerances (vertex merging, degenerate faces) are absolute in trimesh; work at about unit size so a
    # mesh in millimetres or micrometres is judged like one in metres. Powers of two scale exactly.
    factor = unit_factor(mesh.vertices)
    mesh.vertices = mesh.vertices * factor
    try:
        return _repair(mesh, max_hole_edges)
    finally:
        mesh.vertices = mesh.vertices / factor


def unit_factor(vertices: np.ndarray) -> float:
    """The power of two that brings the largest extent to about 1 (powers of two scale exactly)."""
    size = float(np.ptp(vertices, axis=0).max()) if len(vertices) else 0.0
    return float(2.0 ** -np.round(np.log2(size))) if size > 0 else 1.0


def _repair(mesh: trimesh.Trimesh, max_hole_edges: int) -> dict:
    before_vertices, before_faces = len(mesh.vertices), len(mesh.faces)
    mesh.merge_vertices()
    merged = before_vertices - len(mesh.vertices)
    keep = mesh.nondegenerate_faces(height=1e-12) & mesh.unique_faces()
    dropped = int((~keep).sum())
    if dropped:
        mesh.update_faces(keep)
    mesh.remove_unreferenced_vertices()
    flipped = orient(mesh)
    holes = fill_small_holes(mesh, max_hole_edges)
    if holes:
        orient(mesh)
    return {
        "merged_vertices": int(merged),
        "removed_faces": dropped,
        "flipped_faces": flipped,
        "filled_holes": holes,
        "faces_before": before_faces,
        "faces_after": len(mesh.faces),
    }


def position_ids(mesh: trimesh.Trimesh) -> np.ndarray:
    """For each vertex, one id shared by every vertex at the same position (seams joined).

    Positions are compared at about unit size and from the mesh's own corner: trimesh rounds to an
    absolute number of digits, which would weld a whole micrometre-sized part into a few points, and
    overflows its integers on a part far from the origin.
    """
    return trimesh.grouping.unique_rows(unit_positions(mesh.vertices))[1]


def unit_positions(vertices: np.ndarray) -> np.ndarray:
    """`vertices` moved to start at the origin and scaled to about unit size, for comparing positions."""
    if not len(vertices):
        return vertices
    return (vertices - vertices.min(axis=0)) * unit_factor(vertices)


def orient(mesh: trimesh.Trimesh) -> int:
    """Make winding consistent and outward on the seam-joined surface; return faces flipped."""
    first, ids = trimesh.grouping.unique_rows(mesh.vertices)
    proxy = trimesh.Trimesh(mesh.vertices[first], ids[mesh.faces], process=False)
    trimesh.repair.fix_normals(proxy, multibody=True)
    flip = np.einsum("ij,ij->i", proxy.face_normals, mesh.face_normals) < 0
    if flip.any():
        visual = mesh.visual
        faces = mesh.faces.copy()
        faces[flip] = faces[flip][:, ::-1]
        mesh.faces = faces
        mesh.visual = visual
    return int(flip.sum())


def boundary_loops(mesh: trimesh.Trimesh) -> list[np.ndarray]:
    """Closed loops of boundary edges, as vertex index arrays in edge direction.

    Boundaries are found on the seam-joined surface (an edge is open only if no
    other face shares its two positions), and edges, not vertices, are consumed,
    so two holes that touch at a vertex are both found.
    """
    ids = position_ids(mesh)
    edges = mesh.edges
    boundary = trimesh.grouping.group_rows(np.sort(ids[edges], axis=1), require_count=1)
    if len(boundary) == 0:
        return []
    following: dict[int, list[int]] = {}
    vertex_at: dict[int, int] = {}
    for a, b in edges[boundary]:
        following.setdefault(int(ids[a]), []).append(int(ids[b]))
        vertex_at.setdefault(int(ids[a]), int(a))
        vertex_at.setdefault(int(ids[b]), int(b))
    loops = []
    for start in list(following):
        while following.get(start):
            loop, position = [start], following[start].pop()
            while position != start and following.get(position):
                loop.append(position)
                position = following[position].pop()
            if position == start and len(loop) >= 3:
                loops.append(np.array([vertex_at[p] for p in loop]))
    return loops


def fill_small_holes(mesh: trimesh.Trimesh, max_hole_edges: int = MAX_HOLE_EDGES) -> int:
    """Close boundary loops of up to `max_hole_edges` edges with a fan of existing vertices.

    No vertices are added, so UVs and vertex colours stay valid; face colours are
    extended with the mesh's mean colour. The rim of an open sheet (a lone triangle,
    a card, a plane) is left open: its patch would cover the sheet with a back face.
    Returns the number of holes filled.
    """
    loops = [loop for loop in boundary_loops(mesh) if len(loop) <= max_hole_edges]
    if loops:
        loops = [loop for loop, rim in zip(loops, sheet_rims(mesh, loops)) if not rim]
    if not loops:
        return 0
    new_faces = []
    for loop in loops:
        # Boundary edges run along the existing faces; the patch must run the other way.
        reversed_loop = loop[::-1]
        for i in range(1, len(reversed_loop) - 1):
            new_faces.append([reversed_loop[0], reversed_loop[i], reversed_loop[i + 1]])
    visual = mesh.visual
    face_colors = visual.face_colors if visual.kind == "face" else None
    mesh.faces = np.vstack([mesh.faces, np.asarray(new_faces, dtype=mesh.faces.dtype)])
    if face_colors is not None:
        fill = np.tile(face_colors.mean(axis=0).round().astype(np.uint8), (len(new_faces), 1))
        mesh.visual = trimesh.visual.ColorVisuals(mesh, face_colors=np.vstack([face_colors, fill]))
    else:
        mesh.visual = visual
    return len(loops)


def sheet_rims(mesh: trimesh.Trimesh, loops: list[np.ndarray]) -> np.ndarray:
    """For each loop, whether its closing fan would be about as large as the connected piece it bounds."""
    ids = position_ids(mesh)
    joined = ids[mesh.faces]
    piece = trimesh.graph.connected_component_labels(trimesh.graph.face_adjacency(faces=joined), node_count=len(joined))
    piece_area = np.bincount(piece, weights=mesh.area_faces)
    piece_of = np.zeros(ids.max() + 1, dtype=np.int64)
    piece_of[joined.ravel()] = np.repeat(piece, 3)
    rims = np.zeros(len(loops), dtype=bool)
    for index, loop in enumerate(loops):
        points = mesh.vertices[loop]
        fan = np.stack([np.repeat(points[:1], len(points) - 2, axis=0), points[1:-1], points[2:]], axis=1)
        rims[index] = trimesh.triangles.area(fan).sum() >= SHEET_PATCH_SHARE * piece_area[piece_of[ids[loop[0]]]]
    return rims


def decimate(mesh: trimesh.Trimesh, target_faces: int) -> trimesh.Trimesh:
    """Quadric decimation to about `target_faces`, carrying UVs and vertex colours along.

    A closed shape cannot shrink below a few faces (a torus needs 14): asked for fewer, the
    collapsed faces cancel out and nothing is left, so the target is doubled until a surface remains.
    """
    while target_faces < len(mesh.faces):
        decimated = _simplify(mesh, target_faces)
        if len(decimated.faces):
            return decimated
        target_faces *= 2
    return mesh


def _simplify(mesh: trimesh.Trimesh, target_faces: int) -> trimesh.Trimesh:
    """One quadric decimation, run at about unit size: fast-simplification stops early on large coordinates."""
    factor = unit_factor(mesh.vertices)
    unit = mesh.vertices * factor
    vertices, faces, collapses = fast_simplification.simplify(
        unit, mesh.faces, target_count=int(target_faces), return_collapses=True
    )
    kind = mesh.visual.kind
    if kind is None or (kind == "face"):
        return _without_collapsed_faces(trimesh.Trimesh(vertices / factor, faces, process=False))
    vertices, faces, mapping = fast_simplification.replay_simplification(unit, mesh.faces, collapses)
    source = _nearest_source(unit, vertices, mapping)
    vertices = vertices / factor
    if kind == "texture":
        uv = mesh.visual.uv  # a material without UVs (capsule.glb) has none
        visual = trimesh.visual.TextureVisuals(uv=None if uv is None else np.asarray(uv)[source],
                                               material=mesh.visual.material)
    else:
        visual = trimesh.visual.ColorVisuals(vertex_colors=np.asarray(mesh.visual.vertex_colors)[source])
    return _without_collapsed_faces(trimesh.Trimesh(vertices, faces, visual=visual, process=False))


def _without_collapsed_faces(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Drop every copy of a face that appears more than once: what is left of a collapsed closed piece.

    On a manifold mesh such a set of copies shares all its edges only with itself, so removing
    all of them (never just the extras) keeps the rest closed. Zero-area faces stay: they close seams.
    """
    _, inverse, counts = np.unique(np.sort(mesh.faces, axis=1), axis=0, return_inverse=True, return_counts=True)
    keep = counts[inverse.ravel()] == 1
    if not keep.all():
        mesh.update_faces(keep)
        mesh.remove_unreferenced_vertices()
    return mesh


def _nearest_source(old: np.ndarray, new: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """For each decimated vertex, the original vertex (among those merged into it) closest to it.

    Collapsed vertices move to optimised positions, so the nearest member of each
    cluster carries the UV or colour that fits the new position best.
    """
    members = np.flatnonzero(mapping >= 0)
    distance = np.linalg.norm(old[members] - new[mapping[members]], axis=1)
    order = members[np.lexsort((distance, mapping[members]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = mapping[order][1:] != mapping[order][:-1]
    source = np.zeros(len(new), dtype=np.int64)
    source[mapping[order][first]] = order[first]
    return source


def scene_face_count(scene: trimesh.Scene) -> int:
    return int(sum(len(g.faces) for g in scene.geometry.values()))


def decimate_scene(scene: trimesh.Scene, target_faces: int) -> None:
    """Decimate every part in place, sharing `target_faces` in proportion to each part's size."""
    total = scene_face_count(scene)
    if target_faces >= total:
        return
    for name, geom in list(scene.geometry.items()):
        share = max(4, int(round(target_faces * len(geom.faces) / total)))
        scene.geometry[name] = decimate(geom, share)
