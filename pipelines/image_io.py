"""Loading user images safely: every image input in the studio goes through `load_image`.

It rejects what would crash or hang a pipeline (empty, corrupt, decompression
bombs, animations, meshes sent as images) with an `InputError` that says what
to change.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import InputError

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_PIXELS = 40_000_000  # about 6300 x 6300
MIN_SIDE = 16
MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off", ".fbx", ".usdz", ".zip")
MESH_MAGIC = (b"glTF", b"ply", b"solid", b"OFF", b"PK\x03\x04")


def load_image(source, label: str = "image") -> Image.Image:
    """Open a path, PIL image or array as RGBA; validate size, format and content."""
    if source is None:
        raise InputError(f"No {label} was given; upload a PNG, JPEG or WebP image.")
    if isinstance(source, np.ndarray):
        image = Image.fromarray(source)
    elif isinstance(source, Image.Image):
        image = source
    else:
        image = _open_file(Path(os.fspath(source)), label)
    if image.width < MIN_SIDE or image.height < MIN_SIDE:
        raise InputError(f"The {label} is {image.width}x{image.height} pixels; use at least {MIN_SIDE}x{MIN_SIDE}.")
    if image.width * image.height > MAX_PIXELS:
        raise InputError(f"The {label} has {image.width * image.height:,} pixels; keep it under {MAX_PIXELS:,}.")
    rgba = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        if np.asarray(rgba)[..., 3].max() == 0:
            raise InputError(f"The {label} is fully transparent; upload an image with a visible object.")
    return rgba


def _open_file(path: Path, label: str) -> Image.Image:
    if not path.is_file():
        raise InputError(f"The {label} '{path.name}' was not found; upload it again.")
    if path.stat().st_size == 0:
        raise InputError(f"The {label} '{path.name}' is empty; upload a PNG, JPEG or WebP image.")
    if _looks_like_mesh(path):
        raise InputError(
            f"The {label} '{path.name}' is a 3D mesh file, not an image; upload a PNG, JPEG or WebP picture "
            "(meshes go to the mesh tabs)."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if image.width * image.height > MAX_PIXELS:
                raise InputError(
                    f"The {label} is {image.width}x{image.height} pixels; keep it under {MAX_PIXELS:,} pixels."
                )
            if image.format not in IMAGE_FORMATS:
                raise InputError(
                    f"The {label} '{path.name}' is {image.format or 'not an image'}; upload a PNG, JPEG or WebP image."
                )
            if getattr(image, "n_frames", 1) > 1:
                raise InputError(f"The {label} '{path.name}' is animated; upload a single still frame.")
            image.load()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"The {label} '{path.name}' is too large to decode safely; upload a smaller image.") from exc
    except Exception as exc:  # PIL raises many types for corrupt data
        raise InputError(
            f"The {label} '{path.name}' could not be read as an image ({exc}); upload a PNG, JPEG or WebP image."
        ) from exc
    return image


def _looks_like_mesh(path: Path) -> bool:
    """A mesh sent to an image input: told apart by extension or magic bytes, not by a PIL failure."""
    with open(path, "rb") as f:
        head = f.read(8)
    return path.suffix.lower() in MESH_SUFFIXES or head.startswith(MESH_MAGIC)
