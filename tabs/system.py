"""System tab: devices, memory, resident pipelines, queue (`/system_status`) and pipelines (`/list_pipelines`).

The GPU manager's view is also shown as a table: per device its budget and use, and each resident
pipeline with its measured sizes, tier, in-use flag and last use; then the worker processes, and the
models' environments with the command that installs each missing one.
"""

from __future__ import annotations

import gradio as gr

from queueing.studio import Studio

from .common import user_of


def memory_report(memory: dict) -> str:
    """The GPU manager's status as Markdown: per device budget and use, then its resident pipelines."""
    lines = [f"**GPU manager** - loads {memory['loads']}, transfers {memory['transfers']}, "
             f"evictions {memory['evictions']}, out-of-memory retries {memory['oom_retries']} "
             f"(failed {memory['oom_failures']}), time-outs {memory['timeouts']}, "
             f"offloaded runs {memory['offloaded_runs']}, moved onto GPUs {memory['bytes_moved_gib']} GiB, "
             f"jobs waiting for memory {memory['waiting']}" + (" - ZeroGPU Space" if memory["zero_gpu"] else "")]
    for device in memory["devices"]:
        lines += ["", f"**{device['name']}** ({device['kind']}): {device['used_gib']} of {device['budget_gib']} GiB "
                      f"budget in use ({device['working_gib']} GiB working memory), total {device['total_gib']} GiB"]
        if not device["resident"]:
            lines.append("nothing resident")
            continue
        lines += ["", "| pipeline | tier | weights GiB | peak GiB | measured | in use | last use | loads | evictions |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in device["resident"]:
            lines.append(f"| {r['pipeline']} | {r['tier']} | {r['weights_gib']} | {r['peak_gib']} | "
                         f"{', '.join(r['measured']) or 'declared'} | {'yes' if r['in_use'] else 'no'} | "
                         f"{r['last_used_s_ago']} s ago | {r['loads']} | {r['evictions']} |")
    return "\n".join(lines)


def models_report(models: list[dict]) -> str:
    """The models' environments as Markdown: installed or not (with the command that installs it), disk, licence."""
    lines = ["**Models** (each in an environment of its own; `python app.py models list`)", "",
             "| model | features | VRAM GiB | installed | licence |", "| --- | --- | --- | --- | --- |"]
    for m in models:
        state = f"yes, {m['disk_gib']} GiB on disk" if m["installed"] else f"no: `{m['command']}`"
        lines.append(f"| {m['label']} | {', '.join(m['features'])} | {m['vram_gib']:g} | {state} | "
                     f"{m['licence']} ({m['licence_applies']}) |")
    return "\n".join(lines)


def workers_report(workers: list[dict]) -> str:
    """The worker processes as Markdown: what each runs, its process id and whether it is busy."""
    lines = ["**Worker processes**", "", "| worker | pid | state | jobs |", "| --- | --- | --- | --- |"]
    for w in workers:
        state = "busy" if w["busy"] else ("idle" if w["alive"] else "not started")
        lines.append(f"| {w['worker']} | {w['pid'] or '-'} | {state} | {w['jobs']} |")
    return "\n".join(lines)


def build(studio: Studio, demo: gr.Blocks) -> None:
    def system_status(request: gr.Request = None) -> dict:
        """Devices with budget and use, resident pipelines, worker processes, the job pools and your recent jobs."""
        status = studio.status(user_of(request))
        pools = status["pools"]
        return {
            **status,
            "queue": {
                "waiting": sum(p["waiting"] for p in pools.values()),
                "running": sum(p["running"] for p in pools.values()),
                "max_size": studio.queue_size,
                "gpu_slots": pools["gpu"]["slots"],
                "cpu_slots": pools["cpu"]["slots"],
            },
        }

    def list_pipelines() -> dict:
        """Per feature, every pipeline with its availability and the reason when unavailable."""
        return studio.registry.listing()

    def memory_view() -> str:
        return "\n\n".join([memory_report(studio.manager.status()), workers_report(studio.supervisor.workers()),
                            models_report(studio.models())])

    with gr.Tab("System", id="system"):
        with gr.Row():
            refresh = gr.Button("Refresh")
        memory = gr.Markdown()
        with gr.Row():
            status = gr.JSON(label="Devices, memory and queue")
            pipelines = gr.JSON(label="Pipelines")
        refresh.click(system_status, None, status, api_name="system_status", concurrency_id="status", concurrency_limit=None)
        refresh.click(list_pipelines, None, pipelines, api_name="list_pipelines", concurrency_id="status", concurrency_limit=None)
        refresh.click(memory_view, None, memory, api_visibility="private", concurrency_id="status", concurrency_limit=None)
        demo.load(system_status, None, status, api_visibility="private", concurrency_id="status", concurrency_limit=None)
        demo.load(memory_view, None, memory, api_visibility="private", concurrency_id="status", concurrency_limit=None)
        demo.load(list_pipelines, None, pipelines, api_visibility="private", concurrency_id="status", concurrency_limit=None)
