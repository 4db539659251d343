"""Image to 3D tab (`/image_to_3d`): a front photo, optional back/left/right views, a mesh out.

Images arrive as plain files, not through gr.Image, so every upload reaches
`pipelines.image_io.load_image` and a bad one gets a message that says what to
change (gr.Image would open it with PIL first and fail without one).
"""

from __future__ import annotations

import gradio as gr

from pipelines.image_to_3d.options import DEFAULTS, LIMITS
from queueing.studio import Studio

from .common import ASSETS, format_picker, job_event, pipeline_picker, result_panel, run_job, user_of

IMAGE_HINT = "PNG, JPEG or WebP; transparency is used as the mask"


def image_upload(label: str) -> gr.File:
    return gr.File(label=f"{label} ({IMAGE_HINT})", type="filepath")


def build(studio: Studio, demo: gr.Blocks) -> None:
    with gr.Tab("Image to 3D", id="image_to_3d"):
        gr.Markdown(
            "A photo or render of one object in, a closed mesh out. Add back, left and right views for "
            "multi-view reconstruction (left = taken after walking a quarter turn to your left around the object)."
        )
        with gr.Row():
            with gr.Column():
                front = image_upload("Front image")
                with gr.Accordion("More views (optional)", open=False):
                    back = image_upload("Back image")
                    left = image_upload("Left image")
                    right = image_upload("Right image")
                pipeline = pipeline_picker(studio, "image_to_3d")
                remove_background = gr.Checkbox(value=DEFAULTS["remove_background"],
                                                label="Remove background (when the image has no transparency)")
                textured = gr.Checkbox(value=DEFAULTS["textured"], label="Textured (UV atlas); off gives vertex colours")
                face_count = gr.Number(value=DEFAULTS["face_count"], precision=0, label="Face count",
                                       minimum=LIMITS["face_count"][0], maximum=LIMITS["face_count"][1])
                with gr.Accordion("Quality", open=False):
                    seed = gr.Number(value=DEFAULTS["seed"], precision=0, label="Seed",
                                     minimum=0, maximum=LIMITS["seed"][1])
                    steps = gr.Slider(*LIMITS["steps"], value=DEFAULTS["steps"], step=1, label="Steps (diffusion models)")
                    guidance = gr.Slider(*LIMITS["guidance"], value=DEFAULTS["guidance"], step=0.5,
                                         label="Guidance (diffusion models)")
                    octree_resolution = gr.Slider(*LIMITS["octree_resolution"], value=DEFAULTS["octree_resolution"],
                                                  step=32, label="Octree / voxel resolution")
                output_format = format_picker()
                button = gr.Button("Generate", variant="primary")
                toy = {view: str(ASSETS / f"toy_{view}.png") for view in ("front", "back", "left", "right")}
                gr.Examples(
                    [[toy["front"], None, None, None, True],
                     [str(ASSETS / "toy_photo.jpg"), None, None, None, True],
                     [toy["front"], toy["back"], toy["left"], toy["right"], True]],
                    [front, back, left, right, remove_background],
                    label="Examples (transparent PNG, photo on a backdrop, four views)",
                )
            with gr.Column():
                viewer, download, metadata = result_panel()
                seen = gr.Gallery(label="What the model saw (preprocessed views and masks)", columns=4, height=220)

        async def image_to_3d(front, back=None, left=None, right=None, pipeline="auto",
                        remove_background=DEFAULTS["remove_background"], seed=DEFAULTS["seed"],
                        steps=DEFAULTS["steps"], guidance=DEFAULTS["guidance"],
                        octree_resolution=DEFAULTS["octree_resolution"], face_count=DEFAULTS["face_count"],
                        textured=DEFAULTS["textured"], output_format="glb",
                        request: gr.Request = None, progress=gr.Progress()):
            """Reconstruct a mesh from a front image (and optional back/left/right views).

            Returns (viewer GLB, file in `output_format`, metadata); metadata["images"] names the
            preprocessed views and masks the pipeline used.
            """
            inputs = {"front": front, "back": back, "left": left, "right": right,
                      "remove_background": remove_background, "seed": seed, "steps": steps, "guidance": guidance,
                      "octree_resolution": octree_resolution, "face_count": face_count, "textured": textured}
            return await run_job(studio, "image_to_3d", pipeline, inputs, output_format, progress, request)

        event = job_event(button.click, image_to_3d,
                          [front, back, left, right, pipeline, remove_background, seed, steps, guidance,
                           octree_resolution, face_count, textured, output_format],
                          [viewer, download, metadata], "image_to_3d")
        def preprocessed_gallery(metadata: dict | None, request: gr.Request = None) -> list[tuple[str, str]]:
            """The images the model saw (cropped views and masks), looked up by the job's id.

            Only the id is read from the client's value: the paths are the studio's own, inside
            that job's folder, so no path a client sends is ever served.
            """
            metadata = metadata if isinstance(metadata, dict) else {}
            job_id, images = metadata.get("job_id"), metadata.get("images")
            if not isinstance(job_id, str) or not isinstance(images, dict):
                return []
            found = [(studio.job_file(job_id, name, user_of(request)), label) for label, name in images.items()]
            return [(str(path), label.replace("_", " ")) for path, label in found if path is not None]

        event.success(preprocessed_gallery, metadata, seen, api_visibility="private", queue=False)
