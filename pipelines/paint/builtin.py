"""Built-in mesh painter (CPU, no weights): project reference photos, or bake a procedural material.

The geometry is never changed: all parts are unwrapped into one xatlas atlas (which
only splits vertices along UV seams) and one texture is baked over it. With
photos, each texel blends the views that see it (weighted by how squarely the
surface faces the camera, tested against a depth map so hidden faces get
nothing); surface the photos do not show is filled smoothly from the seen
surface around it. With only a prompt, a procedural material is baked instead.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import trimesh

from ..base import Pipeline, PipelineOutput, Stages
from ..errors import InputError
from ..image_io import load_image
from ..knobs import up_axis_knob
from ..mesh.io import load_scene
from ..mesh.up_axis import resolve_up, turn_y_up
from ..mesh.texture import UNWRAP_PIECE_FACES, bake_texture, unwrap, with_texture
from .materials import material_shader, parse_prompt
from .projection import VIEW_AXES, View

MIN_TEXTURE, MAX_TEXTURE = 512, 4096
MAX_PAINT_FACES = 1_000_000
FILL_WEIGHT = 0.02  # how strongly the smooth fill competes with a photo at grazing angles
SEEN_WEIGHT = 0.05  # vertices seen at least this squarely anchor the fill
MIN_SEEN_SHARE = 0.2  # below this share of the surface area seen by the photos, a warning says the rest is guessed
COVERAGE_SAMPLES = 20_000  # surface points that measure that share
IMAGE_KEYS = {"front": "image", "back": "back_image", "left": "left_image", "right": "right_image"}


def check_texture_size(value) -> int:
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise InputError(f"texture_size must be a whole number of pixels from {MIN_TEXTURE} to {MAX_TEXTURE}; got {value!r}.")
    if not MIN_TEXTURE <= size <= MAX_TEXTURE:
        raise InputError(f"texture_size must be from {MIN_TEXTURE} to {MAX_TEXTURE} pixels; got {size}.")
    return size


def check_paintable(scene: trimesh.Scene) -> None:
    """Reject meshes too large to unwrap in reasonable time (`load_scene` already refused those without area)."""
    faces = sum(len(g.faces) for g in scene.geometry.values())
    if faces > MAX_PAINT_FACES:
        raise InputError(f"The mesh has {faces:,} faces; painting takes up to {MAX_PAINT_FACES:,}. "
                         "Decimate it first (Mesh tools, target faces).")


def node_instances(scene: trimesh.Scene) -> dict[str, np.ndarray]:
    """Each geometry's world transform (the first node that places it)."""
    placed: dict[str, np.ndarray] = {}
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        placed.setdefault(name, np.asarray(transform, dtype=np.float64))
    return placed


def world_mesh(scene: trimesh.Scene) -> tuple[np.ndarray, np.ndarray]:
    """All placed geometry as one (vertices, faces) in world space (for framing and depth maps)."""
    vertices, faces, offset = [], [], 0
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geom = scene.geometry[name]
        vertices.append(trimesh.transform_points(geom.vertices, transform))
        faces.append(geom.faces + offset)
        offset += len(geom.vertices)
    return np.vstack(vertices), np.vstack(faces)


def blend_views(views: list[View], points: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sum of view colours and the total weight at each point."""
    total = np.zeros((len(points), 3), np.float64)
    weight = np.zeros(len(points), np.float64)
    for view in views:
        colour, w = view.sample(points, normals)
        total += colour * w[:, None]
        weight += w
    return total, weight


def smooth_fill(vertices: np.ndarray, faces: np.ndarray, colour: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Colours for unseen vertices by harmonic interpolation over the mesh from the seen ones.

    Unseen pieces with no seen vertex at all settle on the mean seen colour
    (a small pull towards it keeps the system well posed).
    """
    if seen.all() or not seen.any():
        return colour if seen.any() else np.full_like(colour, 128.0)
    n = len(vertices)
    edges = np.vstack([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = edges[edges[:, 0] != edges[:, 1]]
    adjacency = scipy.sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    laplacian = scipy.sparse.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency
    unknown, known = np.flatnonzero(~seen), np.flatnonzero(seen)
    mean = colour[known].mean(axis=0)
    pull = 1e-3
    system = laplacian[unknown][:, unknown] + pull * scipy.sparse.identity(len(unknown))
    rhs = -(laplacian[unknown][:, known] @ colour[known]) + pull * mean
    filled = colour.copy()
    filled[unknown] = scipy.sparse.linalg.splu(system.tocsc()).solve(np.ascontiguousarray(rhs))
    return filled


def seen_area_share(views: list[View], mesh: trimesh.Trimesh) -> float:
    """Share of the surface area the photos see, from points spread evenly over the surface by area, so a
    finely tessellated front does not outweigh a coarse back (and a point counts as a texel would)."""
    points, face_ids = trimesh.sample.sample_surface(mesh, COVERAGE_SAMPLES, seed=0)
    _, weight = blend_views(views, points, mesh.face_normals[face_ids])
    return float((weight > SEEN_WEIGHT).mean())


class ProjectionShader:
    """bake_texture shader in world space: blended photo colours over a smooth fill of what no photo sees."""

    def __init__(self, views: list[View], unwrapped: trimesh.Trimesh):
        self.views = views
        # Weld by position so the fill crosses seams, parts that touch and unmerged (STL-like) input.
        unique_index, inverse = trimesh.grouping.unique_rows(unwrapped.vertices, digits=8)
        self.weld = inverse
        welded_mesh = trimesh.Trimesh(unwrapped.vertices[unique_index], inverse[unwrapped.faces], process=False)
        total, weight = blend_views(views, welded_mesh.vertices, welded_mesh.vertex_normals)
        seen = weight > SEEN_WEIGHT
        colour = np.where(seen[:, None], total / np.maximum(weight, 1e-12)[:, None], 0.0)
        self.fill = smooth_fill(welded_mesh.vertices, welded_mesh.faces, colour, seen)
        self.faces = unwrapped.faces
        self.seen = seen[inverse]  # per vertex of `unwrapped`

    def __call__(self, points, normals, face_ids, bary):
        colours = np.empty((len(points), 3), np.float64)
        for start in range(0, len(points), 1_000_000):
            part = slice(start, start + 1_000_000)
            total, weight = blend_views(self.views, points[part], normals[part])
            fill = np.einsum("nk,nkc->nc", bary[part], self.fill[self.weld[self.faces[face_ids[part]]]])
            colours[part] = (total + FILL_WEIGHT * fill) / (weight + FILL_WEIGHT)[:, None]
        return colours.round().clip(0, 255)


def unwrap_together(scene: trimesh.Scene, names: list[str], transforms: list[np.ndarray], size: int):
    """One UV atlas for every part: (world-space unwrapped mesh, per part (local unwrapped mesh, vertex slice)).

    The parts are unwrapped as one world-space mesh, so texel density is even across parts and
    the whole asset shares one `size` texture; each part then gets back its own vertices
    (exactly its original local positions, split at seams), its faces in order and its UVs.
    """
    geoms = [scene.geometry[n] for n in names]
    vertex_offsets = np.cumsum([0] + [len(g.vertices) for g in geoms])
    face_offsets = np.cumsum([0] + [len(g.faces) for g in geoms])
    world = trimesh.Trimesh(
        np.vstack([trimesh.transform_points(g.vertices, t) for g, t in zip(geoms, transforms)]),
        np.vstack([g.faces + o for g, o in zip(geoms, vertex_offsets)]), process=False)
    unwrapped, source = unwrap(world, fast=True, resolution=size, piece_faces=UNWRAP_PIECE_FACES)
    parts = []
    for i, geom in enumerate(geoms):
        faces = unwrapped.faces[face_offsets[i]:face_offsets[i + 1]]
        used, local = np.unique(faces, return_inverse=True)
        part = trimesh.Trimesh(geom.vertices[source[used] - vertex_offsets[i]], local.reshape(-1, 3), process=False,
                               visual=trimesh.visual.TextureVisuals(uv=unwrapped.visual.uv[used]))
        parts.append((part, used))
    return unwrapped, parts


class BuiltinPaintPipeline(Pipeline):
    name = "builtin"
    feature = "paint_mesh"
    label = "Built-in painter (projection + procedural materials)"
    description = ("Projects reference photos (front, optional back/left/right) onto the mesh with depth-tested "
                   "visibility, or bakes a procedural material (wood, metal, stone, fabric, plastic, ceramic) "
                   "from the prompt's colour and material words. Keeps the geometry exactly.")
    devices = ("cpu",)
    reentrant = True

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        size = check_texture_size(inputs.get("texture_size", 1024))
        seed = int(inputs.get("seed") or 0)
        if not 0 <= seed < 2**32:
            raise InputError(f"seed must be a whole number from 0 to 4,294,967,295; got {seed}.")
        prompt = (inputs.get("prompt") or "").strip()
        images = {view: inputs.get(key) for view, key in IMAGE_KEYS.items() if inputs.get(key) is not None}
        if not prompt and not images:
            raise InputError("Give a prompt (for example 'weathered oak wood') or a reference image to paint from.")
        if images and "image" not in {IMAGE_KEYS[v] for v in images}:
            raise InputError("Extra views (back, left, right) need the front reference image too.")
        up_axis = up_axis_knob(inputs)
        with stages.stage("load", 0.05):
            scene = load_scene(inputs["mesh"])
            check_paintable(scene)
            up = resolve_up(scene, up_axis)  # the views look at the front of a +Y-up mesh
            turn_y_up(scene, up)
            loaded = {view: load_image(path, f"{view} image") for view, path in images.items()}
        spec = parse_prompt(prompt) if prompt else None
        warnings = up.warnings() if loaded else []
        if prompt and not spec.recognised:
            warnings.append(f"No colour or material words were recognised in the prompt; used {spec.kind} in "
                            "its default colour. Words that work: red, blue, wood, metal, stone, fabric, plastic, ...")
        degenerate = int(sum((g.area_faces <= 0).sum() for g in scene.geometry.values()))
        if degenerate:
            warnings.append(f"{degenerate} zero-area face(s) were kept as they are; they take no texture space.")

        views = []
        if loaded:
            with stages.stage("cameras and depth maps", 0.1):
                vertices, faces = world_mesh(scene)
                for name in VIEW_AXES:
                    if name in loaded:
                        view = View.fit(name, loaded[name], vertices)
                        view.render_depth(vertices, faces)
                        views.append(view)

        placed = node_instances(scene)
        names = list(placed)
        with stages.stage("unwrap", 0.2):
            world, parts = unwrap_together(scene, names, list(placed.values()), size)
        with stages.stage("bake", 0.5):
            if views:
                shader = ProjectionShader(views, world)
                coverage = {name: round(float(shader.seen[used].mean()), 4) for name, (_, used) in zip(names, parts)}
                seen_share = seen_area_share(views, world)
            else:
                shader = material_shader(spec, world.vertices, seed)
                coverage = {}
            image = bake_texture(world, size, shader)
        roughness, metallic = (spec.roughness, spec.metallic) if spec and spec.recognised else (0.8, 0.0)
        for name, (part, _) in zip(names, parts):
            # One material for every part: the GLB stores the texture once.
            scene.geometry[name] = with_texture(part, image, roughness=roughness, metallic=metallic, name="paint")

        unseen = [name for name, fraction in coverage.items() if fraction == 0.0]
        if unseen:
            warnings.append(f"No reference view sees {', '.join(unseen)} (it faces away from every camera, for "
                            "example straight up or down), so it was painted neutral grey; add a view that shows it.")
        if views and seen_share < MIN_SEEN_SHARE:
            warnings.append(
                f"The reference photos saw only {seen_share:.0%} of the surface (by area; at least "
                f"{MIN_SEEN_SHARE:.0%} is expected), so the rest was filled in from the colours around it and the "
                "texture will look flat. Use a photo of this object whose outline matches the mesh from the front "
                "(on a plain background or with transparency), and add back, left or right views.")
        metadata = {
            "mode": "image" if views else "text",
            "views": [v.name for v in views],
            "texture_size": size,
            "seed": seed,
            "parts_painted": len(placed),
            **up.metadata(),
        }
        if coverage:
            metadata["seen_vertex_fraction"] = coverage
            metadata["seen_area_share"] = round(seen_share, 4)
        if spec:
            metadata["material"] = spec.describe()
        return PipelineOutput(asset=scene, metadata=metadata, warnings=warnings, images={"texture": image})
