"""Reading USD (usda, usdc, usd) and USDZ packages into trimesh scenes with usd-core.

Only what the studio's formats can hold is read: every visible UsdGeom.Mesh in world coordinates
(glTF's +Y up, metres), its `st` UVs and display colours, and the UsdPreviewSurface bound to it
(base colour or texture, metallic, roughness). A layer may compose or name only files inside the
upload: every sublayer, reference and payload is checked before it is opened, and a texture
outside is dropped with a warning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from ..errors import InputError
from .export import MATTE
from .io import inside
from .up_axis import Z_UP_TO_Y_UP

USD_FORMATS = ("usd", "usda", "usdc", "usdz")
LAYER_SUFFIXES = (".usd", ".usda", ".usdc")


def root_layer_of_package(members: list[str], folder: Path, label: str) -> Path:
    """The first layer of a USDZ (the package's root layer, as the USDZ rules define it)."""
    first = members[0] if members else ""
    if Path(first).suffix.lower() not in LAYER_SUFFIXES:
        raise InputError(f"'{label}' is not a USDZ package: its first file is not a USD layer. Export it again as .usdz.")
    return folder / first


def check_layers(layer_path: Path, root: Path, label: str) -> None:
    """Refuse a layer stack that composes files outside `root` or missing from the upload, before opening it."""
    from pxr import Sdf

    seen, pending = set(), [layer_path.resolve()]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        layer = Sdf.Layer.FindOrOpen(str(current))
        if layer is None:
            raise InputError(f"'{label}' could not be read as USD: a layer is damaged. Export it again.")
        # Sublayers, references and payloads; textures are checked where they are read.
        for reference in layer.GetCompositionAssetDependencies():
            target = inside(root, current.parent, reference)
            if target is None:
                raise InputError(f"'{label}' composes files outside the upload ('{reference}'); upload a .usdz "
                                 "package that holds everything it uses.")
            if not target.is_file():
                raise InputError(f"'{label}' composes '{reference}', which was not uploaded with it; upload a .usdz "
                                 "package that holds everything it uses.")
            if target.suffix.lower() in LAYER_SUFFIXES:
                pending.append(target)


def read_usd(layer_path: Path, root: Path, label: str, max_faces: int, warnings: list | None) -> trimesh.Scene:
    from pxr import Usd, UsdGeom

    check_layers(layer_path, root, label)
    stage = Usd.Stage.Open(str(layer_path))
    if stage is None:
        raise InputError(f"'{label}' could not be read as USD. Export it again.")
    time = Usd.TimeCode.EarliestTime()
    to_glb = _stage_to_glb(stage)
    cache = UsdGeom.XformCache(time)
    scene, faces = trimesh.Scene(), 0
    prims = list(Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies()))
    if any(prim.HasAuthoredMetadata("clips") for prim in prims):
        # Value clips name more layers (by pattern, too) that are opened only when values are read.
        raise InputError(f"'{label}' uses USD value clips, which the studio does not read; flatten it "
                         "(usdcat --flatten) or export it again without clips.")
    for prim in prims:
        if not prim.IsA(UsdGeom.Mesh) or not _shown(UsdGeom.Imageable(prim), time):
            continue
        usd_mesh = UsdGeom.Mesh(prim)
        counts = np.asarray(usd_mesh.GetFaceVertexCountsAttr().Get(time) or [], dtype=np.int64)
        faces += int(np.clip(counts - 2, 0, None).sum())
        if faces > max_faces:
            raise InputError(f"{label} has more than {max_faces:,} faces; the limit is {max_faces:,}. Decimate it first.")
        world = np.asarray(cache.GetLocalToWorldTransform(prim), dtype=np.float64) @ to_glb
        for name, mesh in _meshes(usd_mesh, counts, world, time, root, label, warnings):
            name = name if name not in scene.geometry else f"{name}_{len(scene.geometry)}"
            scene.add_geometry(mesh, geom_name=name, node_name=name)
    return scene


def _stage_to_glb(stage) -> np.ndarray:
    """Row-vector matrix from the stage's units and up axis to glTF's metres, +Y up."""
    from pxr import UsdGeom

    matrix = np.eye(4) * UsdGeom.GetStageMetersPerUnit(stage)
    matrix[3, 3] = 1.0
    if UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.z:
        matrix = matrix @ Z_UP_TO_Y_UP.T  # USD's matrices act on row vectors
    return matrix


def _shown(imageable, time) -> bool:
    from pxr import UsdGeom

    return (imageable.ComputeVisibility(time) != UsdGeom.Tokens.invisible
            and imageable.ComputePurpose() in (UsdGeom.Tokens.default_, UsdGeom.Tokens.render))


def _meshes(usd_mesh, counts, world, time, root, label, warnings):
    """One trimesh per material subset of a UsdGeom.Mesh (the whole mesh when it has none)."""
    from pxr import UsdGeom, UsdShade

    prim = usd_mesh.GetPrim()
    points = np.asarray(usd_mesh.GetPointsAttr().Get(time) or [], dtype=np.float64).reshape(-1, 3)
    corners = np.asarray(usd_mesh.GetFaceVertexIndicesAttr().Get(time) or [], dtype=np.int64)
    if counts.sum() != len(corners) or (len(corners) and (corners.min() < 0 or corners.max() >= len(points))):
        raise InputError(f"{label}: the mesh '{prim.GetPath()}' has face indices that do not match its points; "
                         "the file is corrupt, export it again.")
    triangles, face_of_triangle = _fan_triangulate(counts)
    if usd_mesh.GetOrientationAttr().Get() == UsdGeom.Tokens.leftHanded:
        triangles = triangles[:, ::-1]
    uv = _per_corner(UsdGeom.PrimvarsAPI(prim), _uv_name(prim), counts, corners, len(points), time)
    colours = _per_corner(UsdGeom.PrimvarsAPI(prim), "displayColor", counts, corners, len(points), time)
    positions = np.column_stack([points[corners], np.ones(len(corners))]) @ world
    subsets = UsdShade.MaterialBindingAPI(prim).GetMaterialBindSubsets()
    groups = [(s.GetPrim(), np.asarray(s.GetIndicesAttr().Get(time) or [], dtype=np.int64)) for s in subsets]
    # Faces in no subset keep the mesh's own material.
    rest = np.setdiff1d(np.arange(len(counts)), np.concatenate([ids for _, ids in groups]) if groups else [])
    groups = [*groups, (prim, rest)] if len(rest) else groups
    name = prim.GetName()
    for index, (bound, face_ids) in enumerate(groups):
        keep = np.isin(face_of_triangle, face_ids)
        if not keep.any():
            continue
        corner_ids = triangles[keep]
        used, local = np.unique(corner_ids, return_inverse=True)
        mesh = trimesh.Trimesh(positions[used, :3], local.reshape(-1, 3), process=False)
        shading = _surface(bound, root, label, warnings)
        _apply_look(mesh, shading, None if uv is None else uv[used], None if colours is None else colours[used])
        mesh.merge_vertices()
        yield (name if len(groups) == 1 else f"{name}_{index}"), mesh


def _fan_triangulate(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangles as face-corner indices (a fan per polygon) and the polygon each came from."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    fans = np.clip(counts - 2, 0, None)
    face_of_triangle = np.repeat(np.arange(len(counts)), fans)
    step = np.arange(fans.sum()) - np.repeat(np.cumsum(fans) - fans, fans)
    first = starts[face_of_triangle]
    triangles = np.column_stack([first, first + step + 1, first + step + 2])
    return triangles, face_of_triangle


def _uv_name(prim) -> str | None:
    """`st` when present, else the first texture-coordinate primvar."""
    from pxr import Sdf, UsdGeom

    primvars = UsdGeom.PrimvarsAPI(prim).GetPrimvars()
    uvs = [p.GetPrimvarName() for p in primvars if p.GetTypeName() in (Sdf.ValueTypeNames.TexCoord2fArray,
                                                                        Sdf.ValueTypeNames.Float2Array)]
    return "st" if "st" in uvs else (uvs[0] if uvs else None)


def _per_corner(api, name, counts, corners, n_points, time) -> np.ndarray | None:
    """A primvar as one value per face corner, whatever its interpolation."""
    from pxr import UsdGeom

    if name is None or not api.HasPrimvar(name):
        return None
    primvar = api.GetPrimvar(name)
    values = primvar.ComputeFlattened(time)
    if values is None or len(values) == 0:
        return None
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    interpolation = primvar.GetInterpolation()
    if interpolation in (UsdGeom.Tokens.vertex, UsdGeom.Tokens.varying) and len(values) == n_points:
        return values[corners]
    if interpolation == UsdGeom.Tokens.faceVarying and len(values) == len(corners):
        return values
    if interpolation == UsdGeom.Tokens.uniform and len(values) == len(counts):
        return np.repeat(values, counts, axis=0)
    if interpolation == UsdGeom.Tokens.constant:
        return np.repeat(values[:1], len(corners), axis=0)
    return None


def _surface(prim, root: Path, label: str, warnings: list | None) -> dict:
    """The bound UsdPreviewSurface's colour, texture, metallic and roughness (its defaults when unset)."""
    from pxr import UsdShade

    look = {"color": (0.18, 0.18, 0.18), "texture": None, "metallic": 0.0, "roughness": 0.5, "vertex": False}
    material = UsdShade.MaterialBindingAPI(prim).ComputeBoundMaterial()[0]
    shader = material.ComputeSurfaceSource()[0] if material else None
    if not shader or shader.GetIdAttr().Get() != "UsdPreviewSurface":
        look["color"] = None  # no material: display colours or the studio's matte grey
        return look
    for key in ("metallic", "roughness"):
        value = _input_value(shader, key)
        if value is not None:
            look[key] = float(value)
    diffuse = shader.GetInput("diffuseColor")
    source = diffuse.GetConnectedSources()[0] if diffuse else []
    if source:
        upstream = UsdShade.Shader(source[0].source.GetPrim())
        kind = upstream.GetIdAttr().Get()
        if kind == "UsdUVTexture":
            look["texture"] = _texture(upstream, root, label, warnings)
            scale = _input_value(upstream, "scale")
            look["color"] = tuple(scale)[:3] if scale is not None else (1.0, 1.0, 1.0)
        elif kind and kind.startswith("UsdPrimvarReader"):
            look["vertex"], look["color"] = True, (1.0, 1.0, 1.0)
    elif diffuse and diffuse.Get() is not None:
        look["color"] = tuple(diffuse.Get())
    return look


def _input_value(shader, name: str):
    shader_input = shader.GetInput(name)
    return shader_input.Get() if shader_input and not shader_input.HasConnectedSource() else None


def _texture(shader, root: Path, label: str, warnings: list | None) -> Image.Image | None:
    """The texture file a UsdUVTexture names, if it lies inside the upload."""
    file_input = shader.GetInput("file")
    asset = file_input.Get() if file_input else None
    if asset is None or not asset.path:
        return None
    target = Path(asset.resolvedPath).resolve() if asset.resolvedPath else None
    if target is None or not target.is_relative_to(root.resolve()) or not target.is_file():
        if warnings is not None:
            warnings.append(f"{label} names the texture '{asset.path}', which is not inside the upload; it was "
                            "ignored. Upload a .usdz package that holds its textures.")
        return None
    try:
        with Image.open(target) as image:
            return image.convert("RGBA")
    except (OSError, Image.DecompressionBombError, ValueError):
        if warnings is not None:
            warnings.append(f"{label}: the texture '{asset.path}' could not be read as an image; it was ignored.")
        return None


def _apply_look(mesh: trimesh.Trimesh, look: dict, uv: np.ndarray | None, colours: np.ndarray | None) -> None:
    """Give the mesh its texture, colours and a PBR material like the GLB the studio would write."""
    if look["color"] is None and colours is not None:
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=_rgba(colours))
        return
    if look["vertex"] and colours is not None:
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=_rgba(colours))
        return
    color = look["color"] if look["color"] is not None else (1.0, 1.0, 1.0)
    metallic = look["metallic"] if look["color"] is not None else MATTE["metallicFactor"]
    roughness = look["roughness"] if look["color"] is not None else MATTE["roughnessFactor"]
    material = trimesh.visual.material.PBRMaterial(
        baseColorFactor=[*_rgba(np.asarray([color]))[0][:3], 255], metallicFactor=metallic, roughnessFactor=roughness,
        baseColorTexture=look["texture"] if uv is not None else None)
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)


def _rgba(values: np.ndarray) -> np.ndarray:
    """0-1 colours (RGB or RGBA) as uint8 RGBA."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[1] == 3:
        values = np.column_stack([values, np.ones(len(values))])
    return np.clip(np.round(values[:, :4] * 255.0), 0, 255).astype(np.uint8)
