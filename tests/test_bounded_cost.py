"""Odd input that used to blow up (issue 13): each gets a result or a clear refusal, through the endpoints.

Large flat n-gons, huge, tiny and far-off coordinates, and decimation to a handful of faces. Cost is
checked by what the work does (a flat sheet never reaches MeshFix's full cleanup, whose time grows with
the square of its faces), never by the clock; bench/bounded_cost.py measures the times.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import trimesh
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from pipelines.base import Stages
from pipelines.complete import solidify
from pipelines.complete.pipeline import BuiltinCompletionPipeline
from pipelines.complete.solidify import is_closed
from pipelines.mesh.export import export_asset
from pipelines.mesh_tools import MeshToolsPipeline
from tests.conftest import ROOT, assert_valid_glb
from tests.test_fuzz import obj_text

SHIPPED = sorted((ROOT / "assets").glob("*.glb")) + [ROOT / "assets" / "colored_torus.ply",
                                                   ROOT / "assets" / "textured_box.zip"]
TARGET_FACES = [4, 5, 6, 7, 8, 10, 12, 16, 24, 32, 64, 100, 250, 500, 1000, 2000, 3000, 4000, 5000]


def ngon(path: Path, sides: int) -> Path:
    """One flat polygon face of `sides` corners (the OBJ loader fans it into sliver triangles)."""
    ring = [(round(math.cos(2 * math.pi * i / sides), 6), round(math.sin(2 * math.pi * i / sides), 6), 0.0)
            for i in range(sides)]
    path.write_text(obj_text(ring, [tuple(range(sides))]))
    return path


@pytest.fixture
def flat_ngon(tmp_path) -> Path:
    return ngon(tmp_path / "ngon1000.obj", 1000)


@pytest.mark.parametrize("sides", [1000, 20000])
def test_a_flat_sheet_is_shelled_without_meshfix(tmp_path, sides, monkeypatch):
    """A patch over a flat n-gon's rim would only lie on it; MeshFix's patching and cleanup of a 1000-gon took
    about 2 minutes on a busy machine (a 20000-gon, 3 to 6) to find that out."""
    def no_meshfix(mesh):
        raise AssertionError("MeshFix ran on a flat sheet")

    monkeypatch.setattr(solidify, "_meshfix", no_meshfix)
    monkeypatch.setattr(solidify, "_patch_holes", no_meshfix)
    flat_ngon = ngon(tmp_path / f"ngon{sides}.obj", sides)
    output = BuiltinCompletionPipeline().run({"mesh": str(flat_ngon)}, Stages())
    (part,) = output.metadata["parts"]
    assert part["method"] == "shell" and part["watertight"]
    closed = next(iter(output.asset.geometry.values()))
    # The disc, thickened by 1% of its size (a rim vertex between zero-area slivers may go the other way).
    np.testing.assert_allclose(closed.extents[:2], [2, 2], atol=1e-5)
    assert 0 < closed.extents[2] <= 0.041


def test_flat_ngon_through_complete_rig_segment_and_convert(client, flat_ngon):
    upload = handle_file(str(flat_ngon))
    viewer, _, metadata = client.predict(mesh=upload, api_name="/complete_parts")
    assert metadata["parts"][0]["method"] == "shell" and metadata["parts"][0]["watertight"]
    assert is_closed(next(iter(trimesh.load(viewer, force="scene").geometry.values())))
    viewer, _, metadata = client.predict(mesh=upload, api_name="/rig_mesh")
    assert metadata["joint_count"] == 1  # a disc has no limbs
    assert any("single joint" in w for w in metadata["warnings"])
    _, _, metadata = client.predict(mesh=upload, num_parts=3, api_name="/segment_mesh")
    assert metadata["num_parts"] == 3
    _, _, metadata = client.predict(mesh=upload, target_faces=100, api_name="/convert_mesh")
    assert metadata["after"]["faces"] <= 110


def scaled_figure(tmp_path: Path, scale: float = 1.0, offset: float = 0.0, holed: bool = False) -> Path:
    figure = trimesh.load(ROOT / "assets" / "figure.glb", force="mesh", process=False)
    if holed:  # the soles cut off: open at the bottom
        figure.update_faces(figure.triangles_center[:, 1] > figure.bounds[0][1] + 0.1 * figure.extents[1])
        figure.remove_unreferenced_vertices()
    figure.apply_scale(scale)
    figure.apply_translation([offset, 0, 0])
    path = tmp_path / f"figure_{scale:g}_{offset:g}_{holed}.ply"
    figure.export(path)
    return path


@pytest.mark.parametrize("holed", [False, True], ids=["closed", "holed"])
def test_a_micrometre_figure_completes_like_a_metre_one(tmp_path, holed):
    """trimesh welds to absolute digits: at 1e-7 scale the figure fell apart into thousands of 'debris' pieces."""
    def methods(path):
        output = BuiltinCompletionPipeline().run({"mesh": str(path)}, Stages())
        return [p["method"] for p in output.metadata["parts"]], output

    expected, _ = methods(scaled_figure(tmp_path, holed=holed))
    got, output = methods(scaled_figure(tmp_path, scale=1e-7, holed=holed))
    assert got == expected == ["filled small holes" if holed else "unchanged"]
    closed = next(iter(output.asset.geometry.values()))
    assert is_closed(closed) and 1e-7 < closed.extents.max() < 1e-6


def test_far_off_float32_figure_gets_a_result(client, tmp_path):
    """At x = 1e9 float32 files crush the figure into flat scraps; their voxel rebuild crashed marching cubes,
    and scraps a millionth of their distance from the origin stayed open (trimesh's welding overflowed)."""
    upload = handle_file(str(scaled_figure(tmp_path, offset=1e9)))
    _, _, metadata = client.predict(mesh=upload, api_name="/complete_parts")
    assert metadata["part_count"] > 100  # the scraps
    assert all(p["watertight"] for p in metadata["parts"])
    _, _, metadata = client.predict(mesh=upload, api_name="/rig_mesh")
    assert metadata["joint_count"] >= 1


@pytest.mark.parametrize("endpoint", ["/complete_parts", "/rig_mesh", "/convert_mesh", "/segment_mesh"])
def test_huge_and_tiny_coordinates_are_refused_clearly(client, tmp_path, endpoint):
    tetrahedron = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    faces = [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]
    for scale, message in ((1e30, r"coordinates up to 1e\+30.*Scale it down"), (1e-12, r"only 1e-12 units across")):
        path = tmp_path / f"scale{scale:g}.obj"
        path.write_text(obj_text([(x * scale, y * scale, z * scale) for x, y, z in tetrahedron], faces))
        with pytest.raises(AppError, match=message):
            client.predict(mesh=handle_file(str(path)), api_name=endpoint)


@pytest.mark.slow
@pytest.mark.parametrize("source", SHIPPED, ids=lambda p: p.name)
def test_decimation_to_any_target_leaves_a_mesh(source, tmp_path):
    """Every shipped asset decimates to every target from 4 to 5000 faces, with and without repair, and exports."""
    tools = MeshToolsPipeline()
    for repair in (False, True):
        for target in TARGET_FACES:
            output = tools.run({"mesh": str(source), "target_faces": target, "repair": repair}, Stages())
            faces, before = output.metadata["after"]["faces"], output.metadata["before"]["faces"]
            assert 0 < faces <= max(before, 2 * target) or any("as far as its parts could be decimated" in w for w in output.warnings), (
                target, repair, faces)
            assert all(len(g.faces) for g in output.asset.geometry.values()), (target, repair)
            glb, obj = export_asset(output.asset, "obj", tmp_path / f"{target}_{repair}")
            assert glb.stat().st_size and obj.stat().st_size


@pytest.mark.parametrize("source", ["colored_torus.ply", "figure.glb", "parts.glb"])
def test_convert_endpoint_to_a_handful_of_faces(client, source):
    """These three raised IndexError / TypeError at target_faces 4-12 (every face of a part cancelled out)."""
    viewer, download, metadata = client.predict(mesh=handle_file(str(ROOT / "assets" / source)), target_faces=4,
                                                repair=True, api_name="/convert_mesh")
    assert 4 <= metadata["after"]["faces"] <= 64
    assert_valid_glb(viewer)
