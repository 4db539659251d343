"""FBX and USDZ as other tools read them, and back into the studio.

- Blender (the `bpy` module, in a subprocess: tests/blender_io.py) imports the studio's FBX and USDZ with
  the materials, sizes, armature and skin its GLB states.
- Every USDZ passes all of usd-core's registered `UsdValidation` validators with no error.
- The studio's loader reads FBX and USD/USDZ: its own outputs, and files Blender wrote from a Khronos sample
  (the Duck that Gradio ships), with their faces, size, texture, colours and PBR factors.
- FBX and USD inputs may not reach files outside the upload.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import gradio
import numpy as np
import pytest
import trimesh
from gradio_client import handle_file

from pipelines.errors import InputError
from pipelines.mesh import fbx as fbx_format
from pipelines.mesh.export import assimp_command, export_asset, write_fbx, write_glb
from pipelines.mesh.io import load_scene, scene_stats

from .conftest import ROOT, assert_valid_glb

ASSETS = ROOT / "assets"
# Khronos glTF sample "Duck" (COLLADA2GLTF; SCEA Shared Source License), shipped inside the pinned gradio package.
DUCK = Path(gradio.__file__).parent / "media_assets" / "models3d" / "Duck.glb"
SOURCES = {
    "plain": ASSETS / "capsule.glb",  # one PBR colour, metallic 0.0, roughness 0.5
    "textured": ASSETS / "textured_box.zip",  # OBJ + MTL + PNG
    "vertex colours": ASSETS / "colored_torus.ply",
    "parts": ASSETS / "parts.glb",  # three named parts, three materials
    "duck": DUCK,  # textured, not made by the studio
}
blender = pytest.mark.blender


def blender_io(*arguments: str) -> list[dict]:
    """Run tests/blender_io.py with this interpreter; its JSON lines."""
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "blender_io.py"), *arguments],
                            capture_output=True, text=True, timeout=600)
    lines = [line[len("BLENDER "):] for line in result.stdout.splitlines() if line.startswith("BLENDER ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return [json.loads(line) for line in lines]


def usd_validation_errors(path: Path) -> list[str]:
    """Every error of every validator usd-core registers, as 'validator: message'."""
    from pxr import Usd, UsdValidation

    validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
    assert len(validators) > 10  # the whole registry, not an empty context that passes anything
    errors = UsdValidation.ValidationContext(validators).Validate(Usd.Stage.Open(str(path)))
    return [f"{e.GetValidator().GetMetadata().name if e.GetValidator() else '?'}: {e.GetMessage()}"
            for e in errors if e.GetType() == UsdValidation.ValidationErrorType.Error]


def texture_of(mesh: trimesh.Trimesh):
    return getattr(getattr(mesh.visual, "material", None), "baseColorTexture", None)


def used_materials(report: dict, colours: bool = True) -> list[tuple]:
    """(base colour unless a node drives it, textured, metallic, roughness) of each material, sorted: comparable
    across formats. `colours=False` leaves the base colour out."""
    rows = []
    for m in report["materials"]:
        colour = None if m["base_linked"] or not colours else tuple(round(c, 3) for c in m["base_color"])
        rows.append((colour, m["image"] is not None, round(m["metallic"], 3), round(m["roughness"], 3)))
    return sorted(rows, key=repr)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict:
    """Each source as the studio writes it: {name: {"glb": path, "fbx": path, "usdz": path}}."""
    folder = tmp_path_factory.mktemp("written")
    files = {}
    for name, source in SOURCES.items():
        scene = load_scene(source)
        for fmt in ("fbx", "usdz"):
            glb, out = export_asset(scene.copy(), fmt, folder / name.replace(" ", "_"), stem=fmt)
            files.setdefault(name, {"glb": glb})[fmt] = out
    assert_valid_glb(*(entry["glb"] for entry in files.values()))
    return files


# -- USDZ validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SOURCES))
def test_usdz_passes_usd_validation(written, name):
    assert usd_validation_errors(written[name]["usdz"]) == []


def test_usd_validation_catches_a_token_varname(tmp_path):
    """The check can fail: a primvar reader whose varname is a token (what the studio used to write)."""
    from pxr import Sdf, Usd, UsdShade

    stage = Usd.Stage.CreateNew(str(tmp_path / "token.usda"))
    reader = UsdShade.Shader.Define(stage, "/Material/st_reader")
    reader.CreateIdAttr("UsdPrimvarReader_float2")
    reader.CreateInput("varname", Sdf.ValueTypeNames.Token).Set("st")
    stage.GetRootLayer().Save()
    errors = usd_validation_errors(tmp_path / "token.usda")
    assert any("ShaderSdrCompliance" in e and "varname" in e for e in errors), errors


def test_textured_usdz_from_image_to_3d_and_paint_passes_validation(client):
    _, usdz, meta = client.predict(front=handle_file(str(ASSETS / "toy_front.png")), pipeline="auto",
                                   face_count=5000, textured=True, output_format="usdz", api_name="/image_to_3d")
    with zipfile.ZipFile(usdz) as package:
        assert any(name.endswith(".png") for name in package.namelist())
    assert usd_validation_errors(Path(usdz)) == []
    _, painted, _ = client.predict(mesh=handle_file(str(ASSETS / "capsule.glb")), prompt="weathered oak wood",
                                   texture_size=512, output_format="usdz", api_name="/paint_mesh")
    assert usd_validation_errors(Path(painted)) == []
    mesh = next(iter(load_scene(painted).geometry.values()))
    assert texture_of(mesh) is not None and mesh.visual.uv is not None


# -- Blender reads what the GLB says ---------------------------------------------------------------


@pytest.fixture(scope="module")
def blender_reads(written) -> dict:
    """Blender's report of every written GLB, FBX and USDZ, from one Blender process."""
    paths = [str(path) for entry in written.values() for path in entry.values()]
    reports = {r["file"]: r for r in blender_io("read", *paths)}
    return {name: {fmt: reports[str(path)] for fmt, path in entry.items()} for name, entry in written.items()}


@blender
@pytest.mark.parametrize("name", list(SOURCES))
@pytest.mark.parametrize("fmt", ["fbx", "usdz"])
def test_blender_reads_materials_and_size_as_the_glb_states(blender_reads, name, fmt):
    glb, other = blender_reads[name]["glb"], blender_reads[name][fmt]
    if name == "vertex colours" and fmt == "fbx":
        # Blender's FBX importer keeps the colours as a colour attribute but does not wire them into the material.
        assert used_materials(other, colours=False) == used_materials(glb, colours=False)
        assert all(m["colour_attributes"] for m in other["meshes"])
    else:
        assert used_materials(other) == used_materials(glb)
    # Metres in both: the FBX is written in centimetres and says so.
    np.testing.assert_allclose(other["bounds"], glb["bounds"], atol=1e-3)
    assert sum(m["faces"] for m in other["meshes"]) == sum(m["faces"] for m in glb["meshes"])
    if name in ("textured", "duck"):
        assert all(m["image"] and m["image"]["has_data"] for m in other["materials"])


@blender
def test_blender_reads_the_generated_look_not_chrome(blender_reads):
    """The reported case: a GLB with metallic 0.0 and roughness 0.6 came into Blender as metallic 1.0, roughness 0."""
    mesh = trimesh.creation.icosphere(subdivisions=2)
    mesh.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(
        baseColorFactor=[200, 80, 40, 255], metallicFactor=0.0, roughnessFactor=0.6))
    folder = Path(blender_reads["plain"]["fbx"]["file"]).parents[1] / "generated"
    glb, fbx = export_asset(trimesh.Scene(mesh), "fbx", folder)
    assert_valid_glb(glb)
    (material,) = blender_io("read", str(fbx))[0]["materials"]
    assert material["metallic"] == pytest.approx(0.0, abs=1e-6)
    assert material["roughness"] == pytest.approx(0.6, abs=1e-3)
    np.testing.assert_allclose(material["base_color"], [200 / 255, 80 / 255, 40 / 255], atol=2e-3)


@blender
def test_blender_imports_the_rigged_fbx_skinned_with_every_bone(client):
    viewer, fbx, meta = client.predict(mesh=handle_file(str(ASSETS / "figure.glb")), mode="humanoid",
                                       output_format="fbx", api_name="/rig_mesh")
    glb_report, fbx_report = blender_io("read", viewer, fbx)
    joints = len(meta["joints"])
    assert [a["bones"] for a in glb_report["armatures"]] == [joints]
    assert [a["bones"] for a in fbx_report["armatures"]] == [joints]
    armature = fbx_report["armatures"][0]["name"]
    assert fbx_report["meshes"] and all(m["armature"] == armature and m["vertex_groups"] > 0
                                        for m in fbx_report["meshes"])
    np.testing.assert_allclose(fbx_report["bounds"], glb_report["bounds"], atol=1e-3)
    figure = load_scene(ASSETS / "figure.glb")
    # Blender is +Z up: the figure's glTF height (Y) is Blender's Z.
    height = fbx_report["bounds"][1][2] - fbx_report["bounds"][0][2]
    assert height == pytest.approx(figure.extents[1], rel=1e-3)
    assert used_materials(fbx_report) == used_materials(glb_report)


# -- the studio reads what it writes ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(SOURCES))
@pytest.mark.parametrize("fmt", ["fbx", "usdz"])
def test_loader_reads_back_fbx_and_usdz(written, name, fmt):
    before = load_scene(written[name]["glb"])
    warnings = []
    back = load_scene(written[name][fmt], warnings=warnings)
    assert warnings == []
    expected, got = scene_stats(before), scene_stats(back)
    assert got["faces"] == expected["faces"]
    np.testing.assert_allclose([got["bounding_box"]["min"], got["bounding_box"]["max"]],
                               [expected["bounding_box"]["min"], expected["bounding_box"]["max"]], atol=1e-4)
    old, new = list(before.geometry.values()), list(back.geometry.values())
    assert len(new) == len(old)
    assert sorted(m.visual.kind for m in new) == sorted(m.visual.kind for m in old)
    if name in ("textured", "duck"):
        assert all(texture_of(m) is not None and m.visual.uv is not None for m in new)
        assert texture_of(new[0]).size == texture_of(old[0]).size
    if name == "vertex colours":
        assert len(np.unique(new[0].visual.vertex_colors[:, :3], axis=0)) > 20
    factors = lambda scene: sorted((m.visual.material.metallicFactor, m.visual.material.roughnessFactor)  # noqa: E731
                                   for m in scene.geometry.values() if hasattr(m.visual, "material"))
    np.testing.assert_allclose(factors(back), [tuple(1.0 if v is None else v for v in f) for f in factors(before)],
                               atol=1e-3)


def test_convert_mesh_takes_its_own_fbx_and_usdz(client):
    """Through the API: convert to FBX, upload that FBX, convert to USDZ, upload that, back to GLB."""
    _, fbx, first = client.predict(handle_file(str(ASSETS / "textured_box.zip")), "fbx", None, False,
                                   api_name="/convert_mesh")
    _, usdz, second = client.predict(handle_file(fbx), "usdz", None, False, api_name="/convert_mesh")
    viewer, _, third = client.predict(handle_file(usdz), "glb", None, False, api_name="/convert_mesh")
    assert_valid_glb(viewer)
    for meta in (second, third):
        assert meta["before"]["faces"] == first["before"]["faces"] == 12
        np.testing.assert_allclose(meta["before"]["bounding_box"]["max"], first["before"]["bounding_box"]["max"], atol=1e-4)
    assert texture_of(next(iter(load_scene(viewer).geometry.values()))) is not None


@blender
@pytest.mark.parametrize("target", ["duck_y.fbx", "duck_z.fbx", "duck.usdz"])
def test_loader_reads_what_blender_writes(tmp_path, target):
    """Files the studio did not write: Blender's FBX (+Y and +Z up) and USDZ of the Khronos Duck."""
    out = tmp_path / target
    blender_io("export", str(DUCK), str(out), *(["up=Z"] if target == "duck_z.fbx" else []))
    duck, back = load_scene(DUCK), load_scene(out)
    assert scene_stats(back)["faces"] == scene_stats(duck)["faces"] == 4212
    np.testing.assert_allclose(back.bounds, duck.bounds, atol=1e-4)
    (mesh,) = back.geometry.values()
    assert texture_of(mesh).size == (512, 512)
    # The Duck's colours come from its texture, not from a factor Blender writes beside it.
    assert mesh.visual.material.baseColorFactor is None or (np.asarray(mesh.visual.material.baseColorFactor) == 255).all()
    assert mesh.visual.material.metallicFactor == 0.0


# -- the FBX material fix, at the file level --------------------------------------------------------


def test_fbx_material_properties_say_what_the_glb_says(tmp_path):
    """assimp alone leaves the template's ReflectionFactor 1 (Blender: metallic 1) and Shininess up to 1000
    (Blender: roughness 0); the studio's FBX states both per material, in the terms Blender reads."""
    mesh = trimesh.creation.icosphere()
    mesh.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(
        name="clay", baseColorFactor=[200, 80, 40, 255], metallicFactor=0.0, roughnessFactor=0.6))
    glb, raw, studio = tmp_path / "clay.glb", tmp_path / "assimp.fbx", tmp_path / "studio.fbx"
    write_glb(trimesh.Scene(mesh), glb)
    command, env = assimp_command()
    subprocess.run([*command, "export", str(glb), str(raw), "-ffbx"], check=True, capture_output=True, env=env)
    assert fbx_format.read_pbr(fbx_format.read_fbx(raw.read_bytes()))["clay"] == (1.0, 0.0)
    write_fbx(trimesh.Scene(mesh), studio)
    assert fbx_format.read_pbr(fbx_format.read_fbx(studio.read_bytes()))["clay"] == pytest.approx((0.0, 0.6))


def test_fbx_codec_rewrites_assimp_output_byte_for_byte(written):
    for entry in written.values():
        data = Path(entry["fbx"]).read_bytes()
        assert fbx_format.write_fbx_bytes(fbx_format.read_fbx(data)) == data


# -- bad and unsafe FBX / USD input -----------------------------------------------------------------


def test_fbx_texture_outside_the_upload_is_not_read(tmp_path, written):
    """An FBX naming '../secret.png' (which exists) loads without it, with a warning; assimp never sees that path."""
    from PIL import Image

    upload = tmp_path / "upload"
    upload.mkdir()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "secret.png")
    document = fbx_format.read_fbx(Path(written["textured"]["fbx"]).read_bytes())
    objects = document.find(b"Objects")
    for node in objects.children:
        if node.name == b"Video":  # drop the embedded image: only the outside file could supply it
            node.children = [c for c in node.children if c.name != b"Content"]
        for field in node.children:
            if node.name in (b"Texture", b"Video") and field.name in (b"FileName", b"Filename", b"RelativeFilename"):
                field.properties[0] = (b"S", b"../secret.png")
    (upload / "box.fbx").write_bytes(fbx_format.write_fbx_bytes(document))
    warnings = []
    mesh = next(iter(load_scene(upload / "box.fbx", warnings=warnings).geometry.values()))
    assert texture_of(mesh) is None
    assert any("secret.png" in w and "not in the upload" in w for w in warnings), warnings
    # The same texture beside the FBX, inside the upload, is found and used.
    Image.new("RGB", (8, 8), (0, 0, 255)).save(upload / "secret.png")
    mesh = next(iter(load_scene(upload / "box.fbx").geometry.values()))
    assert texture_of(mesh).size == (8, 8)
    assert tuple(np.asarray(texture_of(mesh).convert("RGB"))[0, 0]) == (0, 0, 255)


def test_usd_composing_files_outside_the_upload_is_refused(tmp_path):
    from pxr import Usd, UsdGeom

    outside = Usd.Stage.CreateNew(str(tmp_path / "outside.usda"))
    UsdGeom.Mesh.Define(outside, "/Thing")
    outside.GetRootLayer().Save()
    upload = tmp_path / "upload"
    upload.mkdir()
    stage = Usd.Stage.CreateNew(str(upload / "scene.usda"))
    stage.DefinePrim("/Thing").GetReferences().AddReference("../outside.usda")
    stage.GetRootLayer().Save()
    with pytest.raises(InputError, match="composes files outside the upload"):
        load_scene(upload / "scene.usda")


def test_usd_texture_outside_the_upload_is_dropped_with_a_warning(tmp_path, written):
    from PIL import Image
    from pxr import Sdf, Usd

    Image.new("RGB", (8, 8)).save(tmp_path / "secret.png")
    upload = tmp_path / "upload"
    with zipfile.ZipFile(written["textured"]["usdz"]) as package:
        package.extractall(upload)
    layer = next(upload.glob("*.usdc"))
    stage = Usd.Stage.Open(str(layer))
    for prim in stage.Traverse():
        if prim.GetName() == "diffuse":
            prim.GetAttribute("inputs:file").Set(Sdf.AssetPath("../secret.png"))
    stage.GetRootLayer().Save()
    warnings = []
    mesh = next(iter(load_scene(layer, warnings=warnings).geometry.values()))
    assert texture_of(mesh) is None and len(mesh.faces) == 12
    assert any("secret.png" in w and "not inside the upload" in w for w in warnings), warnings


@pytest.mark.parametrize("name, data, message", [
    ("ascii.fbx", b"; FBX 7.4.0 project file\nFBXHeaderExtension:  {\n}\n", "ASCII FBX"),
    ("text.fbx", b"hello, not a model", "not an FBX file"),
    ("cut.fbx", None, "damaged FBX"),
    ("text.usdz", b"not a zip", "not a valid .usdz"),
    ("broken.usda", b"#usda 1.0\n( defaultPrim = \n", "could not be read as USD"),
])
def test_bad_fbx_and_usd_are_refused_clearly(tmp_path, written, name, data, message):
    if data is None:
        data = Path(written["plain"]["fbx"]).read_bytes()[:5000]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError, match=message) as error:
        load_scene(tmp_path / name)
    assert str(tmp_path) not in str(error.value)


def test_usd_quads_in_centimetres_and_z_up_arrive_as_metres_y_up(tmp_path):
    """Polygons are fanned into triangles, faceVarying UVs kept, units and up axis turned into glTF's."""
    from pxr import Sdf, Usd, UsdGeom

    stage = Usd.Stage.CreateNew(str(tmp_path / "slab.usda"))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)
    xform = UsdGeom.Xform.Define(stage, "/Slab")
    xform.AddTranslateOp().Set((0.0, 0.0, 50.0))
    mesh = UsdGeom.Mesh.Define(stage, "/Slab/Top")
    mesh.CreatePointsAttr([(0, 0, 0), (200, 0, 0), (200, 100, 0), (0, 100, 0), (300, 50, 0)])
    mesh.CreateFaceVertexCountsAttr([4, 3])
    mesh.CreateFaceVertexIndicesAttr([0, 1, 2, 3, 1, 4, 2])
    uv = UsdGeom.PrimvarsAPI(mesh).CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.faceVarying)
    uv.Set([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0), (1, 0.5), (0, 1)])
    stage.GetRootLayer().Save()
    scene = load_scene(tmp_path / "slab.usda")
    assert scene_stats(scene)["faces"] == 3
    # Z-up centimetres: x 0..3 m, up (Y) = the 0.5 m lift, and the slab's depth runs along -Z.
    np.testing.assert_allclose(scene.bounds, [[0.0, 0.5, -1.0], [3.0, 0.5, 0.0]], atol=1e-9)
    (slab,) = scene.geometry.values()
    assert slab.visual.uv is not None and len(slab.visual.uv) == len(slab.vertices)
    # The two corners both polygons share have different UVs in each, so they stay apart: 5 points, 7 vertices.
    assert len(slab.vertices) == 7


def test_usd_value_clips_are_refused(tmp_path):
    """Clips name more layers (by pattern too) that USD opens only when values are read: not checkable up front."""
    from pxr import Sdf, Usd, UsdGeom

    stage = Usd.Stage.CreateNew(str(tmp_path / "clipped.usda"))
    mesh = UsdGeom.Mesh.Define(stage, "/Thing")
    mesh.CreatePointsAttr([(0, 0, 0), (1, 0, 0), (0, 1, 0)])
    mesh.CreateFaceVertexCountsAttr([3])
    mesh.CreateFaceVertexIndicesAttr([0, 1, 2])
    stage.GetPrimAtPath("/Thing").SetMetadata("clips", {"default": {"assetPaths": [Sdf.AssetPath("/etc/clip.usd")]}})
    stage.GetRootLayer().Save()
    with pytest.raises(InputError, match="value clips"):
        load_scene(tmp_path / "clipped.usda")


@pytest.mark.parametrize("fmt", ["fbx", "usdz"])
def test_damaged_fbx_and_usdz_fail_with_a_clear_message(tmp_path, written, fmt):
    """Seeded corruptions of the studio's own files (cuts, overwritten bytes anywhere or past the header):
    each one still loads or fails with an InputError that names no server path; nothing else escapes."""
    data = bytearray(Path(written["textured"][fmt]).read_bytes())
    random = np.random.default_rng(13)
    for trial in range(24):
        damaged = bytearray(data)
        if trial % 3 == 0:
            damaged = damaged[:int(random.integers(30, len(data) - 1))]
        else:
            for position in random.integers(0 if trial % 3 == 1 else 27, len(data), size=1 + trial // 3):
                damaged[position] = int(random.integers(0, 256))
        path = tmp_path / f"damaged{trial}.{fmt}"
        path.write_bytes(bytes(damaged))
        try:
            load_scene(path)
        except InputError as error:
            assert str(tmp_path) not in str(error) and "Traceback" not in str(error)


def test_usd_material_subsets_become_parts_with_their_materials(tmp_path):
    """A mesh whose faces are bound to two materials (GeomSubsets, as Blender writes multi-material objects)."""
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade

    stage = Usd.Stage.CreateNew(str(tmp_path / "two.usda"))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    mesh = UsdGeom.Mesh.Define(stage, "/Thing")
    mesh.CreatePointsAttr([(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (2, 0, 0)])
    mesh.CreateFaceVertexCountsAttr([3, 3, 3])
    mesh.CreateFaceVertexIndicesAttr([0, 1, 2, 0, 2, 3, 1, 4, 2])

    def material(path, rgb, metallic):
        made = UsdShade.Material.Define(stage, path)
        shader = UsdShade.Shader.Define(stage, f"{path}/surface")
        shader.CreateIdAttr("UsdPreviewSurface")
        shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(Gf.Vec3f(*rgb))
        shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(metallic)
        made.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
        return made

    binding = UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim())
    binding.Bind(material("/Blue", (0, 0, 1), 0.0))
    subset = binding.CreateMaterialBindSubset("gold", [2])
    UsdShade.MaterialBindingAPI.Apply(subset.GetPrim()).Bind(material("/Gold", (1, 0.8, 0), 1.0))
    stage.GetRootLayer().Save()
    parts = sorted(load_scene(tmp_path / "two.usda").geometry.values(), key=lambda m: len(m.faces))
    assert [len(p.faces) for p in parts] == [1, 2]  # the subset's face, and the faces left to the mesh's material
    assert list(parts[0].visual.material.baseColorFactor) == [255, 204, 0, 255]
    assert parts[0].visual.material.metallicFactor == 1.0
    assert list(parts[1].visual.material.baseColorFactor) == [0, 0, 255, 255]
    assert parts[1].visual.material.metallicFactor == 0.0
