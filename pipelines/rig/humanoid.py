"""Fit the standard humanoid joint set to the curve skeleton of an upright character.

Joint names are the VRM humanoid bone names (each joint sits where its bone
starts): hips, spine, chest, neck, head, and per side shoulder (clavicle),
upperArm (shoulder joint), lowerArm (elbow), hand (wrist), upperLeg (hip
joint), lowerLeg (knee), foot (ankle). The character is +Y up and faces +Z, so
its left is +X (glTF convention); a character wider along Z is taken to face +X.

The five extremities are leaves of the skeleton graph: the lowest leaf on each
side is a foot, the most lateral leaf on each side a hand, the highest of the
rest the head. Joints are placed at fixed fractions of the skeleton paths
between them (human proportions), so they lie on the skeleton, inside the body.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from .skeleton import Skeleton, Volume

SIDES = ("left", "right")
HUMANOID_JOINTS = (
    "hips", "spine", "chest", "neck", "head",
    "leftShoulder", "leftUpperArm", "leftLowerArm", "leftHand",
    "rightShoulder", "rightUpperArm", "rightLowerArm", "rightHand",
    "leftUpperLeg", "leftLowerLeg", "leftFoot",
    "rightUpperLeg", "rightLowerLeg", "rightFoot",
)
# Fractions of arc length along skeleton paths, from the proportions of an adult body.
SPINE = {"spine": 0.2, "chest": 0.45, "neck": 0.68, "head": 0.8}  # hips -> top of the head
ARM = {"Shoulder": 0.06, "UpperArm": 0.18, "LowerArm": 0.5, "Hand": 0.8}  # spine junction -> fingertip
LEG = {"UpperLeg": 0.1, "LowerLeg": 0.5, "Foot": 0.88}  # hips -> toe


class NotHumanoid(ValueError):
    """The skeleton does not have the layout of an upright character (the message says why)."""


def _path_points(graph: nx.Graph, volume: Volume, path: list[int]) -> tuple[np.ndarray, np.ndarray]:
    points = volume.to_world(np.array([graph.nodes[n]["index"] for n in path]))
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    return points, lengths


def _at(points: np.ndarray, lengths: np.ndarray, fraction: float) -> np.ndarray:
    """The skeleton point at `fraction` of the path's arc length (a voxel centre, so inside the body)."""
    return points[int(np.argmin(np.abs(lengths - fraction * lengths[-1])))]


def fit_humanoid(volume: Volume, graph: nx.Graph) -> Skeleton:
    """The humanoid joint tree, or NotHumanoid saying what did not fit."""
    extents = volume.occupancy.shape
    lateral_axis = 0 if extents[0] >= extents[2] else 2
    left_sign = 1.0 if lateral_axis == 0 else -1.0
    centre = volume.centroid
    main = max(nx.connected_components(graph), key=len)
    leaves = [n for n in main if graph.degree(n) == 1]
    if len(leaves) < 5:
        raise NotHumanoid(f"its skeleton has {len(leaves)} extremities, a humanoid needs 5 (head, hands, feet)")
    xyz = {n: volume.to_world(graph.nodes[n]["index"]) for n in leaves}
    side = {n: left_sign * (xyz[n][lateral_axis] - centre[lateral_axis]) for n in leaves}

    def pick(candidates, key):
        if not candidates:
            raise NotHumanoid("it lacks a limb on one side")
        return min(candidates, key=key)

    feet = {s: pick([n for n in leaves if (side[n] > 0) == (s == "left")], lambda n: xyz[n][1]) for s in SIDES}
    rest = [n for n in leaves if n not in feet.values()]
    hands = {
        "left": pick([n for n in rest if side[n] > 0], lambda n: -side[n]),
        "right": pick([n for n in rest if side[n] < 0], lambda n: side[n]),
    }
    rest = [n for n in rest if n not in hands.values()]
    if not rest:
        raise NotHumanoid("no extremity is left for the head")
    head = max(rest, key=lambda n: xyz[n][1])

    def route(a, b):
        return nx.shortest_path(graph, a, b, weight="length")

    to_head = {s: route(feet[s], head) for s in SIDES}
    on_right = set(to_head["right"])
    hips_node = next(n for n in to_head["left"] if n in on_right)
    spine_path = route(hips_node, head)
    spine_points, spine_lengths = _path_points(graph, volume, spine_path)
    spine_rank = set(spine_path)
    junction = {s: next(n for n in route(hands[s], head) if n in spine_rank) for s in SIDES}

    names, parents, positions, tips = [], [], [], []

    def add(name: str, parent: str | None, point: np.ndarray) -> None:
        names.append(name)
        parents.append(names.index(parent) if parent else -1)
        positions.append(point)

    add("hips", None, spine_points[0])
    parent = "hips"
    for name, fraction in SPINE.items():
        add(name, parent, _at(spine_points, spine_lengths, fraction))
        parent = name
    tips.append((names.index("head"), spine_points[-1]))
    for s in SIDES:
        points, lengths = _path_points(graph, volume, route(junction[s], hands[s]))
        parent = "chest"
        for part, fraction in ARM.items():
            add(f"{s}{part}", parent, _at(points, lengths, fraction))
            parent = f"{s}{part}"
        tips.append((names.index(f"{s}Hand"), points[-1]))
    for s in SIDES:
        points, lengths = _path_points(graph, volume, route(hips_node, feet[s]))
        parent = "hips"
        for part, fraction in LEG.items():
            add(f"{s}{part}", parent, _at(points, lengths, fraction))
            parent = f"{s}{part}"
        tips.append((names.index(f"{s}Foot"), points[-1]))

    skeleton = Skeleton(names, parents, np.array(positions), tips, kind="humanoid")
    _check_upright(skeleton, volume, xyz[head][1])
    return skeleton


def _check_upright(skeleton: Skeleton, volume: Volume, head_top: float) -> None:
    """Reject fits whose joints are not stacked like a standing body (a lying figure, an animal)."""
    y = {name: skeleton.positions[i][1] for i, name in enumerate(skeleton.names)}
    height = volume.occupancy.shape[1] * volume.pitch
    if not head_top > y["head"] > y["neck"] > y["chest"] > y["spine"] > y["hips"]:
        raise NotHumanoid("its spine does not run upwards from the hips to the head (is it upright along +Y?)")
    for s in SIDES:
        if not y["hips"] > y[f"{s}LowerLeg"] > y[f"{s}Foot"]:
            raise NotHumanoid("its legs do not run downwards from the hips")
    if head_top - y["hips"] < 0.2 * height or y["hips"] - min(y["leftFoot"], y["rightFoot"]) < 0.2 * height:
        raise NotHumanoid("its proportions are not those of a standing body (is it upright along +Y?)")
