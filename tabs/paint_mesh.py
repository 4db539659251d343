"""Mesh painting tab (`/paint_mesh`): texture a mesh from reference photos and/or a prompt."""

from __future__ import annotations

import gradio as gr

from queueing.studio import Studio

from .common import (ASSETS, format_picker, job_event, mesh_upload, pipeline_picker, result_panel, run_job,
                     up_axis_picker)


def build(studio: Studio, demo: gr.Blocks) -> None:
    with gr.Tab("Paint mesh", id="paint_mesh"):
        gr.Markdown(
            "Paint a mesh without changing its geometry. With a reference image, the photo is projected from the "
            "front (add back, left and right views for the other sides; the object faces +Z with +Y up, *left* is "
            "the camera on your left as you face the front); the mesh's outline is fitted to the object in the photo "
            "(transparent background, or a plain one). With only a prompt, colour and material words pick a "
            "procedural material (wood, metal, stone, fabric, plastic, ceramic)."
        )
        with gr.Row():
            with gr.Column():
                mesh = mesh_upload()
                up_axis = up_axis_picker()
                prompt = gr.Textbox(value="", label="Prompt", placeholder="e.g. red glossy plastic, weathered oak wood")
                # image_mode=None passes the upload through as sent: forcing RGBA made Gradio fail to re-save a
                # JPEG ("cannot write mode RGBA as JPEG"), so every JPEG photo was refused; the pipeline reads alpha.
                image = gr.Image(label="Reference image (front)", type="filepath", image_mode=None)
                with gr.Accordion("More views (optional)", open=False):
                    with gr.Row():
                        back_image = gr.Image(label="Back", type="filepath", image_mode=None)
                        left_image = gr.Image(label="Left", type="filepath", image_mode=None)
                        right_image = gr.Image(label="Right", type="filepath", image_mode=None)
                pipeline = pipeline_picker(studio, "paint_mesh")
                texture_size = gr.Slider(512, 4096, value=1024, step=512, label="Texture size (pixels)")
                seed = gr.Number(value=0, precision=0, label="Seed", minimum=0, maximum=2**32 - 1)
                output_format = format_picker()
                button = gr.Button("Paint", variant="primary")
                gr.Examples(
                    [[str(ASSETS / "capsule.glb"), "weathered oak wood"],
                     [str(ASSETS / "colored_torus.ply"), "polished copper"],
                     [str(ASSETS / "textured_box.zip"), "blue denim fabric"]],
                    [mesh, prompt],
                    label="Examples (text-guided)",
                )
            with gr.Column():
                viewer, download, metadata = result_panel()

        async def paint_mesh(mesh, prompt="", image=None, pipeline="auto", texture_size=1024, seed=0, output_format="glb",
                       back_image=None, left_image=None, right_image=None, up_axis="auto",
                       request: gr.Request = None, progress=gr.Progress()):
            """Paint a mesh from a prompt and/or reference image(s); returns (viewer GLB, file, metadata)."""
            inputs = {"mesh": mesh, "prompt": prompt or "", "image": image, "back_image": back_image,
                      "left_image": left_image, "right_image": right_image, "texture_size": texture_size,
                      "seed": 0 if seed in (None, "") else int(seed), "up_axis": up_axis}
            return await run_job(studio, "paint_mesh", pipeline, inputs, output_format, progress, request)

        job_event(button.click, paint_mesh, [mesh, prompt, image, pipeline, texture_size, seed, output_format, back_image,
                                             left_image, right_image, up_axis], [viewer, download, metadata], "paint_mesh")
