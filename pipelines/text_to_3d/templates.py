"""The built-in generator's library: parametric assets made of closed trimesh primitives.

Each template is a function `(rng, kit) -> [(role, mesh), ...]` registered with a
category, the sentences its kind is described by (what the prompt is matched
against) and a default material per role; the first role is the primary one that
takes the prompt's colour and material. Templates draw their proportions and part
counts from `rng`, so a seed picks one variant. They build z-up in metres with the
front toward -y (the pipeline turns the result y-up, front toward glTF's +z, and
stands it on the ground); those built lengthwise along +x say so with `yaw`. Every
part is a closed, outward-facing solid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import trimesh
from scipy.interpolate import PchipInterpolator

from .prompt import Material

Parts = list[tuple[str, trimesh.Trimesh]]
SECTIONS = {"low": 12, "medium": 24, "high": 40}
SUBDIVISIONS = {"low": 1, "medium": 2, "high": 3}


class Kit:
    """Closed primitives (z-up, metres) with as many facets as the requested detail asks for."""

    def __init__(self, detail: str = "medium"):
        self.sections = SECTIONS[detail]
        self.subdivisions = SUBDIVISIONS[detail]

    def box(self, size, center) -> trimesh.Trimesh:
        return trimesh.creation.box(extents=size, transform=trimesh.transformations.translation_matrix(center))

    def cylinder(self, radius: float, height: float, base=(0.0, 0.0, 0.0), sections: int | None = None):
        """A vertical cylinder standing on `base`."""
        mesh = trimesh.creation.cylinder(radius, height, sections=sections or self.sections)
        return mesh.apply_translation(np.add(base, (0.0, 0.0, height / 2.0)))

    def rod(self, start, end, radius: float, sections: int | None = None) -> trimesh.Trimesh:
        """A cylinder from `start` to `end`."""
        return trimesh.creation.cylinder(radius, segment=[start, end], sections=sections or max(8, self.sections // 2))

    def sphere(self, radius: float, center, scale=(1.0, 1.0, 1.0), coarse: bool = False) -> trimesh.Trimesh:
        mesh = trimesh.creation.icosphere(subdivisions=1 if coarse else self.subdivisions, radius=radius)
        mesh.apply_scale(scale)
        return mesh.apply_translation(center)

    def cone(self, radius: float, height: float, base=(0.0, 0.0, 0.0), sections: int | None = None):
        return trimesh.creation.cone(radius, height, sections=sections or self.sections).apply_translation(base)

    def lathe(self, profile, base=(0.0, 0.0, 0.0), sections: int | None = None) -> trimesh.Trimesh:
        """Revolve a (radius, height) profile that starts and ends on the axis, or a closed loop off it (a ring)."""
        mesh = trimesh.creation.revolve(np.asarray(profile, dtype=np.float64), sections=sections or self.sections)
        return outward(mesh).apply_translation(base)

    def torus(self, major: float, minor: float, center, axis: str = "z") -> trimesh.Trimesh:
        mesh = trimesh.creation.torus(major, minor, major_sections=self.sections, minor_sections=max(8, self.sections // 2))
        if axis != "z":
            mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0] if axis == "y" else [0, 1, 0]))
        return mesh.apply_translation(center)

    def hull(self, points) -> trimesh.Trimesh:
        return outward(trimesh.convex.convex_hull(np.asarray(points, dtype=np.float64)))

    def slab(self, outline_xz, thickness: float) -> trimesh.Trimesh:
        """A flat convex plate (fin, sail) from its outline in the x-z plane."""
        return self.hull([(x, sy * thickness / 2, z) for x, z in outline_xz for sy in (-1, 1)])


def outward(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Flip a closed mesh whose faces wind inwards."""
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def turned(mesh: trimesh.Trimesh, angle: float, axis, point=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    return mesh.apply_transform(trimesh.transformations.rotation_matrix(angle, axis, point))


def cut(solid: trimesh.Trimesh, tool: trimesh.Trimesh) -> trimesh.Trimesh:
    """`solid` minus `tool` (manifold3d), for parts that must not poke into a cavity."""
    return outward(trimesh.boolean.difference([solid, tool], engine="manifold"))


def solid(meshes: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    """One closed surface for parts that touch or overlap: their union (manifold3d), so no faces hide inside
    and no two parts share an edge; where the union comes out unclean, the closed parts side by side."""
    if len(meshes) == 1:
        return meshes[0]
    union = trimesh.boolean.union(meshes, engine="manifold")
    union.merge_vertices()
    union.update_faces(union.nondegenerate_faces())
    union.remove_unreferenced_vertices()
    if union.is_watertight and union.is_winding_consistent and union.volume > 0:
        return union
    return trimesh.util.concatenate(meshes)


@dataclass(frozen=True)
class Template:
    name: str
    category: str
    descriptions: tuple[str, ...]
    materials: dict[str, Material]
    build: Callable[[np.random.Generator, Kit], Parts]
    yaw: float = 0.0  # degrees about z that turn the built front toward -y
    # Descriptions of other objects, matched to this template because it is the closest shape the library
    # has for them, but not built by it ("a teapot" gets a mug): a prompt naming one gets a warning.
    stand_ins: tuple[str, ...] = ()

    @property
    def primary(self) -> str:
        return next(iter(self.materials))


TEMPLATES: dict[str, Template] = {}


def template(name: str, category: str, descriptions: tuple[str, ...], yaw: float = 0.0,
             stand_ins: tuple[str, ...] = (), **materials: Material):
    def register(build):
        TEMPLATES[name] = Template(name, category, descriptions, materials, build, yaw, stand_ins)
        return build

    return register


def mat(rgb, roughness: float = 0.7, metallic: float = 0.0, pattern: str = "plain") -> Material:
    return Material(tuple(round(c / 255.0, 4) for c in rgb), roughness, metallic, pattern)


WOOD = mat((150, 100, 55), 0.75, 0.0, "wood")
DARK_WOOD = mat((95, 60, 35), 0.7, 0.0, "wood")
STEEL = mat((190, 190, 195), 0.35, 1.0, "metal")
STONE = mat((128, 125, 118), 0.9, 0.0, "stone")
FOLIAGE = mat((60, 135, 50), 0.85, 0.0, "foliage")
BLACK_RUBBER = mat((30, 30, 32), 0.9)
CERAMIC = mat((235, 232, 225), 0.25)
FABRIC = mat((70, 90, 150), 0.95, 0.0, "fabric")


# -- furniture -----------------------------------------------------------------------------------
@template("chair", "furniture", (
    "a throne", "a bar stool", "a deckchair", "a lounge chair", "a pew", "an ottoman", "a footstool", "a seat",
    "seating furniture",
    "a stool", "a sofa", "a couch", "an office chair", "a bench to sit on",
    "a chair", "a wooden dining chair with four legs and a backrest", "a seat to sit on with a back",
    "a kitchen chair", "an armchair", "a stool with a backrest for one person",
), frame=WOOD, stand_ins=("a sofa", "a couch"))
def chair(rng, kit):
    seat_h, width, depth = rng.uniform(0.42, 0.5), rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.5)
    leg, thick = rng.uniform(0.03, 0.05), 0.04
    parts = [("frame", kit.box((width, depth, thick), (0, 0, seat_h - thick / 2)))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (width / 2 - leg / 2), sy * (depth / 2 - leg / 2)
            parts.append(("frame", kit.box((leg, leg, seat_h - thick), (x, y, (seat_h - thick) / 2))))
    back_h = rng.uniform(0.35, 0.6)
    top = seat_h + back_h
    y_back = depth / 2 - leg / 2
    for sx in (-1, 1):
        parts.append(("frame", kit.box((leg, leg, back_h), (sx * (width / 2 - leg / 2), y_back, seat_h + back_h / 2))))
    parts.append(("frame", kit.box((width, leg, 0.07), (0, y_back, top - 0.035))))
    slats = int(rng.integers(0, 6))
    if slats == 0:
        parts.append(("frame", kit.box((width - 2 * leg, 0.02, back_h * 0.6), (0, y_back, seat_h + back_h * 0.45))))
    for x in np.linspace(-width / 2 + leg, width / 2 - leg, slats + 2)[1:-1]:
        parts.append(("frame", kit.box((0.03, 0.02, back_h - 0.07), (x, y_back, seat_h + (back_h - 0.07) / 2))))
    if rng.random() < 0.4:
        for sx in (-1, 1):
            x = sx * (width / 2 - leg / 2)
            parts.append(("frame", kit.box((leg, leg, 0.22), (x, -depth / 2 + leg, seat_h + 0.11))))
            parts.append(("frame", kit.box((0.06, depth, 0.03), (x, 0, seat_h + 0.23))))
    return parts


@template("table", "furniture", (
    "a coffee table", "a side table", "a bedside table", "a console table", "a writing desk", "a counter",
    "a trestle table", "a dining room table",
    "a desk", "a workbench", "a nightstand",
    "a table", "a dining table", "a wooden desk", "a round coffee table", "a kitchen table with four legs",
    "a flat tabletop to eat or work at",
), top=WOOD)
def table(rng, kit):
    height = rng.uniform(0.45, 0.78) if rng.random() < 0.3 else rng.uniform(0.72, 0.78)
    thick = rng.uniform(0.03, 0.06)
    if rng.random() < 0.4:
        radius = rng.uniform(0.4, 0.7)
        return [
            ("top", kit.cylinder(radius, thick, (0, 0, height - thick))),
            ("top", kit.cylinder(rng.uniform(0.04, 0.07), height - thick, (0, 0, 0))),
            ("top", kit.cylinder(radius * rng.uniform(0.4, 0.6), 0.03, (0, 0, 0))),
        ]
    length, width, leg = rng.uniform(0.9, 1.8), rng.uniform(0.6, 0.95), rng.uniform(0.04, 0.08)
    parts = [("top", kit.box((length, width, thick), (0, 0, height - thick / 2)))]
    inset = rng.uniform(0.02, 0.1)
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (length / 2 - inset - leg / 2), sy * (width / 2 - inset - leg / 2)
            parts.append(("top", kit.box((leg, leg, height - thick), (x, y, (height - thick) / 2))))
    return parts


@template("bookshelf", "furniture", (
    "a cabinet", "a sideboard", "a display cabinet", "a closet", "a dresser", "a shelving rack", "a bookcase",
    "a cupboard", "a wardrobe", "a dresser with drawers", "a shelf",
    "a bookshelf", "a bookcase full of books", "shelves with books", "a wooden shelving unit",
    "a library shelf", "a cabinet with open shelves",
), frame=DARK_WOOD, book_a=mat((160, 40, 40), 0.8), book_b=mat((40, 80, 140), 0.8), book_c=mat((200, 170, 90), 0.8))
def bookshelf(rng, kit):
    width, height, depth, board = rng.uniform(0.6, 1.2), rng.uniform(1.2, 2.0), rng.uniform(0.25, 0.35), 0.025
    shelves = int(rng.integers(3, 7))
    parts = [
        ("frame", kit.box((board, depth, height), (sx * (width / 2 - board / 2), 0, height / 2))) for sx in (-1, 1)
    ]
    parts.append(("frame", kit.box((width, 0.01, height), (0, depth / 2 - 0.005, height / 2))))
    levels = np.linspace(0.05, height - board, shelves + 1)
    for z in levels:
        parts.append(("frame", kit.box((width - 2 * board, depth - 0.01, board), (0, -0.005, z + board / 2))))
    gap = levels[1] - levels[0] - board
    for z in levels[:-1]:
        x = -width / 2 + board + 0.01
        while True:
            w = rng.uniform(0.02, 0.05)
            if x + w > width / 2 - board - 0.01 or rng.random() < 0.04:
                break
            h = gap * rng.uniform(0.55, 0.9)
            role = ("book_a", "book_b", "book_c")[int(rng.integers(3))]
            parts.append((role, kit.box((w * 0.95, depth * 0.75, h), (x + w / 2, -0.02, z + board + h / 2))))
            x += w
    return parts


@template("bed", "furniture", (
    "a crib", "a king-size bed", "a hospital bed", "a daybed", "a cradle", "a bed with a duvet", "a guest bed",
    "bedroom furniture to sleep on",
    "a bunk bed", "a cot",
    "a bed", "a double bed with pillows and a blanket", "a single bed to sleep in", "a bedroom bed with a headboard",
    "a mattress on a wooden bed frame",
), bedding=FABRIC, frame=WOOD, pillow=mat((240, 240, 235), 0.95, 0.0, "fabric"))
def bed(rng, kit):
    width, length = rng.choice([0.9, 1.4, 1.6, 1.8]) + rng.uniform(0, 0.1), rng.uniform(1.95, 2.1)
    frame_h, mattress = rng.uniform(0.25, 0.4), rng.uniform(0.15, 0.25)
    parts = [("frame", kit.box((width + 0.06, length, frame_h - 0.1), (0, 0, 0.1 + (frame_h - 0.1) / 2)))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(("frame", kit.box((0.06, 0.06, 0.1), (sx * width / 2, sy * (length / 2 - 0.03), 0.05))))
    head_h = rng.uniform(0.5, 1.0)
    parts.append(("frame", kit.box((width + 0.1, 0.06, frame_h + head_h), (0, length / 2 + 0.03, (frame_h + head_h) / 2))))
    parts.append(("bedding", kit.box((width, length * 0.98, mattress), (0, -0.01, frame_h + mattress / 2))))
    count = 1 if width < 1.2 else int(rng.integers(1, 3))
    for x in np.linspace(-width / 2, width / 2, count + 2)[1:-1]:
        parts.append(("pillow", kit.sphere(1.0, (x, length / 2 - 0.3, frame_h + mattress + 0.05),
                                          scale=(min(0.3, width / (2 * count) - 0.03), 0.18, 0.07))))
    return parts


@template("lamp", "furniture", (
    "a street lamp", "a lamp post", "a ceiling light", "a light fixture", "a spotlight", "a night light",
    "a lampshade on a stand",
    "a light", "a bedside lamp", "a standing lamp", "a lantern", "a chandelier",
    "a lamp", "a table lamp with a lampshade", "a floor lamp", "a desk light", "a reading lamp with a shade",
), shade=mat((235, 220, 180), 0.9, 0.0, "fabric"), stand=STEEL, bulb=mat((255, 245, 200), 0.2))
def lamp(rng, kit):
    tall = rng.random() < 0.4
    height = rng.uniform(1.4, 1.7) if tall else rng.uniform(0.35, 0.6)
    base_r = height * rng.uniform(0.1, 0.18) if not tall else rng.uniform(0.14, 0.2)
    shade_h = rng.uniform(0.18, 0.25) * (1.6 if tall else 1.0)
    bottom_r, top_r = shade_h * rng.uniform(0.8, 1.1), shade_h * rng.uniform(0.45, 0.7)
    z0, t = height - shade_h * 0.8, 0.006
    shade = [(bottom_r, z0), (top_r, z0 + shade_h), (top_r - t, z0 + shade_h), (bottom_r - t, z0), (bottom_r, z0)]
    return [
        ("shade", kit.lathe(shade)),
        ("stand", kit.lathe([(0, 0), (base_r, 0), (base_r, 0.02), (base_r * 0.5, 0.05), (0, 0.05)])),
        ("stand", kit.cylinder(0.012, z0 + shade_h * 0.4, (0, 0, 0.04))),
        ("bulb", kit.sphere(0.035, (0, 0, z0 + shade_h * 0.4))),
    ]


# -- containers ----------------------------------------------------------------------------------
@template("barrel", "containers", (
    "a keg", "a tub", "a hogshead", "a water butt", "a storage barrel", "a whiskey barrel",
    "a cask", "a rain barrel", "a drum",
    "a barrel", "a wooden barrel with metal hoops", "a wine cask", "a keg of beer", "an oak storage drum",
), staves=WOOD, hoops=mat((70, 70, 75), 0.5, 1.0, "metal"))
def barrel(rng, kit):
    height, radius = rng.uniform(0.8, 1.1), rng.uniform(0.28, 0.4)
    bulge = radius * rng.uniform(1.08, 1.2)
    zs = np.linspace(0, height, 9)
    radii = radius + (bulge - radius) * np.sin(np.pi * zs / height)
    parts = [("staves", kit.lathe([(0, 0), *zip(radii, zs), (0, height)]))]
    bands = int(rng.integers(2, 5))
    for z in np.concatenate([[0.08, height - 0.08], np.linspace(0.25, 0.75, max(bands - 2, 0)) * height]):
        r = radius + (bulge - radius) * np.sin(np.pi * z / height) + 0.006
        parts.append(("hoops", kit.lathe([(r - 0.02, z - 0.025), (r, z - 0.025), (r, z + 0.025), (r - 0.02, z + 0.025),
                                          (r - 0.02, z - 0.025)])))
    return parts


@template("crate", "containers", (
    "a box", "a trunk", "a wooden box", "a coffer", "a footlocker", "a loot chest", "a shipping container box",
    "a pallet crate",
    "a treasure chest", "a chest", "a package", "a cube",
    "a crate", "a wooden crate", "a wooden shipping box", "a cargo box made of planks", "a storage box",
    "a cardboard box", "a cube-shaped wooden chest",
), boards=WOOD)
def crate(rng, kit):
    size = rng.uniform(0.4, 0.9) * np.array([rng.uniform(0.9, 1.4), 1.0, rng.uniform(0.7, 1.1)])
    beam = size.min() * rng.uniform(0.08, 0.14)
    parts = [("boards", kit.box(size - beam * 0.6, (0, 0, size[2] / 2)))]
    for axis in range(3):
        for a in (-1, 1):
            for b in (-1, 1):
                extent = np.full(3, beam)
                extent[axis] = size[axis]
                center = np.zeros(3)
                others = [i for i in range(3) if i != axis]
                center[others[0]] = a * (size[others[0]] - beam) / 2
                center[others[1]] = b * (size[others[1]] - beam) / 2
                center[2] += size[2] / 2
                parts.append(("boards", kit.box(extent, center)))
    if rng.random() < 0.6:
        length = np.hypot(size[0] - beam, size[2] - beam)
        angle = np.arctan2(size[2] - beam, size[0] - beam)
        for sy in (-1, 1):
            brace = kit.box((length, beam * 0.8, beam * 0.8), (0, 0, 0))
            turned(brace, angle * (1 if rng.random() < 0.5 else -1), [0, 1, 0])
            parts.append(("boards", brace.apply_translation((0, sy * (size[1] / 2 - beam * 0.3), size[2] / 2))))
    return parts


@template("vase", "containers", (
    "a pitcher", "a carafe", "a decanter", "a canister", "a pottery vessel", "an ewer", "a ceramic jar for storage",
    "a pot for water",
    "a jar", "a pot", "a bucket", "a bowl", "a flask", "a jug",
    "a vase", "a flower vase", "a ceramic pot", "an amphora", "a clay jar", "a porcelain urn", "a bottle",
), body=mat((60, 110, 170), 0.25))
def vase(rng, kit):
    height = rng.uniform(0.25, 0.5)
    base, belly, neck, lip = (height * rng.uniform(0.15, 0.25), height * rng.uniform(0.25, 0.4),
                              height * rng.uniform(0.08, 0.18), height * rng.uniform(0.12, 0.22))
    belly_z, neck_z, wall = height * rng.uniform(0.3, 0.55), height * rng.uniform(0.75, 0.88), 0.006
    z = np.linspace(0.0, height, 16)
    radius = PchipInterpolator([0.0, belly_z, neck_z, height], [base, belly, neck, lip])(z)
    outer = list(zip(radius, z))
    inner = [(r - wall, max(h, 0.015)) for r, h in zip(radius[::-1], z[::-1])]
    return [("body", kit.lathe([(0, 0), *outer, *inner, (0, 0.015)]))]


@template("mug", "containers", (
    "a beaker", "a tumbler", "a drinking cup", "a cup of coffee", "a mug of tea", "an espresso cup", "a travel mug",
    "a beer mug",
    "a cup of hot chocolate", "a mug of cocoa",
    "a trophy cup", "a teapot",
    "a cup", "a goblet", "a chalice", "a glass to drink from", "a tankard",
    "a mug", "a coffee mug with a handle", "a cup of tea", "a teacup", "a ceramic cup", "a beer stein",
), body=CERAMIC, stand_ins=("a teapot", "a trophy cup", "a goblet", "a chalice"))
def mug(rng, kit):
    height, radius, wall = rng.uniform(0.08, 0.12), rng.uniform(0.035, 0.05), 0.005
    flare = radius * rng.uniform(1.0, 1.2)
    body = kit.lathe([(0, 0), (radius, 0), (flare, height), (flare - wall, height), (radius - wall, 0.008), (0, 0.008)])
    major = height * rng.uniform(0.25, 0.35)
    handle = kit.torus(major, rng.uniform(0.006, 0.01), (radius + major * 0.55, 0, height * 0.5), axis="y")
    solid = kit.lathe([(0, 0), (radius - 0.001, 0), (flare - 0.001, height), (0, height)])
    return [("body", body), ("body", cut(handle, solid))]


# -- plants --------------------------------------------------------------------------------------
@template("tree", "plants", (
    "an oak", "an elm", "a beech", "an ash tree", "a poplar", "a chestnut tree", "a sycamore", "an olive tree",
    "a magnolia", "a linden tree", "a deciduous tree in autumn",
    "a cherry tree", "a fruit tree", "a baobab",
    "a birch tree", "a bush", "a shrub", "a palm tree", "a willow",
    "a tree", "an oak tree with a round leafy crown", "a leafy deciduous tree", "a big shady tree in a park",
    "a maple tree", "an apple tree",
), leaves=FOLIAGE, trunk=mat((100, 70, 45), 0.9, 0.0, "wood"), stand_ins=("a palm tree",))
def tree(rng, kit):
    height, trunk_r = rng.uniform(3.0, 7.0), rng.uniform(0.12, 0.3)
    crown_z = height * rng.uniform(0.5, 0.65)
    parts = [("trunk", kit.lathe([(0, 0), (trunk_r * 1.4, 0), (trunk_r, 0.3), (trunk_r * 0.6, crown_z + 0.5),
                                  (0, crown_z + 0.5)]))]
    crown = (height - crown_z) / 2
    for _ in range(int(rng.integers(3, 8))):
        offset = rng.normal(0, crown * 0.35, 3) * (1, 1, 0.6)
        r = crown * rng.uniform(0.55, 0.85)
        parts.append(("leaves", lumpy(kit, r, (0, 0, crown_z + crown) + offset, rng, 0.12)))
    return parts


@template("pine_tree", "plants", (
    "a redwood", "a sequoia", "a cedar", "a cypress", "a larch", "a hemlock", "a yew", "a douglas fir",
    "a coniferous tree with cones",
    "an xmas tree",
    "a pine tree", "a fir tree", "a christmas tree", "a conifer", "an evergreen spruce", "a tall pine in a forest",
), needles=mat((35, 95, 50), 0.85, 0.0, "foliage"), trunk=mat((95, 65, 40), 0.9, 0.0, "wood"))
def pine_tree(rng, kit):
    height, tiers = rng.uniform(3.0, 9.0), int(rng.integers(3, 7))
    trunk_h = height * rng.uniform(0.15, 0.25)
    parts = [("trunk", kit.cylinder(height * 0.035, trunk_h + 0.2))]
    spread = height * rng.uniform(0.22, 0.32)
    for i in range(tiers):
        t = i / tiers
        z = trunk_h + (height - trunk_h) * t * 0.8
        parts.append(("needles", kit.cone(spread * (1 - t * 0.7), (height - trunk_h) * rng.uniform(0.3, 0.4), (0, 0, z))))
    return parts


@template("cactus", "plants", (
    "a succulent", "an agave", "a cactus with spikes",
    "an aloe plant",
    "a cactus", "a saguaro cactus with arms", "a desert succulent", "a prickly cactus in the desert",
), cactus=mat((70, 140, 70), 0.7, 0.0, "foliage"), flower=mat((230, 80, 140), 0.6))
def cactus(rng, kit):
    height = rng.uniform(0.5, 2.5)
    radius = height * rng.uniform(0.08, 0.12)
    parts = [("cactus", trimesh.creation.capsule(height - 2 * radius, radius, count=[kit.sections, kit.sections])
              .apply_translation((0, 0, height / 2)))]
    for i in range(int(rng.integers(0, 4))):
        side = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(side), np.sin(side), 0.0])
        z0, reach, rise = height * rng.uniform(0.3, 0.6), radius * rng.uniform(1.8, 2.6), height * rng.uniform(0.2, 0.35)
        arm_r = radius * rng.uniform(0.55, 0.75)
        elbow = direction * reach + (0, 0, z0)
        parts.append(("cactus", kit.rod((0, 0, z0), elbow, arm_r)))
        parts.append(("cactus", kit.sphere(arm_r, elbow)))
        parts.append(("cactus", trimesh.creation.capsule(rise, arm_r, count=[kit.sections, kit.sections])
                      .apply_translation(elbow + (0, 0, rise / 2))))
    if rng.random() < 0.5:
        parts.append(("flower", kit.sphere(radius * 0.4, (0, 0, height), scale=(1, 1, 0.6))))
    return parts


@template("potted_flower", "plants", (
    "a lily", "a poppy", "a violet", "a lavender plant", "a fern", "a potted fern", "a peony", "a marigold",
    "a flowering plant", "a pot of flowers", "a blooming flower on a stem",
    "a flower", "a rose", "a sunflower", "a plant", "a bonsai",
    "a flower in a pot", "a potted plant with blossoms", "a bouquet of flowers", "tulips in a flowerpot",
    "a daisy", "a houseplant in a planter",
), petals=mat((230, 70, 110), 0.6), pot=mat((180, 90, 55), 0.9, 0.0, "stone"),
    stem=mat((60, 140, 60), 0.7, 0.0, "foliage"), center=mat((245, 200, 40), 0.7), soil=mat((75, 50, 30), 1.0, 0.0, "stone"),
    stand_ins=("a bonsai",))
def potted_flower(rng, kit):
    pot_h, pot_r = rng.uniform(0.12, 0.2), rng.uniform(0.07, 0.12)
    wall = 0.008
    parts = [("pot", kit.lathe([(0, 0), (pot_r * 0.75, 0), (pot_r, pot_h), (pot_r - wall, pot_h),
                                (pot_r * 0.75 - wall, wall), (0, wall)])),
             ("soil", kit.cylinder(pot_r * 0.94 - wall, pot_h * 0.08, (0, 0, pot_h * 0.78)))]
    for _ in range(int(rng.integers(1, 6))):
        tip = np.array([rng.normal(0, pot_r * 0.8), rng.normal(0, pot_r * 0.8), pot_h + rng.uniform(0.12, 0.3)])
        parts.append(("stem", kit.rod((tip[0] * 0.2, tip[1] * 0.2, pot_h * 0.8), tip, 0.004)))
        bloom = rng.uniform(0.025, 0.045)
        parts.append(("center", kit.sphere(bloom * 0.35, tip, scale=(1, 1, 0.7), coarse=True)))
        petals = int(rng.integers(5, 9))
        for k in range(petals):
            a = 2 * np.pi * k / petals
            petal = kit.sphere(1.0, (0, 0, 0), scale=(bloom * 0.55, bloom * 0.25, bloom * 0.08), coarse=True)
            turned(petal, a, [0, 0, 1])
            parts.append(("petals", petal.apply_translation(tip + bloom * 0.5 * np.array([np.cos(a), np.sin(a), 0]))))
    return parts


@template("mushroom", "plants", (
    "a button mushroom", "a shiitake", "a portobello", "a truffle", "a toadstool",
    "a porcini", "a morel", "a chanterelle", "a puffball",
    "mushrooms", "a magic mushroom",
    "a mushroom", "a toadstool with white spots", "a red fly agaric mushroom", "a fungus", "wild forest mushrooms",
), cap=mat((200, 40, 35), 0.6), stalk=mat((235, 225, 205), 0.8), spots=mat((245, 245, 240), 0.7),
    stand_ins=("a truffle",))
def mushroom(rng, kit):
    parts, spread = [], 0.0
    for i in range(int(rng.integers(1, 4))):
        height = rng.uniform(0.08, 0.2) * (1.0 if i == 0 else rng.uniform(0.5, 0.8))
        stalk_r, cap_r = height * rng.uniform(0.12, 0.2), height * rng.uniform(0.45, 0.8)
        spread = spread or cap_r
        side = rng.uniform(0, 2 * np.pi)
        base = np.zeros(3) if i == 0 else spread * rng.uniform(1.1, 1.6) * np.array([np.cos(side), np.sin(side), 0])
        parts.append(("stalk", kit.lathe([(0, 0), (stalk_r * 1.3, 0), (stalk_r, height), (0, height)], base)))
        dome = cap_r * rng.uniform(0.4, 0.8)
        angles = np.linspace(0, np.pi / 2, 8)
        profile = [(0, height * 0.9), (cap_r, height * 0.9)] + [(cap_r * np.cos(a), height * 0.9 + dome * np.sin(a))
                                                               for a in angles[1:]]
        parts.append(("cap", kit.lathe(profile, base)))
        for _ in range(int(rng.integers(0, 8))):
            a, e = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 1.2)
            point = base + (cap_r * np.cos(e) * np.cos(a), cap_r * np.cos(e) * np.sin(a), height * 0.9 + dome * np.sin(e))
            parts.append(("spots", kit.sphere(cap_r * 0.12, point, scale=(1, 1, 0.5), coarse=True)))
    return parts


# -- rocks ---------------------------------------------------------------------------------------
def lumpy(kit: Kit, radius: float, center, rng, roughness: float) -> trimesh.Trimesh:
    """A sphere with random low-frequency bumps: still closed, still star-shaped around its centre."""
    mesh = trimesh.creation.icosphere(subdivisions=kit.subdivisions + 1, radius=1.0)
    directions = rng.normal(size=(6, 3))
    phases = rng.uniform(0, 2 * np.pi, 6)
    bumps = np.sin(mesh.vertices @ directions.T * 2.5 + phases).sum(axis=1) / 6.0
    mesh.vertices *= (radius * (1.0 + roughness * bumps))[:, None]
    return outward(mesh.apply_translation(center))


@template("rock", "rocks", (
    "a cobblestone", "a slab of rock", "a crag", "a stone outcrop", "a menhir", "a rocky lump",
    "a stone", "a cliff", "an asteroid", "a meteorite",
    "a rock", "a boulder", "a big stone", "a pile of rocks", "a pebble", "a craggy grey stone on the ground",
), stone=STONE)
def rock(rng, kit):
    parts = []
    for i in range(int(rng.integers(1, 4))):
        r = rng.uniform(0.3, 0.8) * (1.0 if i == 0 else rng.uniform(0.3, 0.6))
        center = np.array([0.0, 0.0, r * 0.5]) if i == 0 else np.array([*rng.normal(0, 0.7, 2), r * 0.4])
        mesh = lumpy(kit, 1.0, (0, 0, 0), rng, rng.uniform(0.15, 0.35))
        mesh.apply_scale((r * rng.uniform(0.9, 1.3), r * rng.uniform(0.8, 1.1), r * rng.uniform(0.5, 0.8)))
        parts.append(("stone", mesh.apply_translation(center)))
    return parts


@template("crystal", "rocks", (
    "a sapphire", "a topaz", "an opal", "a precious gem", "a shard of crystal", "a geode", "a crystal cluster",
    "a glittering jewel",
    "a diamond", "a jewel", "an ice crystal",
    "a crystal", "a cluster of glowing crystals", "a gemstone", "an amethyst geode", "quartz crystals growing from a rock",
    "a magic gem",
), crystal=mat((150, 90, 220), 0.08), rock=STONE)
def crystal(rng, kit):
    base_r = rng.uniform(0.15, 0.35)
    parts = [("rock", lumpy(kit, 1.0, (0, 0, 0), rng, 0.2).apply_scale((base_r, base_r, base_r * 0.4)))]
    for i in range(int(rng.integers(3, 9))):
        length = base_r * rng.uniform(0.8, 2.2) * (1.4 if i == 0 else 1.0)
        r = length * rng.uniform(0.12, 0.2)
        ring = [(r * np.cos(a), r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 7)[:-1]]
        points = [(x, y, 0) for x, y in ring] + [(x, y, length * 0.8) for x, y in ring] + [(0, 0, length)]
        shard = kit.hull(points)
        tilt = 0.0 if i == 0 else rng.uniform(0.2, 0.8)
        turned(shard, tilt, [np.cos(rng.uniform(0, 6.3)), np.sin(rng.uniform(0, 6.3)), 0])
        parts.append(("crystal", shard.apply_translation((*rng.normal(0, base_r * 0.3, 2), base_r * 0.1))))
    return parts


# -- buildings -----------------------------------------------------------------------------------
@template("house", "buildings", (
    "a mansion", "a chalet", "a cottage", "a townhouse", "a shed", "a lodge", "a ranch house", "a manor", "a home",
    "a dwelling",
    "a farmhouse", "a villa", "a bungalow", "a temple",
    "a building", "a barn", "a church", "a hut", "a shop",
    "a house", "a cottage with a pitched roof", "a small home with a door and windows", "a cabin", "a village house",
    "a two storey family home with a chimney",
), walls=mat((225, 215, 190), 0.9, 0.0, "stone"), roof=mat((150, 50, 40), 0.8), trim=DARK_WOOD,
    glass=mat((120, 160, 200), 0.1), stand_ins=("a temple", "a church"))
def house(rng, kit):
    width, depth, floors = rng.uniform(6, 10), rng.uniform(5, 8), int(rng.integers(1, 3))
    wall_h = floors * rng.uniform(2.6, 3.0)
    roof_h, eave = rng.uniform(1.5, 3.5), 0.35
    parts = [("walls", kit.box((width, depth, wall_h), (0, 0, wall_h / 2)))]
    hw, hd = width / 2 + eave, depth / 2 + eave
    parts.append(("roof", kit.hull([(x, y, wall_h) for x in (-hw, hw) for y in (-hd, hd)]
                                   + [(x, 0, wall_h + roof_h) for x in (-hw, hw)])))
    door_x = rng.uniform(-width / 4, width / 4)
    parts.append(("trim", kit.box((1.0, 0.1, 2.1), (door_x, -depth / 2, 1.05))))
    per_floor = int(rng.integers(2, 5))
    for floor in range(floors):
        for x in np.linspace(-width / 2, width / 2, per_floor + 2)[1:-1]:
            if floor == 0 and abs(x - door_x) < 1.2:
                continue
            parts.append(("glass", kit.box((1.0, 0.08, 1.2), (x, -depth / 2, floor * wall_h / floors + 1.6))))
    if rng.random() < 0.6:
        cx = rng.uniform(-width / 3, width / 3)
        parts.append(("walls", kit.box((0.6, 0.6, roof_h + 1.0), (cx, depth / 4, wall_h + (roof_h + 1.0) / 2))))
    return parts


@template("tower", "buildings", (
    "a spire", "a fortress", "a citadel", "a belfry", "a windmill", "a lookout tower", "a high-rise", "an obelisk",
    "a pagoda", "a castle keep",
    "a keep", "a bell tower", "a clock tower", "a water tower",
    "a castle", "a skyscraper", "a chimney stack", "a minaret", "a silo",
    "a tower", "a castle tower with battlements", "a stone watchtower", "a lighthouse", "a medieval keep",
    "a turret of a fortress",
), stone=STONE, roof=mat((60, 70, 110), 0.7), stand_ins=("a windmill", "a pagoda"))
def tower(rng, kit):
    height, radius = rng.uniform(8, 16), rng.uniform(2.0, 3.2)
    parts = [("stone", kit.cylinder(radius, height))]
    merlons = int(rng.integers(8, 15))
    for k in range(merlons):
        a = 2 * np.pi * k / merlons
        merlon = kit.box((0.5, 0.6, 0.8), (0, 0, 0))
        turned(merlon, a, [0, 0, 1])
        parts.append(("stone", merlon.apply_translation((radius * 0.9 * np.cos(a), radius * 0.9 * np.sin(a), height + 0.4))))
    if rng.random() < 0.5:
        parts.append(("roof", kit.cone(radius * 1.1, rng.uniform(3, 6), (0, 0, height))))
    for k in range(int(rng.integers(2, 6))):
        a = rng.uniform(0, 2 * np.pi)
        slit = kit.box((0.3, 0.4, 1.1), (0, 0, 0))
        turned(slit, a + np.pi / 2, [0, 0, 1])
        parts.append(("roof", slit.apply_translation((radius * np.cos(a), radius * np.sin(a), rng.uniform(2, height - 2)))))
    return parts


# -- vehicles ------------------------------------------------------------------------------------
@template("car", "vehicles", (
    "an SUV", "a minivan", "a coupe", "a station wagon", "a cab", "a buggy", "a go-kart", "a lorry", "a motorbike",
    "a race car", "a monster truck", "a limo", "a family car",
    "a limousine", "a convertible", "an ambulance", "a fire truck",
    "a motorcycle", "a tank", "a train", "a bicycle",
    "a truck", "a van", "a bus", "a jeep", "a racing car", "a police car", "a tractor",
    "a car", "a sedan", "a sports car", "a pickup truck", "an automobile with four wheels", "a taxi",
    "a vehicle to drive on the road",
), yaw=-90.0, body=mat((200, 40, 40), 0.3, 0.6), tyres=BLACK_RUBBER, glass=mat((40, 50, 60), 0.05), lights=mat((250, 245, 220), 0.2),
    stand_ins=("a motorbike", "a motorcycle", "a tank", "a train", "a bicycle", "a tractor", "a bus"))
def car(rng, kit):
    length, width = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.95)
    wheel_r, clearance = rng.uniform(0.3, 0.38), rng.uniform(0.15, 0.3)
    body_h = rng.uniform(0.5, 0.7)
    bottom = clearance
    parts = [("body", kit.box((length, width, body_h), (0, 0, bottom + body_h / 2)))]
    pickup = rng.random() < 0.3
    cab_len = length * (0.35 if pickup else rng.uniform(0.45, 0.6))
    cab_x = length * (0.1 if pickup else rng.uniform(-0.08, 0.02))
    cab_h = rng.uniform(0.45, 0.6)
    top = bottom + body_h
    parts.append(("glass", kit.hull([(cab_x + sx * cab_len / 2, sy * width * 0.46, top) for sx in (-1, 1) for sy in (-1, 1)]
                                    + [(cab_x + sx * cab_len * 0.32, sy * width * 0.42, top + cab_h)
                                       for sx in (-1, 1) for sy in (-1, 1)])))
    parts.append(("body", kit.box((cab_len * 0.6, width * 0.86, 0.05), (cab_x, 0, top + cab_h))))
    for sx in (-1, 1):
        for sy in (-1, 1):
            center = (sx * length * 0.32, sy * (width / 2 - 0.08), wheel_r)
            parts.append(("tyres", kit.rod(np.add(center, (0, -0.12, 0)), np.add(center, (0, 0.12, 0)), wheel_r,
                                           sections=kit.sections)))
        for sy in (-1, 1):
            parts.append(("lights", kit.sphere(0.08, (length / 2, sy * width * 0.35, bottom + body_h * 0.65),
                                               scale=(0.5, 1, 0.7), coarse=True)))
    return parts


@template("boat", "vehicles", (
    "a trawler", "a tugboat", "a catamaran", "a schooner", "a battleship", "a speedboat", "a steamboat", "a barge",
    "a dinghy", "a frigate", "an ocean liner", "a warship",
    "a galleon", "a ferry", "a raft", "a viking ship", "a gondola",
    "a ship", "a canoe", "a kayak", "a submarine", "a pirate ship",
    "a boat", "a sailboat", "a small fishing boat", "a rowing boat", "a ship on the water", "a yacht with a sail",
), yaw=-90.0, hull=mat((240, 240, 235), 0.4), deck=WOOD, sail=mat((245, 240, 225), 0.9, 0.0, "fabric"),
    stand_ins=("a submarine",))
def boat(rng, kit):
    length = rng.uniform(3, 8)
    beam, depth = length * rng.uniform(0.28, 0.38), length * rng.uniform(0.12, 0.18)
    hull_points = [(-length / 2, sy * beam / 2 * 0.8, depth) for sy in (-1, 1)] + [(length / 2, 0, depth * 1.15)]
    hull_points += [(x, sy * beam / 2, depth) for x in (-length / 4, length / 8) for sy in (-1, 1)]
    hull_points += [(x, sy * beam * 0.15, 0) for x in (-length * 0.4, length * 0.25) for sy in (-1, 1)]
    parts = [("hull", kit.hull(hull_points)),
             ("deck", kit.box((length * 0.55, beam * 0.8, 0.04), (-length * 0.1, 0, depth + 0.02)))]
    if rng.random() < 0.6:
        mast_h = length * rng.uniform(0.9, 1.4)
        parts.append(("deck", kit.cylinder(0.05, mast_h, (0, 0, depth))))
        parts.append(("sail", kit.hull([(0.08, -0.02, depth + 0.6), (0.08, 0.02, depth + 0.6), (0.08, 0, depth + mast_h),
                                        (-length * 0.4, -0.02, depth + 0.6), (-length * 0.4, 0.02, depth + 0.6)])))
        if rng.random() < 0.5:
            parts.append(("sail", kit.hull([(-0.08, 0, depth + mast_h * 0.9), (length * 0.45, -0.02, depth + 0.4),
                                            (length * 0.45, 0.02, depth + 0.4), (-0.08, 0.02, depth + 0.4),
                                            (-0.08, -0.02, depth + 0.4)])))
    else:
        cabin = (length * rng.uniform(0.2, 0.35), beam * 0.6, depth * rng.uniform(0.8, 1.4))
        parts.append(("hull", kit.box(cabin, (-length * 0.05, 0, depth + cabin[2] / 2))))
    return parts


@template("rocket", "vehicles", (
    "a space capsule", "a launch vehicle", "a starship", "an interstellar spacecraft", "a firework rocket",
    "a rocket booster",
    "a space shuttle", "a spacecraft",
    "a rocket", "a space rocket with fins", "a spaceship", "a missile", "a rocket ship launching to the moon",
), body=mat((235, 235, 240), 0.35, 0.3), fins=mat((200, 40, 40), 0.5), window=mat((80, 160, 220), 0.05),
    stand_ins=("a space shuttle",))
def rocket(rng, kit):
    height = rng.uniform(2.0, 5.0)
    radius = height * rng.uniform(0.07, 0.11)
    nose = height * rng.uniform(0.2, 0.3)
    body_top = height - nose
    angles = np.linspace(0, np.pi / 2, 8)[1:]
    profile = [(0, 0), (radius * 0.8, 0), (radius, height * 0.08), (radius, body_top)]
    profile += [(radius * np.cos(a), body_top + nose * np.sin(a)) for a in angles]
    parts = [("body", kit.lathe(profile))]
    fins = int(rng.integers(3, 5))
    span, fin_h = radius * rng.uniform(0.8, 1.5), height * rng.uniform(0.18, 0.3)
    for k in range(fins):
        a = 2 * np.pi * k / fins
        fin = kit.hull([(radius * 0.5, -0.01, 0), (radius * 0.5, 0.01, 0), (radius * 0.5, 0, fin_h),
                        (radius + span, -0.01, -height * 0.02), (radius + span, 0.01, -height * 0.02),
                        (radius + span * 0.6, 0, fin_h * 0.4)])
        parts.append(("fins", turned(fin.apply_translation((0, 0, height * 0.02)), a, [0, 0, 1])))
    for k in range(int(rng.integers(1, 4))):
        parts.append(("window", kit.sphere(radius * 0.22, (radius * 0.97, 0, body_top * (0.55 + 0.13 * k)),
                                           scale=(0.5, 1, 1))))
    return parts


@template("airplane", "vehicles", (
    "a seaplane", "a glider", "a bomber", "a jet plane", "a private jet", "a warplane", "an aircraft",
    "an airliner",
    "an airplane", "a plane with wings", "a jet airliner", "a small propeller aircraft", "a fighter jet",
    "a biplane", "an aeroplane flying in the sky",
), yaw=-90.0, fuselage=mat((235, 235, 240), 0.35, 0.4), wings=mat((200, 45, 45), 0.45), glass=mat((40, 60, 90), 0.05))
def airplane(rng, kit):
    length = rng.uniform(6.0, 14.0)
    radius = length * rng.uniform(0.05, 0.07)
    body = trimesh.creation.capsule(length - 2 * radius, radius, count=[kit.sections, kit.sections])
    body = turned(body, np.pi / 2, [0, 1, 0]).apply_translation((0, 0, radius))
    span, chord = length * rng.uniform(0.8, 1.2), length * rng.uniform(0.12, 0.2)
    sweep, wing_x = chord * rng.uniform(0.0, 1.0), length * rng.uniform(-0.05, 0.1)
    parts = [("fuselage", body)]
    wing_z = radius * (0.4 if rng.random() < 0.5 else 1.6)
    levels = [wing_z, wing_z + radius * 2.2] if rng.random() < 0.2 else [wing_z]
    for z in levels:
        for sy in (-1, 1):
            parts.append(("wings", kit.hull([(wing_x + chord / 2, 0, z), (wing_x - chord / 2, 0, z),
                                            (wing_x + chord / 4 - sweep, sy * span / 2, z),
                                            (wing_x - chord / 4 - sweep, sy * span / 2, z)]
                                           + [(wing_x, 0, z + 0.06), (wing_x - sweep, sy * span / 2, z + 0.04)])))
    tail = -length / 2 + radius
    parts.append(("wings", kit.slab([(tail + chord * 0.6, radius * 1.6), (tail - radius * 0.5, radius * 1.6),
                                     (tail - radius * 0.2, radius * 1.6 + length * rng.uniform(0.12, 0.2))], 0.08)))
    for sy in (-1, 1):
        parts.append(("wings", kit.hull([(tail + chord * 0.4, 0, radius * 1.2), (tail - radius * 0.4, 0, radius * 1.2),
                                        (tail - radius * 0.2, sy * span * 0.2, radius * 1.2),
                                        (tail + chord * 0.1, sy * span * 0.2, radius * 1.2),
                                        (tail, 0, radius * 1.3)])))
    parts.append(("glass", kit.sphere(radius * 0.8, (length / 2 - radius * 1.6, 0, radius * 1.55), scale=(1.6, 0.8, 0.5))))
    if rng.random() < 0.5:
        nose = length / 2 + 0.05
        parts.append(("glass", kit.box((0.06, radius * 2.8, radius * 0.3), (nose, 0, radius))))
    return parts


# -- tools ---------------------------------------------------------------------------------------
@template("hammer", "tools", (
    "a tomahawk", "a war hammer", "a gavel", "a pick", "a crowbar", "a shovel", "a spade", "a rake",
    "a hand tool", "a battle axe",
    "an axe", "a wrench", "a tool", "a pickaxe", "a screwdriver",
    "a hammer", "a claw hammer", "a carpenter's hammer for nails", "a mallet", "a sledgehammer", "a blacksmith's hammer",
), handle=WOOD, head=STEEL,
    stand_ins=("a crowbar", "a shovel", "a spade", "a rake", "a wrench", "a screwdriver", "a pick", "a pickaxe",
               "an axe", "a battle axe", "a tomahawk"))
def hammer(rng, kit):
    length, grip = rng.uniform(0.28, 0.45), rng.uniform(0.014, 0.02)
    head_len, head_w = rng.uniform(0.1, 0.18), rng.uniform(0.025, 0.04)
    parts = [("handle", kit.lathe([(0, 0), (grip * 1.2, 0), (grip, length * 0.3), (grip * 0.8, length), (0, length)])),
             ("head", kit.box((head_len * 0.6, head_w, head_w * 1.2), (head_len * 0.2, 0, length)))]
    if rng.random() < 0.5:
        claw_tip = (-head_len * 0.5, 0, length + head_w * 0.4)
        parts.append(("head", kit.rod((-head_len * 0.1, 0, length), claw_tip, head_w * 0.35)))
    else:
        parts.append(("head", kit.box((head_len * 0.5, head_w * 1.2, head_w * 1.4), (-head_len * 0.25, 0, length))))
    return [(role, turned(mesh, np.pi / 2, [0, 1, 0])) for role, mesh in parts]


@template("sword", "tools", (
    "a rapier", "a machete", "a bayonet", "a lance", "a javelin", "a pocket knife", "a razor", "a blade weapon",
    "a samurai sword",
    "a dagger", "a key",
    "a knife", "a cutlass", "a sabre", "a spear", "a blade",
    "a sword", "a knight's longsword", "a steel blade with a hilt", "a katana", "a medieval weapon",
), blade=STEEL, guard=mat((200, 160, 60), 0.3, 1.0, "metal"), grip=mat((90, 50, 30), 0.6, 0.0, "fabric"),
    stand_ins=("a key", "a spear", "a lance", "a javelin"))
def sword(rng, kit):
    blade_len, blade_w = rng.uniform(0.3, 1.0), rng.uniform(0.03, 0.06)
    grip_len, t = rng.uniform(0.1, 0.22), blade_w * 0.15
    tip = blade_len * rng.uniform(0.05, 0.15)
    blade = kit.hull([(sx * blade_w / 2, sy * t, z) for sx in (-1, 1) for sy in (-1, 1) for z in (0, blade_len - tip)]
                     + [(0, 0, blade_len)])
    guard_w = blade_w * rng.uniform(2.5, 5)
    parts = [("blade", blade), ("guard", kit.box((guard_w, blade_w * 0.6, 0.025), (0, 0, -0.0125))),
             ("grip", kit.cylinder(0.014, grip_len, (0, 0, -grip_len - 0.025))),
             ("guard", kit.sphere(0.022, (0, 0, -grip_len - 0.035)))]
    return [(role, turned(mesh, np.pi / 2, [0, 1, 0])) for role, mesh in parts]


# -- food ----------------------------------------------------------------------------------------
@template("apple", "food", (
    "a mango", "an apricot", "a nectarine", "a grapefruit", "a lime", "a fig", "a pomegranate", "a persimmon",
    "a piece of fruit",
    "a pumpkin", "a lemon",
    "an orange", "a peach", "a plum", "a tomato", "a cherry",
    "an apple", "a red apple with a leaf", "a fruit", "a juicy green apple", "a pear", "a round fruit with a stem",
), skin=mat((190, 30, 35), 0.35), stem=mat((90, 60, 30), 0.9), leaf=mat((60, 140, 50), 0.6, 0.0, "foliage"))
def apple(rng, kit):
    r, h = rng.uniform(0.035, 0.05), 0.0
    h = r * rng.uniform(1.6, 2.0)
    angles = np.linspace(-np.pi / 2, np.pi / 2, 12)
    dimple = r * 0.12
    profile = [(0, dimple)] + [(r * np.cos(a) * (1 + 0.1 * np.sin(a)), h / 2 * (1 + np.sin(a))) for a in angles[1:-1]]
    profile += [(0, h - dimple)]
    parts = [("skin", kit.lathe(profile)), ("stem", kit.rod((0, 0, h - dimple), (r * 0.1, 0, h + r * 0.4), r * 0.05))]
    if rng.random() < 0.7:
        leaf = kit.sphere(1.0, (0, 0, 0), scale=(r * 0.5, r * 0.22, r * 0.03))
        parts.append(("leaf", turned(leaf, -0.4, [0, 1, 0]).apply_translation((r * 0.45, 0, h + r * 0.2))))
    return parts


@template("cake", "food", (
    "a brownie", "a pudding", "a torte", "a sponge cake", "a layer cake", "a gateau", "a baked dessert",
    "a slice of cake", "a muffin",
    "a pie", "a tart", "a dessert", "a pastry", "a cheesecake",
    "a cake", "a birthday cake with candles", "a wedding cake with several tiers", "a chocolate gateau",
    "a sweet dessert with frosting", "a cupcake",
), cake=mat((245, 220, 200), 0.6), icing=mat((250, 250, 245), 0.4), candles=mat((120, 180, 230), 0.5),
    flames=mat((255, 200, 60), 0.3))
def cake(rng, kit):
    tiers, radius, z = int(rng.integers(1, 4)), rng.uniform(0.1, 0.16), 0.0
    parts = []
    for tier in range(tiers):
        h = rng.uniform(0.06, 0.1)
        parts.append(("cake", kit.cylinder(radius, h, (0, 0, z))))
        parts.append(("icing", kit.torus(radius, 0.008, (0, 0, z + h))))
        z += h
        if tier < tiers - 1:
            radius *= rng.uniform(0.6, 0.75)
    parts.append(("icing", kit.cylinder(radius * 0.98, 0.006, (0, 0, z))))
    candles = int(rng.integers(0, 8))
    for k in range(candles):
        a = 2 * np.pi * k / max(candles, 1)
        spot = (radius * 0.6 * np.cos(a), radius * 0.6 * np.sin(a), z)
        parts.append(("candles", kit.cylinder(0.004, 0.05, spot, sections=8)))
        parts.append(("flames", kit.sphere(0.006, np.add(spot, (0, 0, 0.058)), scale=(1, 1, 1.6), coarse=True)))
    return parts


@template("donut", "food", (
    "a cruller", "a biscuit", "a ring doughnut", "a sprinkled donut", "a fried dough ring",
    "a ring-shaped snack", "a cookie",
    "a donut", "a doughnut with pink icing and sprinkles", "a glazed ring doughnut", "a bagel", "a sweet pastry ring",
), icing=mat((240, 130, 170), 0.35), dough=mat((210, 150, 80), 0.8), sprinkles=mat((250, 250, 250), 0.5),
    stand_ins=("a cookie", "a biscuit"))
def donut(rng, kit):
    major, minor = rng.uniform(0.035, 0.05), 0.0
    minor = major * rng.uniform(0.45, 0.65)
    dough = kit.torus(major, minor, (0, 0, minor))
    icing = kit.torus(major, minor * 1.04, (0, 0, 0)).apply_scale((1, 1, 0.7))
    parts = [("dough", dough), ("icing", icing.apply_translation((0, 0, minor * 1.35)))]
    for _ in range(int(rng.integers(0, 40))):
        a, b = rng.uniform(0, 2 * np.pi), rng.uniform(-1.0, 1.0)
        spot = np.array([(major + minor * 0.9 * np.sin(b)) * np.cos(a), (major + minor * 0.9 * np.sin(b)) * np.sin(a),
                         minor * 1.35 + minor * 0.7 * np.cos(b)])
        direction = rng.normal(size=3) * (1, 1, 0.2)
        direction *= minor * 0.12 / np.linalg.norm(direction)
        parts.append(("sprinkles", kit.rod(spot - direction, spot + direction, minor * 0.05, sections=6)))
    return parts


# -- creatures and characters -------------------------------------------------------------------
@template("snowman", "characters", (
    "a snow sculpture",
    "a snow figure",
    "a snowman", "a snowman with a carrot nose and a top hat", "a figure made of snowballs", "frosty the snowman",
), snow=mat((245, 248, 252), 0.8), carrot=mat((240, 120, 20), 0.6), coal=mat((25, 25, 28), 0.8), twigs=DARK_WOOD)
def snowman(rng, kit):
    balls, r, z = int(rng.integers(2, 4)), rng.uniform(0.3, 0.45), 0.0
    centers = []
    for _ in range(balls):
        z += r * 0.85
        parts_r = r
        centers.append((z, parts_r))
        z += r * 0.85
        r *= rng.uniform(0.6, 0.75)
    parts = [("snow", kit.sphere(radius, (0, 0, c))) for c, radius in centers]
    head_z, head_r = centers[-1]
    parts.append(("carrot", turned(kit.cone(head_r * 0.15, head_r * rng.uniform(0.5, 0.9)), np.pi / 2, [1, 0, 0])
                  .apply_translation((0, -head_r * 0.9, head_z))))
    for sx in (-1, 1):
        eye = (sx * head_r * 0.35, -head_r * 0.88, head_z + head_r * 0.3)
        parts.append(("coal", kit.sphere(head_r * 0.09, eye, coarse=True)))
    body_z, body_r = centers[-2]
    for k in range(int(rng.integers(2, 5))):
        zz = body_z + body_r * (0.5 - 0.3 * k)
        parts.append(("coal", kit.sphere(body_r * 0.07, (0, -np.sqrt(max(body_r**2 - (zz - body_z) ** 2, 0)), zz),
                                         coarse=True)))
    for sx in (-1, 1):
        shoulder = np.array([sx * body_r * 0.8, 0, body_z + body_r * 0.3])
        parts.append(("twigs", kit.rod(shoulder, shoulder + (sx * body_r * 1.3, 0, body_r * rng.uniform(0.2, 0.8)), 0.015)))
    if rng.random() < 0.6:
        top = head_z + head_r * 0.8
        parts.append(("coal", kit.cylinder(head_r * 0.9, 0.02, (0, 0, top))))
        parts.append(("coal", kit.cylinder(head_r * 0.6, head_r * rng.uniform(0.6, 1.1), (0, 0, top))))
    return parts


@template("robot", "characters", (
    "a humanoid robot", "a bot", "a tin robot", "a terminator", "a metal automaton",
    "a mech", "a cyborg", "a machine", "an automaton",
    "a robot", "a friendly metal robot with an antenna", "an android", "a mechanical humanoid machine", "a droid",
    "a toy robot",
), body=mat((180, 185, 195), 0.35, 0.9, "metal"), joints=mat((60, 60, 65), 0.5, 0.8), eyes=mat((60, 200, 255), 0.2))
def robot(rng, kit):
    scale = rng.uniform(0.4, 1.8)
    leg_h, body_h, head = 0.35 * scale, rng.uniform(0.35, 0.5) * scale, rng.uniform(0.18, 0.28) * scale
    width = rng.uniform(0.3, 0.45) * scale
    parts = []
    if rng.random() < 0.3:
        parts.append(("joints", kit.rod((-width * 0.4, 0, leg_h * 0.4), (width * 0.4, 0, leg_h * 0.4), leg_h * 0.4)))
        parts.append(("body", kit.box((width * 0.3, width * 0.3, leg_h * 0.6), (0, 0, leg_h * 0.7))))
    else:
        for sx in (-1, 1):
            parts.append(("joints", kit.box((width * 0.25, width * 0.3, leg_h), (sx * width * 0.25, 0, leg_h / 2))))
    parts.append(("body", kit.box((width, width * 0.6, body_h), (0, 0, leg_h + body_h / 2))))
    top = leg_h + body_h
    parts.append(("body", kit.box((head * 1.1, head, head), (0, 0, top + head / 2 + 0.02 * scale))))
    for sx in (-1, 1):
        parts.append(("eyes", kit.sphere(head * 0.12, (sx * head * 0.25, -head / 2, top + head * 0.55), coarse=True)))
        shoulder = np.array([sx * (width / 2 + 0.04 * scale), 0, top - 0.05 * scale])
        hand = shoulder + (sx * rng.uniform(0.0, 0.15) * scale, 0, -body_h * rng.uniform(0.6, 0.9))
        parts.append(("joints", kit.rod(shoulder, hand, 0.035 * scale)))
        parts.append(("body", kit.sphere(0.05 * scale, hand, coarse=True)))
    if rng.random() < 0.7:
        antenna = top + head + 0.02 * scale
        parts.append(("joints", kit.cylinder(0.01 * scale, head * 0.5, (0, 0, antenna), sections=8)))
        parts.append(("eyes", kit.sphere(0.025 * scale, (0, 0, antenna + head * 0.5), coarse=True)))
    return parts


@template("duck", "creatures", (
    "a sparrow", "a crow", "a raven", "a robin", "a turkey", "a peacock", "a hummingbird", "a stork", "a heron",
    "a dove", "a finch", "a budgie", "a chick", "a duckling",
    "a pigeon", "a flamingo", "a mallard", "a songbird",
    "an owl", "an eagle",
    "a swan", "a hen", "a penguin", "a parrot", "a seagull",
    "a duck", "a rubber duck", "a yellow duckling", "a bird", "a goose", "a chicken", "a swimming waterfowl",
), yaw=-90.0, body=mat((250, 210, 40), 0.4), beak=mat((245, 130, 20), 0.4), eyes=mat((20, 20, 20), 0.2))
def duck(rng, kit):
    size = rng.uniform(0.1, 0.4)
    body = kit.sphere(size / 2, (0, 0, size * 0.32), scale=(rng.uniform(1.2, 1.5), 1.0, rng.uniform(0.6, 0.8)))
    head_r = size * rng.uniform(0.2, 0.28)
    head = np.array([size * 0.4, 0, size * rng.uniform(0.7, 0.85)])
    parts = [("body", body), ("body", kit.sphere(head_r, head)),
             ("body", kit.hull([(-size * 0.6, -size * 0.15, size * 0.35), (-size * 0.6, size * 0.15, size * 0.35),
                                (-size * 0.8, 0, size * 0.6), (-size * 0.4, 0, size * 0.25)])),
             ("beak", kit.sphere(1.0, head + (head_r * 1.05, 0, -head_r * 0.15),
                                 scale=(head_r * 0.7, head_r * 0.45, head_r * 0.18)))]
    for sy in (-1, 1):
        eye = head + (head_r * 0.6, sy * head_r * 0.65, head_r * 0.3)
        parts.append(("eyes", kit.sphere(head_r * 0.14, eye, coarse=True)))
    return parts


@template("fish", "creatures", (
    "a koi", "a cod", "a bass", "a guppy", "an angelfish", "a swordfish", "a catfish", "a herring", "a sardine",
    "a pike", "an orca", "a barracuda",
    "a carp", "a tuna", "a piranha",
    "a shark", "a dolphin", "a whale", "a clownfish",
    "a fish", "a goldfish", "a tropical fish with fins", "a trout", "a salmon", "a sea creature that swims",
), yaw=-90.0, body=mat((240, 130, 40), 0.35), fins=mat((250, 180, 90), 0.5), eyes=mat((20, 20, 20), 0.2))
def fish(rng, kit):
    length = rng.uniform(0.15, 0.6)
    height = length * rng.uniform(0.25, 0.5)
    parts = [("body", kit.sphere(length / 2, (0, 0, height / 2), scale=(1.0, rng.uniform(0.2, 0.3), height / length)))]
    tail = length * rng.uniform(0.25, 0.4)
    parts.append(("fins", kit.slab([(-length * 0.42, height / 2)]
                                   + [(-length * 0.42 - tail, height / 2 + s * tail * 0.7) for s in (-1, 1)], 0.008)))
    parts.append(("fins", kit.slab([(-length * 0.2, height * 0.9), (length * 0.15, height * 0.9),
                                    (-length * 0.15, height * rng.uniform(1.1, 1.4))], 0.006)))
    for sy in (-1, 1):
        parts.append(("eyes", kit.sphere(height * 0.08, (length * 0.33, sy * length * 0.07, height * 0.6), coarse=True)))
    return parts


@template("person", "characters", (
    "a farmer", "a doctor", "a teacher", "a cowboy", "a warrior", "a queen", "a prince", "a nurse", "a businessman",
    "a grandmother", "a sailor", "a firefighter", "a clown", "a witch", "a monk", "an elf", "a villager",
    "a ballerina", "a pirate", "a princess", "a chef", "a ninja",
    "a statue of a person", "a zombie", "an alien",
    "a man", "a girl", "a boy", "a soldier", "a king", "an astronaut", "a wizard", "a knight",
    "a person", "a man standing", "a woman", "a human figure", "a child", "a little character with arms and legs",
    "a doll",
), clothes=mat((60, 90, 160), 0.9, 0.0, "fabric"), skin=mat((230, 185, 150), 0.6), hair=mat((70, 45, 30), 0.8))
def person(rng, kit):
    height = rng.uniform(1.1, 1.9)
    head_r, leg_h = height * 0.065, height * 0.47
    torso_h, width = height * 0.3, height * rng.uniform(0.2, 0.26)
    parts = []
    for sx in (-1, 1):
        parts.append(("clothes", kit.rod((sx * width * 0.25, 0, 0.05), (sx * width * 0.25, 0, leg_h), height * 0.045)))
        parts.append(("skin", kit.sphere(height * 0.05, (sx * width * 0.25, -0.03, 0.04), scale=(0.8, 1.6, 0.6))))
    parts.append(("clothes", trimesh.creation.capsule(torso_h - width * 0.6, width / 2, count=[kit.sections, kit.sections])
                  .apply_scale((1, 0.6, 1)).apply_translation((0, 0, leg_h + torso_h / 2))))
    top = leg_h + torso_h
    for sx in (-1, 1):
        shoulder = np.array([sx * width * 0.5, 0, top - height * 0.04])
        hand = shoulder + (sx * height * rng.uniform(0.03, 0.15), 0, -height * 0.3)
        parts.append(("clothes", kit.rod(shoulder, hand, height * 0.03)))
        parts.append(("skin", kit.sphere(height * 0.035, hand, coarse=True)))
    head = (0, 0, top + head_r * 1.2)
    parts.append(("skin", kit.sphere(head_r, head, scale=(1, 1, 1.15))))
    parts.append(("hair", kit.sphere(head_r * 1.02, np.add(head, (0, head_r * 0.3, head_r * 0.3)),
                                     scale=(1, 1, rng.uniform(0.7, 1.0)))))
    if rng.random() < 0.4:
        parts.append(("clothes", kit.cone(width * rng.uniform(0.7, 1.0), torso_h * 1.4, (0, 0, leg_h - torso_h * 0.45))))
    for sx in (-1, 1):
        parts.append(("hair", kit.sphere(head_r * 0.1, (sx * head_r * 0.35, -head_r * 0.92, head[2] + head_r * 0.15),
                                         coarse=True)))
    return parts


@template("quadruped", "creatures", (
    "a donkey", "a pony", "a camel", "a llama", "a rhino", "a hippo", "a bull", "a calf", "a lamb", "a leopard",
    "a cheetah", "a panda", "a hamster", "a raccoon", "a badger", "a moose", "a reindeer", "a hound", "a mammal",
    "a giraffe", "a zebra", "a goat", "a mouse", "a squirrel",
    "a dinosaur", "an elephant", "a dragon", "a teddy bear", "a wolf", "a tiger", "a rabbit",
    "a dog", "a cat", "a four-legged animal", "a horse", "a puppy", "a kitten", "a cow", "a sheep", "a pig",
    "a fox", "a bear", "a lion", "a deer", "a pet animal standing on four legs",
), yaw=-90.0, fur=mat((170, 120, 70), 0.95, 0.0, "fabric"), nose=mat((30, 25, 25), 0.4), eyes=mat((20, 20, 20), 0.2),
    stand_ins=("a dragon", "a dinosaur", "a teddy bear"))
def quadruped(rng, kit):
    length = rng.uniform(0.4, 2.0)
    body_r, leg_len = length * rng.uniform(0.16, 0.24), length * rng.uniform(0.3, 0.6)
    leg_r = body_r * rng.uniform(0.25, 0.4)
    z = leg_len + body_r * 0.6
    body = trimesh.creation.capsule(length * 0.55, body_r, count=[kit.sections, kit.sections])
    parts = [("fur", turned(body, np.pi / 2, [0, 1, 0]).apply_translation((0, 0, z)))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            foot = np.array([sx * length * 0.27, sy * body_r * 0.55, leg_r])
            parts.append(("fur", kit.rod(foot, foot + (0, 0, z - leg_r), leg_r)))
            parts.append(("fur", kit.sphere(leg_r, foot, coarse=True)))
    neck = np.array([length * 0.38, 0, z + body_r * 0.6])
    head_r = body_r * rng.uniform(0.6, 0.9)
    head = neck + (head_r * 0.6, 0, head_r * rng.uniform(0.6, 1.4))
    parts.append(("fur", kit.rod((length * 0.3, 0, z), head, body_r * 0.45)))
    parts.append(("fur", kit.sphere(head_r, head)))
    snout = rng.uniform(0.4, 1.2)
    parts.append(("fur", kit.sphere(head_r * 0.55, head + (head_r * 0.8, 0, -head_r * 0.25), scale=(snout + 0.5, 0.8, 0.7))))
    parts.append(("nose", kit.sphere(head_r * 0.15, head + (head_r * (0.9 + 0.3 * snout), 0, -head_r * 0.1), coarse=True)))
    pointed = rng.random() < 0.5
    for sy in (-1, 1):
        eye = head + (head_r * 0.75, sy * head_r * 0.45, head_r * 0.3)
        parts.append(("eyes", kit.sphere(head_r * 0.12, eye, coarse=True)))
        ear = head + (0, sy * head_r * 0.55, head_r * 0.75)
        if pointed:
            parts.append(("fur", turned(kit.cone(head_r * 0.3, head_r * 0.6), sy * 0.3, [1, 0, 0]).apply_translation(ear)))
        else:
            flap = ear + (0, sy * head_r * 0.2, -head_r * 0.3)
            parts.append(("fur", kit.sphere(head_r * 0.35, flap, scale=(0.6, 0.3, 1.0))))
    tail_end = np.array([-length * 0.45 - length * rng.uniform(0.1, 0.35), 0, z + body_r * rng.uniform(-0.5, 1.5)])
    parts.append(("fur", kit.rod((-length * 0.35, 0, z + body_r * 0.3), tail_end, body_r * rng.uniform(0.1, 0.25))))
    return parts
