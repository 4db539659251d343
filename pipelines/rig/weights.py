"""Skin weights by bone heat (Baran and Popovic 2007), at most four influences per vertex.

Each bone's weight w solves (L + M H) w = M H p on the surface: L the cotangent
Laplacian and M the lumped mass (robust-laplacian, which tolerates
non-manifold meshes), H = 1/d^2 with d the distance to the closest bone, and p
the indicator of that bone. Visibility is approximated by the closest bone.
One factorisation serves every bone. Large meshes are solved on a decimated
copy and the weights carried back by inverse-distance interpolation.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu
from scipy.spatial import cKDTree

MAX_INFLUENCES = 4
MAX_SOLVE_FACES = 40_000


def segment_distances(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """(n_points, n_segments) Euclidean distance from each point to each segment."""
    a, b = segments[:, 0], segments[:, 1]
    ab = b - a
    length2 = np.maximum((ab**2).sum(axis=1), 1e-20)
    out = np.empty((len(points), len(segments)))
    for j in range(len(segments)):
        t = np.clip(((points - a[j]) @ ab[j]) / length2[j], 0.0, 1.0)
        out[:, j] = np.linalg.norm(points - (a[j] + t[:, None] * ab[j]), axis=1)
    return out


def weld(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge vertices at the same position (UV seams) so heat flows across them; returns (v, f, inverse)."""
    scale = max(float(np.ptp(vertices, axis=0).max()), 1e-12)
    keys = np.round(vertices / (scale * 1e-7)).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    welded_faces = inverse[faces]
    good = (welded_faces[:, 0] != welded_faces[:, 1]) & (welded_faces[:, 1] != welded_faces[:, 2]) & (
        welded_faces[:, 0] != welded_faces[:, 2]
    )
    return vertices[first], welded_faces[good], inverse


def heat_solve(vertices: np.ndarray, faces: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """(n_vertices, n_segments) bone heat weights, each column in [0, 1]."""
    import robust_laplacian

    distances = segment_distances(vertices, segments)
    closest = np.argmin(distances, axis=1)
    scale = float(np.ptp(vertices, axis=0).max())
    nearest = np.maximum(distances[np.arange(len(vertices)), closest], 1e-3 * scale)
    laplacian, mass = robust_laplacian.mesh_laplacian(np.asarray(vertices, dtype=float), np.asarray(faces))
    m = np.asarray(mass.diagonal())
    m = np.maximum(m, 1e-6 * max(m.mean(), 1e-30))
    heat = m / nearest**2
    system = (laplacian + sparse.diags(heat)).tocsc()
    rhs = np.zeros((len(vertices), len(segments)))
    rhs[np.arange(len(vertices)), closest] = heat
    return np.clip(splu(system).solve(rhs), 0.0, 1.0)


def bone_heat_weights(
    vertices: np.ndarray,
    faces: np.ndarray,
    segments: np.ndarray,
    owners: np.ndarray,
    n_joints: int,
    max_faces: int = MAX_SOLVE_FACES,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex (joints (n, 4) int, weights (n, 4) float32 summing to 1) for a glTF skin.

    `owners[k]` is the joint that moves segment k. Unused slots have weight 0 and joint 0.
    """
    welded, welded_faces, inverse = weld(vertices, faces)
    solve_vertices, solve_faces = welded, welded_faces
    if len(welded_faces) > max_faces:
        import fast_simplification

        solve_vertices, solve_faces = fast_simplification.simplify(welded, welded_faces, target_count=max_faces)
    per_segment = heat_solve(solve_vertices, solve_faces, segments)
    per_joint = np.zeros((len(solve_vertices), n_joints))
    np.add.at(per_joint.T, owners, per_segment.T)
    if solve_vertices is not welded:
        distance, nearest = cKDTree(solve_vertices).query(welded, k=3)
        blend = 1.0 / np.maximum(distance, 1e-12)
        blend /= blend.sum(axis=1, keepdims=True)
        per_joint = (per_joint[nearest] * blend[..., None]).sum(axis=1)
    per_vertex = per_joint[inverse]
    return top_influences(per_vertex, segment_owner_fallback(vertices, segments, owners))


def segment_owner_fallback(vertices: np.ndarray, segments: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """The joint owning each vertex's closest segment, for vertices the heat did not reach."""
    return owners[np.argmin(segment_distances(vertices, segments), axis=1)]


def top_influences(per_joint: np.ndarray, fallback: np.ndarray, k: int = MAX_INFLUENCES):
    """Keep the k largest weights per vertex, normalised in float32; empty slots point at joint 0."""
    n, n_joints = per_joint.shape
    k_used = min(k, n_joints)
    order = np.argsort(-per_joint, axis=1)[:, :k_used]
    weights = np.take_along_axis(per_joint, order, axis=1)
    empty = weights.sum(axis=1) <= 1e-8
    weights[empty] = 0.0
    order[empty, 0] = fallback[empty]
    weights[empty, 0] = 1.0
    weights[weights < 1e-4 * weights[:, :1]] = 0.0  # negligible tails only add noise
    joints = np.zeros((n, k), dtype=np.int64)
    out = np.zeros((n, k), dtype=np.float32)
    joints[:, :k_used] = np.where(weights > 0, order, 0)
    out[:, :k_used] = (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
    # float32 rounding: put the residual on the largest weight so each row sums to 1 exactly.
    out[:, 0] += np.float32(1.0) - out.sum(axis=1, dtype=np.float32)
    return joints, out
