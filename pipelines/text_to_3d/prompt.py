"""Colour, material and size words in a prompt, turned into PBR material settings and a scale.

The template choice is semantic (see `builtin.py`); these words are read literally
because a user who types "red" or "golden" expects exactly that on the surface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..paint.materials import COLOURS

# sRGB colours (0-255): the painter's table plus a few more words people use for objects.
COLORS: dict[str, tuple[int, int, int]] = {
    **COLOURS, "scarlet": (225, 35, 20), "emerald": (20, 150, 90), "azure": (60, 140, 230),
    "lavender": (180, 160, 220), "rose": (220, 90, 120), "rusty": (150, 70, 35), "charcoal": (55, 55, 60),
    "chocolate": (90, 55, 35),
}
# Shade words: below 1 darkens, above 1 mixes that far (minus one) towards white.
SHADES = {"dark": 0.55, "deep": 0.7, "bright": 1.1, "light": 1.35, "pale": 1.5}
# Words that shade a colour only when one follows ("sky blue", "forest green"); alone they are nouns.
COLOR_SHADES = {"sky": 1.45, "baby": 1.5, "pastel": 1.45, "powder": 1.5, "mint": 1.4, "forest": 0.6,
                "midnight": 0.4, "jet": 0.5, "royal": 0.85, "hot": 1.15, "neon": 1.15}
# See-through material and finish words -> base-colour alpha (glTF alpha blending).
ALPHA = {"glass": 0.35, "transparent": 0.3, "translucent": 0.55}


@dataclass(frozen=True)
class Material:
    """A part's surface: sRGB colour (0-1), PBR roughness and metalness, and a procedural pattern."""

    color: tuple[float, float, float]
    roughness: float = 0.7
    metallic: float = 0.0
    pattern: str = "plain"
    alpha: float = 1.0


# Material words -> (roughness, metallic, pattern, colour word used when no colour is given).
MATERIALS: dict[str, tuple[float, float, str, str | None]] = {
    "wood": (0.75, 0.0, "wood", None), "wooden": (0.75, 0.0, "wood", None), "oak": (0.7, 0.0, "wood", "tan"),
    "timber": (0.8, 0.0, "wood", None), "walnut": (0.7, 0.0, "wood", "brown"), "bamboo": (0.6, 0.0, "wood", "tan"),
    "metal": (0.35, 1.0, "metal", "silver"), "metallic": (0.3, 1.0, "metal", None), "steel": (0.35, 1.0, "metal", "silver"),
    "iron": (0.55, 1.0, "metal", "charcoal"), "aluminium": (0.3, 1.0, "metal", "silver"),
    "aluminum": (0.3, 1.0, "metal", "silver"), "chrome": (0.08, 1.0, "metal", "silver"),
    "gold": (0.25, 1.0, "metal", "gold"), "golden": (0.25, 1.0, "metal", "gold"), "silver": (0.2, 1.0, "metal", "silver"),
    "copper": (0.3, 1.0, "metal", "copper"), "bronze": (0.4, 1.0, "metal", "bronze"), "brass": (0.3, 1.0, "metal", "brass"),
    "rusty": (0.85, 0.6, "stone", "rusty"),
    "stone": (0.9, 0.0, "stone", "grey"), "marble": (0.25, 0.0, "stone", "white"), "granite": (0.8, 0.0, "stone", "grey"),
    "concrete": (0.95, 0.0, "stone", "grey"), "brick": (0.9, 0.0, "stone", "red"),
    "plastic": (0.4, 0.0, "plain", None), "glass": (0.05, 0.0, "plain", "cyan"), "ceramic": (0.25, 0.0, "plain", None),
    "porcelain": (0.2, 0.0, "plain", "white"), "clay": (0.9, 0.0, "stone", "rusty"),
    "fabric": (0.95, 0.0, "fabric", None), "cloth": (0.95, 0.0, "fabric", None), "velvet": (0.9, 0.0, "fabric", None),
    "wool": (1.0, 0.0, "fabric", None), "woolen": (1.0, 0.0, "fabric", None), "knitted": (1.0, 0.0, "fabric", None),
    "leather": (0.55, 0.0, "fabric", "brown"), "rubber": (0.9, 0.0, "plain", "black"),
}
FINISH = {"shiny": 0.15, "glossy": 0.12, "polished": 0.1, "matte": 0.9, "dull": 0.85, "rough": 0.95}
SIZES = {
    "tiny": 0.45, "miniature": 0.5, "mini": 0.6, "little": 0.7, "small": 0.75, "short": 0.8,
    "big": 1.35, "large": 1.4, "tall": 1.3, "huge": 1.9, "giant": 2.2, "enormous": 2.2, "massive": 2.0,
}

# Words for a part of an object, by the template roles they name ("black wheels" colours the tyres).
PART_WORDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("wheel", "wheels", "tire", "tires", "tyre", "tyres"), ("tyres",)),
    **dict.fromkeys(("leaf", "leaves", "foliage", "canopy", "crown"), ("leaves", "needles", "leaf")),
    "needles": ("needles",), "trunk": ("trunk",), "bark": ("trunk",),
    **dict.fromkeys(("petal", "petals", "flower", "flowers", "blossom", "blossoms", "bloom", "blooms"),
                    ("petals", "flower")),
    **dict.fromkeys(("pot", "planter"), ("pot",)), **dict.fromkeys(("stem", "stems", "stalk"), ("stem", "stalk")),
    "cap": ("cap",), **dict.fromkeys(("spots", "dots"), ("spots",)), "roof": ("roof",),
    **dict.fromkeys(("wall", "walls"), ("walls",)), **dict.fromkeys(("door", "doors", "trim"), ("trim",)),
    **dict.fromkeys(("window", "windows"), ("glass", "window")), **dict.fromkeys(("sail", "sails"), ("sail",)),
    "hull": ("hull",), "deck": ("deck",), **dict.fromkeys(("fin", "fins"), ("fins",)),
    **dict.fromkeys(("wing", "wings", "tail"), ("wings",)), "handle": ("handle",), "head": ("head",),
    "blade": ("blade",), **dict.fromkeys(("hilt", "guard", "pommel"), ("guard",)), "grip": ("grip",),
    **dict.fromkeys(("frosting", "icing", "glaze"), ("icing",)), **dict.fromkeys(("candle", "candles"), ("candles",)),
    **dict.fromkeys(("sprinkle", "sprinkles"), ("sprinkles",)), **dict.fromkeys(("eye", "eyes"), ("eyes",)),
    "beak": ("beak",), "nose": ("nose", "carrot"), "hair": ("hair",), "skin": ("skin",), "fur": ("fur",),
    **dict.fromkeys(("shirt", "dress", "suit", "clothes", "jacket", "coat", "outfit", "uniform"), ("clothes",)),
    **dict.fromkeys(("book", "books"), ("book_a", "book_b", "book_c")),
    **dict.fromkeys(("shade", "lampshade"), ("shade",)), **dict.fromkeys(("base", "stand", "pole"), ("stand",)),
    **dict.fromkeys(("hoop", "hoops", "band", "bands"), ("hoops",)),
    **dict.fromkeys(("sheet", "sheets", "blanket", "duvet", "mattress", "bedding"), ("bedding",)),
    **dict.fromkeys(("pillow", "pillows", "cushion", "cushions"), ("pillow",)),
    **dict.fromkeys(("crystal", "crystals", "gems", "gem"), ("crystal",)),
}


@dataclass(frozen=True)
class Style:
    """What the prompt says about the surface and size, independent of which template is chosen.

    `mentions` are the colours in reading order as (colour word, sRGB, part word or None): a colour right
    before a part word ("black wheels") is meant for that part.
    """

    mentions: tuple[tuple[str, tuple[int, int, int], str | None], ...] = ()
    material: str | None = None
    finish: str | None = None
    scale: float = 1.0
    size_word: str | None = None
    alpha: float = 1.0

    @property
    def colors(self) -> list[tuple[int, int, int]]:
        return [rgb for _, rgb, _ in self.mentions]

    def assign(self, roles: list[str]) -> dict[str, tuple[int, int, int]]:
        """Which role gets which colour: a colour named with one of these parts goes on it; the others go,
        in reading order, on whichever of the first two roles (primary, secondary) are still uncoloured."""
        out, free = {}, []
        for _, rgb, part in self.mentions:
            targets = [r for r in PART_WORDS.get(part, ()) if r in roles]
            if targets:
                out.update({r: rgb for r in targets if r not in out})
            else:
                free.append(rgb)
        out.update(zip([r for r in roles[:2] if r not in out], free))
        return out

    def apply(self, default: Material, color: tuple[int, int, int] | None, primary: bool) -> Material:
        """`default` with the prompt's colour for this part, and on the primary part its material and finish."""
        out = default
        if primary and self.material:
            roughness, metallic, pattern, color_word = MATERIALS[self.material]
            out = replace(out, roughness=roughness, metallic=metallic, pattern=pattern)
            if color_word:
                out = replace(out, color=srgb(COLORS[color_word]))
        if color is not None:
            out = replace(out, color=srgb(color))
        if primary and self.finish:
            out = replace(out, roughness=FINISH[self.finish])
        if primary and self.alpha < 1.0:
            out = replace(out, alpha=self.alpha)
        return out

    def describe(self) -> dict:
        return {
            "colors": [f"{word} {part}" if part else word for word, _, part in self.mentions],
            "material": self.material,
            "finish": self.finish,
            "size": self.size_word,
            "scale": self.scale,
            "opacity": self.alpha,
        }


def srgb(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    return tuple(round(c / 255.0, 4) for c in rgb)


def shaded(rgb: tuple[int, int, int], shade: float) -> tuple[int, int, int]:
    if shade <= 1.0:
        return tuple(int(c * shade) for c in rgb)
    return tuple(int(round(c + (255 - c) * (shade - 1.0))) for c in rgb)


def words(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


def parse_style(prompt: str) -> Style:
    """Colour (with 'dark'/'light' shades), material, finish and size words of `prompt`, in reading order."""
    tokens = words(prompt)
    mentions = []
    finish = size_word = None
    for i, word in enumerate(tokens):
        if word in COLORS and i and tokens[i - 1] in COLORS:
            continue  # "navy blue", "lime green": one colour, the first word's
        if word in COLORS:
            shade = {**SHADES, **COLOR_SHADES}.get(tokens[i - 1], 1.0) if i else 1.0
            name = f"{tokens[i - 1]} {word}" if shade != 1.0 else word
            following = [w for w in tokens[i + 1:i + 3] if w not in MATERIALS and w not in FINISH]
            part = following[0] if following and following[0] in PART_WORDS else None
            mentions.append((name, shaded(COLORS[word], shade), part))
        if word in FINISH and finish is None:
            finish = word
        if word in SIZES and size_word is None:
            size_word = word
    # "golden" or "copper" is a metal only when no other material is named ("a golden wooden chair" is wood).
    named = [w for w in tokens if w in MATERIALS]
    plain = [w for w in named if w not in COLORS]
    material = (plain or named or [None])[0]
    clear = [ALPHA[w] for w in tokens if w in ALPHA]
    return Style(
        mentions=tuple(mentions), material=material, finish=finish, scale=SIZES.get(size_word, 1.0),
        size_word=size_word, alpha=min(clear, default=1.0),
    )


# Words that end the object's own noun phrase: what follows is a setting, a part or something held
# ("a cat sitting on a chair" is a cat; "a table with a vase on it" is a table).
CLAUSE_WORDS = frozenset(
    "with without on in inside into onto at by beside near next under over above below behind around among "
    "from for to made covered filled full holding carrying wearing riding sitting standing lying growing "
    "hanging flying floating driving walking running playing pulling swimming parked decorated printed "
    "taken stuck bound built ready that which where who while and or off out up".split()
)
# Words for an amount of something: in "a bunch of daisies" the object is the daisies.
AMOUNT_WORDS = frozenset(
    "bunch cluster pile heap stack slice piece group pair set handful bouquet couple lot lots".split()
)
ARTICLES = frozenset("a an the some one two three four five several many my your his her our their this that".split())


def subject(prompt: str) -> str:
    """The noun phrase naming the object itself, before any clause about its setting, parts or contents:
    "a tall tower of a castle with a flag" -> "a tall tower", "a bunch of daisies" -> "daisies", "a duck
    swimming" -> "a duck". A participle straight after the article describes the object ("a standing
    lamp"), as does one before a noun ("a sugar coated donut"), and stays."""
    tokens = re.findall(r"[a-z][a-z'-]*", prompt.lower())
    head: list[str] = []
    for i, word in enumerate(tokens):
        content = [w for w in head if w not in ARTICLES]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if word == "of" and content:
            if content[-1] in AMOUNT_WORDS:
                head = []
                continue
            break
        participle = len(word) > 4 and word.endswith(("ing", "ed")) and (
            following is None or following in CLAUSE_WORDS or following in ARTICLES or following == "of")
        if content and (word in CLAUSE_WORDS or participle):
            break
        head.append(word)
    return " ".join(head) or prompt


def head_nouns(phrase: str) -> list[str]:
    """The phrase's last two words and its last word, plural endings removed: the keys the object is
    named by ("fir trees" -> ["fir tree", "tree"])."""
    tokens = [singular(w) for w in re.findall(r"[a-z]+", phrase.lower()) if w not in ARTICLES]
    return [" ".join(tokens[-2:]), tokens[-1]] if len(tokens) > 1 else tokens


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def strip_style(prompt: str) -> str:
    """What the prompt says about the object's kind: colour, material, finish and size adjectives and
    possessive owners dropped ("a knight's big red steel sword" -> "a sword"). Such a word stays where it
    is the noun itself, last or before a clause ("an orange", "a stone from the beach", "a glass of milk")."""
    drop = set(COLORS) | set(SHADES) | set(FINISH) | set(SIZES) | set(MATERIALS) | set(ALPHA)
    tokens = prompt.split()
    plain = [re.sub(r"[^a-z]", "", w.lower()) for w in tokens]
    kept = [
        w for i, w in enumerate(tokens)
        if i == len(tokens) - 1 or plain[i + 1] in CLAUSE_WORDS or plain[i + 1] == "of"
        or not (plain[i] in drop or (plain[i] in COLOR_SHADES and plain[i + 1] in COLORS)
                or re.search(r"\w('s|s')$", w.lower()))
    ]
    return " ".join(kept)
