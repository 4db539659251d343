"""Auto-rigging tab (`/rig_mesh`): a skinned GLB or FBX with a skeleton, skin weights and a preview animation."""

from __future__ import annotations

import gradio as gr

from pipelines.rig.pipeline import RIG_MODES
from queueing.studio import Studio

from .common import (ASSETS, format_picker, job_event, mesh_upload, pipeline_picker, result_panel, run_job,
                     up_axis_picker)

RIG_FORMATS = ("glb", "fbx")


def build(studio: Studio, demo: gr.Blocks) -> None:
    with gr.Tab("Auto-rigging", id="rig_mesh"):
        gr.Markdown(
            "Add a skeleton and skin weights to a mesh. *humanoid* fits the standard joint set (VRM names) to an "
            "upright character (T- or A-pose, facing +Z once stood up); *generic* follows the shape's own limbs; "
            "*auto* tries humanoid first and says in the warnings when the fit is doubtful. The up axis is detected "
            "(or set it: +Z for Blender and CAD exports); the result is +Y up. The viewer plays a short preview "
            "animation."
        )
        with gr.Row():
            with gr.Column():
                mesh = mesh_upload()
                mode = gr.Radio(list(RIG_MODES), value="auto", label="Skeleton")
                up_axis = up_axis_picker()
                pipeline = pipeline_picker(studio, "rig_mesh")
                output_format = format_picker(RIG_FORMATS)
                button = gr.Button("Rig", variant="primary")
                gr.Examples([[str(ASSETS / "figure.glb"), "humanoid"], [str(ASSETS / "capsule.glb"), "generic"]],
                            [mesh, mode], label="Examples (T-pose character, capsule)")
            with gr.Column():
                viewer, download, metadata = result_panel()

        async def rig_mesh(mesh, mode="auto", pipeline="auto", output_format="glb", up_axis="auto",
                           request: gr.Request = None, progress=gr.Progress()):
            """Rig a mesh; returns (viewer GLB, skinned GLB or FBX, metadata with the joints and their parents)."""
            if (output_format or "glb").lower() not in RIG_FORMATS:
                raise gr.Error(f"Rigged meshes are written as {' or '.join(RIG_FORMATS)} (formats that hold a skin); "
                               f"got {output_format!r}.", print_exception=False)
            return await run_job(studio, "rig_mesh", pipeline, {"mesh": mesh, "mode": mode, "up_axis": up_axis},
                                 output_format, progress, request)

        job_event(button.click, rig_mesh, [mesh, mode, pipeline, output_format, up_axis], [viewer, download, metadata],
                  "rig_mesh")
