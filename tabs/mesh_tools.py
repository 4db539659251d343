"""Mesh tools tab: repair, decimate, convert (`/convert_mesh`)."""

from __future__ import annotations

import gradio as gr

from queueing.studio import Studio

from .common import ASSETS, format_picker, job_event, mesh_upload, result_panel, run_job


def build(studio: Studio, demo: gr.Blocks) -> None:
    with gr.Tab("Mesh tools", id="mesh_tools"):
        gr.Markdown("Repair, decimate and convert a mesh. Textures, UVs and vertex colours are kept where the format holds them.")
        with gr.Row():
            with gr.Column():
                mesh = mesh_upload()
                repair = gr.Checkbox(value=True, label="Repair (merge vertices, drop bad faces, fill small holes, fix normals)")
                # The browser's Number sends 0 when empty; the click's js turns that into None (keep
                # every face), so the UI never trips the API's refusal of target_faces=0.
                target_faces = gr.Number(value=None, precision=0, minimum=0, label="Target faces (0 keeps every face)")
                output_format = format_picker()
                button = gr.Button("Convert", variant="primary")
                gr.Examples(
                    [[str(ASSETS / "textured_box.zip"), "glb", None, True],
                     [str(ASSETS / "colored_torus.ply"), "ply", 400, True],
                     [str(ASSETS / "capsule.glb"), "usdz", None, False]],
                    [mesh, output_format, target_faces, repair],
                    label="Examples (textured OBJ in a zip, coloured PLY, GLB)",
                )
            with gr.Column():
                viewer, download, metadata = result_panel()

        async def convert_mesh(mesh, output_format="glb", target_faces=None, repair=True,
                               request: gr.Request = None, progress=gr.Progress()):
            """Repair, decimate and convert a mesh; returns (viewer GLB, converted file, metadata)."""
            inputs = {"mesh": mesh, "target_faces": None if target_faces in (None, "") else int(target_faces),
                      "repair": bool(repair)}
            return await run_job(studio, "convert_mesh", "builtin", inputs, output_format, progress, request)

        job_event(button.click, convert_mesh, [mesh, output_format, target_faces, repair], [viewer, download, metadata],
                  "convert_mesh", js="(mesh, fmt, faces, repair) => [mesh, fmt, faces ? faces : null, repair]")
