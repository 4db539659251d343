"""Mesh tools: loading, repair, decimation and every export format, end to end through `/convert_mesh`.

The inputs are the example assets (a textured OBJ in a zip, a vertex-coloured PLY, a GLB) plus
meshes made here; every GLB the studio returns goes through Khronos glTF-Validator.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from pipelines.errors import InputError
from pipelines.mesh.export import OUTPUT_FORMATS
from pipelines.mesh.io import load_scene, scene_stats
from pipelines.mesh.repair import boundary_loops, decimate, repair
from pipelines.mesh.texture import bake_vertex_colors

from .conftest import ROOT, assert_valid_glb

ASSETS = ROOT / "assets"
TEXTURED_ZIP = ASSETS / "textured_box.zip"
COLORED_PLY = ASSETS / "colored_torus.ply"
PLAIN_GLB = ASSETS / "capsule.glb"


def convert(client, path, output_format="glb", target_faces=None, repair=True):
    return client.predict(handle_file(str(path)), output_format, target_faces, repair, api_name="/convert_mesh")


def texture_of(mesh: trimesh.Trimesh):
    material = getattr(mesh.visual, "material", None)
    return getattr(material, "baseColorTexture", None) or getattr(material, "image", None)


def only_mesh(scene: trimesh.Scene) -> trimesh.Trimesh:
    assert len(scene.geometry) == 1, list(scene.geometry)
    return next(iter(scene.geometry.values()))


def torus_with_hole() -> tuple[trimesh.Trimesh, int]:
    torus = trimesh.creation.torus(major_radius=0.5, minor_radius=0.2, major_sections=24, minor_sections=12)
    fan = np.flatnonzero((torus.faces == 7).any(axis=1))
    torus.update_faces(np.setdiff1d(np.arange(len(torus.faces)), fan))
    return torus, len(fan)


# -- loading ------------------------------------------------------------------------------------


def test_textured_obj_zip_loads_with_texture_at_full_brightness():
    mesh = only_mesh(load_scene(TEXTURED_ZIP))
    assert mesh.visual.kind == "texture"
    assert texture_of(mesh).size == (192, 192)
    # The MTL says Kd 0.4 beside map_Kd; the texture alone must set the colour.
    assert mesh.visual.material.baseColorFactor is None
    # MTL has no metalness; glTF's default (fully metallic) would draw the box black in three.js.
    assert mesh.visual.material.metallicFactor == 0.0


def test_colored_ply_loads_with_vertex_colors():
    mesh = only_mesh(load_scene(COLORED_PLY))
    assert mesh.visual.kind == "vertex"
    assert len(np.unique(mesh.visual.vertex_colors[:, :3], axis=0)) > 20


def test_gltf_with_embedded_buffers_loads(tmp_path):
    files = trimesh.exchange.gltf.export_gltf(load_scene(TEXTURED_ZIP), embed_buffers=True)
    assert list(files) == ["model.gltf"]
    path = tmp_path / "model.gltf"
    path.write_bytes(files["model.gltf"])
    mesh = only_mesh(load_scene(path))
    assert texture_of(mesh) is not None and len(mesh.faces) == 12


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("text.glb", b"this is not a mesh\n", "not a binary glTF"),
        ("empty.ply", b"", "is empty"),
        ("mesh.xyz", b"1 2 3\n", "Unsupported mesh format"),
        ("broken.zip", b"PK\x03\x04 not really", "not a valid .zip"),
    ],
)
def test_bad_files_raise_input_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_scene(path)


def test_zip_entry_escaping_the_archive_is_refused(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../../evil.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(InputError, match="outside the archive"):
        load_scene(path)


# -- repair and decimation ----------------------------------------------------------------------


def test_repair_welds_cleans_orients_and_fills_holes():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    # A triangle soup (every face its own vertices), one face in seven flipped, a small hole,
    # five duplicated faces and a degenerate one.
    ring = np.flatnonzero((sphere.faces == 5).any(axis=1))
    kept = np.delete(sphere.faces, ring, axis=0)
    soup = sphere.vertices[kept].reshape(-1, 3)
    faces = np.arange(len(soup)).reshape(-1, 3)
    faces[::7] = faces[::7, ::-1]
    faces = np.vstack([faces, faces[:5], [[0, 0, 1]]])
    mesh = trimesh.Trimesh(soup, faces, process=False)
    assert not mesh.is_watertight

    report = repair(mesh)

    assert report["merged_vertices"] == len(soup) - (len(sphere.vertices) - 1)  # the fan centre is gone
    assert report["removed_faces"] == 6
    assert report["filled_holes"] == 1
    assert report["flipped_faces"] > 0
    assert len(mesh.faces) == len(sphere.faces) - len(ring) + (len(ring) - 2)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0 and mesh.volume == pytest.approx(sphere.volume, rel=0.02)


def test_repair_turns_an_inside_out_mesh_outwards():
    sphere = trimesh.creation.icosphere(subdivisions=1)
    inverted = trimesh.Trimesh(sphere.vertices, sphere.faces[:, ::-1].copy(), process=False)
    assert inverted.volume < 0
    assert repair(inverted)["flipped_faces"] == len(sphere.faces)
    assert inverted.volume == pytest.approx(sphere.volume)


def test_repair_keeps_uv_seams_and_textures():
    """UV seams split vertices but are not holes: a closed textured mesh gains no faces."""
    torus = trimesh.load(COLORED_PLY, process=False)
    textured = bake_vertex_colors(torus, size=128)
    assert len(textured.vertices) > len(torus.vertices)  # seams were split
    faces = len(textured.faces)
    report = repair(textured)
    assert report["filled_holes"] == 0 and len(textured.faces) == faces
    assert textured.visual.kind == "texture" and textured.visual.uv.shape == (len(textured.vertices), 2)
    assert scene_stats(trimesh.Scene(textured))["watertight"]


def test_repair_fills_a_hole_in_a_textured_mesh():
    holed, removed = torus_with_hole()
    textured = bake_vertex_colors(holed, size=128)
    assert len(boundary_loops(textured)) == 1
    report = repair(textured)
    assert report["filled_holes"] == 1
    assert scene_stats(trimesh.Scene(textured))["watertight"]
    assert textured.visual.kind == "texture" and textured.visual.uv.shape == (len(textured.vertices), 2)


def test_vertex_coloured_glb_is_matte_and_reads_back_with_its_colours(tmp_path):
    """glTF's default material is fully metallic (near black in three.js and Blender without an environment)."""
    import json
    import struct

    from pipelines.mesh.export import write_glb

    torus = trimesh.load(COLORED_PLY, process=False)
    path = tmp_path / "torus.glb"
    write_glb(trimesh.Scene(torus), path)
    assert_valid_glb(path)
    data = path.read_bytes()
    tree = json.loads(data[20:20 + struct.unpack("<I", data[12:16])[0]])
    [primitive] = tree["meshes"][0]["primitives"]
    assert "COLOR_0" in primitive["attributes"]
    assert tree["materials"][primitive["material"]]["pbrMetallicRoughness"]["metallicFactor"] == 0.0
    [back] = load_scene(path).geometry.values()
    assert back.visual.kind == "vertex"
    np.testing.assert_array_equal(back.visual.vertex_colors, torus.visual.vertex_colors)


def test_decimate_keeps_vertex_colors_where_they_were():
    torus = trimesh.load(COLORED_PLY, process=False)
    small = decimate(torus, 300)
    assert 290 <= len(small.faces) <= 300 and small.visual.kind == "vertex"
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(torus.vertices).query(small.vertices)
    error = np.abs(small.visual.vertex_colors[:, :3].astype(int) - torus.visual.vertex_colors[nearest, :3]).mean()
    assert error < 8


def test_decimating_many_small_coloured_pieces_leaves_no_duplicate_faces():
    """Shap-E's marching cubes gives many tiny closed pieces; collapsing them must not leave doubled faces."""
    rng = np.random.default_rng(0)
    pieces = [trimesh.creation.icosphere(2, radius=0.01).apply_translation(rng.uniform(-1, 1, 3)) for _ in range(300)]
    mesh = trimesh.util.concatenate(pieces)
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=rng.integers(0, 255, (len(mesh.vertices), 4), dtype=np.uint8))
    small = decimate(mesh, 4000)
    assert 0 < len(small.faces) <= 4000
    assert len(np.unique(np.sort(small.faces, axis=1), axis=0)) == len(small.faces)
    assert len(small.visual.vertex_colors) == len(small.vertices)
    assert trimesh.Trimesh(small.vertices, small.faces).is_watertight


def test_decimate_keeps_the_texture():
    textured = bake_vertex_colors(trimesh.load(COLORED_PLY, process=False), size=128)
    small = decimate(textured, 400)
    assert 390 <= len(small.faces) <= 400  # quadric decimation lands near the target
    assert small.visual.kind == "texture" and texture_of(small) is texture_of(textured)
    assert small.visual.uv.shape == (len(small.vertices), 2)
    assert (small.visual.uv >= 0).all() and (small.visual.uv <= 1).all()


# -- end to end through /convert_mesh ------------------------------------------------------------


@pytest.mark.parametrize("source", [TEXTURED_ZIP, COLORED_PLY, PLAIN_GLB], ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_round_trip_every_format(client, tmp_path, source, fmt):
    viewer, path, meta = convert(client, source, fmt)
    viewer, path = Path(viewer), Path(path)
    assert_valid_glb(viewer)
    assert meta["status"] == "done" and meta["output_format"] == fmt
    assert path.suffix == {"obj": ".zip"}.get(fmt, f".{fmt}")
    before = meta["before"]
    assert meta["after"]["faces"] == before["faces"]
    assert set(meta["timings_s"]) >= {"load", "repair", "export"}
    assert before["watertight"] is True

    textured, colored = source == TEXTURED_ZIP, source == COLORED_PLY
    viewed = only_mesh(load_scene(viewer))
    if textured:
        assert texture_of(viewed) is not None
    if colored:
        assert viewed.visual.kind == "vertex"

    # Every format the studio writes reads back through its own loader (FBX through assimp, USDZ through usd-core).
    back = only_mesh(load_scene(path))
    assert len(back.faces) == before["faces"]
    np.testing.assert_allclose(back.bounds, [before["bounding_box"]["min"], before["bounding_box"]["max"]], atol=1e-4)
    if fmt in ("glb", "obj", "fbx", "usdz") and textured:
        assert texture_of(back) is not None and back.visual.uv is not None
    if fmt in ("glb", "obj", "ply", "fbx", "usdz") and colored:
        assert back.visual.kind == "vertex"
        assert len(np.unique(back.visual.vertex_colors[:, :3], axis=0)) > 20
    if fmt == "ply" and textured:
        # PLY holds no texture: the texture becomes vertex colours.
        assert back.visual.kind == "vertex"


@pytest.mark.parametrize("suffix", ["stl", "off", "obj"])
def test_other_input_formats(client, tmp_path, suffix):
    mesh = trimesh.creation.icosphere(subdivisions=2)
    path = tmp_path / f"sphere.{suffix}"
    mesh.export(path)
    viewer, _, meta = convert(client, path)
    assert_valid_glb(viewer)
    assert meta["after"]["faces"] == len(mesh.faces) and meta["after"]["watertight"]


def test_decimation_through_the_api_keeps_the_texture(client, tmp_path):
    textured = bake_vertex_colors(trimesh.load(COLORED_PLY, process=False), size=128)
    source = tmp_path / "textured_torus.glb"
    source.write_bytes(trimesh.exchange.gltf.export_glb(trimesh.Scene(textured)))
    viewer, path, meta = convert(client, source, "obj", target_faces=500)
    assert_valid_glb(viewer)
    assert meta["before"]["faces"] == 1536 and 490 <= meta["after"]["faces"] <= 500
    back = only_mesh(load_scene(path))
    assert len(back.faces) == meta["after"]["faces"] and texture_of(back) is not None


def test_target_faces_above_the_count_warns_and_keeps_the_mesh(client):
    viewer, _, meta = convert(client, COLORED_PLY, target_faces=100_000)
    assert_valid_glb(viewer)
    assert meta["after"]["faces"] == meta["before"]["faces"]
    assert any("nothing was decimated" in w for w in meta["warnings"])


def test_repair_through_the_api_fills_a_hole(client, tmp_path):
    holed, removed = torus_with_hole()
    path = tmp_path / "holed.ply"
    path.write_bytes(trimesh.exchange.ply.export_ply(holed))
    viewer, _, meta = convert(client, path, repair=True)
    assert_valid_glb(viewer)
    assert meta["before"]["watertight"] is False and meta["after"]["watertight"] is True
    assert meta["repairs"]["holed.ply"]["filled_holes"] == 1
    assert meta["after"]["faces"] == meta["before"]["faces"] + removed - 2
    _, _, unrepaired = convert(client, path, repair=False)
    assert unrepaired["after"]["watertight"] is False and unrepaired["repairs"] == {}


def test_outputs_are_never_overwritten(client, studio_server):
    first_glb, _, first = convert(client, PLAIN_GLB)
    second_glb, _, second = convert(client, PLAIN_GLB)
    assert first["job_id"] != second["job_id"]
    outputs = Path(studio_server["outputs"])
    folders = [outputs / meta["folder"] for meta in (first, second)]
    for folder in folders:
        assert (folder / "model.glb").is_file() and (folder / "job.json").is_file()
    assert (folders[0] / "model.glb").read_bytes() == Path(first_glb).read_bytes()


BAD_INPUTS = {
    "text named .glb": ("notes.glb", b"just some text, not a mesh\n", "not a binary glTF"),
    "empty file": ("empty.ply", b"", "is empty"),
    "truncated GLB": ("cut.glb", PLAIN_GLB.read_bytes()[:5000], "truncated"),
    "unknown format": ("mesh.xyz", b"0 0 0\n1 0 0\n", "formats"),
    "garbage OBJ": ("junk.obj", b"\x00\x01\x02 not an obj", "no faces"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_uploads_get_a_clear_error_and_the_server_keeps_serving(client, tmp_path, case):
    name, content, message = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AppError, match=message):
        convert(client, path)
    assert_still_serving(client)


def assert_still_serving(client):
    """After a refused job the next request runs normally."""
    viewer, _, meta = convert(client, PLAIN_GLB)
    assert meta["status"] == "done"
    assert_valid_glb(viewer)


def test_mesh_without_faces_is_refused(client, tmp_path):
    path = tmp_path / "points.ply"
    cloud = trimesh.PointCloud(np.random.default_rng(0).random((50, 3)))
    path.write_bytes(trimesh.exchange.ply.export_ply(cloud))
    with pytest.raises(AppError, match="no faces"):
        convert(client, path)
    assert_still_serving(client)


@pytest.mark.parametrize("target_faces", [0, 10**9])
def test_out_of_range_target_faces_is_refused(client, target_faces):
    with pytest.raises(AppError, match="target_faces must be between"):
        convert(client, PLAIN_GLB, target_faces=target_faces)
    assert_still_serving(client)


def test_unknown_output_format_is_refused(client):
    with pytest.raises(AppError, match="glb"):
        convert(client, PLAIN_GLB, "dae")
    assert_still_serving(client)


def test_job_reports_each_stage_in_order(studio_server):
    """Studio.run_job (the path every endpoint takes) reports each stage and times it."""
    seen = []
    glb, _, meta = studio_server["studio"].run_job(
        "convert_mesh", "auto", {"mesh": str(COLORED_PLY), "target_faces": 300, "repair": True}, "stl",
        lambda fraction, description: seen.append((fraction, description)),
    )
    assert_valid_glb(glb)
    names = [description for _, description in seen]
    assert names == [f"job {meta['job_id']}: waiting for a device", "load", "repair", "decimate", "export", "done"]
    assert [fraction for fraction, _ in seen] == sorted(fraction for fraction, _ in seen)
    assert set(meta["timings_s"]) == {"queued", "acquire", "load", "repair", "decimate", "export"}


@pytest.mark.parametrize("name", ["capsule.glb", "figure.glb", "parts.glb"])
@pytest.mark.parametrize("target", [4, 500, 5000])
def test_shipped_meshes_decimate_to_any_target(name, target):
    """Materials without UVs (capsule.glb) once made decimation raise IndexError."""
    from pipelines.mesh.io import load_scene
    from pipelines.mesh.repair import decimate_scene, scene_face_count

    scene = load_scene(ROOT / "assets" / name)
    before = scene_face_count(scene)
    decimate_scene(scene, target)
    after = scene_face_count(scene)
    assert 0 < after < before if target < before else after == before
