"""System tab: devices, memory, resident pipelines, queue (`/system_status`) and pipelines (`/list_pipelines`)."""

from __future__ import annotations

import gradio as gr

from queueing.studio import Studio


def build(studio: Studio, demo: gr.Blocks) -> None:
    def system_status() -> dict:
        """Devices with budget and use, resident pipelines, queue length and recent jobs."""
        queue = getattr(demo, "_queue", None)  # Gradio keeps its queue private; read-only use here
        return {
            **studio.status(),
            "queue": {
                "waiting": len(queue) if queue is not None else 0,
                "max_size": studio.queue_size,
                "gpu_slots": studio.pools.gpu_slots,
                "cpu_slots": studio.pools.cpu_slots,
            },
        }

    def list_pipelines() -> dict:
        """Per feature, every pipeline with its availability and the reason when unavailable."""
        return studio.registry.listing()

    with gr.Tab("System", id="system"):
        with gr.Row():
            refresh = gr.Button("Refresh")
        with gr.Row():
            status = gr.JSON(label="Devices, memory and queue")
            pipelines = gr.JSON(label="Pipelines")
        refresh.click(system_status, None, status, api_name="system_status", concurrency_id="status", concurrency_limit=None)
        refresh.click(list_pipelines, None, pipelines, api_name="list_pipelines", concurrency_id="status", concurrency_limit=None)
        demo.load(system_status, None, status, api_visibility="private", concurrency_id="status", concurrency_limit=None)
        demo.load(list_pipelines, None, pipelines, api_visibility="private", concurrency_id="status", concurrency_limit=None)
