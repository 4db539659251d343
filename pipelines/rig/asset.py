"""A skinned asset: trimesh writes the meshes and materials, pygltflib adds the skin.

trimesh drops skins, so the rig is added to trimesh's GLB afterwards: one joint
node per joint (translation relative to its parent, no rotation in the bind
pose), JOINTS_0/WEIGHTS_0 on every primitive, inverse bind matrices, and a
short looping preview animation that swings each bone. Skinned mesh nodes are
scene roots without transforms (glTF ignores them), which is why the geometry
is baked into world coordinates first.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pygltflib
import trimesh

from ..mesh.export import FBX_UNIT_SCALE, glb_bytes, glb_to_fbx
from .skeleton import Skeleton

ARRAY_BUFFER = 34962
PREVIEW_SECONDS = 2.0
PREVIEW_FRAMES = 25
PREVIEW_DEGREES = 20.0


@dataclass
class SkinnedAsset:
    """Meshes in world coordinates (a Scene with one node per part), their skin, and the skeleton."""

    scene: trimesh.Scene
    skeleton: Skeleton
    joints: dict[str, np.ndarray]  # geometry name -> (n_vertices, 4) joint indices
    weights: dict[str, np.ndarray]  # geometry name -> (n_vertices, 4) float32
    animate: bool = True

    def export_glb(self, path: str | Path, scale: float = 1.0) -> None:
        scene = self.scene.scaled(scale) if scale != 1.0 else self.scene
        gltf = pygltflib.GLTF2.load_from_bytes(glb_bytes(scene))
        blob = bytearray(gltf.binary_blob() or b"")
        writer = _Writer(gltf, blob)

        positions = self.skeleton.positions * scale
        first_joint = len(gltf.nodes)
        for i, (name, parent) in enumerate(zip(self.skeleton.names, self.skeleton.parents)):
            local = positions[i] - (positions[parent] if parent >= 0 else 0.0)
            gltf.nodes.append(pygltflib.Node(name=name, translation=[float(v) for v in local]))
        for i, parent in enumerate(self.skeleton.parents):
            if parent >= 0:
                gltf.nodes[first_joint + parent].children.append(first_joint + i)
        inverse_bind = np.tile(np.eye(4, dtype=np.float32), (len(positions), 1, 1))
        inverse_bind[:, :3, 3] = -positions
        # glTF matrices are column-major.
        ibm = writer.accessor(np.ascontiguousarray(inverse_bind.transpose(0, 2, 1)).reshape(-1, 16), "MAT4")
        root = first_joint + self.skeleton.parents.index(-1)
        skin = len(gltf.skins)
        gltf.skins.append(pygltflib.Skin(
            name="rig", joints=list(range(first_joint, first_joint + len(positions))),
            inverseBindMatrices=ibm, skeleton=root,
        ))
        mesh_nodes = [i for i, node in enumerate(gltf.nodes[:first_joint]) if node.mesh is not None]
        for node_index in mesh_nodes:
            node = gltf.nodes[node_index]
            name = gltf.meshes[node.mesh].name
            joint_type = np.uint8 if len(positions) < 256 else np.uint16
            for primitive in gltf.meshes[node.mesh].primitives:
                primitive.attributes.JOINTS_0 = writer.accessor(self.joints[name].astype(joint_type), "VEC4", ARRAY_BUFFER)
                primitive.attributes.WEIGHTS_0 = writer.accessor(self.weights[name].astype(np.float32), "VEC4", ARRAY_BUFFER)
            node.skin = skin
        gltf.scenes[gltf.scene or 0].nodes = mesh_nodes + [root]
        if self.animate and len(positions) > 1:
            self._add_preview(gltf, writer, first_joint)
        gltf.set_binary_blob(bytes(blob))
        gltf.buffers[0].byteLength = len(blob)
        Path(path).write_bytes(b"".join(gltf.save_to_bytes()))

    def export_fbx(self, path: str | Path) -> None:
        """Binary FBX through assimp, scaled so that it keeps its size in assimp's centimetres."""
        with tempfile.TemporaryDirectory(prefix="studio-rig-fbx-") as tmp:
            glb = Path(tmp) / "rig.glb"
            self.export_glb(glb, scale=FBX_UNIT_SCALE)
            glb_to_fbx(glb, Path(path))

    def _add_preview(self, gltf: pygltflib.GLTF2, writer: "_Writer", first_joint: int) -> None:
        """Each joint with a bone below it swings about an axis across that bone, phase-shifted down the chain."""
        times = np.linspace(0.0, PREVIEW_SECONDS, PREVIEW_FRAMES, dtype=np.float32)
        time_accessor = writer.accessor(times[:, None], "SCALAR", with_bounds=True)
        skeleton = self.skeleton
        depth = np.zeros(len(skeleton.parents), dtype=int)
        for i, parent in enumerate(skeleton.parents):
            depth[i] = depth[parent] + 1 if parent >= 0 else 0
        samplers, channels = [], []
        for joint in range(len(skeleton.parents)):
            ends = [skeleton.positions[c] for c in skeleton.children(joint)]
            ends += [point for j, point in skeleton.tips if j == joint]
            if not ends or skeleton.parents[joint] < 0:
                continue
            bone = np.mean(ends, axis=0) - skeleton.positions[joint]
            axis = np.cross(bone, [0.0, 0.0, 1.0])
            if np.linalg.norm(axis) < 1e-6 * max(np.linalg.norm(bone), 1e-12):
                axis = np.array([1.0, 0.0, 0.0])
            axis /= np.linalg.norm(axis)
            angle = np.radians(PREVIEW_DEGREES) * np.sin(2 * np.pi * times / PREVIEW_SECONDS - 0.6 * depth[joint])
            quaternions = np.concatenate([np.sin(angle / 2)[:, None] * axis, np.cos(angle / 2)[:, None]], axis=1)
            quaternions /= np.linalg.norm(quaternions, axis=1, keepdims=True)
            output = writer.accessor(quaternions.astype(np.float32), "VEC4")
            samplers.append(pygltflib.AnimationSampler(input=time_accessor, output=output, interpolation="LINEAR"))
            channels.append(pygltflib.AnimationChannel(
                sampler=len(samplers) - 1, target=pygltflib.AnimationChannelTarget(node=first_joint + joint, path="rotation")
            ))
        if channels:
            gltf.animations.append(pygltflib.Animation(name="preview", samplers=samplers, channels=channels))


class _Writer:
    """Appends typed arrays to the GLB's binary chunk as accessors (4-byte aligned)."""

    COMPONENTS = {np.dtype(np.float32): 5126, np.dtype(np.uint8): 5121, np.dtype(np.uint16): 5123}

    def __init__(self, gltf: pygltflib.GLTF2, blob: bytearray):
        self.gltf, self.blob = gltf, blob

    def accessor(self, data: np.ndarray, kind: str, target: int | None = None, with_bounds: bool = False) -> int:
        data = np.ascontiguousarray(data)
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        offset = len(self.blob)
        self.blob.extend(data.tobytes())
        self.gltf.bufferViews.append(pygltflib.BufferView(buffer=0, byteOffset=offset, byteLength=data.nbytes, target=target))
        accessor = pygltflib.Accessor(
            bufferView=len(self.gltf.bufferViews) - 1, componentType=self.COMPONENTS[data.dtype],
            count=len(data), type=kind,
        )
        if with_bounds:
            accessor.min = [float(v) for v in data.min(axis=0)]
            accessor.max = [float(v) for v in data.max(axis=0)]
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1
