"""Built-in auto-rigger (CPU, no weights): curve skeleton, humanoid fit, bone-heat skin."""

from __future__ import annotations

import networkx as nx
import numpy as np
import trimesh

from ..base import Pipeline, PipelineOutput, Stages
from ..complete.solidify import close_part, welded
from ..errors import InputError
from ..knobs import checked_knobs
from ..mesh.io import load_scene, scene_stats
from ..mesh.up_axis import AXIS_INDEX, UP_AXES, UpAxis, resolve_up, turn_y_up
from .asset import SkinnedAsset
from .humanoid import HELD_OBJECT, NotHumanoid, fit_standing
from .skeleton import generic_skeleton, main_components, skeleton_graph, voxelize_solid
from .weights import MAX_INFLUENCES, bone_heat_weights

RIG_MODES = ("auto", "humanoid", "generic")
DEFAULTS = {"mode": "auto", "up_axis": "auto"}
CHOICES = {"mode": RIG_MODES, "up_axis": UP_AXES}
# Skeleton branches shorter than these shares of the size are pruned: the humanoid fit keeps short
# ones (a head on a short neck), a generic skeleton only limbs (not fingers, ears or folds of a cape).
HUMANOID_SPUR = 0.04
GENERIC_PASSES = ((0.1, 1.0), (0.15, 1.5), (0.25, 2.5), (0.25, 5.0))  # (spur share, coarseness) until few joints
GENERIC_SPUR_THICKNESS = 2.0  # and shorter than twice the body's radius where they branch off
MAX_GENERIC_JOINTS = 40
UNSKELETONISABLE = ("No skeleton could be placed in this mesh (it may be a flat sheet, a line or a cloud of "
                    "slivers with no inside); repair it or upload a closed surface.")
# Faces of the closed stand-in that an open mesh is voxelised through.
PROXY_FACES = 20_000


def solid_proxy(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A closed stand-in for voxelising `mesh`: the inside of an open surface cannot be flood-filled.

    Open meshes (a scan with holes in its base, a mask) are decimated and closed the
    way part completion closes a part; the skin is still computed on the original.
    """
    proxy = welded(mesh)
    if proxy.is_watertight:
        return mesh
    if len(proxy.faces) > PROXY_FACES:
        import fast_simplification

        vertices, faces = fast_simplification.simplify(proxy.vertices, proxy.faces, target_count=PROXY_FACES)
        proxy = trimesh.Trimesh(vertices, faces, process=False)
    closed, _ = close_part(proxy)
    return closed


def standing(loaded: trimesh.Scene, up: UpAxis) -> tuple[trimesh.Scene, trimesh.Trimesh]:
    """The loaded scene turned +Y up and baked (one world-space geometry per node), and all of it as one mesh."""
    scene = bake_scene(turn_y_up(loaded.copy(), up))
    parts = list(scene.geometry.values())
    combined = trimesh.util.concatenate(parts) if len(parts) > 1 else parts[0]
    if float(combined.extents.max()) <= 0:
        raise InputError("The mesh has no extent (all vertices coincide); upload a real surface.")
    return scene, combined


def bake_scene(scene: trimesh.Scene) -> trimesh.Scene:
    """One geometry per node in world coordinates, named after its node (skinned meshes ignore node transforms)."""
    baked = trimesh.Scene()
    for mesh in scene.dump():
        baked.add_geometry(mesh, node_name=mesh.metadata["node"], geom_name=mesh.metadata["node"])
    return baked


class BuiltinRigPipeline(Pipeline):
    name = "builtin"
    feature = "rig_mesh"
    label = "Built-in auto-rigger (voxel skeleton, bone heat)"
    description = (
        "Curve skeleton of the voxelised mesh (or the VRM humanoid joint set for an upright character), "
        "skin weights by bone-heat diffusion, at most 4 influences per vertex, preview animation."
    )
    devices = ("cpu",)
    reentrant = True

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        knobs = checked_knobs({**inputs, "mode": str(inputs.get("mode") or "auto").lower()}, DEFAULTS, {}, CHOICES)
        mode = knobs["mode"]
        with stages.stage("load", 0.05):
            loaded = load_scene(inputs["mesh"])
            up = resolve_up(loaded, knobs["up_axis"])
        with stages.stage("skeleton", 0.2):
            settled = self.settle_up(loaded, up) if up.doubtful and mode != "generic" else None
            if settled:
                up, scene, combined, skeleton, volume, warnings = settled
            else:
                scene, combined = standing(loaded, up)
                warnings = up.warnings()
                # No clean humanoid fit either way up: not a character to stand up blindly.
                fit_mode = "generic" if up.doubtful and mode == "auto" else mode
                skeleton, volume = self.skeleton(combined, fit_mode, warnings)
            parts = list(scene.geometry.items())
        with stages.stage("skin weights", 0.5):
            segments, owners = skeleton.segments()
            joints, weights = bone_heat_weights(
                combined.vertices, combined.faces, segments, owners, len(skeleton.names)
            )
            split = np.cumsum([len(mesh.vertices) for _, mesh in parts])[:-1]
            per_joints = dict(zip([n for n, _ in parts], np.split(joints, split)))
            per_weights = dict(zip([n for n, _ in parts], np.split(weights, split)))
        asset = SkinnedAsset(scene, skeleton, per_joints, per_weights)
        metadata = {
            "mode": skeleton.kind,
            "requested_mode": mode,
            "joint_names": "VRM humanoid bone names" if skeleton.kind == "humanoid" else "root, joint_NN",
            "joints": [
                {
                    "name": name,
                    "parent": skeleton.names[parent] if parent >= 0 else None,
                    "position": [round(float(v), 5) for v in skeleton.positions[i]],
                }
                for i, (name, parent) in enumerate(zip(skeleton.names, skeleton.parents))
            ],
            "joint_count": len(skeleton.names),
            "max_influences": MAX_INFLUENCES,
            "voxel_pitch": round(volume.pitch, 6),
            "animation": "preview" if len(skeleton.names) > 1 else None,
            "input": scene_stats(scene),
            **up.metadata(),
        }
        if len(skeleton.names) == 1:
            warnings.append("The skeleton is a single joint (the shape has no limbs to follow).")
        return PipelineOutput(asset=asset, metadata=metadata, warnings=warnings)

    def settle_up(self, loaded: trimesh.Scene, up: UpAxis):
        """When the shape leaves the up axis in doubt, a character settles it: its body fits one way up only.

        Returns (up, scene, mesh, skeleton, volume, warnings) for that way, or None. A fit with doubts about
        the body (short legs, a lean, joined feet) settles nothing: a car on its bumper or a dinosaur on its
        nose can pass for a squat figure.
        """
        fits = []
        for axis in AXIS_INDEX:
            candidate = up.settled(axis, "humanoid fit")
            scene, combined = standing(loaded, candidate)
            warnings = candidate.warnings()
            try:
                skeleton, volume = self.skeleton(combined, "humanoid", warnings)
            except InputError:
                continue
            if all(doubt == HELD_OBJECT for doubt in skeleton.doubts):
                fits.append((candidate, scene, combined, skeleton, volume, warnings))
        return fits[0] if len(fits) == 1 else None

    @staticmethod
    def skeleton(mesh: trimesh.Trimesh, mode: str, warnings: list):
        """(skeleton, volume): the humanoid fit when asked for (or, in auto mode, when it fits), else generic.

        No shape may crash the rigger: a fit that breaks on an odd skeleton is a refusal (humanoid
        mode) or a generic skeleton with a warning (auto mode).
        """
        try:
            volume = main_components(voxelize_solid(solid_proxy(mesh)))
        except (ValueError, IndexError, MemoryError) as exc:
            raise InputError(UNSKELETONISABLE) from exc
        if mode in ("auto", "humanoid"):
            try:
                skeleton = fit_standing(volume, HUMANOID_SPUR)
            except NotHumanoid as exc:
                reason = str(exc)
            except (ArithmeticError, LookupError, ValueError, nx.NetworkXException) as exc:
                reason = f"the humanoid fit failed on this shape ({type(exc).__name__})"
                if mode == "auto":
                    warnings.append(f"The humanoid fit failed on this shape ({type(exc).__name__}); "
                                    "a generic skeleton was made instead.")
            else:
                if skeleton.doubts:
                    warnings.append("The humanoid fit is doubtful: " + "; ".join(skeleton.doubts) +
                                    ". Check the joints, or use mode 'generic'.")
                return skeleton, volume
            if mode == "humanoid":
                raise InputError(f"The mesh does not look like an upright character: {reason}. Use mode 'generic' "
                                 "(or 'auto') for other shapes, or set up_axis if it stands along another axis.")
        try:
            for spur, coarseness in GENERIC_PASSES:  # a tangle (a closed-up triangle soup, a thicket) is simplified harder
                skeleton = generic_skeleton(volume, skeleton_graph(volume, spur, GENERIC_SPUR_THICKNESS), coarseness)
                if len(skeleton.names) <= MAX_GENERIC_JOINTS:
                    break
            return skeleton, volume
        except (ArithmeticError, LookupError, ValueError, nx.NetworkXException) as exc:
            raise InputError(UNSKELETONISABLE) from exc
