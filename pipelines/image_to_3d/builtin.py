"""Built-in image to 3D on CPU with no weights: silhouette inflation and visual-hull carving.

World frame (glTF): +y up, the front camera looks down -z. The square canvas of
every preprocessed view spans [-0.5, 0.5] in world units. Views are orthographic
and look horizontally at the object:

- front: camera at +z; image right is +x.
- back: camera at -z; image right is -x.
- left: camera at -x (walk a quarter turn to your left around the object); image right is +z.
- right: camera at +x; image right is -z.

Both reconstructions build a signed field on a voxel grid (positive inside) and
extract it with marching cubes, so the mesh is closed by construction.
"""

from __future__ import annotations

import cv2
import numpy as np
import trimesh
from scipy import ndimage
from skimage import measure

from ..base import Pipeline, PipelineOutput, Stages
from ..mesh.placement import ground_offset
from ..mesh.repair import decimate
from ..mesh.texture import UNWRAP_PIECE_FACES, bake_texture, unwrap, with_texture
from .options import given_views, options
from .preprocess import View, prepare_views, scene_warnings

CANVAS = 512
TEXTURE_SIZE = 1024
MAX_GRID = 384
DEPTH = 0.75  # inflation depth relative to a sphere through the silhouette
SMOOTH_ITERATIONS = 4
# Per view: (direction towards the camera, world axis along image right, sign of that axis).
CAMERAS = {
    "front": (np.array([0.0, 0.0, 1.0]), 0, 1.0),
    "back": (np.array([0.0, 0.0, -1.0]), 0, -1.0),
    "left": (np.array([-1.0, 0.0, 0.0]), 2, 1.0),
    "right": (np.array([1.0, 0.0, 0.0]), 2, -1.0),
}


def signed_distance(mask: np.ndarray, size: int) -> np.ndarray:
    """Signed distance to the silhouette in grid cells (positive inside), on a size x size grid."""
    coverage = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
    inside = coverage >= 0.5
    sdf = ndimage.distance_transform_edt(inside) - ndimage.distance_transform_edt(~inside)
    sdf = np.where(inside, sdf - 0.5, sdf + 0.5).astype(np.float32)
    return cv2.GaussianBlur(sdf, (0, 0), 0.8)


def inflation_height(sdf: np.ndarray) -> np.ndarray:
    """Half-thickness over the silhouette: a round profile, vertical at the rim; negative outside."""
    radius = max(float(sdf.max()), 1.0)
    d = np.clip(sdf, 0.0, radius)
    return np.where(sdf > 0, DEPTH * np.sqrt(d * (2.0 * radius - d)), sdf).astype(np.float32)


def inflate(front: View, size: int) -> tuple[np.ndarray, float]:
    """Field (rows=y, cols=x, z) of the inflated front silhouette and the z of its middle slice."""
    height = inflation_height(signed_distance(front.mask, size))
    half = int(np.ceil(max(float(height.max()), 1.0))) + 2
    z = np.arange(-half, half + 1, dtype=np.float32)
    return height[:, :, None] - np.abs(z)[None, None, :], float(half)


def carve(views: dict[str, View], size: int) -> tuple[np.ndarray, float]:
    """Visual hull as the smallest silhouette distance over the views (rows=y, cols=x, z)."""
    sdf = {name: signed_distance(view.mask, size) for name, view in views.items()}
    field = sdf["front"][:, :, None]
    if "back" in sdf:
        field = np.minimum(field, sdf["back"][:, ::-1, None])
    if "left" in sdf:
        field = np.minimum(field, sdf["left"][:, None, :])
    if "right" in sdf:
        field = np.minimum(field, sdf["right"][:, None, ::-1])
    if "left" not in sdf and "right" not in sdf:
        height = inflation_height(sdf["front"])
        z = np.arange(size, dtype=np.float32) - (size - 1) / 2.0
        field = np.minimum(field, height[:, :, None] - np.abs(z)[None, None, :])
    else:
        field = np.broadcast_to(field, (size, size, size))
    return np.ascontiguousarray(field, dtype=np.float32), (size - 1) / 2.0


def extract(field: np.ndarray, size: int, z_centre: float) -> trimesh.Trimesh:
    """Marching cubes on the padded field, mapped to world units with outward normals."""
    padded = np.pad(field, 1, constant_values=-1.0)
    vertices, faces, _, _ = measure.marching_cubes(padded, level=0.0, allow_degenerate=False)
    vertices -= 1.0
    world = np.column_stack([
        (vertices[:, 1] + 0.5) / size - 0.5,
        0.5 - (vertices[:, 0] + 0.5) / size,
        (vertices[:, 2] - z_centre) / size,
    ])
    mesh = trimesh.Trimesh(world, faces, process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def sample(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear colours of `image` at world image-plane coordinates (u right, v up) in [-0.5, 0.5]."""
    size, count = image.shape[0], len(u)
    # cv2.remap takes 2-D maps under 32767 a side: lay the points out in rows of 1024.
    padded = -(-count // 1024) * 1024
    cols = np.zeros(padded, np.float32)
    rows = np.zeros(padded, np.float32)
    cols[:count] = (u + 0.5) * size - 0.5
    rows[:count] = (0.5 - v) * size - 0.5
    colours = cv2.remap(image, cols.reshape(-1, 1024), rows.reshape(-1, 1024), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    return colours.reshape(-1, image.shape[2])[:count]


class FrontShader:
    """Single view: a point takes the front image's colour straight ahead of or behind it.

    The back is the front seen from behind (mirrored), and both meet the same
    pixels at the rim, so there is no seam.
    """

    def __init__(self, front: View):
        self.image = front.rgb

    def __call__(self, points, normals=None, face_ids=None, bary=None) -> np.ndarray:
        return sample(self.image, points[:, 0], points[:, 1])


class HullShader:
    """Multi-view: each point blends the views that see it, weighted by how squarely they see it."""

    SHARPNESS = 3.0
    FLOOR = 0.02  # lets top and bottom, seen edge-on by every camera, still get a colour

    def __init__(self, views: dict[str, View], field: np.ndarray, z_centre: float):
        self.views = views
        self.size = field.shape[0]
        self.z_centre = z_centre
        self.depth = self._depth_maps(field > 0)

    def _depth_maps(self, occupied: np.ndarray) -> dict[str, np.ndarray]:
        """Per view, the grid index of the first occupied voxel along the viewing ray."""
        last = occupied.shape[2] - 1
        hit_z, hit_x = occupied.any(axis=2), occupied.any(axis=1)
        maps = {
            "front": np.where(hit_z, last - np.argmax(occupied[:, :, ::-1], axis=2), -1),
            "back": np.where(hit_z, np.argmax(occupied, axis=2), last + 1),
            "left": np.where(hit_x, np.argmax(occupied, axis=1), last + 1),
            "right": np.where(hit_x, last - np.argmax(occupied[:, ::-1, :], axis=1), -1),
        }
        return {name: maps[name].astype(np.float32) for name in self.views}

    def _visible(self, name: str, points: np.ndarray) -> np.ndarray:
        n = self.size
        x = (points[:, 0] + 0.5) * n - 0.5
        row = np.clip(np.round((0.5 - points[:, 1]) * n - 0.5), 0, n - 1).astype(int)
        z = points[:, 2] * n + self.z_centre
        tolerance = 1.5
        if name in ("front", "back"):
            col = np.clip(np.round(x), 0, n - 1).astype(int)
            surface = self.depth[name][row, col]
            return z >= surface - tolerance if name == "front" else z <= surface + tolerance
        col = np.clip(np.round(z), 0, n - 1).astype(int)
        surface = self.depth[name][row, col]
        return x <= surface + tolerance if name == "left" else x >= surface - tolerance

    def __call__(self, points, normals, face_ids=None, bary=None) -> np.ndarray:
        total = np.zeros((len(points), 3))
        weight_sum = np.zeros(len(points))
        fallback = np.zeros((len(points), 3))
        fallback_sum = np.zeros(len(points))
        for name, view in self.views.items():
            direction, axis, sign = CAMERAS[name]
            facing = np.clip(normals @ direction, 0.0, 1.0) ** self.SHARPNESS + self.FLOOR
            colour = sample(view.rgb, sign * points[:, axis], points[:, 1]).astype(np.float64)
            weight = facing * self._visible(name, points)
            total += weight[:, None] * colour
            weight_sum += weight
            fallback += facing[:, None] * colour
            fallback_sum += facing
        unseen = weight_sum <= 0
        total[unseen], weight_sum[unseen] = fallback[unseen], fallback_sum[unseen]
        return (total / weight_sum[:, None]).round().clip(0, 255).astype(np.uint8)


def colour_mesh(mesh: trimesh.Trimesh, shader, textured: bool) -> trimesh.Trimesh:
    """Per-vertex colours, or a baked UV-atlas texture when `textured`."""
    if textured:
        unwrapped, _ = unwrap(mesh, fast=True, resolution=TEXTURE_SIZE, piece_faces=UNWRAP_PIECE_FACES)
        return with_texture(unwrapped, bake_texture(unwrapped, TEXTURE_SIZE, shader), name="image_to_3d")
    colours = shader(mesh.vertices, mesh.vertex_normals)
    alpha = np.full((len(colours), 1), 255, dtype=np.uint8)
    return trimesh.Trimesh(mesh.vertices, mesh.faces, process=False,
                           visual=trimesh.visual.ColorVisuals(vertex_colors=np.hstack([colours, alpha])))


def stand_on_ground(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The finished mesh moved to stand on y = 0, centred in x and z, as text-to-3D assets stand (after
    colouring: the shaders sample the views in the reconstruction's own frame)."""
    return mesh.apply_translation(ground_offset(mesh.bounds))


class BuiltinImageTo3D(Pipeline):
    name = "builtin"
    feature = "image_to_3d"
    label = "Built-in reconstruction (silhouette inflation / visual hull, CPU)"
    description = (
        "One view: the silhouette inflated into a closed rounded shell, front and back coloured from the photo. "
        "Several views (front with back/left/right): visual-hull carving coloured from every view. "
        "No weights; octree_resolution sets the voxel grid; steps and guidance do not apply."
    )
    devices = ("cpu",)
    reentrant = True
    priority = 0

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        opts = options(inputs)
        sources = given_views(inputs)
        size = min(opts["octree_resolution"], MAX_GRID)
        warnings = []
        if opts["octree_resolution"] > MAX_GRID:
            warnings.append(f"The built-in pipeline caps the voxel grid at {MAX_GRID}; used {MAX_GRID}.")
        with stages.stage("preprocess", 0.05):
            views = {v.name: v for v in prepare_views(sources, opts["remove_background"], CANVAS)}
        warnings += scene_warnings(list(views.values()))
        multi = len(views) > 1
        with stages.stage("carve" if multi else "inflate", 0.2):
            field, z_centre = carve(views, size) if multi else inflate(views["front"], size)
        with stages.stage("marching_cubes", 0.4):
            mesh = extract(field, size, z_centre)
            faces_extracted = len(mesh.faces)
        with stages.stage("smooth", 0.5):
            # Before decimation: Taubin on the even marching-cubes triangles keeps the volume.
            trimesh.smoothing.filter_taubin(mesh, iterations=SMOOTH_ITERATIONS)
        with stages.stage("decimate", 0.55):
            mesh = decimate(mesh, opts["face_count"])  # also drops the fins a fold leaves
            mesh.fix_normals()
        with stages.stage("texture" if opts["textured"] else "colour", 0.7):
            shader = HullShader(views, field, z_centre) if multi else FrontShader(views["front"])
            coloured = stand_on_ground(colour_mesh(mesh, shader, opts["textured"]))
        return PipelineOutput(
            asset=coloured,
            metadata={
                "seed": opts["seed"],
                "method": "visual_hull" if multi else "inflation",
                "views": {name: view.source for name, view in views.items()},
                "grid": size,
                "faces_extracted": faces_extracted,
                "watertight": bool(mesh.is_watertight),
                "volume": round(float(mesh.volume), 6),
                "textured": opts["textured"],
            },
            warnings=warnings,
            images={f"preprocessed_{name}": view.preview() for name, view in views.items()}
            | {f"mask_{name}": view.mask_image() for name, view in views.items()},
        )
