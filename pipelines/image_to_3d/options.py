"""The `/image_to_3d` request, checked once for every pipeline: views and quality knobs."""

from __future__ import annotations

from ..errors import InputError
from ..knobs import checked_knobs

VIEW_NAMES = ("front", "back", "left", "right")
DEFAULTS = {
    "remove_background": True,
    "seed": 0,
    "steps": 30,
    "guidance": 5.0,
    "octree_resolution": 256,
    "face_count": 20_000,
    "textured": True,
}
LIMITS = {
    "seed": (0, 2**32 - 1),
    "steps": (1, 200),
    "guidance": (0.0, 30.0),
    "octree_resolution": (64, 512),
    "face_count": (500, 1_000_000),
}


def given_views(inputs: dict) -> dict[str, object]:
    """The views that were sent, front first; the front is required."""
    if _missing(inputs.get("front")):
        raise InputError("No front image was given; upload a PNG, JPEG or WebP photo or render of the object.")
    return {name: inputs[name] for name in VIEW_NAMES if not _missing(inputs.get(name))}


def _missing(value) -> bool:
    return value is None or (isinstance(value, str) and not value)


def options(inputs: dict) -> dict:
    """Knob values with defaults filled in and ranges checked."""
    return checked_knobs(inputs, DEFAULTS, LIMITS)
