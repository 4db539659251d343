"""Auto-rigging: skeleton placement, humanoid fit, skin weights, valid skinned GLB, FBX with bones, errors."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import trimesh
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from pipelines.base import Stages
from pipelines.errors import InputError
from pipelines.mesh.export import FBX_UNIT_SCALE, assimp_command
from pipelines.rig.humanoid import HUMANOID_JOINTS
from pipelines.rig.pipeline import BuiltinRigPipeline
from tests.conftest import assert_valid_glb
from tests.rig_corpus import limb

GRADIO_MODELS = Path(trimesh.__file__).parents[1] / "gradio" / "media_assets" / "models3d"


def humanoid(arms_raised: bool) -> trimesh.Trimesh:
    """A 1.8 m watertight figure from capsules and a sphere, +Y up, facing +Z (its left is +X)."""
    head = trimesh.creation.icosphere(subdivisions=3, radius=0.12)
    head.apply_translation([0, 1.68, 0])
    parts = [limb([0, 0.95, 0], [0, 1.45, 0], 0.16), limb([0, 1.45, 0], [0, 1.6, 0], 0.05), head]
    for side in (1, -1):
        parts.append(limb([side * 0.09, 0.95, 0], [side * 0.11, 0.08, 0], 0.065))
        parts.append(limb([side * 0.11, 0.06, 0], [side * 0.11, 0.04, 0.15], 0.05))
        hand = [side * 0.75, 1.9, 0] if arms_raised else [side * 0.3, 0.75, 0]
        parts.append(limb([side * 0.15, 1.42, 0], hand, 0.045))
    body = trimesh.boolean.union(parts, engine="manifold")
    assert body.is_watertight
    return body


def winding_number(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Generalised winding number: 1 inside a closed mesh, 0 outside (no ray tests needed)."""
    a, b, c = (mesh.triangles[None, :, k] - points[:, None] for k in range(3))
    la, lb, lc = (np.linalg.norm(x, axis=2) for x in (a, b, c))
    det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
    dot = lambda x, y: np.einsum("pfi,pfi->pf", x, y)  # noqa: E731
    denominator = la * lb * lc + dot(a, b) * lc + dot(b, c) * la + dot(c, a) * lb
    return np.arctan2(det, denominator).sum(axis=1) / (2 * np.pi)


def read_accessor(gltf: pygltflib.GLTF2, index: int) -> np.ndarray:
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    dtype = {5126: np.float32, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32}[accessor.componentType]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[accessor.type]
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    data = np.frombuffer(gltf.binary_blob(), dtype=dtype, count=accessor.count * width, offset=start)
    return data.reshape(accessor.count, width)


def rig(path: Path, mode: str):
    return BuiltinRigPipeline().run({"mesh": str(path), "mode": mode}, Stages())


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("figures")
    out = {}
    for raised in (False, True):
        mesh = humanoid(raised)
        path = folder / f"figure_{'raised' if raised else 'down'}.glb"
        mesh.export(path)
        out[raised] = (mesh, path)
    return out


@pytest.mark.parametrize("arms_raised", [False, True], ids=["arms_down", "arms_raised"])
def test_humanoid_joint_set_in_plausible_places(figures, arms_raised):
    mesh, path = figures[arms_raised]
    output = rig(path, "humanoid")
    skeleton = output.asset.skeleton
    assert output.metadata["mode"] == "humanoid"
    assert set(skeleton.names) == set(HUMANOID_JOINTS)
    joint = {name: skeleton.positions[i] for i, name in enumerate(skeleton.names)}
    parent = {j["name"]: j["parent"] for j in output.metadata["joints"]}
    assert parent["hips"] is None
    assert [parent[n] for n in ("spine", "chest", "neck", "head")] == ["hips", "spine", "chest", "neck"]
    for side in ("left", "right"):
        assert [parent[f"{side}{n}"] for n in ("UpperArm", "LowerArm", "Hand")] == [
            f"{side}Shoulder", f"{side}UpperArm", f"{side}LowerArm"]
        assert [parent[f"{side}{n}"] for n in ("UpperLeg", "LowerLeg", "Foot")] == [
            "hips", f"{side}UpperLeg", f"{side}LowerLeg"]
    y = {name: p[1] for name, p in joint.items()}
    # The head tops the body's own chain; the feet are the lowest joints; the spine rises from the hips.
    assert y["head"] > y["neck"] > y["chest"] > y["spine"] > y["hips"]
    assert y["head"] == max(v for n, v in y.items() if "Hand" not in n and "LowerArm" not in n)
    assert max(y["leftFoot"], y["rightFoot"]) < min(v for n, v in y.items() if "Foot" not in n)
    for side in ("left", "right"):
        assert y["hips"] > y[f"{side}LowerLeg"] > y[f"{side}Foot"]
        assert 0.35 < y[f"{side}LowerLeg"] < 0.6  # knees near the middle of the 0.08-0.95 legs
    # Left is +X for a figure facing +Z.
    for name, p in joint.items():
        lateral = 0.0 if name.endswith("Shoulder") else 0.05  # clavicles start at the spine
        if name.startswith("left"):
            assert p[0] > lateral, name
        if name.startswith("right"):
            assert p[0] < -lateral, name
    if arms_raised:
        for side in ("left", "right"):
            assert y[f"{side}Hand"] > y[f"{side}LowerArm"] > y[f"{side}UpperArm"] > y["chest"]
            assert abs(joint[f"{side}Hand"][0]) > 0.45
    else:
        for side in ("left", "right"):
            assert y[f"{side}Hand"] < y[f"{side}LowerArm"] < y[f"{side}UpperArm"]
            assert y[f"{side}Hand"] < y["chest"]
    assert (winding_number(mesh, skeleton.positions) > 0.5).all()
    assert_skin_weights(output, len(skeleton.names))


def test_a_character_in_separate_parts_is_rigged_as_one(tmp_path):
    """Body parts as separate GLB nodes (as segmentation writes them), one placed by its node transform."""
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.icosphere(subdivisions=3, radius=0.12), node_name="head", geom_name="head",
                       transform=trimesh.transformations.translation_matrix([0, 1.68, 0]))
    scene.add_geometry(limb([0, 0.95, 0], [0, 1.6, 0], 0.16), node_name="torso", geom_name="torso")
    for side, name in ((1, "left"), (-1, "right")):
        scene.add_geometry(limb([side * 0.09, 0.95, 0], [side * 0.11, 0.08, 0], 0.065),
                           node_name=f"{name}_leg", geom_name=f"{name}_leg")
        scene.add_geometry(limb([side * 0.15, 1.42, 0], [side * 0.3, 0.75, 0], 0.045),
                           node_name=f"{name}_arm", geom_name=f"{name}_arm")
    path = tmp_path / "parts.glb"
    scene.export(path)
    output = rig(path, "auto")
    names = output.asset.skeleton.names
    assert output.metadata["mode"] == "humanoid"
    assert set(output.asset.weights) == set(scene.graph.nodes_geometry)
    assert_skin_weights(output, len(names))
    baked = output.asset.scene.geometry
    assert baked["head"].bounds[0][1] > 1.5  # the head's node transform is baked into its vertices

    def dominant(part, low=-np.inf, high=np.inf):
        y = baked[part].vertices[:, 1]
        return {names[j] for j in output.asset.joints[part][(y > low) & (y < high), 0]}

    assert dominant("head", low=1.7) <= {"head", "neck"}
    assert dominant("left_leg", high=0.5) <= {"leftUpperLeg", "leftLowerLeg", "leftFoot"}
    assert dominant("right_arm", high=1.0) <= {"rightLowerArm", "rightHand"}
    glb = tmp_path / "parts_rig.glb"
    output.asset.export_glb(glb)
    assert_valid_glb(glb, allow_warnings=False)
    gltf = pygltflib.GLTF2().load_binary(str(glb))
    assert sorted(gltf.meshes[n.mesh].name for n in gltf.nodes if n.mesh is not None) == sorted(baked)
    assert all(n.skin == 0 for n in gltf.nodes if n.mesh is not None)


def test_generic_skeleton_inside_a_real_mesh(tmp_path):
    """sofia.stl (shipped with gradio) is a closed figure; every generic joint lies inside it."""
    source = GRADIO_MODELS / "sofia.stl"
    mesh = trimesh.load(source, force="mesh")
    assert mesh.is_watertight
    output = rig(source, "generic")
    skeleton = output.asset.skeleton
    assert output.metadata["mode"] == "generic"
    assert len(skeleton.names) >= 3
    assert skeleton.parents.count(-1) == 1
    assert (winding_number(mesh, skeleton.positions) > 0.5).all()
    assert_skin_weights(output, len(skeleton.names))
    # The root sits near the middle of the shape, not at an extremity.
    distance = np.linalg.norm(skeleton.positions - mesh.center_mass, axis=1)
    assert distance[skeleton.parents.index(-1)] <= np.percentile(distance, 50)
    glb = tmp_path / "sofia.glb"
    output.asset.export_glb(glb)
    assert_valid_glb(glb, allow_warnings=False)


def assert_skin_weights(output, n_joints: int) -> None:
    """Every vertex of every part: 4 slots, weights >= 0 summing to 1, empty slots on joint 0, real joints."""
    asset = output.asset
    assert set(asset.weights) == set(asset.scene.geometry)
    for name, mesh in asset.scene.geometry.items():
        joints, weights = asset.joints[name], asset.weights[name]
        assert joints.shape == weights.shape == (len(mesh.vertices), 4)
        assert weights.dtype == np.float32 and (weights >= 0).all()
        np.testing.assert_allclose(weights.sum(axis=1, dtype=np.float64), 1.0, atol=1e-6)
        assert (joints[weights == 0] == 0).all() and joints.max() < n_joints


def test_open_real_mesh_gets_a_compact_skeleton_inside_it(tmp_path):
    """Bunny.obj (shipped with gradio) is open at its base: its inside is found through a closed stand-in."""
    from pipelines.complete.solidify import close_part

    source = GRADIO_MODELS / "Bunny.obj"
    output = rig(source, "auto")
    skeleton = output.asset.skeleton
    assert output.metadata["mode"] == "generic"
    assert 3 <= len(skeleton.names) <= 40  # limbs and ears, not a joint per voxel of a hollow shell
    closed, _ = close_part(trimesh.load(source, force="mesh"))
    assert (winding_number(closed, skeleton.positions) > 0.5).all()
    assert_skin_weights(output, len(skeleton.names))
    glb = tmp_path / "bunny.glb"
    output.asset.export_glb(glb)
    assert_valid_glb(glb, allow_warnings=False)


def test_an_open_mask_is_not_taken_for_a_character():
    """face.obj (shipped with gradio) is a face mask: no limbs, so auto stays generic and humanoid refuses."""
    source = GRADIO_MODELS / "face.obj"
    assert rig(source, "auto").metadata["mode"] == "generic"
    with pytest.raises(InputError, match="does not look like an upright character"):
        rig(source, "humanoid")


def test_auto_mode_falls_back_to_generic_for_a_non_humanoid(tmp_path):
    path = tmp_path / "bar.glb"
    trimesh.creation.capsule(height=1.0, radius=0.1).export(path)
    output = rig(path, "auto")
    assert output.metadata["mode"] == "generic"
    assert output.metadata["requested_mode"] == "auto"


def skin_of(path: str) -> tuple[pygltflib.GLTF2, np.ndarray, np.ndarray]:
    raw = Path(path).read_bytes()
    document = json.loads(raw[20:20 + int.from_bytes(raw[12:16], "little")])
    for mesh in document["meshes"]:
        for primitive in mesh["primitives"]:  # one JOINTS/WEIGHTS set: at most 4 influences per vertex
            assert {"JOINTS_0", "WEIGHTS_0"} <= set(primitive["attributes"])
            assert not {"JOINTS_1", "WEIGHTS_1"} & set(primitive["attributes"])
    gltf = pygltflib.GLTF2().load_binary(path)
    joints, weights = [], []
    for mesh in gltf.meshes:
        for primitive in mesh.primitives:
            joints.append(read_accessor(gltf, primitive.attributes.JOINTS_0))
            weights.append(read_accessor(gltf, primitive.attributes.WEIGHTS_0))
    return gltf, np.vstack(joints), np.vstack(weights)


def test_rig_endpoint_writes_a_valid_skinned_glb(client, figures):
    _, path = figures[False]
    viewer, download, metadata = client.predict(
        handle_file(str(path)), "auto", "auto", "glb", api_name="/rig_mesh")
    assert_valid_glb(viewer, download, allow_warnings=False)
    assert metadata["mode"] == "humanoid"
    assert {j["name"] for j in metadata["joints"]} == set(HUMANOID_JOINTS)
    gltf, joints, weights = skin_of(download)
    assert len(gltf.skins) == 1 and len(gltf.skins[0].joints) == len(HUMANOID_JOINTS)
    assert [gltf.nodes[j].name for j in gltf.skins[0].joints] == [j["name"] for j in metadata["joints"]]
    assert weights.shape[1] == 4
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert (weights >= 0).all()
    assert (joints[weights == 0] == 0).all()
    assert joints.max() < len(HUMANOID_JOINTS)
    # The skin follows the body: vertices far down the left leg belong to left-leg joints.
    vertices = np.vstack([read_accessor(gltf, p.attributes.POSITION) for m in gltf.meshes for p in m.primitives])
    names = [gltf.nodes[j].name for j in gltf.skins[0].joints]
    shin = (vertices[:, 0] > 0.05) & (vertices[:, 1] > 0.2) & (vertices[:, 1] < 0.35)
    dominant = {names[j] for j in joints[shin, 0]}
    assert dominant <= {"leftUpperLeg", "leftLowerLeg", "leftFoot"}, dominant
    assert gltf.animations and gltf.animations[0].channels


def test_rig_endpoint_stands_a_z_up_character_y_up(client, figures, tmp_path):
    """A character written +Z up (as Blender and CAD tools write it): found, rigged humanoid, returned +Y up."""
    mesh, _ = figures[False]
    z_up = mesh.copy()
    z_up.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    path = tmp_path / "z_up.glb"
    z_up.export(path)
    for up_axis in ("auto", "+Z"):
        _, download, metadata = client.predict(handle_file(str(path)), "auto", "auto", "glb", up_axis,
                                               api_name="/rig_mesh")
        assert metadata["mode"] == "humanoid" and metadata["up_axis"] == "+Z"
        assert metadata["up_axis_requested"] == up_axis
        gltf, _, _ = skin_of(download)
        vertices = np.vstack([read_accessor(gltf, p.attributes.POSITION) for m in gltf.meshes for p in m.primitives])
        np.testing.assert_allclose(np.ptp(vertices, axis=0), mesh.extents, rtol=1e-5)
    with pytest.raises(Exception, match=r"up_axis must be one of: auto, \+Y, \+Z; got 'Z-up'"):
        client.predict(handle_file(str(path)), "auto", "auto", "glb", "Z-up", api_name="/rig_mesh")


def test_rig_endpoint_keeps_textures_of_a_real_mesh(client):
    """Duck.glb (shipped with gradio) is textured: the skinned GLB keeps its texture and validates cleanly."""
    viewer, download, metadata = client.predict(
        handle_file(str(GRADIO_MODELS / "Duck.glb")), "generic", "builtin", "glb", api_name="/rig_mesh")
    assert_valid_glb(download, allow_warnings=False)
    gltf, _, weights = skin_of(download)
    assert gltf.images and gltf.textures
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert metadata["joint_count"] == len(metadata["joints"]) >= 2


def assimp_info(path: str) -> str:
    command, env = assimp_command()
    result = subprocess.run([*command, "info", path], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_rig_endpoint_fbx_loads_back_with_bones_at_the_right_size(client, figures):
    mesh, path = figures[True]
    _, download, metadata = client.predict(handle_file(str(path)), "humanoid", "auto", "fbx", api_name="/rig_mesh")
    assert download.endswith(".fbx")
    info = assimp_info(download)
    bones = int(re.search(r"Bones:\s+(\d+)", info).group(1))
    assert bones >= 10
    for name in ("hips", "leftHand", "rightFoot", "head"):
        assert name in info
    low = np.array(re.search(r"Minimum point\s+\(([^)]*)\)", info).group(1).split(), float)
    high = np.array(re.search(r"Maximum point\s+\(([^)]*)\)", info).group(1).split(), float)
    # assimp writes centimetres: a 1.94 m figure is 194 units tall.
    np.testing.assert_allclose(high - low, mesh.extents * FBX_UNIT_SCALE, rtol=0.01)


def test_rig_endpoint_rejects_bad_input_clearly(client, tmp_path):
    ball = tmp_path / "ball.glb"
    trimesh.creation.icosphere().export(ball)
    with pytest.raises(Exception, match="does not look like an upright character"):
        client.predict(handle_file(str(ball)), "humanoid", "auto", "glb", api_name="/rig_mesh")
    with pytest.raises(Exception, match="mode must be one of: auto, humanoid, generic; got 'skeletal'"):
        client.predict(handle_file(str(ball)), "skeletal", "auto", "glb", api_name="/rig_mesh")
    with pytest.raises(Exception, match="output_format must be one of: glb, fbx; got 'stl'"):
        client.predict(handle_file(str(ball)), "auto", "auto", "stl", api_name="/rig_mesh")
    broken = tmp_path / "broken.glb"
    broken.write_bytes(b"glTF" + b"\0" * 40)
    with pytest.raises(Exception, match="truncated or corrupt"):
        client.predict(handle_file(str(broken)), "auto", "auto", "glb", api_name="/rig_mesh")


BAD_MESHES = {
    "text file": ("notes.txt", b"a shopping list, not a mesh\n", "Invalid file type.*'.glb'"),
    "empty file": ("empty.stl", b"", "is empty"),
    "points only": ("points.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
    "one point": ("dot.obj", b"v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n", "zero area"),
}


@pytest.mark.parametrize("case", list(BAD_MESHES))
def test_rig_endpoint_rejects_what_is_not_a_surface(client, tmp_path, case):
    name, content, message = BAD_MESHES[case]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(path)), "auto", "auto", "glb", api_name="/rig_mesh")
