"""Procedural materials chosen from a prompt's colour and material words.

A material is a solid texture: a function of the 3D surface point (scaled to the
object's size), so it has no seams and needs no UV-aware drawing. Each carries
the PBR roughness and metallic factors that go with it. The seed moves the noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

COLOURS = {
    "red": (180, 30, 35), "crimson": (150, 20, 40), "orange": (230, 120, 30), "yellow": (235, 200, 50),
    "gold": (212, 175, 55), "golden": (212, 175, 55), "green": (50, 140, 60), "olive": (110, 110, 40),
    "teal": (30, 128, 128), "cyan": (40, 190, 200), "blue": (40, 80, 180), "navy": (25, 35, 90),
    "purple": (110, 50, 150), "violet": (140, 80, 190), "pink": (230, 130, 170), "magenta": (200, 40, 150),
    "brown": (120, 75, 40), "tan": (200, 165, 120), "beige": (220, 205, 170), "white": (235, 235, 235),
    "ivory": (240, 235, 215), "grey": (128, 128, 128), "gray": (128, 128, 128), "silver": (192, 192, 200),
    "black": (25, 25, 25), "copper": (184, 115, 51), "bronze": (160, 110, 50), "brass": (190, 160, 70),
    "cream": (245, 235, 200), "maroon": (110, 20, 30), "turquoise": (60, 200, 190), "lime": (150, 210, 60),
}

# material: (words, default colour, roughness, metallic)
MATERIALS = {
    "wood": (("wood", "wooden", "oak", "pine", "walnut", "timber", "bamboo"), (150, 100, 55), 0.7, 0.0),
    "metal": (("metal", "metallic", "steel", "iron", "chrome", "aluminium", "aluminum", "brushed", "silver",
               "gold", "golden", "copper", "bronze", "brass"), (170, 170, 175), 0.3, 1.0),
    "stone": (("stone", "rock", "marble", "granite", "concrete", "cement", "slate", "brick"), (150, 145, 135), 0.85, 0.0),
    "fabric": (("fabric", "cloth", "cotton", "wool", "woolen", "knitted", "denim", "linen", "velvet", "leather",
                "felt", "silk"), (90, 90, 140), 0.95, 0.0),
    "plastic": (("plastic", "rubber", "vinyl", "toy", "glossy", "lego"), (200, 60, 50), 0.4, 0.0),
    "ceramic": (("ceramic", "porcelain", "clay", "pottery", "glazed", "terracotta"), (225, 220, 210), 0.25, 0.0),
}
DEFAULT_MATERIAL = "plastic"


@dataclass(frozen=True)
class MaterialSpec:
    """What a prompt asked for: the material kind, its palette and PBR factors."""

    kind: str
    base: tuple[int, int, int]
    accent: tuple[int, int, int]
    roughness: float
    metallic: float
    recognised: tuple[str, ...]

    def describe(self) -> dict:
        return {"material": self.kind, "palette": [list(self.base), list(self.accent)],
                "roughness": self.roughness, "metallic": self.metallic, "recognised_words": list(self.recognised)}


def parse_prompt(prompt: str) -> MaterialSpec:
    """Pick the material and palette from the prompt's words (the first of each kind wins)."""
    words = re.findall(r"[a-z]+", (prompt or "").lower())
    colours = [w for w in words if w in COLOURS]
    kind = next((k for w in words for k, (names, *_rest) in MATERIALS.items() if w in names), None)
    recognised = tuple(dict.fromkeys(colours + [w for w in words if any(w in m[0] for m in MATERIALS.values())]))
    kind = kind or DEFAULT_MATERIAL
    _, default_colour, roughness, metallic = MATERIALS[kind]
    base = COLOURS[colours[0]] if colours else default_colour
    if len(colours) > 1:
        accent = COLOURS[colours[1]]
    else:
        accent = tuple(int(c * 0.55) for c in base)
    if "matte" in words:
        roughness = max(roughness, 0.9)
    if "glossy" in words or "polished" in words or "shiny" in words:
        roughness = min(roughness, 0.2)
    return MaterialSpec(kind, tuple(base), tuple(accent), roughness, metallic, recognised)


LATTICE = 64  # noise repeats every LATTICE cells, unseen under the coarser octaves


@lru_cache(maxsize=32)
def _lattice(seed: int) -> np.ndarray:
    """A repeatable random value in [0, 1) per lattice point (the noise's control values)."""
    return np.random.default_rng(seed).random((LATTICE,) * 3, dtype=np.float32)


def value_noise(points: np.ndarray, frequency: float, seed: int) -> np.ndarray:
    """Smooth 3D value noise in [0, 1]: smoothstep-eased trilinear interpolation of a random lattice.

    Easing the fractional coordinates and then interpolating linearly is exactly eased trilinear
    noise, so scipy's C interpolator does the work (about 20x faster than hashing in numpy).
    """
    p = points.astype(np.float32) * np.float32(frequency)
    base = np.floor(p)
    f = p - base
    eased = base + f * f * (3.0 - 2.0 * f)
    return ndimage.map_coordinates(_lattice(seed), eased.T, order=1, mode="grid-wrap", prefilter=False)


def fbm(points: np.ndarray, frequency: float, seed: int, octaves: int = 4) -> np.ndarray:
    """Fractal noise: octaves of value noise, roughly in [0, 1]."""
    total, amplitude, norm = np.zeros(len(points)), 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * value_noise(points, frequency * 2**octave, seed + octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def pattern(kind: str, points: np.ndarray, seed: int) -> np.ndarray:
    """Mix factor in [0, 1] between base (0) and accent (1) colour for `kind` at unit-scaled `points`."""
    if kind == "wood":
        warped = points + 0.15 * (fbm(points, 2.0, seed) - 0.5)[:, None]
        radius = np.hypot(warped[:, 0], warped[:, 2])
        rings = 0.5 + 0.5 * np.sin(radius * 60.0 + 6.0 * fbm(points * [1, 0.2, 1], 3.0, seed + 7))
        return 0.7 * rings**3 + 0.3 * fbm(points * [6, 0.5, 6], 8.0, seed + 11)
    if kind == "stone":
        veins = np.abs(np.sin(points @ np.array([3.0, 5.0, 2.0]) * 4.0 + 8.0 * fbm(points, 2.5, seed)))
        return np.clip(0.6 * (1.0 - veins) ** 6 + 0.5 * fbm(points, 12.0, seed + 3) - 0.15, 0.0, 1.0)
    if kind == "metal":
        streaks = fbm(points * [30.0, 1.0, 30.0], 2.0, seed)
        return 0.25 * streaks + 0.1 * fbm(points, 6.0, seed + 5)
    if kind == "fabric":
        weave = (np.sin(points[:, 0] * 150.0 + points[:, 2] * 40.0) * np.sin(points[:, 1] * 150.0)) > 0
        return 0.35 * weave + 0.25 * fbm(points, 20.0, seed)
    if kind == "ceramic":
        return 0.15 * fbm(points, 4.0, seed)
    return 0.12 * fbm(points, 5.0, seed)  # plastic: nearly flat, a faint mottling


def material_shader(spec: MaterialSpec, vertices: np.ndarray, seed: int):
    """A bake_texture shader for `spec`, scaled so patterns fit the object's size."""
    centre = (vertices.min(axis=0) + vertices.max(axis=0)) / 2.0
    size = max(float(np.ptp(vertices, axis=0).max()), 1e-9)
    base, accent = np.array(spec.base, float), np.array(spec.accent, float)

    def shade(points, normals, face_ids, bary):
        unit = (points - centre) / size
        mix = np.clip(pattern(spec.kind, unit, seed), 0.0, 1.0)[:, None]
        return (base * (1.0 - mix) + accent * mix).round().clip(0, 255)

    return shade
