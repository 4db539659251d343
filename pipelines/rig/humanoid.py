"""Fit the standard humanoid joint set to the curve skeleton of a standing character (+Y up).

Joint names are the VRM humanoid bone names (each joint sits where its bone
starts): hips, spine, chest, neck, head, and per side shoulder (clavicle),
upperArm (shoulder joint), lowerArm (elbow), hand (wrist), upperLeg (hip
joint), lowerLeg (knee), foot (ankle). glTF convention: a character facing +Z
has its left at +X.

The body is found from the layout of the skeleton, not from a count of its
extremities, so capes, weapons, tails, horns and fingers (extra branches) and a
head on a short neck (no branch of its own) do not stop the fit:
- the lateral axis is the horizontal axis the body is mirror-symmetric across;
- the feet are the lowest extremities on either side of the middle, near the
  ground; the hips are the top of the path between them (the crotch);
- the head is the top of the skeleton above the hips near the middle;
- the hands are the extremities reaching furthest out on each side whose path
  joins the spine above the hips.
Joints are placed at fixed fractions of the skeleton paths between them (human
proportions), so they lie on the skeleton, inside the body.

Animals, furniture and vehicles are refused by what a standing body has and they
lack: a torso that rises from the hips to the shoulders, arms above the ground,
legs that carry the hips. Fits that pass but only just are returned with
`doubts` (reasons), which auto mode turns into warnings.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from .skeleton import Skeleton, Volume, skeleton_graph

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
# Shares of the body height (feet to the top of the skeleton) that a standing body keeps.
FOOT_ZONE = 0.15  # feet end this close to the ground
MIDDLE = 0.025  # extremities this close to the middle plane belong to no side (a tail, a cape's hem)
HEAD_ZONE = 0.12  # the head is the top of the skeleton this close to the middle plane
MIN_LEGS, DOUBTFUL_LEGS = 0.17, 0.25  # hips above the feet
MIN_TORSO, DOUBTFUL_TORSO = 0.15, 0.2  # shoulders (arm junction) above the hips
MAX_TILT, DOUBTFUL_TILT = 40.0, 25.0  # degrees between the torso and the vertical
MIN_HAND_HEIGHT = 0.25  # hands above the feet
LIFTS = (0.0, 0.04, 0.08)  # floors tried, as shares of the height, when the feet touch or stand on a base
MIN_ARM, MAX_ARM = 0.12, 0.9  # arm length (junction to fingertip); wings reach further
ARM_ASYMMETRY = 1.15  # an arm longer than this times the other holds something
HELD_OBJECT = ("one arm runs on into something it holds (or was not found whole); its hand was placed as far out "
               "as the other hand")  # a doubt about a hand, not about the body


class NotHumanoid(ValueError):
    """The skeleton does not have the layout of a standing character (the message says why)."""


def _path_points(graph: nx.Graph, volume: Volume, path: list[int]) -> tuple[np.ndarray, np.ndarray]:
    points = volume.to_world(np.array([graph.nodes[n]["index"] for n in path]))
    return points, _arc_lengths(points)


def _arc_lengths(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def _at(points: np.ndarray, lengths: np.ndarray, fraction: float) -> np.ndarray:
    """The point at `fraction` of the path's arc length, between two skeleton points (so inside the body)."""
    target = fraction * lengths[-1]
    return np.array([np.interp(target, lengths, points[:, k]) for k in range(3)])


def mirror_symmetry(occupancy: np.ndarray, axis: int) -> float:
    """Share of occupied voxels whose mirror image across the mid-plane normal to `axis` is occupied too."""
    index = np.argwhere(occupancy)
    centre = index[:, axis].mean()
    mirrored = index.copy()
    mirrored[:, axis] = np.round(2 * centre - index[:, axis]).astype(int)
    inside = (mirrored[:, axis] >= 0) & (mirrored[:, axis] < occupancy.shape[axis])
    hits = occupancy[tuple(mirrored[inside].T)]
    return float(hits.sum()) / max(len(index), 1)


def lateral_axis(volume: Volume) -> int:
    """0 (X) or 2 (Z): the horizontal axis the body is mirror-symmetric across (left to right)."""
    scores = {axis: mirror_symmetry(volume.occupancy, axis) for axis in (0, 2)}
    if abs(scores[0] - scores[2]) < 0.02:  # symmetric both ways (a robot, a column): the wider axis
        return 0 if volume.occupancy.shape[0] >= volume.occupancy.shape[2] else 2
    return max(scores, key=scores.get)


def fit_standing(volume: Volume, spur_fraction: float) -> Skeleton:
    """`fit_humanoid` on the volume's skeleton; if its feet are not found, again with the lowest slices cut off.

    Feet that touch each other, or stand on a base, join the legs into a loop that the skeleton
    cuts anywhere; above the floor where they meet, the legs are two again.
    """
    first = None
    height = volume.occupancy.shape[1]
    for lift in LIFTS:
        cut = volume
        if lift:
            occupancy = volume.occupancy.copy()
            ground = int(np.flatnonzero(occupancy.any(axis=(0, 2))).min())
            occupancy[:, : ground + int(round(lift * height)), :] = False
            cut = Volume(occupancy, volume.origin, volume.pitch)
        try:
            skeleton = fit_humanoid(cut, skeleton_graph(cut, spur_fraction))
        except NotHumanoid as exc:
            first = first or exc
            continue
        if lift:
            skeleton.doubts.append("its feet touch each other or a base, so the feet were placed above that")
        return skeleton
    raise first


def fit_humanoid(volume: Volume, graph: nx.Graph) -> Skeleton:
    """The humanoid joint tree (with `doubts`, possibly empty), or NotHumanoid saying what did not fit."""
    if graph.number_of_nodes() < 3:
        raise NotHumanoid("its skeleton is a single blob with no limbs")
    main = graph.subgraph(max(nx.connected_components(graph), key=len))
    node_xyz = {n: volume.to_world(main.nodes[n]["index"]) for n in main}
    leaves = [n for n in main if main.degree(n) == 1]
    lateral = lateral_axis(volume)
    facing = 2 - lateral
    ground = min(p[1] for p in node_xyz.values())
    top = max(p[1] for p in node_xyz.values())
    height = top - ground
    if height <= 0 or len(leaves) < 2:
        raise NotHumanoid("its skeleton is a single blob with no limbs")
    centre = float(np.median([p[lateral] for p in node_xyz.values()]))
    offset = {n: (node_xyz[n][lateral] - centre) / height for n in main}

    def route(a, b):
        return nx.shortest_path(main, a, b, weight="length")

    # Feet: the lowest extremity on each side, near the ground.
    low = [n for n in leaves if node_xyz[n][1] < ground + FOOT_ZONE * height and abs(offset[n]) >= MIDDLE]
    side_feet = [[n for n in low if offset[n] * sign > 0] for sign in (1, -1)]
    if not all(side_feet):
        raise NotHumanoid("it does not stand on two legs (no extremity reaches the ground on both sides)")
    feet_pair = [min(group, key=lambda n: (node_xyz[n][1], -abs(offset[n]))) for group in side_feet]
    between_feet = route(*feet_pair)
    hips_node = max(between_feet, key=lambda n: node_xyz[n][1])
    hips_y = node_xyz[hips_node][1]
    legs_share = (hips_y - ground) / height
    if legs_share < MIN_LEGS:
        raise NotHumanoid(f"its legs are {legs_share:.0%} of its height; a standing body's are at least {MIN_LEGS:.0%}")

    # Head: the top of the skeleton near the middle, above the hips.
    central = [n for n in main if abs(offset[n]) < HEAD_ZONE and node_xyz[n][1] > hips_y]
    if not central:
        raise NotHumanoid("nothing rises above the hips in the middle of the body")
    head_node = max(central, key=lambda n: node_xyz[n][1])
    spine_path = route(hips_node, head_node)
    on_spine = set(spine_path)
    legs = set(route(hips_node, feet_pair[0])) | set(route(hips_node, feet_pair[1]))

    # Hands: per side, the extremity reaching furthest out whose path joins the spine above the hips.
    hands, junctions = [], []
    for sign, side in ((1, "left"), (-1, "right")):
        best = None
        for leaf in leaves:
            if leaf in legs or leaf == head_node or offset[leaf] * sign <= MIDDLE:
                continue
            path = route(leaf, head_node)
            junction = next(n for n in path if n in on_spine)
            if junction == hips_node:
                continue  # branches off at the hips: a tail, a cape, a second pair of legs
            reach = abs(offset[leaf])
            if best is None or reach > best[0]:
                best = (reach, leaf, junction)
        if best is None:
            raise NotHumanoid(f"it has no arm on its {side} side (nothing branches off the body above the hips)")
        hands.append(best[1])
        junctions.append(best[2])

    shoulder_y = max(node_xyz[j][1] for j in junctions)
    torso_share = (shoulder_y - hips_y) / height
    if torso_share < MIN_TORSO:
        raise NotHumanoid(f"its arms join the body {torso_share:.0%} of its height above the hips; a standing body's "
                          f"shoulders are at least {MIN_TORSO:.0%} above them (an animal's legs join at the hips)")
    torso = node_xyz[max(junctions, key=lambda j: node_xyz[j][1])] - node_xyz[hips_node]
    tilt = float(np.degrees(np.arccos(np.clip(torso[1] / max(np.linalg.norm(torso), 1e-12), -1, 1))))
    if tilt > MAX_TILT:
        raise NotHumanoid(f"its body leans {tilt:.0f} degrees from the vertical (an animal or a lying figure)")
    for hand in hands:
        if node_xyz[hand][1] - ground < MIN_HAND_HEIGHT * height:
            raise NotHumanoid("its arm extremities touch the ground (four legs, not two legs and two arms)")

    left_sign = _left_sign(lateral, facing, feet_pair, hips_node, node_xyz)
    if left_sign < 0:
        hands.reverse()
        junctions.reverse()
        feet_pair.reverse()

    names, parents, positions, tips = [], [], [], []

    def add(name: str, parent: str | None, point: np.ndarray) -> None:
        names.append(name)
        parents.append(names.index(parent) if parent else -1)
        positions.append(point)

    spine_points, _ = _path_points(main, volume, spine_path)
    head_top = _top_above(volume, spine_points[-1])
    if head_top[1] > spine_points[-1][1] + volume.pitch:  # a head without a branch of its own (short neck)
        spine_points = np.vstack([spine_points, head_top])
    spine_lengths = _arc_lengths(spine_points)
    add("hips", None, spine_points[0])
    parent = "hips"
    for name, fraction in SPINE.items():
        add(name, parent, _at(spine_points, spine_lengths, fraction))
        parent = name
    tips.append((names.index("head"), spine_points[-1]))
    arm_paths = [_path_points(main, volume, route(junction, hand)) for hand, junction in zip(hands, junctions)]
    arm_lengths = [lengths[-1] for _, lengths in arm_paths]
    for side, (points, lengths), other in zip(SIDES, arm_paths, arm_lengths[::-1]):
        # An arm that runs on into a held weapon ends where the other arm does (arms are alike).
        reach = min(lengths[-1], ARM_ASYMMETRY * other)
        points, lengths = points[lengths <= reach], lengths[lengths <= reach]
        parent = "chest"
        for part, fraction in ARM.items():
            add(f"{side}{part}", parent, _at(points, lengths, fraction))
            parent = f"{side}{part}"
        tips.append((names.index(f"{side}Hand"), points[-1]))
    leg_lengths = []
    for side, foot in zip(SIDES, feet_pair):
        points, lengths = _path_points(main, volume, route(hips_node, foot))
        leg_lengths.append(lengths[-1])
        parent = "hips"
        for part, fraction in LEG.items():
            add(f"{side}{part}", parent, _at(points, lengths, fraction))
            parent = f"{side}{part}"
        tips.append((names.index(f"{side}Foot"), points[-1]))
    if min(arm_lengths) < MIN_ARM * height:
        raise NotHumanoid(f"its arms are {min(arm_lengths) / height:.0%} of its height; a body's are at least {MIN_ARM:.0%}")
    if min(arm_lengths) > MAX_ARM * height:
        raise NotHumanoid(f"its arms (or wings) reach {min(arm_lengths) / height:.0%} of its height out; "
                          f"a body's reach at most {MAX_ARM:.0%}")

    skeleton = Skeleton(names, parents, np.array(positions), tips, kind="humanoid")
    _check_upright(skeleton, spine_points[-1][1])
    skeleton.doubts = _doubts(legs_share, torso_share, tilt, arm_lengths, leg_lengths)
    return skeleton


def _left_sign(lateral: int, facing: int, feet: list[int], hips: int, xyz: dict) -> float:
    """+1 when the character's left is the + side of the lateral axis.

    It faces where its toes point (the feet's extremities lie ahead of the hips); with no clear
    toes it faces +Z, or +X when it is turned sideways. Left is up x forward.
    """
    ahead = float(np.mean([xyz[f][facing] for f in feet]) - xyz[hips][facing])
    heights = abs(xyz[hips][1] - min(xyz[f][1] for f in feet))
    forward = np.zeros(3)
    forward[facing] = -1.0 if ahead < -0.03 * heights else 1.0
    left = np.cross([0.0, 1.0, 0.0], forward)
    return float(np.sign(left[lateral]))


def _top_above(volume: Volume, point: np.ndarray) -> np.ndarray:
    """A voxel just under the top of the column of voxels around `point` (the top of the head)."""
    i, j, k = np.clip(np.round((point - volume.origin) / volume.pitch).astype(int), 0, np.array(volume.occupancy.shape) - 1)
    column = np.flatnonzero(volume.occupancy[max(i - 1, 0):i + 2, :, max(k - 1, 0):k + 2].any(axis=(0, 2)))
    top = int(column.max()) - 1 if len(column) else j  # one voxel inside the surface, not on it
    return volume.to_world(np.array([i, max(top, j), k]))


def _check_upright(skeleton: Skeleton, head_top: float) -> None:
    """Reject fits whose joints are not stacked like a standing body."""
    y = {name: skeleton.positions[i][1] for i, name in enumerate(skeleton.names)}
    if not head_top >= y["head"] >= y["neck"] >= y["chest"] >= y["spine"] > y["hips"]:
        raise NotHumanoid("its spine does not run upwards from the hips to the head")
    for s in SIDES:
        if not y["hips"] > y[f"{s}LowerLeg"] > y[f"{s}Foot"]:
            raise NotHumanoid("its legs do not run downwards from the hips")


def _doubts(legs_share, torso_share, tilt, arm_lengths, leg_lengths) -> list[str]:
    """Reasons to check a fit that passed: proportions near the limits of a standing body."""
    doubts = []
    if legs_share < DOUBTFUL_LEGS:
        doubts.append(f"its legs are short ({legs_share:.0%} of its height)")
    if torso_share < DOUBTFUL_TORSO:
        doubts.append(f"its shoulders are close to its hips ({torso_share:.0%} of its height)")
    if tilt > DOUBTFUL_TILT:
        doubts.append(f"its body leans {tilt:.0f} degrees")
    if min(arm_lengths) < 0.7 * max(arm_lengths):
        doubts.append(HELD_OBJECT)
    if min(leg_lengths) < 0.75 * max(leg_lengths):
        doubts.append("its legs differ in length")
    return doubts
