"""Projecting reference photos onto a mesh from orthographic cameras.

Each view is an orthographic camera on one side of the object (glTF axes: +Y up,
the front faces +Z). The mesh's bounding box, seen from that side, is fitted to
the photo's foreground bounding box. A texel takes a view's colour only where
the surface faces that camera and is not hidden behind other surfaces (a depth
map rasterised from the mesh is the test), so no colour leaks to hidden faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

# Camera look direction and image "right" axis; "up" is +Y for every view.
# left/right are the cameras on the viewer's left (-X) and right (+X) of the front.
VIEW_AXES = {
    "front": ((0.0, 0.0, -1.0), (1.0, 0.0, 0.0)),
    "back": ((0.0, 0.0, 1.0), (-1.0, 0.0, 0.0)),
    "left": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "right": ((-1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
}
UP = np.array([0.0, 1.0, 0.0])
DEPTH_RESOLUTION = 512
NORMAL_POWER = 2.0
_MAX_CANDIDATES = 4_000_000


def foreground_mask(image: Image.Image) -> np.ndarray:
    """Float mask in [0, 1] of the object in `image`: its alpha, else a colour key on the border colour.

    A plain backdrop is what product photos and renders have; the key takes the
    median border colour as background and keeps the largest filled blobs.
    """
    rgba = np.asarray(image.convert("RGBA"))
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    if alpha.min() < 1.0:
        return alpha
    rgb = rgba[..., :3].astype(np.float32)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    background = np.median(border, axis=0)
    distance = np.linalg.norm(rgb - background, axis=2)
    keyed = distance > max(24.0, 3.0 * float(np.median(np.linalg.norm(border - background, axis=1))))
    keyed = cv2.morphologyEx(keyed.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    keyed = ndimage.binary_fill_holes(keyed)
    if keyed.sum() < 0.001 * keyed.size:
        return np.ones(keyed.shape, np.float32)
    return keyed.astype(np.float32)


@dataclass
class View:
    """One reference photo and the orthographic camera that maps world points to its pixels."""

    name: str
    rgb: np.ndarray  # (H, W, 3) float32 in [0, 255], premultiplied by `mask`
    mask: np.ndarray  # (H, W) float32 in [0, 1]
    direction: np.ndarray
    right: np.ndarray
    scale: np.ndarray  # pixels per world unit along (right, up)
    offset: np.ndarray  # pixel coordinates of (u, v) = (0, 0)
    depth: np.ndarray | None = None  # (D, D) nearest depth along `direction`, +inf where empty
    depth_scale: np.ndarray | None = None
    depth_offset: np.ndarray | None = None
    depth_pixel: float = 0.0

    @classmethod
    def fit(cls, name: str, image: Image.Image, vertices: np.ndarray) -> "View":
        """A camera whose view of the mesh's bounding box fills the photo's foreground box."""
        direction, right = (np.array(a) for a in VIEW_AXES[name])
        mask = foreground_mask(image)
        rows, cols = np.nonzero(mask > 0.5)
        if len(rows) == 0:
            rows, cols = np.array([0, mask.shape[0] - 1]), np.array([0, mask.shape[1] - 1])
        u, v = vertices @ right, vertices @ UP
        span_u, span_v = max(np.ptp(u), 1e-9), max(np.ptp(v), 1e-9)
        width, height = cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()
        # pixel x = offset_x + scale_x * u (pixel centres at integers); image rows grow downwards.
        scale = np.array([width / span_u, -height / span_v])
        offset = np.array([cols.min() - 0.5 - scale[0] * u.min(), rows.min() - 0.5 - scale[1] * v.max()])
        # Premultiplied, so sampling at the silhouette never mixes in the backdrop.
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) * mask[..., None]
        return cls(name, rgb, mask, direction, right, scale, offset)

    def pixels(self, points: np.ndarray) -> np.ndarray:
        return np.stack([points @ self.right, points @ UP], axis=1) * self.scale + self.offset

    def render_depth(self, vertices: np.ndarray, faces: np.ndarray, resolution: int = DEPTH_RESOLUTION) -> None:
        """Rasterise the mesh's nearest depth as seen by this camera (the visibility test's reference)."""
        uv = np.stack([vertices @ self.right, vertices @ UP], axis=1)
        low, span = uv.min(axis=0), np.maximum(np.ptp(uv, axis=0), 1e-9)
        pixel = span.max() / (resolution - 1)
        size = np.ceil(span / pixel).astype(int) + 1
        self.depth_scale = np.array([1.0 / pixel, -1.0 / pixel])
        self.depth_offset = np.array([-low[0] / pixel, (low[1] + span[1]) / pixel])
        self.depth_pixel = pixel
        points = uv * self.depth_scale + self.depth_offset
        self.depth = rasterize_depth(points, vertices @ self.direction, faces, (int(size[1]), int(size[0])))

    def visible(self, points: np.ndarray, facing: np.ndarray) -> np.ndarray:
        """True where a point is not behind the depth map (tolerance grows with the surface's slope)."""
        xy = np.stack([points @ self.right, points @ UP], axis=1) * self.depth_scale + self.depth_offset
        cols = np.clip(np.rint(xy[:, 0]).astype(np.int64), 0, self.depth.shape[1] - 1)
        rows = np.clip(np.rint(xy[:, 1]).astype(np.int64), 0, self.depth.shape[0] - 1)
        nearest = self.depth[rows, cols]
        slope = np.sqrt(np.clip(1.0 - facing**2, 0.0, 1.0)) / np.clip(facing, 0.1, 1.0)
        tolerance = self.depth_pixel * (1.5 + slope)
        return points @ self.direction <= nearest + tolerance

    def sample(self, points: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(colour (N, 3), weight (N,)): the photo's colour and how much to trust it at each point."""
        facing = np.clip(-(normals @ self.direction), 0.0, 1.0)
        colour = np.zeros((len(points), 3), np.float32)
        weight = np.zeros(len(points), np.float32)
        idx = np.flatnonzero(facing > 0)
        idx = idx[self.visible(points[idx], facing[idx])]
        xy = self.pixels(points[idx])
        coverage = bilinear(self.mask[..., None], xy)
        colour[idx] = bilinear(self.rgb, xy) / np.maximum(coverage, 1e-6)
        weight[idx] = facing[idx] ** NORMAL_POWER * coverage[:, 0]
        return colour, weight


def bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Sample (H, W, C) `image` at pixel-centre coordinates `xy` (N, 2), clamped at the borders."""
    h, w = image.shape[:2]
    x = np.clip(xy[:, 0], 0.0, w - 1.0)
    y = np.clip(xy[:, 1], 0.0, h - 1.0)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def rasterize_depth(points: np.ndarray, depth: np.ndarray, faces: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Z-buffer: the smallest interpolated `depth` of any triangle covering each pixel centre.

    Vectorised over each triangle's pixel bounding box (in chunks), so a mesh of
    any size rasterises without a Python loop per face.
    """
    h, w = shape
    zbuffer = np.full(h * w, np.inf)
    tri, tz = points[faces], depth[faces]
    low = np.floor(tri.min(axis=1)).astype(np.int64)
    high = np.ceil(tri.max(axis=1)).astype(np.int64)
    low = np.maximum(low, 0)
    high = np.minimum(high, [w - 1, h - 1])
    keep = (high >= low).all(axis=1)
    ids = np.flatnonzero(keep)
    counts = np.prod(high[ids] - low[ids] + 1, axis=1)
    splits = np.searchsorted(np.cumsum(counts), np.arange(1, counts.sum() // _MAX_CANDIDATES + 1) * _MAX_CANDIDATES)
    for chunk in np.split(ids, splits):
        if len(chunk):
            _splat(zbuffer, w, tri[chunk], tz[chunk], low[chunk], high[chunk])
    return zbuffer.reshape(h, w)


def _splat(zbuffer: np.ndarray, w: int, tri: np.ndarray, tz: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    extent = high - low + 1
    counts = extent[:, 0] * extent[:, 1]
    owner = np.repeat(np.arange(len(tri)), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    px = low[owner, 0] + local % extent[owner, 0]
    py = low[owner, 1] + local // extent[owner, 0]
    a, b, c = tri[owner, 0], tri[owner, 1], tri[owner, 2]
    e0, e1 = b - a, c - a
    det = e0[:, 0] * e1[:, 1] - e0[:, 1] * e1[:, 0]
    dx, dy = px - a[:, 0], py - a[:, 1]
    safe = np.where(np.abs(det) < 1e-12, 1.0, det)
    b1 = (dx * e1[:, 1] - dy * e1[:, 0]) / safe
    b2 = (e0[:, 0] * dy - e0[:, 1] * dx) / safe
    b0 = 1.0 - b1 - b2
    eps = -1e-6
    inside = (np.abs(det) >= 1e-12) & (b0 >= eps) & (b1 >= eps) & (b2 >= eps)
    z = b0 * tz[owner, 0] + b1 * tz[owner, 1] + b2 * tz[owner, 2]
    np.minimum.at(zbuffer, (py * w + px)[inside], z[inside])
