"""Run by the tests with the test interpreter, in its own process: Blender (the `bpy` module) imports or exports files.

    python tests/blender_io.py read FILE...             one JSON line per file: what Blender made of it
    python tests/blender_io.py export SOURCE TARGET [up=Z]   Blender's own FBX or USDZ of a GLB

Blender keeps one global scene per process and its own copy of USD, so it never runs inside pytest.
What `read` reports, per file: each material a mesh uses (Principled BSDF base colour, metallic, roughness,
and the image feeding the base colour), each armature's bone count, each mesh's face count, armature
modifier and vertex groups, and the world-space bounds of all meshes (Blender's metres, +Z up).
"""

from __future__ import annotations

import json
import sys

import bpy
from mathutils import Vector


def reset() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)


def import_file(path: str) -> None:
    suffix = path.rsplit(".", 1)[-1].lower()
    if suffix == "fbx":
        bpy.ops.import_scene.fbx(filepath=path)
    elif suffix in ("glb", "gltf"):
        bpy.ops.import_scene.gltf(filepath=path)
    else:
        bpy.ops.wm.usd_import(filepath=path)


def material_report(material) -> dict:
    shader = next((n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None) if material.node_tree else None
    if shader is None:
        return {"name": material.name, "principled": False}
    base = shader.inputs["Base Color"]
    image = None
    if base.is_linked:
        source = base.links[0].from_node
        while source.type != "TEX_IMAGE" and any(i.is_linked for i in source.inputs):
            source = next(i for i in source.inputs if i.is_linked).links[0].from_node
        if source.type == "TEX_IMAGE" and source.image is not None:
            image = {"size": list(source.image.size), "has_data": bool(source.image.has_data)}
    return {"name": material.name, "principled": True, "base_color": list(base.default_value)[:3],
            "base_linked": base.is_linked, "image": image,
            "metallic": shader.inputs["Metallic"].default_value, "roughness": shader.inputs["Roughness"].default_value}


def read(path: str) -> dict:
    reset()
    import_file(path)
    armatures = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    for armature in armatures:  # sizes in the bind pose, not in a frame of the preview animation
        armature.data.pose_position = "REST"
    bpy.context.view_layer.update()
    # Blender's glTF importer adds a sphere that only draws the bones.
    bone_shapes = {bone.custom_shape for armature in armatures for bone in armature.pose.bones}
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH" and o not in bone_shapes]
    corners = [o.matrix_world @ Vector(c) for o in meshes for c in o.bound_box]
    used = {slot.material.name: slot.material for o in meshes for slot in o.material_slots if slot.material}
    return {
        "file": path,
        "materials": [material_report(m) for m in used.values()],
        "armatures": [{"name": o.name, "bones": len(o.data.bones)} for o in armatures],
        "meshes": [{"name": o.name, "faces": len(o.data.polygons), "vertex_groups": len(o.vertex_groups),
                    "colour_attributes": len(o.data.color_attributes),
                    "armature": next((m.object.name for m in o.modifiers if m.type == "ARMATURE" and m.object), None)}
                   for o in meshes],
        "bounds": [[min(c[i] for c in corners) for i in range(3)], [max(c[i] for c in corners) for i in range(3)]],
    }


def export(source: str, target: str, options: list[str]) -> None:
    settings = dict(option.split("=", 1) for option in options)
    reset()
    import_file(source)
    if target.endswith(".fbx"):
        up = settings.get("up", "Y")
        bpy.ops.export_scene.fbx(filepath=target, path_mode="COPY", embed_textures=True, axis_up=up,
                                 axis_forward="Y" if up == "Z" else "-Z")
    else:
        bpy.ops.wm.usd_export(filepath=target)


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "read":
        for item in arguments:
            print("BLENDER " + json.dumps(read(item)), flush=True)
    else:
        export(arguments[0], arguments[1], arguments[2:])
        print("BLENDER " + json.dumps({"exported": arguments[1]}), flush=True)
