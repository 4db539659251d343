"""Adversarial mesh inputs: what real uploads look like (Windows texture paths, macOS zips, compressed
glTF, relative OBJ indices, broken files) must load with their data or fail with a message that says
what to change, through `load_scene` and through the live endpoints, and the server keeps serving."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest
import trimesh
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from pipelines.errors import InputError
from pipelines.mesh import io as mesh_io
from pipelines.mesh.io import load_scene, scene_stats
from pipelines.mesh.repair import decimate, repair

from .conftest import ROOT, assert_valid_glb

CUBE = """v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nv 1 0 1\nv 1 1 1\nv 0 1 1
vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1
f 1/1 4/4 3/3 2/2\nf 5/1 6/2 7/3 8/4\nf 1/1 2/2 6/3 5/4\nf 2/1 3/2 7/3 6/4\nf 3/1 4/2 8/3 7/4\nf 4/1 1/2 5/3 8/4
"""


def png(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_zip(path, files: dict) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return str(path)


def textured_obj_zip(path, map_kd: str, texture_path: str, folder: str = "") -> str:
    return write_zip(path, {f"{folder}m.obj": "mtllib m.mtl\nusemtl mat\n" + CUBE,
                            f"{folder}m.mtl": f"newmtl mat\nKd 0.8 0.8 0.8\nmap_Kd {map_kd}\n",
                            f"{folder}{texture_path}": png((16, 8))})


def texture_size(scene: trimesh.Scene):
    material = next(iter(scene.geometry.values())).visual.material
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    return None if image is None else image.size


def glb_with(header_changes: dict) -> bytes:
    """A textured box GLB whose JSON gets `header_changes` (extensions it declares)."""
    box = trimesh.creation.box()
    box.visual = trimesh.visual.TextureVisuals(uv=np.zeros((len(box.vertices), 2)),
                                               material=trimesh.visual.material.PBRMaterial(baseColorTexture=Image.new("RGB", (4, 4))))
    data = trimesh.exchange.gltf.export_glb(trimesh.Scene(box))
    length = struct.unpack("<I", data[12:16])[0]
    header = {**json.loads(data[20:20 + length]), **header_changes}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<I4s", len(text), b"JSON") + text + data[20 + length:]
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


# -- loading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("map_kd, texture_path", [
    ("C:\\Users\\artist\\textures\\skin.png", "skin.png"),  # absolute Windows path from the artist's disk
    ("textures\\skin.png", "textures/skin.png"),  # Windows separators
    ("-s 1 1 1 -bm 1 skin.png", "skin.png"),  # map options before the name
    ("my textures/base color.png", "my textures/base color.png"),  # spaces and a subfolder
    ("Skin.PNG", "skin.png"),  # case differs (made on Windows)
])
def test_zip_finds_the_texture_its_mtl_names(tmp_path, map_kd, texture_path):
    assert texture_size(load_scene(textured_obj_zip(tmp_path / "m.zip", map_kd, texture_path))) == (16, 8)


def test_zip_with_the_obj_in_nested_non_ascii_folders_keeps_its_texture(tmp_path):
    path = textured_obj_zip(tmp_path / "m.zip", "тексту́ра.png", "тексту́ра.png", folder="modèle/Кубик 立方体/")
    assert texture_size(load_scene(path)) == (16, 8)


def test_zip_ignores_macos_resource_forks(tmp_path):
    path = textured_obj_zip(tmp_path / "m.zip", "skin.png", "skin.png")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("__MACOSX/._m.obj", b"\x00\x05\x16\x07 resource fork")
        archive.writestr(".DS_Store", b"\x00\x00\x00\x01Bud1")
    assert texture_size(load_scene(path)) == (16, 8)


def test_obj_negative_indices_count_back_from_the_face(tmp_path):
    path = tmp_path / "relative.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf -4 -3 -2 -1\nv 0 0 1\nv 1 0 1\nv 1 1 1\nf -3 -2 -1\n")
    mesh = next(iter(load_scene(path).geometry.values()))
    assert len(mesh.vertices) == 7
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [2, 3, 0], [4, 5, 6]])


@pytest.mark.parametrize("encoding, colors", [("binary_big_endian", "float"), ("ascii", "uchar")])
def test_ply_vertex_colors_load_in_any_encoding(tmp_path, encoding, colors):
    sphere = trimesh.creation.icosphere(1)
    rgb = (np.abs(sphere.vertices) * 255).astype(np.uint8)
    endian = ">" if encoding == "binary_big_endian" else "<"
    kind = "float" if colors == "float" else "uchar"
    header = (f"ply\nformat {encoding} 1.0\nelement vertex {len(rgb)}\nproperty float x\nproperty float y\n"
              f"property float z\nproperty {kind} red\nproperty {kind} green\nproperty {kind} blue\n"
              f"element face {len(sphere.faces)}\nproperty list uchar int vertex_indices\nend_header\n").encode()
    values = rgb / 255.0 if colors == "float" else rgb
    if encoding == "ascii":
        body = "".join(" ".join(map(str, [*v, *c])) + "\n" for v, c in zip(sphere.vertices, values))
        body += "".join("3 " + " ".join(map(str, f)) + "\n" for f in sphere.faces)
        data = header + body.encode()
    else:
        vertex = np.dtype([("p", f"{endian}f4", 3), ("c", f"{endian}f4" if colors == "float" else "u1", 3)])
        face = np.dtype([("n", "u1"), ("i", f"{endian}i4", 3)])
        vertices = np.array(list(zip(sphere.vertices, values)), dtype=vertex)
        faces = np.array([(3, f) for f in sphere.faces], dtype=face)
        data = header + vertices.tobytes() + faces.tobytes()
    (tmp_path / "c.ply").write_bytes(data)
    mesh = next(iter(load_scene(tmp_path / "c.ply").geometry.values()))
    assert mesh.visual.kind == "vertex"
    assert np.abs(mesh.visual.vertex_colors[:, :3].astype(int) - rgb).max() <= 1


@pytest.mark.parametrize("kind", ["vertex", "face"])
def test_off_colors_are_kept(tmp_path, kind):
    sphere = trimesh.creation.icosphere(1)
    rgb = (np.abs(sphere.vertices) * 255).astype(np.uint8)
    vertex_rows = [" ".join(map(str, v)) + (" " + " ".join(map(str, c)) + " 255" if kind == "vertex" else "")
                   for v, c in zip(sphere.vertices, rgb)]
    face_rows = ["3 " + " ".join(map(str, f)) + (" 0.0 0.5 1.0" if kind == "face" else "") for f in sphere.faces]
    header = ["COFF" if kind == "vertex" else "OFF", f"{len(rgb)} {len(sphere.faces)} 0"]
    (tmp_path / "c.off").write_text("\n".join(header + vertex_rows + face_rows) + "\n")
    mesh = next(iter(load_scene(tmp_path / "c.off").geometry.values()))
    assert mesh.visual.kind == kind
    if kind == "vertex":
        np.testing.assert_array_equal(mesh.visual.vertex_colors[:, :3], rgb)
    else:
        assert (mesh.visual.face_colors == [0, 128, 255, 255]).all()


# -- refusals with a message that says what to do -------------------------------------------------


@pytest.mark.parametrize("extension, message", [
    ("KHR_draco_mesh_compression", "Draco"), ("EXT_meshopt_compression", "meshopt"), ("KHR_texture_basisu", "KTX2"),
])
def test_gltf_needing_an_undecodable_extension_is_refused(tmp_path, extension, message):
    (tmp_path / "c.glb").write_bytes(glb_with({"extensionsUsed": [extension], "extensionsRequired": [extension]}))
    with pytest.raises(InputError, match=f"{message}.*re-export it without compression"):
        load_scene(tmp_path / "c.glb")


def test_gltf_with_an_external_buffer_loads_from_a_zip_and_not_alone(tmp_path):
    files = trimesh.exchange.gltf.export_gltf(trimesh.Scene(trimesh.creation.box()))
    (tmp_path / "alone.gltf").write_bytes(files["model.gltf"])
    with pytest.raises(InputError, match=r"refers to separate files \(gltf_buffer_0.bin.*\.zip"):
        load_scene(tmp_path / "alone.gltf")
    scene = load_scene(write_zip(tmp_path / "g.zip", files))
    assert sum(len(g.faces) for g in scene.geometry.values()) == 12


@pytest.mark.parametrize("files, message", [
    ({"a.obj": CUBE, "parts/b.obj": CUBE}, r"holds 2 meshes \(a.obj, parts/b.obj\); put one mesh per zip"),
    ({"readme.txt": "hello"}, "holds no .obj"),
])
def test_zip_without_exactly_one_mesh_is_refused(tmp_path, files, message):
    with pytest.raises(InputError, match=message):
        load_scene(write_zip(tmp_path / "m.zip", files))


def test_damaged_zip_member_is_refused(tmp_path):
    path = write_zip(tmp_path / "m.zip", {"m.obj": CUBE * 50})
    data = bytearray(open(path, "rb").read())
    data[60] ^= 0xFF  # inside the deflated data of the only member
    (tmp_path / "m.zip").write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged or unsupported zip.*zip the files again"):
        load_scene(tmp_path / "m.zip")


def test_encrypted_zip_is_refused(tmp_path):
    data = bytearray(open(write_zip(tmp_path / "m.zip", {"m.obj": CUBE}), "rb").read())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        at = data.find(signature) + flag_offset
        data[at] |= 1  # general purpose bit 0: encrypted
    (tmp_path / "m.zip").write_bytes(bytes(data))
    with pytest.raises(InputError, match="password-protected; zip the files again without a password"):
        load_scene(tmp_path / "m.zip")


def test_zip_bomb_is_refused_before_extraction(tmp_path, monkeypatch):
    monkeypatch.setattr(mesh_io, "ZIP_RATIO_FROM_BYTES", 1024)
    path = write_zip(tmp_path / "m.zip", {"m.obj": CUBE + "#" * 2_000_000})
    with pytest.raises(InputError, match="expands .* times its packed size"):
        load_scene(path)


def test_faces_pointing_past_the_vertices_are_refused(tmp_path):
    (tmp_path / "bad.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                                      "property float z\nelement face 2\nproperty list uchar int vertex_indices\n"
                                      "end_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n3 0 1 99\n")
    with pytest.raises(InputError, match="index out of range.*re-export"):
        load_scene(tmp_path / "bad.ply")


def test_mesh_whose_every_face_has_zero_area_is_refused(tmp_path):
    line = trimesh.Trimesh([[0, 0, 0], [1, 1, 1], [2, 2, 2]], [[0, 1, 2]], process=False)
    (tmp_path / "line.stl").write_bytes(trimesh.exchange.stl.export_stl(line))
    with pytest.raises(InputError, match="Every face .* has zero area"):
        load_scene(tmp_path / "line.stl")


def test_face_limit_is_read_when_loading(tmp_path, monkeypatch):
    monkeypatch.setattr(mesh_io, "MAX_FACES", 100)
    trimesh.creation.icosphere(2).export(tmp_path / "s.stl")
    with pytest.raises(InputError, match="320 faces; the limit is 100"):
        load_scene(tmp_path / "s.stl")


def test_upload_lacking_the_mtl_or_texture_it_names_loads_with_a_warning(tmp_path):
    warnings = []
    path = write_zip(tmp_path / "m.zip", {"m.obj": "mtllib m.mtl\nusemtl mat\n" + CUBE,
                                          "m.mtl": "newmtl mat\nmap_Kd textures\\wood.png\n"})
    assert len(load_scene(path, warnings=warnings).geometry) == 1
    assert warnings == ["The texture(s) wood.png named in 'm.mtl' are not in the upload, so the mesh has no texture; "
                        "add them to the .zip beside the .mtl."]


# -- repair ---------------------------------------------------------------------------------------


def test_repair_leaves_open_sheets_and_loose_triangles_open():
    rng = np.random.default_rng(0)
    triangles = rng.random((50, 1, 3)) * 10 + rng.random((50, 3, 3)) * 0.1
    soup = trimesh.Trimesh(triangles.reshape(-1, 3), np.arange(150).reshape(-1, 3), process=False)
    plane = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]], process=False)
    for mesh in (soup, plane):
        faces = len(mesh.faces)
        assert repair(mesh)["filled_holes"] == 0
        assert len(mesh.faces) == faces


@pytest.mark.parametrize("scale", [1e-9, 5000.0, 1e6])  # micrometre parts, millimetre scans
def test_repair_and_decimate_work_at_any_scale(scale):
    soup = trimesh.creation.icosphere(3)
    soup = trimesh.Trimesh(soup.vertices[soup.faces].reshape(-1, 3) * scale, np.arange(len(soup.faces) * 3).reshape(-1, 3),
                           process=False)  # an STL: every face has its own three vertices
    report = repair(soup)
    assert report["faces_after"] == 1280 and len(soup.vertices) == 642
    assert soup.is_watertight
    assert np.allclose(np.ptp(soup.vertices, axis=0), 2 * scale, rtol=0.01)
    stats = scene_stats(trimesh.Scene(soup))
    assert stats["watertight"]
    assert np.allclose(stats["bounding_box"]["max"], scale, rtol=0.01)
    small = decimate(soup, 100)
    assert len(small.faces) == 100
    assert np.allclose(np.ptp(small.vertices, axis=0), 2 * scale, rtol=0.1)


def test_convert_refuses_a_mesh_that_repair_empties(tmp_path):
    from pipelines.base import Stages
    from pipelines.mesh_tools import MeshToolsPipeline

    sliver = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0.5, 1e-14, 0]], [[0, 1, 2]], process=False)
    sliver.export(tmp_path / "sliver.ply")
    with pytest.raises(InputError, match="Repair removed every face.*Turn repair off"):
        MeshToolsPipeline().run({"mesh": str(tmp_path / "sliver.ply"), "repair": True}, Stages(None))


# -- through the live app -------------------------------------------------------------------------


def test_convert_drops_a_part_that_repair_empties(client, tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), geom_name="box")
    scene.add_geometry(trimesh.Trimesh([[0, 0, 0], [1, 1, 1], [2, 2, 2]], [[0, 1, 2]], process=False), geom_name="line")
    scene.export(tmp_path / "parts.glb")
    glb, ply, metadata = client.predict(handle_file(str(tmp_path / "parts.glb")), "ply", None, True, api_name="/convert_mesh")
    assert_valid_glb(glb)
    assert any("'line' had only degenerate faces" in w for w in metadata["warnings"])
    assert len(trimesh.load(ply).faces) == 12


def test_textured_zip_with_windows_texture_path_converts_to_an_obj_zip_with_its_texture(client, tmp_path):
    path = textured_obj_zip(tmp_path / "m.zip", "D:\\work\\maps\\skin.png", "maps/skin.png")
    glb, out, _ = client.predict(handle_file(path), "obj", None, True, api_name="/convert_mesh")
    assert_valid_glb(glb)
    assert texture_size(trimesh.load(glb, force="scene")) == (16, 8)
    assert texture_size(load_scene(out)) == (16, 8)


def test_obj_uploaded_without_its_mtl_converts_with_a_warning(client, tmp_path):
    (tmp_path / "chair.obj").write_text("mtllib chair.mtl\nusemtl wood\n" + CUBE)
    glb, _, metadata = client.predict(handle_file(str(tmp_path / "chair.obj")), "glb", None, True, api_name="/convert_mesh")
    assert_valid_glb(glb)
    assert any("material file 'chair.mtl', which was not uploaded" in w and ".zip" in w for w in metadata["warnings"])


@pytest.mark.parametrize("endpoint, arguments", [
    ("/convert_mesh", ("glb", None, True)), ("/rig_mesh", ("auto", "auto", "glb")),
    ("/complete_parts", ("auto", "glb")), ("/paint_mesh", ("red", None, "auto", 512, 0, "glb", None, None, None)),
])
def test_every_mesh_endpoint_explains_a_corrupt_mesh_and_keeps_serving(client, tmp_path, endpoint, arguments):
    (tmp_path / "bad.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 99\n")
    line = trimesh.Trimesh([[0, 0, 0], [1, 1, 1], [2, 2, 2]], [[0, 1, 2]], process=False)
    (tmp_path / "line.stl").write_bytes(trimesh.exchange.stl.export_stl(line))
    (tmp_path / "draco.glb").write_bytes(glb_with({"extensionsRequired": ["KHR_draco_mesh_compression"]}))
    for name, message in [("bad.obj", "could not be read"), ("line.stl", "zero area"), ("draco.glb", "Draco")]:
        with pytest.raises(AppError, match=message) as error:
            client.predict(handle_file(str(tmp_path / name)), *arguments, api_name=endpoint)
        assert "The job failed" not in str(error.value)
    glb, _, _ = client.predict(handle_file(str(ROOT / "assets" / "capsule.glb")), "glb", None, False, api_name="/convert_mesh")
    assert_valid_glb(glb)


def test_complete_parts_drops_debris_beside_one_piece_and_keeps_a_triangle_soup_whole():
    from pipelines.complete.pipeline import split_parts

    crumb = trimesh.Trimesh([[3, 0, 0], [3.01, 0, 0], [3, 0.01, 0]], [[0, 1, 2]])
    parts, debris = split_parts(trimesh.Scene(trimesh.util.concatenate([trimesh.creation.box(), crumb])))
    assert debris == 1 and len(parts[0][1].faces) == 12
    rng = np.random.default_rng(0)
    soup = trimesh.Trimesh((rng.random((20, 1, 3)) * 10 + rng.random((20, 3, 3))).reshape(-1, 3),
                           np.arange(60).reshape(-1, 3), process=False)
    parts, debris = split_parts(trimesh.Scene(soup))
    assert debris == 0 and len(parts[0][1].faces) == 20


# -- the loader never looks outside the upload ---------------------------------------------------------


@pytest.fixture
def outside_files(tmp_path):
    """A texture and a material file that exist elsewhere on the machine, and a path that does not."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(elsewhere / "secret.png")
    (elsewhere / "secret.mtl").write_text("newmtl leaked_material_name\nmap_Kd secret_texture_name.png\n")
    (elsewhere / "secret.bin").write_bytes(b"\0" * 64)
    upload = tmp_path / "upload"
    upload.mkdir()
    return elsewhere, upload


@pytest.mark.parametrize("reference", ["{elsewhere}/secret.bin", "../elsewhere/secret.bin", "{elsewhere}/absent.bin",
                                       "../elsewhere/absent.bin", "file://{elsewhere}/secret.bin",
                                       "C:\\\\Windows\\\\secret.bin", "%2E%2E/elsewhere/secret.bin"])
def test_gltf_references_outside_the_upload_are_refused_alike(outside_files, reference):
    elsewhere, upload = outside_files
    files = trimesh.exchange.gltf.export_gltf(trimesh.Scene(trimesh.creation.box()))
    gltf = json.loads(files["model.gltf"])
    gltf["buffers"][0]["uri"] = reference.format(elsewhere=elsewhere)
    (upload / "probe.gltf").write_text(json.dumps(gltf))
    with pytest.raises(InputError) as error:
        load_scene(upload / "probe.gltf")
    # The same words whether the target exists or not, and nothing of it in them.
    assert str(error.value) == ("'probe.gltf' refers to files outside the upload; upload it as one .glb, as .gltf "
                                "with embedded buffers, or as a .zip holding the .gltf with its files beside it.")


@pytest.mark.parametrize("mtllib", ["{elsewhere}/secret.mtl", "../elsewhere/secret.mtl", "{elsewhere}/absent.mtl"])
def test_obj_material_files_outside_the_upload_are_never_read(outside_files, mtllib):
    elsewhere, upload = outside_files
    box = trimesh.creation.box()
    obj = trimesh.exchange.obj.export_obj(box, include_normals=False)
    (upload / "probe.obj").write_text(f"mtllib {mtllib.format(elsewhere=elsewhere)}\n{obj}")
    warnings = []
    scene = load_scene(upload / "probe.obj", warnings=warnings)
    assert sum(len(g.faces) for g in scene.geometry.values()) == len(box.faces)
    assert warnings == ["'probe.obj' names a material file outside the upload; it was ignored. Upload a .zip "
                        "holding the .obj, its .mtl and textures side by side."]
    assert "leaked" not in " ".join(warnings) and "secret_texture" not in " ".join(warnings)


def test_mtl_textures_outside_the_upload_are_dropped_unread(outside_files):
    elsewhere, upload = outside_files
    box = trimesh.creation.box()
    obj = trimesh.exchange.obj.export_obj(box, include_normals=False)
    (upload / "probe.obj").write_text(f"mtllib probe.mtl\nusemtl m\n{obj}")
    (upload / "probe.mtl").write_text(f"newmtl m\nKd 1 1 1\nmap_Kd {elsewhere}/secret.png\n")
    warnings = []
    scene = load_scene(upload / "probe.obj", warnings=warnings)
    assert texture_size(scene) is None  # the red texture elsewhere was not loaded
    assert warnings == ["'probe.mtl' names 1 texture(s) outside the upload; they were ignored."]
