"""Mesh tools: repair, decimate and convert an uploaded mesh (CPU, no weights)."""

from __future__ import annotations

from .base import Pipeline, PipelineOutput, Stages
from .errors import InputError
from .mesh.io import load_scene, scene_stats
from .mesh.repair import decimate_scene, repair, scene_face_count

MAX_TARGET_FACES = 5_000_000


class MeshToolsPipeline(Pipeline):
    name = "builtin"
    feature = "convert_mesh"
    label = "Built-in mesh tools (trimesh, fast-simplification)"
    description = "Repair (merge, clean, fill small holes, fix normals), quadric decimation, format conversion."
    devices = ("cpu",)
    reentrant = True

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        target_faces = inputs.get("target_faces")
        if target_faces is not None and not (4 <= int(target_faces) <= MAX_TARGET_FACES):
            raise InputError(
                f"target_faces must be between 4 and {MAX_TARGET_FACES:,} (or empty to keep every face); got {target_faces}."
            )
        warnings, repairs = [], {}
        with stages.stage("load", 0.05):
            scene = load_scene(inputs["mesh"], warnings=warnings)
            before = scene_stats(scene)
        if inputs.get("repair"):
            with stages.stage("repair", 0.3):
                for name, geom in list(scene.geometry.items()):
                    repairs[name] = repair(geom)
                    if not len(geom.faces):
                        scene.delete_geometry(name)
                        warnings.append(f"Part '{name}' had only degenerate faces and was removed.")
                if not scene.geometry:
                    raise InputError("Repair removed every face: they are all degenerate (zero area or repeated). "
                                     "Turn repair off to keep them, or fix the mesh in a 3D tool.")
        if target_faces is not None:
            with stages.stage("decimate", 0.6):
                if int(target_faces) >= scene_face_count(scene):
                    warnings.append(
                        f"target_faces ({int(target_faces):,}) is not below the current face count "
                        f"({scene_face_count(scene):,}); nothing was decimated."
                    )
                decimate_scene(scene, int(target_faces))
                if scene_face_count(scene) > 2 * int(target_faces):
                    warnings.append(
                        f"The result has {scene_face_count(scene):,} faces, more than twice the {int(target_faces):,} "
                        "asked for: that is as far as its parts could be decimated without vanishing."
                    )
        after = scene_stats(scene)
        return PipelineOutput(
            asset=scene,
            metadata={"before": before, "after": after, "repairs": repairs},
            warnings=warnings,
        )
