"""Spectral part segmentation of a triangle mesh's face graph.

Faces are nodes; adjacent faces are joined with a weight that is high across
long, flat or convex shared edges and low across concave creases (where parts
meet, the "minima rule"), following Liu & Zhang's spectral mesh segmentation.
Large meshes are first coarsened into superfaces (connected, crease-free patches
within a voxel cell) so the eigenproblem stays small; separate pieces are joined
by weak proximity bridges so every part can be made connected. The normalised
Laplacian's smallest eigenvectors are clustered with k-means, then parts are made
connected and split or merged until there are exactly `num_parts`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import trimesh
from scipy.cluster.vq import kmeans2
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.sparse.linalg import eigsh
from scipy.spatial import cKDTree

SUPERFACE_TARGET = 2500
COARSEN_ABOVE = 4000
CREASE_ANGLE = np.radians(40.0)
CONVEX_DISCOUNT = 0.2  # convex edges count this much of their bend (concave creases separate parts)
BRIDGE_STRENGTH = 1e-2
SMOOTH_SWEEPS = 50  # lazy-walk steps: smooths borders over about sqrt(50) faces, a superface across
CREASE_FLOOR = 0.05  # weight kept across the sharpest concave crease, so tiny pockets do not win over real parts


def face_graph(vertices: np.ndarray, faces: np.ndarray):
    """(weights, sharp mask per adjacent pair, face areas, face centroids, adjacent pairs) on the welded mesh."""
    _, weld = trimesh.grouping.unique_rows(vertices, digits=8)
    welded_faces = weld[faces]
    corners = vertices[faces]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    area = np.linalg.norm(cross, axis=1) / 2.0
    normals = cross / np.maximum(2.0 * area, 1e-300)[:, None]
    centroids = corners.mean(axis=1)
    pairs, edges = edge_neighbours(welded_faces)
    first_vertex = np.zeros(weld.max() + 1, dtype=np.int64)
    first_vertex[weld] = np.arange(len(weld))
    length = np.linalg.norm(vertices[first_vertex[edges[:, 0]]] - vertices[first_vertex[edges[:, 1]]], axis=1)
    a, b = pairs[:, 0], pairs[:, 1]
    cos = np.clip(np.einsum("ij,ij->i", normals[a], normals[b]), -1.0, 1.0)
    concave = np.einsum("ij,ij->i", centroids[b] - centroids[a], normals[a]) > 0
    bend = (1.0 - cos) * np.where(concave, 1.0, CONVEX_DISCOUNT)
    degenerate = (area[a] <= 0) | (area[b] <= 0)
    bend[degenerate] = 0.0
    scale = max(float(bend[~degenerate].mean()) if (~degenerate).any() else 0.0, 0.01)
    weight = np.maximum(length, 1e-12) * np.maximum(np.exp(-2.0 * bend / scale), CREASE_FLOOR)
    n = len(faces)
    matrix = sp.coo_matrix((weight, (a, b)), shape=(n, n))
    sharp = (np.arccos(cos) > CREASE_ANGLE) & ~degenerate
    return (matrix + matrix.T).tocsr(), sharp, area, centroids, pairs


def edge_neighbours(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(face pairs, their shared edge) for every edge two or more faces share.

    Unlike trimesh's face_adjacency, edges with three or more faces (where welding closes a
    near-touching seam, or a fin sticks out) link their faces too, in a chain, so the graph
    is connected wherever the surface is.
    """
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1).astype(np.int64)
    key = edges[:, 0] * (int(faces.max()) + 1) + edges[:, 1]
    order = np.argsort(key, kind="stable")
    repeat = np.flatnonzero(key[order][1:] == key[order][:-1])
    first, second = order[repeat] // 3, order[repeat + 1] // 3
    keep = first != second
    return np.stack([first[keep], second[keep]], axis=1), edges[order[repeat + 1][keep]]


def superfaces(pairs: np.ndarray, sharp: np.ndarray, area: np.ndarray, centroids: np.ndarray,
               target: int = SUPERFACE_TARGET) -> np.ndarray:
    """Superface id per face: connected crease-free patches inside a voxel grid sized for ~`target` patches."""
    n = len(area)
    cell = np.sqrt(max(area.sum(), 1e-300) / target)
    keys = np.floor((centroids - centroids.min(axis=0)) / cell).astype(np.int64)
    _, voxel = np.unique(keys, axis=0, return_inverse=True)
    voxel = voxel.ravel()
    joined = (~sharp) & (voxel[pairs[:, 0]] == voxel[pairs[:, 1]])
    graph = sp.coo_matrix((np.ones(joined.sum()), (pairs[joined, 0], pairs[joined, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def bridge(weights: sp.csr_matrix, centroids: np.ndarray, diagonal: float) -> sp.csr_matrix:
    """Add weak edges between separate pieces (nearest neighbours across pieces plus a spanning tree)."""
    count, piece = connected_components(weights, directed=False)
    if count == 1:
        return weights
    n = len(centroids)
    strength = BRIDGE_STRENGTH * float(np.median(weights.data)) if weights.nnz else 1.0
    tree = cKDTree(centroids)
    k = min(8, n)
    distance, neighbour = tree.query(centroids, k=k)
    rows = np.repeat(np.arange(n), k)
    cols, dist = neighbour.ravel(), distance.ravel()
    across = piece[rows] != piece[cols]
    rows, cols, dist = rows[across], cols[across], dist[across]
    # A spanning tree over piece centres guarantees one connected graph, however far apart the pieces are.
    centres = np.stack([np.bincount(piece, centroids[:, d], count) / np.bincount(piece, minlength=count)
                        for d in range(3)], axis=1)
    representative = tree.query(centres)[1]
    a, b, gap = _spanning_pairs(centres)
    rows = np.concatenate([rows, representative[a]])
    cols = np.concatenate([cols, representative[b]])
    dist = np.concatenate([dist, gap])
    value = strength * np.exp(-dist / max(0.05 * diagonal, 1e-12))
    value = np.maximum(value, strength * 1e-6)
    extra = sp.coo_matrix((value, (rows, cols)), shape=(n, n))
    return (weights + extra + extra.T).tocsr()


def _spanning_pairs(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (a, b, length) of a tree joining all `points`: exact MST when few, else over a kNN graph plus a chain."""
    count = len(points)
    if count <= 2000:
        gaps = np.linalg.norm(points[:, None] - points[None], axis=2) + 1e-12
        tree = minimum_spanning_tree(sp.csr_matrix(np.triu(gaps, 1))).tocoo()
        return tree.row, tree.col, tree.data
    distance, neighbour = cKDTree(points).query(points, k=16)
    knn = sp.coo_matrix((distance[:, 1:].ravel() + 1e-12, (np.repeat(np.arange(count), 15), neighbour[:, 1:].ravel())),
                        shape=(count, count))
    tree = minimum_spanning_tree(knn.tocsr()).tocoo()
    _, group = connected_components(tree, directed=False)
    first = np.unique(group, return_index=True)[1]
    a, b = np.concatenate([tree.row, first[:-1]]), np.concatenate([tree.col, first[1:]])
    return a, b, np.linalg.norm(points[a] - points[b], axis=1)


def spectral_labels(weights: sp.csr_matrix, k: int, seed: int) -> np.ndarray:
    """k-means on the row-normalised smallest eigenvectors of the normalised Laplacian (Ng, Jordan, Weiss)."""
    n = weights.shape[0]
    degree = np.asarray(weights.sum(axis=1)).ravel()
    inv_sqrt = 1.0 / np.sqrt(np.maximum(degree, 1e-300))
    laplacian = sp.identity(n) - sp.diags(inv_sqrt) @ weights @ sp.diags(inv_sqrt)
    if n <= max(4 * k, 200):
        _, vectors = np.linalg.eigh(laplacian.toarray())
        vectors = vectors[:, :k]
    else:
        rng = np.random.default_rng(seed)
        _, vectors = eigsh(laplacian.tocsc(), k=k, sigma=-1e-3, which="LM", v0=rng.standard_normal(n))
    embedding = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    best, best_inertia = None, np.inf
    for attempt in range(5):
        centres, labels = kmeans2(embedding, k, minit="++", seed=seed + attempt)
        inertia = float(((embedding - centres[labels]) ** 2).sum())
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def make_connected(weights: sp.csr_matrix, labels: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Give each label one connected region: stray fragments join the neighbour they share most weight with."""
    labels = labels.copy()
    coo = weights.tocoo()
    for _ in range(50):
        same = labels[coo.row] == labels[coo.col]
        graph = sp.coo_matrix((np.ones(same.sum()), (coo.row[same], coo.col[same])), shape=weights.shape)
        count, region = connected_components(graph, directed=False)
        region_area = np.bincount(region, area, count)
        region_label = np.zeros(count, dtype=np.int64)
        region_label[region] = labels
        main = np.full(labels.max() + 1, -1)
        order = np.argsort(region_area)
        main[region_label[order]] = order  # the largest region of each label is written last
        stray = main[region_label] != np.arange(count)
        if not stray.any():
            return labels
        # Strays join the label whose main region they share most weight with, so receivers stay connected;
        # strays touching only other strays wait for a later round.
        cross = ~same & stray[region[coo.row]] & ~stray[region[coo.col]]
        link = sp.coo_matrix((coo.data[cross], (region[coo.row[cross]], labels[coo.col[cross]])),
                             shape=(count, labels.max() + 1)).tocsr()
        target = np.asarray(link.argmax(axis=1)).ravel()
        move = stray & (np.asarray(link.max(axis=1).todense()).ravel() > 0)
        if not move.any():
            return labels
        labels = np.where(move[region], target[region], labels)
    return labels


def relabel(labels: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Consecutive labels ordered by part area, largest first."""
    present = np.unique(labels)
    part_area = np.array([area[labels == p].sum() for p in present])
    order = present[np.argsort(-part_area, kind="stable")]
    lookup = np.zeros(labels.max() + 1, dtype=np.int64)
    lookup[order] = np.arange(len(order))
    return lookup[labels]


def split_largest(weights: sp.csr_matrix, labels: np.ndarray, area: np.ndarray, seed: int) -> np.ndarray:
    """Cut the largest splittable part in two along its Fiedler vector."""
    for part in np.argsort(-np.bincount(labels, area)):
        members = np.flatnonzero(labels == part)
        if len(members) < 2:
            continue
        sub = weights[members][:, members]
        halves = spectral_labels(sub, 2, seed)
        if halves.min() == halves.max():
            halves = np.arange(len(members)) >= len(members) // 2
        out = labels.copy()
        out[members[halves.astype(bool)]] = labels.max() + 1
        return out
    return labels


def segment_graph(weights: sp.csr_matrix, area: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Exactly `k` connected parts of a connected weighted graph (k <= number of nodes)."""
    labels = relabel(make_connected(weights, spectral_labels(weights, k, seed), area), area)
    for _ in range(4 * k):
        count = labels.max() + 1
        if count == k:
            return labels
        if count < k:
            labels = split_largest(weights, labels, area, seed)
        else:
            labels = merge_smallest(weights, labels, area)
        labels = relabel(make_connected(weights, labels, area), area)
    return labels


def merge_smallest(weights: sp.csr_matrix, labels: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Join the smallest part to the neighbour it shares most weight with."""
    smallest = int(np.argmin(np.bincount(labels, area)))
    coo = weights.tocoo()
    cross = (labels[coo.row] == smallest) & (labels[coo.col] != smallest)
    shared = np.bincount(labels[coo.col[cross]], coo.data[cross], labels.max() + 1)
    out = labels.copy()
    out[labels == smallest] = int(np.argmax(shared))
    return out


def segment_mesh(vertices: np.ndarray, faces: np.ndarray, num_parts: int, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Part label (0..num_parts-1, largest part first) for every face, and facts about the run."""
    weights, sharp, area, centroids, pairs = face_graph(vertices, faces)
    diagonal = float(np.linalg.norm(np.ptp(vertices, axis=0)))
    pieces = connected_components(weights, directed=False)[0]
    # Zero-area faces still need a share of the graph's mass or they float free.
    mass = np.maximum(area, 1e-3 * area.mean() if area.any() else 1.0)
    if len(faces) > COARSEN_ABOVE:
        group = superfaces(pairs, sharp, area, centroids)
        count = group.max() + 1
        member = sp.coo_matrix((np.ones(len(faces)), (np.arange(len(faces)), group)), shape=(len(faces), count)).tocsr()
        coarse = (member.T @ weights @ member).tocsr()
        coarse.setdiag(0.0)
        coarse.eliminate_zeros()
        coarse_mass = np.bincount(group, mass, count)
        coarse_centroids = np.stack([np.bincount(group, centroids[:, d] * mass, count) for d in range(3)], axis=1)
        coarse_centroids /= coarse_mass[:, None]
    else:
        group = np.arange(len(faces))
        coarse, coarse_mass, coarse_centroids = weights, mass, centroids
    if coarse.shape[0] < num_parts:
        group = np.arange(len(faces))
        coarse, coarse_mass, coarse_centroids = weights, mass, centroids
    coarse = bridge(coarse, coarse_centroids, diagonal)
    labels = segment_graph(coarse, coarse_mass, num_parts, seed)[group]
    if coarse.shape[0] < len(faces):
        labels = smooth_borders(weights, labels, mass)
    return labels, {"nodes": int(coarse.shape[0]), "pieces": int(pieces)}


def smooth_borders(weights: sp.csr_matrix, labels: np.ndarray, area: np.ndarray,
                   sweeps: int = SMOOTH_SWEEPS) -> np.ndarray:
    """Re-draw part borders on the full face graph by diffusing each part's membership.

    Superfaces follow voxel cells, so coarse borders are staircases. Each part's indicator
    spreads by a lazy random walk on the face graph (slowly across creases, whose weight is
    low), and every face joins the part that reaches it most; borders come out smooth and
    settle on the creases nearby. Parts stay connected and none may vanish; otherwise the
    coarse labels are kept.
    """
    k = labels.max() + 1
    n = len(labels)
    degree = np.asarray(weights.sum(axis=1)).ravel()
    walk = (sp.diags(1.0 / np.maximum(degree, 1e-300)) @ weights).astype(np.float32)
    membership = np.zeros((n, k), np.float32)
    membership[np.arange(n), labels] = 1.0
    for _ in range(sweeps):
        membership = 0.5 * membership + 0.5 * (walk @ membership)
    smoothed = make_connected(weights, membership.argmax(axis=1), area)
    return relabel(smoothed, area) if len(np.unique(smoothed)) == k else labels
