"""Text to 3D tab (`/text_to_3d`): a prompt in, a coloured or textured mesh out.

The pipeline picker lists every registered text-to-3D pipeline; "auto" takes a
real model when its weights are on the machine and the built-in generator
otherwise. The prompt is checked here, before a pipeline is chosen, so a bad
prompt gets its own message whatever the machine has installed.
"""

from __future__ import annotations

import gradio as gr

from pipelines.errors import InputError
from pipelines.text_to_3d.options import DEFAULTS, DETAIL_LEVELS, LIMITS, MAX_PROMPT_CHARS, check_prompt
from queueing.studio import Studio

from .common import format_picker, job_event, pipeline_picker, result_panel, run_job

EXAMPLES = [
    "a red wooden chair",
    "a small cactus in a clay pot",
    "a blue ceramic teapot",
    "a mossy grey boulder",
    "a yellow toy car",
    "a wooden treasure chest with metal bands",
]


def build(studio: Studio, demo: gr.Blocks) -> None:
    with gr.Tab("Text to 3D", id="text_to_3d"):
        gr.Markdown("Describe one object; get a mesh with colours (or a baked texture). "
                    "Colour, material and size words in the prompt are used where the pipeline supports them.")
        with gr.Row():
            with gr.Column():
                prompt = gr.Textbox(label="Prompt", placeholder="a red wooden chair", lines=2,
                                    max_length=MAX_PROMPT_CHARS)
                pipeline = pipeline_picker(studio, "text_to_3d")
                textured = gr.Checkbox(value=DEFAULTS["textured"], label="Textured (UV atlas); off gives vertex colours")
                with gr.Accordion("Quality", open=False):
                    seed = gr.Number(value=DEFAULTS["seed"], precision=0, label="Seed (-1 draws a random one)",
                                     minimum=LIMITS["seed"][0], maximum=LIMITS["seed"][1])
                    guidance = gr.Slider(*LIMITS["guidance"], value=DEFAULTS["guidance"], step=0.5,
                                         label="Guidance (diffusion models)")
                    steps = gr.Slider(*LIMITS["steps"], value=DEFAULTS["steps"], step=1, label="Steps (diffusion models)")
                    detail = gr.Radio(list(DETAIL_LEVELS), value=DEFAULTS["detail"], label="Detail (mesh resolution)")
                output_format = format_picker()
                button = gr.Button("Generate", variant="primary")
                gr.Examples([[text] for text in EXAMPLES], [prompt], label="Example prompts")
            with gr.Column():
                viewer, download, metadata = result_panel()

        async def text_to_3d(prompt, pipeline="auto", seed=DEFAULTS["seed"], guidance=DEFAULTS["guidance"],
                       steps=DEFAULTS["steps"], detail=DEFAULTS["detail"], textured=DEFAULTS["textured"],
                       output_format="glb", request: gr.Request = None, progress=gr.Progress()):
            """Generate a mesh from a text prompt.

            Returns (viewer GLB, file in `output_format`, metadata with the pipeline, seed, parameters,
            per-stage timings and warnings). seed -1 draws a random seed (the metadata says which).
            """
            try:
                prompt = check_prompt(prompt)
            except InputError as exc:
                raise gr.Error(str(exc), print_exception=False) from exc
            inputs = {"prompt": prompt, "seed": seed, "guidance": guidance, "steps": steps, "detail": detail,
                      "textured": textured}
            return await run_job(studio, "text_to_3d", pipeline, inputs, output_format, progress, request)

        job_event(button.click, text_to_3d, [prompt, pipeline, seed, guidance, steps, detail, textured, output_format],
                  [viewer, download, metadata], "text_to_3d")
