"""Part completion tab (`/complete_parts`): every part of a segmented mesh closed into a watertight solid."""

from __future__ import annotations

import gradio as gr

from queueing.studio import Studio

from .common import ASSETS, format_picker, job_event, mesh_upload, pipeline_picker, result_panel, run_job


def build(studio: Studio, demo: gr.Blocks) -> None:
    with gr.Tab("Part completion", id="complete_parts"):
        gr.Markdown(
            "Close each part of a segmented mesh into a watertight solid. Parts are the nodes of a GLB "
            "(as Part segmentation writes them) or the disconnected pieces of a single mesh; they stay named nodes."
        )
        with gr.Row():
            with gr.Column():
                mesh = mesh_upload("Part-segmented mesh")
                pipeline = pipeline_picker(studio, "complete_parts")
                output_format = format_picker()
                button = gr.Button("Complete parts", variant="primary")
                gr.Examples([[str(ASSETS / "parts.glb")]], [mesh],
                            label="Example (an open cup, a cut sphere and a closed block as named nodes)")
            with gr.Column():
                viewer, download, metadata = result_panel()

        async def complete_parts(mesh, pipeline="auto", output_format="glb",
                                 request: gr.Request = None, progress=gr.Progress()):
            """Close every part; returns (viewer GLB, file in output_format, metadata with each part's method)."""
            return await run_job(studio, "complete_parts", pipeline, {"mesh": mesh}, output_format, progress, request)

        job_event(button.click, complete_parts, [mesh, pipeline, output_format], [viewer, download, metadata],
                  "complete_parts")
