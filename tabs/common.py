"""UI pieces every feature tab shares: pickers, the result panel, and the job call."""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr

from pipelines.errors import InputError, PipelineUnavailable
from pipelines.mesh.export import OUTPUT_FORMATS
from pipelines.mesh.io import MESH_FORMATS
from queueing.gpu_manager import DeviceOutOfMemory
from queueing.studio import Studio

log = logging.getLogger("studio")

# Example inputs shipped with the app; the only repo folder the file route may serve.
ASSETS = Path(__file__).resolve().parents[1] / "assets"

MESH_FILE_TYPES = [f".{f}" for f in MESH_FORMATS]


def pipeline_picker(studio: Studio, feature: str) -> gr.Dropdown:
    names = studio.registry.names(feature)
    return gr.Dropdown(["auto", *names], value="auto", label="Pipeline", info="'auto' picks the best one available here")


def format_picker(formats: tuple[str, ...] = OUTPUT_FORMATS) -> gr.Dropdown:
    return gr.Dropdown(list(formats), value="glb", label="Output format")


def mesh_upload(label: str = "Mesh") -> gr.File:
    return gr.File(label=f"{label} (glb, gltf, obj, ply, stl, off, or a .zip with obj + mtl + textures)",
                   file_types=MESH_FILE_TYPES, type="filepath")


def result_panel() -> tuple[gr.Model3D, gr.File, gr.JSON]:
    viewer = gr.Model3D(label="Result", clear_color=(0.92, 0.92, 0.94, 1.0), height=480)
    download = gr.File(label="Download")
    metadata = gr.JSON(label="Metadata")
    return viewer, download, metadata


def run_job(studio: Studio, feature: str, pipeline: str, inputs: dict, output_format: str, progress) -> tuple:
    """Run through the studio; any failure becomes a gr.Error that says what to change."""
    def report(fraction: float, description: str) -> None:
        progress(fraction, desc=description)

    try:
        return studio.run_job(feature, pipeline, inputs, output_format or "glb", report)
    except (InputError, PipelineUnavailable, TimeoutError, DeviceOutOfMemory) as exc:
        raise gr.Error(str(exc), print_exception=False) from exc
    except MemoryError as exc:
        raise gr.Error("The machine ran out of memory for this job; try a smaller input or lower quality settings.") from exc
    except Exception as exc:
        raise gr.Error(f"The job failed ({type(exc).__name__}: {exc}). Nothing you uploaded was lost; "
                       "check the inputs or try another pipeline.") from exc
