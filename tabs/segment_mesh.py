"""Part segmentation tab (`/segment_mesh`): split a mesh into named, coloured parts."""

from __future__ import annotations

import gradio as gr

from queueing.studio import Studio

from .common import ASSETS, format_picker, job_event, mesh_upload, pipeline_picker, result_panel, run_job


def build(studio: Studio, demo: gr.Blocks) -> None:
    with gr.Tab("Segment mesh", id="segment_mesh"):
        gr.Markdown(
            "Split a mesh into connected parts, cutting along concave creases first. The result has one node per "
            "part (`part_00` is the largest) in its own colour; the metadata holds the part label of every face."
        )
        with gr.Row():
            with gr.Column():
                mesh = mesh_upload()
                num_parts = gr.Slider(2, 32, value=4, step=1, label="Number of parts")
                pipeline = pipeline_picker(studio, "segment_mesh")
                output_format = format_picker()
                button = gr.Button("Segment", variant="primary")
                gr.Examples([[str(ASSETS / "capsule.glb"), 3], [str(ASSETS / "colored_torus.ply"), 6],
                             [str(ASSETS / "figure.glb"), 6]],
                            [mesh, num_parts], label="Examples")
            with gr.Column():
                viewer, download, metadata = result_panel()

        async def segment_mesh(mesh, num_parts=4, pipeline="auto", output_format="glb",
                               request: gr.Request = None, progress=gr.Progress()):
            """Segment a mesh into num_parts (2-32) parts; returns (viewer GLB, file, metadata with per-face labels)."""
            inputs = {"mesh": mesh, "num_parts": num_parts}
            return await run_job(studio, "segment_mesh", pipeline, inputs, output_format, progress, request)

        job_event(button.click, segment_mesh, [mesh, num_parts, pipeline, output_format], [viewer, download, metadata],
                  "segment_mesh")
