"""Mesh repair and decimation on trimesh meshes, keeping UVs and colours.

Small functions on one `trimesh.Trimesh` each; callers loop over a scene's
geometry so named parts survive.
"""

from __future__ import annotations

import numpy as np
import trimesh
import fast_simplification

MAX_HOLE_EDGES = 64


def repair(mesh: trimesh.Trimesh, max_hole_edges: int = MAX_HOLE_EDGES) -> dict:
    """Repair `mesh` in place; return counts of what was changed.

    Merges duplicate vertices (only where UVs agree, so seams survive), drops
    degenerate and duplicate faces and unused vertices, makes winding consistent,
    fills boundary loops of up to `max_hole_edges` edges, then points normals
    outwards.
    """
    before_vertices, before_faces = len(mesh.vertices), len(mesh.faces)
    mesh.merge_vertices()
    merged = before_vertices - len(mesh.vertices)
    keep = mesh.nondegenerate_faces(height=1e-12) & mesh.unique_faces()
    dropped = int((~keep).sum())
    if dropped:
        mesh.update_faces(keep)
    mesh.remove_unreferenced_vertices()
    # Hole loops are traced along edge directions, so winding must be consistent first.
    trimesh.repair.fix_winding(mesh)
    holes = fill_small_holes(mesh, max_hole_edges)
    trimesh.repair.fix_winding(mesh)
    trimesh.repair.fix_inversion(mesh, multibody=True)
    mesh.fix_normals(multibody=True)
    return {
        "merged_vertices": int(merged),
        "removed_faces": dropped,
        "filled_holes": holes,
        "faces_before": before_faces,
        "faces_after": len(mesh.faces),
    }


def boundary_loops(mesh: trimesh.Trimesh) -> list[np.ndarray]:
    """Closed loops of boundary edges, as vertex index arrays in edge direction.

    Edges (not vertices) are consumed, so two holes that touch at a vertex are
    both found.
    """
    boundary = trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1)
    if len(boundary) == 0:
        return []
    following: dict[int, list[int]] = {}
    for a, b in mesh.edges[boundary]:
        following.setdefault(int(a), []).append(int(b))
    loops = []
    for start in list(following):
        while following.get(start):
            loop, vertex = [start], following[start].pop()
            while vertex != start and following.get(vertex):
                loop.append(vertex)
                vertex = following[vertex].pop()
            if vertex == start and len(loop) >= 3:
                loops.append(np.array(loop))
    return loops


def fill_small_holes(mesh: trimesh.Trimesh, max_hole_edges: int = MAX_HOLE_EDGES) -> int:
    """Close boundary loops of up to `max_hole_edges` edges with a fan of existing vertices.

    No vertices are added, so UVs and colours stay valid. Returns the number of holes filled.
    """
    loops = [loop for loop in boundary_loops(mesh) if len(loop) <= max_hole_edges]
    if not loops:
        return 0
    new_faces = []
    for loop in loops:
        # Boundary edges run along the existing faces; the patch must run the other way.
        reversed_loop = loop[::-1]
        for i in range(1, len(reversed_loop) - 1):
            new_faces.append([reversed_loop[0], reversed_loop[i], reversed_loop[i + 1]])
    visual = mesh.visual
    mesh.faces = np.vstack([mesh.faces, np.asarray(new_faces, dtype=mesh.faces.dtype)])
    mesh.visual = visual
    return len(loops)


def decimate(mesh: trimesh.Trimesh, target_faces: int) -> trimesh.Trimesh:
    """Quadric decimation to about `target_faces`, carrying UVs and vertex colours along."""
    if target_faces >= len(mesh.faces):
        return mesh
    vertices, faces, collapses = fast_simplification.simplify(
        mesh.vertices, mesh.faces, target_count=int(target_faces), return_collapses=True
    )
    kind = mesh.visual.kind
    if kind is None or (kind == "face"):
        return trimesh.Trimesh(vertices, faces, process=False)
    vertices, faces, mapping = fast_simplification.replay_simplification(mesh.vertices, mesh.faces, collapses)
    source = _nearest_source(mesh.vertices, vertices, mapping)
    if kind == "texture":
        visual = trimesh.visual.TextureVisuals(uv=np.asarray(mesh.visual.uv)[source], material=mesh.visual.material)
    else:
        visual = trimesh.visual.ColorVisuals(vertex_colors=np.asarray(mesh.visual.vertex_colors)[source])
    return trimesh.Trimesh(vertices, faces, visual=visual, process=False)


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
