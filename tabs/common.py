"""UI pieces every feature tab shares: pickers, the result panel, and the job call."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from pathlib import Path

import gradio as gr

from pipelines.errors import InputError, PipelineUnavailable, scrub_paths
from pipelines.mesh.export import OUTPUT_FORMATS
from pipelines.mesh.io import MESH_FORMATS
from pipelines.mesh.up_axis import UP_AXES
from queueing.gpu_manager import DeviceOutOfMemory
from queueing.limits import LimitExceeded
from queueing.pools import QueueFull
from queueing.supervisor import JobError
from queueing.studio import Job, Studio

log = logging.getLogger("studio")

# Example inputs shipped with the app; the only repo folder the file route may serve.
ASSETS = Path(__file__).resolve().parents[1] / "assets"

USER_ERRORS = (InputError, PipelineUnavailable, TimeoutError, DeviceOutOfMemory, QueueFull, JobError, LimitExceeded)

MESH_FILE_TYPES = [f".{f}" for f in MESH_FORMATS]


def job_event(trigger, fn, inputs: list, outputs: list, api_name: str, **options):
    """Wire a job endpoint: `trigger` (a `.click` or `.submit`) runs `fn` on `inputs` that refuse bad values by name.

    Job events run unthrottled in Gradio's queue: jobs wait in the studio's own pools instead,
    where a waiting job already has a record and an id (queueing.pools).
    """
    return trigger(fn, checked_inputs(fn, inputs), outputs, api_name=api_name, concurrency_limit=None, **options)


def checked_inputs(fn, components: list) -> list:
    """`components`, each refusing a value it cannot take with a message that names `fn`'s parameter for it.

    Scripts can send anything; Gradio's own refusals ("Could not preprocess input component at index 2")
    name neither the parameter nor what it takes.
    """
    params = [p for p in inspect.signature(fn).parameters if p not in ("request", "progress")]
    for param, component in zip(params, components):
        preprocess = component.preprocess

        def checked(payload, preprocess=preprocess, param=param, component=component):
            try:
                value = preprocess(payload)
                if isinstance(component, gr.Checkbox) and not isinstance(value, bool):
                    raise TypeError(param)
                return value
            except Exception as exc:  # noqa: BLE001 - every refusal becomes a message
                if isinstance(component, (gr.File, gr.Image)):  # Gradio's word on a file is clear; never echo its path
                    reason = exc.message if isinstance(exc, gr.Error) else expected(component)
                    raise gr.Error(scrub_paths(f"{param}: {reason}"), print_exception=False) from exc
                raise gr.Error(f"{param} {expected(component)}; got {shown(payload)}.", print_exception=False) from exc

        component.preprocess = checked
    return components


def expected(component) -> str:
    """What a component takes, in words."""
    if isinstance(component, (gr.Number, gr.Slider)):
        whole = getattr(component, "precision", None) == 0 or float(getattr(component, "step", 0.5) or 0.5).is_integer()
        low, high = component.minimum, component.maximum
        kind = "a whole number" if whole else "a number"
        if low is not None and high is not None:
            return f"must be {kind} from {number(low)} to {number(high)}"
        return f"must be {kind}"
    if isinstance(component, (gr.Dropdown, gr.Radio)):
        return "must be one of: " + ", ".join(str(value) for _, value in component.choices)
    if isinstance(component, gr.Checkbox):
        return "must be true or false"
    if isinstance(component, (gr.File, gr.Image)):
        return "must be a file uploaded with the request"
    return "must be text"


def number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def shown(value) -> str:
    """A short, printable rendering of a value a client sent."""
    text = repr(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 60 else text[:57] + "..."


def pipeline_picker(studio: Studio, feature: str) -> gr.Dropdown:
    names = studio.registry.names(feature)
    return gr.Dropdown(["auto", *names], value="auto", label="Pipeline", info="'auto' picks the best one available here")


def format_picker(formats: tuple[str, ...] = OUTPUT_FORMATS) -> gr.Dropdown:
    return gr.Dropdown(list(formats), value="glb", label="Output format")


def up_axis_picker() -> gr.Radio:
    """Which axis the uploaded mesh stands along; results are always +Y up (glTF)."""
    return gr.Radio(list(UP_AXES), value="auto", label="Up axis of the upload",
                    info="auto detects it; +Z for meshes from Blender, CAD tools and some generators. "
                         "Results are always +Y up.")


def mesh_upload(label: str = "Mesh") -> gr.File:
    return gr.File(label=f"{label} (glb, gltf, obj, ply, stl, off, fbx, usd/usda/usdc/usdz, or a .zip with obj + mtl + textures)",
                   file_types=MESH_FILE_TYPES, type="filepath")


def result_panel() -> tuple[gr.Model3D, gr.File, gr.JSON]:
    viewer = gr.Model3D(label="Result", clear_color=(0.92, 0.92, 0.94, 1.0), height=480)
    download = gr.File(label="Download")
    metadata = gr.JSON(label="Metadata")
    return viewer, download, metadata


def refusal(exc: BaseException, job_id: str | None = None) -> gr.Error:
    """The message a user sees for a job that could not run; internal details stay in the server log.

    Failures that are not about the input name the job, whose record and log entry say more.
    """
    if isinstance(exc, USER_ERRORS):
        message = str(exc)
    elif isinstance(exc, MemoryError):
        message = "The machine ran out of memory for this job; try a smaller input or lower quality settings."
    else:
        message = ("The job failed with an internal error; it is in the server log. Nothing you uploaded was lost; "
                   "check the inputs or try another pipeline.")
    if job_id and not isinstance(exc, (InputError, PipelineUnavailable)):
        message = f"{message} (job {job_id})"
    return gr.Error(scrub_paths(message), print_exception=False)


def user_of(request: gr.Request | None) -> str | None:
    """The account a request comes from (None without accounts)."""
    return getattr(request, "username", None) if request is not None else None


def client_of(studio: Studio, request: gr.Request | None) -> str | None:
    """Whom the request counts against for the per-client limits (None: a call from inside the process)."""
    if request is None:
        return None
    peer = getattr(getattr(request, "client", None), "host", None)
    return studio.client_id(user_of(request), peer, request.headers.get("x-forwarded-for"))


async def run_job(studio: Studio, feature: str, pipeline: str, inputs: dict, output_format: str, progress,
                  request: gr.Request | None = None) -> tuple:
    """Submit a job for the request's user and wait for its outputs: (viewer GLB, file in `output_format`, metadata)."""
    try:
        job = studio.submit(feature, pipeline, inputs, output_format or "glb", user_of(request),
                            client_of(studio, request))
    except Exception as exc:  # noqa: BLE001 - every refusal becomes a message
        raise refusal(exc) from exc
    return await run_accepted(studio, job, progress)


async def run_accepted(studio: Studio, job: Job, progress) -> tuple:
    """Wait for an accepted job without holding a server thread; progress and the job id reach the client.

    A client that cancels (gradio_client's `job.cancel()`) cancels the job: a running
    one has its worker killed.
    """
    def report(fraction: float, description: str) -> None:
        """Every message names the job, so a script can learn its id whenever it first looks."""
        prefix = f"job {job.id}: "
        progress(fraction, desc=description if description.startswith(prefix) else prefix + description)

    report(0.0, "queued")
    # gr.Progress finds its event through context variables: the job's thread runs in a copy of this context.
    context = contextvars.copy_context()
    running = asyncio.get_running_loop().run_in_executor(studio.executor, context.run, studio.execute, job, report)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        studio.cancel(job.id)
        running.add_done_callback(lambda done: done.exception())  # its end is in the job store; nobody awaits it
        raise
    except Exception as exc:  # noqa: BLE001
        raise refusal(exc, job.id) from exc
