"""Weights of a torch module packed into one pinned host buffer, so moving them to a GPU is one copy.

A module's parameters and buffers are many tensors; copying them one by one
onto a GPU pays a launch and a synchronisation per tensor, and copies from
pageable memory go through a staging buffer at a fraction of the bus speed.
`PinnedWeights` packs them once into a single page-locked buffer and points
the module at views of it. Moving to a GPU is then one non-blocking copy into
one device buffer; moving back is free, because inference never changes the
weights: the module simply points at the host views again, and the host
buffer is kept while the weights are on the GPU.

bench/gpu_swap.py measures it against `module.to`; a model's worker can use it
for the move between its warm state (weights in the worker's CPU memory) and
the device.
"""

from __future__ import annotations

from typing import Any

ALIGN = 512  # bytes; every tensor starts on a boundary any dtype can be viewed at


class PinnedWeights:
    """The storage of `module`'s weights: host views (pinned where CUDA exists) and, when placed, device views."""

    def __init__(self, module: Any, pin: bool | None = None):
        import torch

        self.module = module
        self.tensors = [t for t in [*module.parameters(), *module.buffers()]]
        offsets, total = [], 0
        for t in self.tensors:
            offsets.append(total)
            total += -(-t.numel() * t.element_size() // ALIGN) * ALIGN
        self.offsets, self.nbytes = offsets, total
        pin = torch.cuda.is_available() if pin is None else pin
        self.host = torch.empty(total, dtype=torch.uint8, pin_memory=pin)
        self.host_views = self._views(self.host)
        for t, view in zip(self.tensors, self.host_views):
            view.copy_(t.data.to("cpu"))
            t.data = view
        self.device_buffer = None
        self.device = "cpu"

    def _views(self, buffer) -> list:
        return [buffer[o:o + t.numel() * t.element_size()].view(t.dtype).view(t.shape)
                for t, o in zip(self.tensors, self.offsets)]

    def to(self, device: str) -> None:
        """Place the weights on `device` ("cuda:0") with one copy, or back on the host views ("cpu")."""
        import torch

        if str(device) == self.device:
            return
        if str(device) == "cpu":
            views, self.device_buffer = self.host_views, None
        else:
            buffer = torch.empty(self.nbytes, dtype=torch.uint8, device=device)
            buffer.copy_(self.host, non_blocking=True)
            torch.cuda.synchronize(buffer.device)
            views, self.device_buffer = self._views(buffer), buffer
        for t, view in zip(self.tensors, views):
            t.data = view
        self.device = str(device)
