"""A development corpus for auto-rigging and up-axis detection: characters and non-humanoids built from primitives.

Every shape is built +Y up, facing +Z (glTF), standing on y = 0, in metres; `oriented` turns it +Z up
(as Blender, CAD tools and many generators write it) and scales it (millimetres, kilometres).
Parts overlap instead of being unioned, as generated meshes often do; the rigger voxelises them
together. Characters vary the things that broke the rigger on real assets: T- and A-pose, capes,
weapons, big heads, short necks, tails, armour, blocky robots, dwarf and goblin proportions.
Non-humanoids include those that share a humanoid's parts: four-legged animals with a head and a
tail, a winged bird standing on two legs, a winged dragon, furniture with four legs, a car, a tree.
The Khronos glTF sample characters and animals in tests/data/ complete the corpus (`real_assets`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

DATA = Path(__file__).resolve().parent / "data"
# Rotation that stands a +Y-up shape along +Z: (x, y, z) -> (x, -z, y).
Y_TO_Z_UP = trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])
SCALES = {"m": 1.0, "mm": 1000.0, "km": 0.001}


def limb(start, end, radius: float) -> trimesh.Trimesh:
    """A capsule from `start` to `end`."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    axis = end - start
    capsule = trimesh.creation.capsule(height=float(np.linalg.norm(axis)), radius=radius, count=[12, 12])
    capsule.apply_transform(trimesh.geometry.align_vectors([0, 0, 1], axis / np.linalg.norm(axis)))
    capsule.apply_translation((start + end) / 2)
    return capsule


def block(centre, extents, tilt: float = 0.0) -> trimesh.Trimesh:
    """A box at `centre`, optionally turned `tilt` radians about Z (arms of a block robot)."""
    box = trimesh.creation.box(extents=extents)
    if tilt:
        box.apply_transform(trimesh.transformations.rotation_matrix(tilt, [0, 0, 1]))
    box.apply_translation(centre)
    return box


def ball(centre, radius: float) -> trimesh.Trimesh:
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=radius)
    sphere.apply_translation(centre)
    return sphere


def joined(parts) -> trimesh.Trimesh:
    return trimesh.util.concatenate(parts)


def character(pose: str = "T", *, cape=False, sword=False, big_head=False, short_neck=False, tail=False,
              armour=False, blocky=False, fingers=False, spiky_hair=False, arm_angle: float | None = None,
              legs: float = 0.48, shoulders: float = 0.19, arm: float = 0.62, height: float = 1.8) -> trimesh.Trimesh:
    """A standing character `height` tall; `legs` is the leg length as a share of the height.

    The arms are level in the T-pose, 40 degrees down in the A-pose, or `arm_angle` degrees down.
    """
    hips_y = legs * height
    neck_y = hips_y + 0.33 * height
    head_r = (0.17 if big_head else 0.065) * height
    head_y = height - head_r
    if short_neck:
        head_y = min(head_y, neck_y + 0.8 * head_r)
    chest_w = 0.09 * height * (1.4 if armour else 1.0)
    parts = []
    if blocky:
        parts.append(block([0, (hips_y + neck_y) / 2, 0], [2.2 * chest_w, neck_y - hips_y + 0.04 * height, 0.13 * height]))
        parts.append(block([0, head_y, 0], [2 * head_r, 2 * head_r, 2 * head_r]))
    else:
        parts.append(limb([0, hips_y, 0], [0, neck_y, 0], chest_w))
        parts.append(ball([0, head_y, 0], head_r))
    if not short_neck or head_y - head_r > neck_y:
        parts.append(limb([0, neck_y - 0.02 * height, 0], [0, head_y, 0], 0.03 * height))
    angle = np.radians(arm_angle if arm_angle is not None else 0.0 if pose == "T" else 40.0)
    for side in (1, -1):
        stance = 0.09 if blocky else 0.06
        hip = np.array([side * stance * height, hips_y, 0])
        foot = np.array([side * (stance + 0.01) * height, 0.035 * height, 0])
        leg_r = 0.04 * height * (1.3 if armour or blocky else 1.0)
        if blocky:
            parts.append(block((hip + foot) / 2, [2.2 * leg_r, hips_y - foot[1], 2.2 * leg_r]))
        else:
            parts.append(limb(hip, foot, leg_r))
        parts.append(block([foot[0], 0.02 * height, 0.04 * height], [0.07 * height, 0.04 * height, 0.15 * height]))
        shoulder = np.array([side * shoulders * 0.5 * height, neck_y - 0.03 * height, 0])
        hand = shoulder + arm * 0.5 * height * np.array([side * np.cos(angle), -np.sin(angle), 0])
        if blocky:
            parts.append(block((shoulder + hand) / 2, [np.linalg.norm(hand - shoulder), 0.06 * height, 0.06 * height],
                               tilt=-side * angle))
        else:
            parts.append(limb(shoulder, hand, 0.025 * height))
        if fingers:
            direction = (hand - shoulder) / np.linalg.norm(hand - shoulder)
            for k in range(5):
                spread = np.array([0.0, 0.0, (k - 2) * 0.012 * height])
                parts.append(limb(hand + spread, hand + spread + 0.07 * height * direction, 0.006 * height))
        if armour:
            parts.append(ball(shoulder + [side * 0.02 * height, 0.01 * height, 0], 0.06 * height))
        if sword and side == -1:
            parts.append(block(hand + [0, 0, 0.25 * height], [0.02 * height, 0.03 * height, 0.55 * height]))
    if spiky_hair:
        rng = np.random.default_rng(3)
        for direction in rng.normal(size=(14, 3)) * [1, 0.4, 1] + [0, 1.2, 0]:
            direction /= np.linalg.norm(direction)
            parts.append(limb([0, head_y, 0], [0, head_y, 0] + direction * (head_r + 0.1 * height), 0.008 * height))
    if cape:
        parts.append(block([0, (0.15 * height + neck_y) / 2, -chest_w - 0.02 * height],
                           [2.4 * chest_w, neck_y - 0.15 * height, 0.02 * height]))
    if armour:
        parts.append(limb([0, hips_y - 0.02 * height, 0], [0, hips_y + 0.05 * height, 0], 1.5 * chest_w))
    if tail:
        parts.append(limb([0, hips_y, -0.05 * height], [0, 0.05 * height, -0.5 * height], 0.035 * height))
    return joined(parts)


def detailed(mesh: trimesh.Trimesh, bumps: int = 120, seed: int = 0) -> trimesh.Trimesh:
    """`mesh` with small lumps all over (buckles, studs, hair tufts, noise): what generated meshes carry."""
    rng = np.random.default_rng(seed)
    points, _ = trimesh.sample.sample_surface(mesh, bumps, seed=seed)
    size = float(mesh.extents.max())
    return joined([mesh] + [ball(p, size * rng.uniform(0.008, 0.02)) for p in points])


def quadruped(length=2.0, height=1.4, neck_up=0.35, tail=True, wings=False, leg_r=0.07) -> trimesh.Trimesh:
    """A four-legged animal along +Z (a cow, a dog, or a dragon with `wings`)."""
    body_y = 0.62 * height
    half = 0.32 * length
    parts = [limb([0, body_y, -half], [0, body_y, half], 0.16 * height)]
    for x in (-1, 1):
        for z in (-1, 1):
            parts.append(limb([x * 0.1 * height, body_y, z * 0.85 * half], [x * 0.1 * height, 0.03, z * 0.85 * half], leg_r))
    head = np.array([0, body_y + neck_up * height, half + 0.22 * length])
    parts.append(limb([0, body_y, half], head, 0.06 * height))
    parts.append(ball(head + [0, 0, 0.05 * length], 0.1 * height))
    if tail:
        parts.append(limb([0, body_y, -half], [0, 0.35 * height, -half - 0.25 * length], 0.03 * height))
    if wings:
        for x in (-1, 1):
            parts.append(block([x * 0.55 * length, body_y + 0.3 * height, 0], [0.9 * length, 0.03, 0.3 * length],
                               tilt=x * 0.35))
    return joined(parts)


def bird(height=0.5) -> trimesh.Trimesh:
    """A bird standing on two short legs, wings spread sideways, head forward and up, tail back."""
    body_y = 0.45 * height
    parts = [limb([0, body_y, -0.18 * height], [0, body_y + 0.1 * height, 0.18 * height], 0.16 * height),
             ball([0, body_y + 0.35 * height, 0.32 * height], 0.1 * height),
             limb([0, body_y + 0.1 * height, 0.18 * height], [0, body_y + 0.33 * height, 0.3 * height], 0.05 * height),
             block([0, body_y, -0.45 * height], [0.2 * height, 0.03 * height, 0.35 * height])]
    for x in (-1, 1):
        parts.append(limb([x * 0.06 * height, body_y - 0.1 * height, 0], [x * 0.07 * height, 0.02 * height, 0.02 * height],
                          0.025 * height))
        parts.append(block([x * 0.65 * height, body_y + 0.12 * height, 0], [1.0 * height, 0.03 * height, 0.3 * height],
                           tilt=x * 0.2))
    return joined(parts)


def biped_dinosaur(height=1.6) -> trimesh.Trimesh:
    """A theropod: two strong legs, a level body, a big head forward, two small arms, a long tail."""
    body_y = 0.6 * height
    parts = [limb([0, body_y, -0.3 * height], [0, body_y + 0.1 * height, 0.35 * height], 0.17 * height),
             limb([0, body_y + 0.1 * height, 0.35 * height], [0, 0.85 * height, 0.6 * height], 0.08 * height),
             ball([0, 0.9 * height, 0.75 * height], 0.12 * height),
             limb([0, body_y, -0.3 * height], [0, 0.45 * height, -1.2 * height], 0.06 * height)]
    for x in (-1, 1):
        parts.append(limb([x * 0.1 * height, body_y, -0.1 * height], [x * 0.12 * height, 0.04 * height, 0.0], 0.06 * height))
        parts.append(limb([x * 0.12 * height, body_y + 0.05 * height, 0.35 * height],
                          [x * 0.2 * height, body_y - 0.05 * height, 0.5 * height], 0.025 * height))
    return joined(parts)


def on_pedestal(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """`mesh` standing on a round base, as image-to-3D models often deliver a figurine."""
    base = trimesh.creation.cylinder(radius=0.6 * float(max(mesh.extents[0], mesh.extents[2])) / 2 + 0.1,
                                     height=0.05 * mesh.extents[1], sections=48)
    base.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    raised = mesh.copy()
    raised.apply_translation([0, 0.05 * mesh.extents[1], 0])
    base.apply_translation([0, 0.025 * mesh.extents[1] + 0.01 * mesh.extents[1], 0])
    return joined([raised, base])


def car() -> trimesh.Trimesh:
    parts = [block([0, 0.55, 0], [1.8, 0.6, 4.2]), block([0, 1.1, -0.2], [1.6, 0.5, 2.2])]
    for x in (-0.8, 0.8):
        for z in (-1.4, 1.4):
            wheel = trimesh.creation.cylinder(radius=0.33, height=0.25, sections=24)
            wheel.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
            wheel.apply_translation([x, 0.33, z])
            parts.append(wheel)
    return joined(parts)


def chair() -> trimesh.Trimesh:
    parts = [block([0, 0.47, 0], [0.46, 0.05, 0.46]), block([0, 0.72, -0.21], [0.46, 0.46, 0.04])]
    for x in (-0.2, 0.2):
        for z in (-0.2, 0.2):
            parts.append(block([x, 0.225, z], [0.04, 0.45, 0.04]))
    return joined(parts)


def table() -> trimesh.Trimesh:
    parts = [block([0, 0.73, 0], [1.4, 0.04, 0.8])]
    for x in (-0.62, 0.62):
        for z in (-0.33, 0.33):
            parts.append(block([x, 0.355, z], [0.06, 0.71, 0.06]))
    return joined(parts)


def tree() -> trimesh.Trimesh:
    parts = [limb([0, 0, 0], [0, 2.2, 0], 0.15), ball([0, 3.0, 0], 1.0)]
    for angle in np.radians([0, 120, 240]):
        parts.append(limb([0, 1.6, 0], [1.0 * np.cos(angle), 2.6, 1.0 * np.sin(angle)], 0.07))
    return joined(parts)


def characters() -> dict[str, trimesh.Trimesh]:
    """Humanoids, each +Y up, facing +Z, 1.8 m tall unless named otherwise."""
    return {
        "plain T-pose": character("T"),
        "plain A-pose": character("A"),
        "short neck T-pose": character("T", short_neck=True),
        "big head (chibi) A-pose": character("A", big_head=True, short_neck=True, legs=0.36),
        "caped knight T-pose": character("T", cape=True, armour=True),
        "caped knight A-pose, sword": character("A", cape=True, armour=True, sword=True),
        "swordsman T-pose": character("T", sword=True),
        "dragonborn with tail A-pose": character("A", tail=True, armour=True),
        "dwarf A-pose": character("A", legs=0.38, shoulders=0.3, arm=0.5, height=1.3, armour=True, short_neck=True),
        "goblin T-pose": character("T", big_head=True, legs=0.4, arm=0.75, height=1.0),
        "block robot T-pose": character("T", blocky=True, short_neck=True),
        "block robot A-pose": character("A", blocky=True),
        "mech A-pose": character("A", blocky=True, armour=True, short_neck=True, shoulders=0.32, legs=0.45),
        "armoured, arms 65 degrees down": character("A", armour=True, arm_angle=65),
        "figurine on a round base A-pose": on_pedestal(character("A", armour=True)),
        "detailed hero A-pose (fingers, studs)": detailed(character("A", fingers=True, cape=True)),
        "spiky-haired goblin A-pose (fingers)": character("A", big_head=True, legs=0.4, arm=0.75, height=1.0,
                                                         fingers=True, spiky_hair=True),
        "detailed dwarf T-pose (fingers, studs)": detailed(character("T", fingers=True, legs=0.38, shoulders=0.3,
                                                                     arm=0.5, height=1.3, armour=True), seed=1),
    }


def non_humanoids() -> dict[str, trimesh.Trimesh]:
    """Animals, vehicles and objects, each +Y up, standing on y = 0."""
    return {
        "cow": quadruped(),
        "detailed cow (studs)": detailed(quadruped(), seed=2),
        "dog": quadruped(length=1.0, height=0.7, neck_up=0.3),
        "giraffe-like": quadruped(length=2.0, height=2.2, neck_up=0.9, leg_r=0.08),
        "winged dragon": quadruped(length=3.0, height=1.6, neck_up=0.4, wings=True),
        "bird, wings spread": bird(),
        "biped dinosaur": biped_dinosaur(),
        "car": car(),
        "chair": chair(),
        "table": table(),
        "tree": tree(),
    }


def oriented(mesh: trimesh.Trimesh, up: str = "+Y", scale: float = 1.0) -> trimesh.Trimesh:
    """`mesh` (+Y up) as written with `up` up, scaled."""
    out = mesh.copy()
    if up == "+Z":
        out.apply_transform(Y_TO_Z_UP)
    out.apply_scale(scale)
    return out


def real_assets() -> dict[str, tuple[Path, bool]]:
    """Khronos glTF sample assets in tests/data/ (see tests/data/LICENSES.md): name -> (path, is humanoid)."""
    return {
        "CesiumMan (Khronos)": (DATA / "CesiumMan.glb", True),
        "Fox (Khronos)": (DATA / "Fox.glb", False),
    }
