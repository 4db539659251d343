"""Gradio queue pools: every GPU-bound event shares one "gpu" pool; CPU work has its own.

The pool sizes come from the CLI (`--gpu-slots`, `--cpu-slots`); tabs ask for the
keyword arguments here instead of naming pools themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

GPU_POOL = "gpu"
CPU_POOL = "cpu"


@dataclass(frozen=True)
class Pools:
    gpu_slots: int = 1
    cpu_slots: int = 2

    def gpu(self) -> dict:
        return {"concurrency_id": GPU_POOL, "concurrency_limit": self.gpu_slots}

    def cpu(self) -> dict:
        return {"concurrency_id": CPU_POOL, "concurrency_limit": self.cpu_slots}

    def queue_kwargs(self, max_size: int) -> dict:
        # api_open=False closes the synchronous /gradio_api/run/ route that skips the queue.
        return {"max_size": max_size, "api_open": False, "default_concurrency_limit": 1}
