"""Turning user photos into what a reconstruction sees: a mask, a crop, a recentred square.

The mask comes from the alpha channel when the image has one; otherwise from an
offline background removal: a colour key against the border colour, refined
with GrabCut on a downscaled copy. Views of one object are cropped with one
shared scale (their heights agree, since every view looks horizontally at the
same object), so multi-view silhouettes line up for carving.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import InputError
from ..image_io import load_image

FOREGROUND_RATIO = 0.85
GRABCUT_SIDE = 256
GRABCUT_ITERATIONS = 4
KEY_THRESHOLD = 18.0  # Lab distance from the border colour that counts as foreground
MIN_COMPONENT = 0.02  # parts smaller than this share of the largest are dropped
RIM_FRACTION = 0.004  # colours are taken this far (of the image side) inside the mask edge
# A photo looks like a scene rather than one object on a backdrop when (measured on the photos of
# skimage.data, gradio's sample images and the shipped assets; see tests/test_image_to_3d.py):
CLUTTERED_EDGE = 0.3  # this share of the frame's edge pixels is unlike the edge's median colour (KEY_THRESHOLD)...
DETAILED_EDGE = 0.05  # ...and this share differs from its neighbours along the edge (not a smooth gradient)
EDGE_DETAIL = 8.0  # Lab distance from the median of the 15 neighbouring edge pixels that counts as detail
MAX_PIECES = 3  # or the mask falls into more pieces than this of at least PIECE_SHARE of the largest
PIECE_SHARE = 0.1
MAX_CUT_EDGES = 1  # or an alpha cut-out runs off more frame edges than this (standing on one is fine)


@dataclass
class View:
    """One preprocessed view: a square RGB image, its mask and how the mask was found."""

    name: str
    rgb: np.ndarray  # (S, S, 3) uint8, background filled with the nearest object colour
    mask: np.ndarray  # (S, S) float32 coverage in [0, 1]
    source: str  # "alpha", "grabcut", "none"
    scene_signs: tuple[str, ...] = ()  # why the photo looks like a scene rather than one object (see scene_signs)

    def preview(self) -> Image.Image:
        """What the model saw: the object on white, as the user would expect to check it."""
        alpha = self.mask[..., None]
        shown = self.rgb * alpha + 255.0 * (1.0 - alpha)
        return Image.fromarray(shown.round().astype(np.uint8))

    def mask_image(self) -> Image.Image:
        return Image.fromarray((self.mask * 255).round().astype(np.uint8))


def foreground_mask(rgba: np.ndarray, remove_background: bool) -> tuple[np.ndarray, str]:
    """(bool mask, source): alpha when present, GrabCut when asked, else the whole frame."""
    alpha = rgba[..., 3]
    if alpha.min() < 250:
        return alpha >= 128, "alpha"
    if not remove_background:
        return np.ones(alpha.shape, dtype=bool), "none"
    return remove_background_mask(rgba[..., :3]), "grabcut"


def remove_background_mask(rgb: np.ndarray) -> np.ndarray:
    """Offline background removal: colour key against the border, refined by GrabCut.

    Works on a downscaled copy (GrabCut is slow at full size) and brings the
    mask back up with smooth edges.
    """
    height, width = rgb.shape[:2]
    small, scale = downscaled(rgb)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    border = frame_edge(lab)
    key = np.linalg.norm(lab - np.median(border, axis=0), axis=2) > KEY_THRESHOLD
    key = cv2.morphologyEx(key.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)

    margin = max(1, round(0.02 * max(small.shape[:2])))
    seeds = np.full(small.shape[:2], cv2.GC_PR_BGD, dtype=np.uint8)
    share = key.mean()
    if 0.01 < share < 0.9:
        seeds[key] = cv2.GC_PR_FGD
    else:  # busy or uniform frame: the key says nothing; assume a centred object
        h, w = small.shape[:2]
        seeds[h // 8 : h - h // 8, w // 8 : w - w // 8] = cv2.GC_PR_FGD
    seeds[:margin], seeds[-margin:], seeds[:, :margin], seeds[:, -margin:] = (cv2.GC_BGD,) * 4
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(small, seeds, None, background, foreground, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    small_mask = clean_mask((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD))
    if not small_mask.any():
        return np.zeros((height, width), dtype=bool)
    soft = cv2.resize(small_mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(soft, (0, 0), max(0.5, 0.5 / scale)) >= 0.5


def downscaled(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """(copy at most GRABCUT_SIDE a side, its scale): the size background removal and its checks work at."""
    height, width = rgb.shape[:2]
    scale = GRABCUT_SIDE / max(height, width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def frame_edge(image: np.ndarray) -> np.ndarray:
    """The pixels of the image's outermost ring, in order clockwise from the top-left corner."""
    return np.concatenate([image[0], image[1:, -1], image[-1, -2::-1], image[-2:0:-1, 0]])


def scene_signs(rgb: np.ndarray, mask: np.ndarray, source: str) -> tuple[str, ...]:
    """Why a photo looks like a scene rather than one object, as short reasons (empty when it does not).

    Background removal assumes one object on a plain backdrop, and the frame's edge is where the
    backdrop shows: an edge of many colours with fine detail in it (a launch pad, a room, a street)
    is a scene, while a smooth lighting gradient is still a backdrop. A mask in many similar pieces
    is several objects; a cut-out that runs off two or more edges of the frame is a cropped view.
    """
    signs = []
    if source == "grabcut":
        lab = cv2.cvtColor(downscaled(rgb)[0], cv2.COLOR_RGB2LAB).astype(np.float32)
        edge = frame_edge(lab)
        unlike = float((np.linalg.norm(edge - np.median(edge, axis=0), axis=1) > KEY_THRESHOLD).mean())
        neighbours = ndimage.median_filter(edge, size=(15, 1), mode="wrap")
        detailed = float((np.linalg.norm(edge - neighbours, axis=1) > EDGE_DETAIL).mean())
        if unlike > CLUTTERED_EDGE and detailed > DETAILED_EDGE:
            signs.append(f"the background at the edges of the frame is not plain ({unlike:.0%} of it "
                         "differs from its main colour)")
    labels, count = ndimage.label(mask)
    if count > MAX_PIECES:
        sizes = np.bincount(labels.ravel())[1:]
        pieces = int((sizes >= PIECE_SHARE * sizes.max()).sum())
        if pieces > MAX_PIECES:
            signs.append(f"the foreground falls into {pieces} separate pieces")
    if source == "alpha":
        cut = int(mask[0].any()) + int(mask[-1].any()) + int(mask[:, 0].any()) + int(mask[:, -1].any())
        if cut > MAX_CUT_EDGES:
            signs.append(f"the cut-out runs off {cut} edges of the frame")
    return tuple(signs)


def scene_warnings(views: list[View]) -> list[str]:
    """One warning per view whose photo looks like a scene, saying why and what would help."""
    return [
        f"The {view.name} image looks like a scene rather than one object ({'; '.join(view.scene_signs)}), so "
        "the mask may take in background or miss parts and the shape will follow it. For a clean result use a "
        "photo of the object alone, whole in the frame, on a plain background, or a PNG whose transparent "
        "background leaves only the object."
        for view in views if view.scene_signs
    ]


def clean_mask(mask: np.ndarray) -> np.ndarray:
    """Keep the main object (drop specks), with its interior holes filled."""
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= MIN_COMPONENT * sizes.max()) + 1
    return ndimage.binary_fill_holes(np.isin(labels, keep))


def fill_background(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Every background pixel takes the nearest object colour, so sampling near the rim never picks the backdrop.

    The mask is eroded first: a matte's edge pixels mix in the backdrop colour.
    """
    inside = mask > 0.5
    margin = max(1, round(RIM_FRACTION * max(mask.shape)))
    eroded = cv2.erode(inside.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(bool)
    if eroded.any():
        inside = eroded
    if inside.all() or not inside.any():
        return rgb
    _, (rows, cols) = ndimage.distance_transform_edt(~inside, return_indices=True)
    return rgb[rows, cols]


def prepare_views(
    images: dict[str, object], remove_background: bool, size: int, ratio: float = FOREGROUND_RATIO
) -> list[View]:
    """Load, mask, crop and recentre every given view at one shared scale.

    `images` maps view names (front, back, left, right) to paths, arrays or PIL
    images; `size` is the side of the square outputs. The object's height is
    the same in every view; each view is centred on its own bounding box.
    """
    loaded = []
    for name, source in images.items():
        rgba = np.asarray(load_image(source, label=f"{name} image"))
        mask, how = foreground_mask(rgba, remove_background)
        if not mask.any():
            raise InputError(
                f"No object was found in the {name} image; use a plain, contrasting background or a PNG with transparency."
            )
        rows, cols = np.nonzero(mask)
        box = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        loaded.append((name, rgba, mask, how, box))

    widest = max((box[3] - box[2]) / (box[1] - box[0]) for *_, box in loaded)
    height_px = size * ratio / max(1.0, widest)
    views = []
    for name, rgba, mask, how, (top, bottom, left, right) in loaded:
        scale = height_px / (bottom - top)
        # Affine map: box centre -> canvas centre, box height -> height_px.
        centre_x, centre_y = (left + right) / 2.0, (top + bottom) / 2.0
        matrix = np.array([[scale, 0.0, size / 2.0 - scale * centre_x], [0.0, scale, size / 2.0 - scale * centre_y]])
        flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        rgb = fill_background(rgba[..., :3], mask.astype(np.float32))
        rgb = cv2.warpAffine(rgb, matrix, (size, size), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        coverage = cv2.warpAffine(mask.astype(np.float32), matrix, (size, size), flags=flags, borderValue=0.0)
        signs = scene_signs(rgba[..., :3], mask, how)
        views.append(View(name, rgb, np.clip(coverage, 0.0, 1.0), how, signs))
    return views
