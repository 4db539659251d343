"""Curve skeletons from meshes: a solid voxelisation thinned to one-voxel-wide curves.

The skeleton lives on voxel centres of the filled volume, so every joint taken
from it lies inside the mesh. `skeleton_graph` turns the thinned voxels into a
graph (26-neighbourhood) with short spurs pruned; `generic_skeleton` simplifies
that graph into a joint tree rooted near the centroid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import trimesh
from scipy import ndimage
from scipy.spatial import cKDTree

# Voxels along the longest side of the mesh: limbs of a character stay a few voxels thick.
RESOLUTION = 96
# Surface samples per voxel face area: dense enough that the sampled shell has no gaps.
SAMPLES_PER_VOXEL = 20.0
MAX_SAMPLES = 3_000_000


@dataclass
class Volume:
    """A filled occupancy grid; voxel (i, j, k) has its centre at origin + pitch * (i, j, k)."""

    occupancy: np.ndarray
    origin: np.ndarray
    pitch: float

    def to_world(self, index: np.ndarray) -> np.ndarray:
        return self.origin + self.pitch * np.asarray(index, dtype=float)

    @property
    def centroid(self) -> np.ndarray:
        return self.to_world(np.argwhere(self.occupancy).mean(axis=0))


@dataclass
class Skeleton:
    """A joint tree: names, parent indices (-1 for the root) and world positions.

    `tips` are extra segment ends (joint index, point) so leaf joints such as a
    hand or the head also get skin: the segment from the joint to its tip.
    """

    names: list[str]
    parents: list[int]
    positions: np.ndarray
    tips: list[tuple[int, np.ndarray]] = field(default_factory=list)
    kind: str = "generic"
    doubts: list[str] = field(default_factory=list)  # why a fit that passed may still be wrong

    def segments(self) -> tuple[np.ndarray, np.ndarray]:
        """Bone segments (n, 2, 3) and the joint that moves each one (the segment's start)."""
        starts, ends, owners = [], [], []
        for child, parent in enumerate(self.parents):
            if parent >= 0:
                starts.append(self.positions[parent])
                ends.append(self.positions[child])
                owners.append(parent)
        for joint, point in self.tips:
            starts.append(self.positions[joint])
            ends.append(point)
            owners.append(joint)
        if not owners:  # a single joint: a zero-length segment still gives every vertex a distance
            return np.stack([self.positions[:1], self.positions[:1]], axis=1), np.zeros(1, dtype=int)
        return np.stack([np.array(starts), np.array(ends)], axis=1), np.array(owners)

    def children(self, joint: int) -> list[int]:
        return [i for i, p in enumerate(self.parents) if p == joint]


def voxelize_solid(mesh: trimesh.Trimesh, resolution: int = RESOLUTION) -> Volume:
    """Solid occupancy of `mesh`: sample its surface into voxels, close pinholes, fill the inside.

    Sampling (not ray casting) keeps this fast and tolerant of meshes that are
    not watertight; holes smaller than about two voxels are sealed by a closing.
    """
    pitch = float(mesh.extents.max()) / resolution
    if pitch <= 0:
        raise ValueError("mesh has zero extent")
    pad = 3
    origin = mesh.bounds[0] - pad * pitch
    shape = np.ceil(mesh.extents / pitch).astype(int) + 2 * pad + 1
    count = int(min(MAX_SAMPLES, max(10_000, SAMPLES_PER_VOXEL * mesh.area / pitch**2)))
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=0)
    points = np.vstack([points, mesh.vertices])
    index = np.clip(np.round((points - origin) / pitch).astype(int), 0, shape - 1)
    shell = np.zeros(shape, dtype=bool)
    shell[index[:, 0], index[:, 1], index[:, 2]] = True
    solid = ndimage.binary_fill_holes(shell)
    for iterations in (1, 3):
        # The shell may leak (sampling gaps, holes in an open surface); a closed copy shows how much.
        # Closing only when the leak is real keeps limbs that nearly touch (legs, arms at the sides) apart.
        closed = ndimage.binary_closing(ndimage.binary_dilation(shell, iterations=iterations), iterations=iterations)
        closed = ndimage.binary_erosion(ndimage.binary_fill_holes(closed), iterations=iterations) | shell
        if solid.sum() >= 0.85 * closed.sum():
            break
        solid = closed
    return Volume(solid, origin, pitch)


def main_components(volume: Volume, min_fraction: float = 0.05) -> Volume:
    """Drop pieces of the volume smaller than `min_fraction` of the largest (eyes, buttons, noise)."""
    labels, count = ndimage.label(volume.occupancy)
    if count <= 1:
        return volume
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, count + 1))
    keep = np.flatnonzero(sizes >= min_fraction * sizes.max()) + 1
    return Volume(np.isin(labels, keep), volume.origin, volume.pitch)


def skeleton_graph(volume: Volume, spur_fraction: float = 0.08, spur_thickness: float = 0.0) -> nx.Graph:
    """Thinned voxels as a graph (node attributes `index`, `radius`), short spurs pruned.

    A spur goes when it is shorter than `spur_fraction` of the size, or than `spur_thickness` times
    the radius of the body where it branches off (a lump or a strand of hair, not a limb).
    """
    from skimage.morphology import skeletonize

    thin = skeletonize(volume.occupancy)
    index = np.argwhere(thin)
    if len(index) == 0:  # thinner than a voxel everywhere: keep the densest voxel
        index = np.argwhere(volume.occupancy)[:1]
    graph = nx.Graph()
    radius = ndimage.distance_transform_edt(volume.occupancy)[tuple(index.T)]
    for i, idx in enumerate(index):
        graph.add_node(i, index=idx, radius=float(radius[i]))
    for a, b in cKDTree(index).query_pairs(r=1.75):
        length = float(np.linalg.norm(index[a] - index[b]))
        graph.add_edge(a, b, length=length, cost=length / min(radius[a], radius[b]))
    # Lee thinning leaves little triangles at junctions, and parts that touch (feet, a hand on a hip)
    # make loops; a spanning tree that keeps thick links cuts each loop at its thinnest point.
    graph = nx.minimum_spanning_tree(graph, weight="cost")
    prune_spurs(graph, spur_fraction * max(volume.occupancy.shape), spur_thickness)
    return graph


def _walk(graph: nx.Graph, start: int) -> list[int]:
    """From a leaf, follow degree-2 nodes to the next junction or end."""
    path, previous, current = [start], None, start
    while True:
        following = [n for n in graph[current] if n != previous]
        if not following:
            return path
        previous, current = current, following[0]
        path.append(current)
        if graph.degree(current) != 2:
            return path


def prune_spurs(graph: nx.Graph, min_length: float, thickness: float = 0.0) -> None:
    """Remove leaf branches that end at a junction and are shorter than `min_length` voxels or than
    `thickness` times the radius at that junction."""
    changed = True
    while changed:
        changed = False
        for leaf in [n for n in graph if graph.degree(n) == 1]:
            if leaf not in graph or graph.degree(leaf) != 1:
                continue
            path = _walk(graph, leaf)
            if graph.degree(path[-1]) < 3:
                continue  # the whole component is one branch
            length = sum(graph[a][b]["length"] for a, b in zip(path, path[1:]))
            if length < max(min_length, thickness * graph.nodes[path[-1]]["radius"]):
                graph.remove_nodes_from(path[:-1])
                changed = True


def _simplify(points: np.ndarray, tolerance: float) -> list[int]:
    """Ramer-Douglas-Peucker on a polyline; returns kept indices (ends always kept)."""
    if len(points) < 3:
        return list(range(len(points)))
    start, end = points[0], points[-1]
    direction = end - start
    norm = np.linalg.norm(direction)
    offsets = points - start
    if norm < 1e-12:
        distances = np.linalg.norm(offsets, axis=1)
    else:
        distances = np.linalg.norm(np.cross(offsets, direction / norm), axis=1)
    worst = int(np.argmax(distances))
    if distances[worst] <= tolerance:
        return [0, len(points) - 1]
    left = _simplify(points[: worst + 1], tolerance)
    right = _simplify(points[worst:], tolerance)
    return left + [worst + r for r in right[1:]]


def _split_long(kept: list[int], lengths: np.ndarray, max_length: float) -> list[int]:
    """Insert chain points so that no simplified segment is longer than `max_length` (arc length)."""
    out = [kept[0]]
    for a, b in zip(kept, kept[1:]):
        pieces = int(np.ceil((lengths[b] - lengths[a]) / max_length))
        for k in range(1, pieces):
            target = lengths[a] + k * (lengths[b] - lengths[a]) / pieces
            out.append(int(np.searchsorted(lengths, target)))
        out.append(b)
    return sorted(set(out), key=out.index)


def generic_skeleton(volume: Volume, graph: nx.Graph, coarseness: float = 1.0) -> Skeleton:
    """Simplify the voxel graph into a joint tree rooted at the skeleton point nearest the centroid.

    `coarseness` scales how far a chain may bend, and how long and short its bones may be, between joints.
    """
    index = {n: graph.nodes[n]["index"] for n in graph}
    nodes = list(graph)
    coords = np.array([index[n] for n in nodes], dtype=float)
    centroid_index = (volume.centroid - volume.origin) / volume.pitch
    root = nodes[int(np.argmin(np.linalg.norm(coords - centroid_index, axis=1)))]
    size = max(volume.occupancy.shape)
    tolerance, max_length, min_length = (coarseness * f * size for f in (0.025, 0.22, 0.04))

    key = {n for n in graph if graph.degree(n) != 2} | {root}
    joints = nx.Graph()
    joints.add_nodes_from(key)
    seen = set()
    for start in key:
        for first in graph[start]:
            if (start, first) in seen:
                continue
            chain, previous, current = [start], start, first
            while True:
                chain.append(current)
                if current in key:
                    break
                previous, current = current, next(n for n in graph[current] if n != previous)
            seen.update({(chain[1], chain[0]), (chain[-2], chain[-1]), (chain[0], chain[1]), (chain[-1], chain[-2])})
            points = np.array([index[n] for n in chain], dtype=float)
            lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
            kept = _split_long(_simplify(points, tolerance), lengths, max_length)
            path = [chain[k] for k in kept]
            nx.add_path(joints, path)

    # Merge joints closer than `min_length` into their neighbour (keeping the root and junctions).
    merged = True
    while merged:
        merged = False
        for a, b in list(joints.edges):
            if a not in joints or b not in joints:
                continue
            if np.linalg.norm(index[a] - index[b]) < min_length:
                keep, drop = (a, b) if (a == root or joints.degree(a) > joints.degree(b)) and b != root else (b, a)
                joints = nx.contracted_nodes(joints, keep, drop, self_loops=False)
                merged = True

    # Join separate pieces (kept body parts that do not touch) to the root's piece at their closest joints.
    pieces = sorted(nx.connected_components(joints), key=lambda c: root not in c)
    main = set(pieces[0])
    for piece in pieces[1:]:
        inside, outside = list(main), list(piece)
        a_xyz = np.array([index[n] for n in inside], dtype=float)
        b_xyz = np.array([index[n] for n in outside], dtype=float)
        distance, nearest = cKDTree(a_xyz).query(b_xyz)
        j = int(np.argmin(distance))
        joints.add_edge(inside[nearest[j]], outside[j])
        main |= piece

    order = list(nx.bfs_tree(joints, root))
    position = {n: i for i, n in enumerate(order)}
    tree = nx.bfs_tree(joints, root)
    parents = [-1] + [position[next(iter(tree.predecessors(n)))] for n in order[1:]]
    positions = volume.to_world(np.array([index[n] for n in order]))
    names = ["root"] + [f"joint_{i:02d}" for i in range(1, len(order))]
    return Skeleton(names, parents, positions, kind="generic")
