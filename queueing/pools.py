"""Job slots: GPU-bound jobs share the "gpu" pool, CPU-only ones the "cpu" pool, first come first served.

The studio admits a job (or refuses it at once when `max_waiting` jobs already
wait), records it as queued, and then waits here for a slot. Waiting here rather
than in Gradio's queue is what lets a queued job have a record and an id, survive
a restart as "interrupted", and be cancelled by id. The pool sizes come from the
CLI (`--gpu-slots`, `--cpu-slots`).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from pipelines.base import Pipeline

from .supervisor import JobContext

GPU_POOL = "gpu"
CPU_POOL = "cpu"


class QueueFull(RuntimeError):
    """Too many jobs are waiting; the message says so and when to retry."""


@dataclass(eq=False)
class Ticket:
    pool: str
    number: int
    admitted: bool = False


@dataclass
class Pools:
    gpu_slots: int = 1
    cpu_slots: int = 2
    max_waiting: int = 16
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _waiting: dict = field(default_factory=lambda: {GPU_POOL: deque(), CPU_POOL: deque()}, repr=False)
    _running: dict = field(default_factory=lambda: {GPU_POOL: 0, CPU_POOL: 0}, repr=False)
    _numbers: itertools.count = field(default_factory=itertools.count, repr=False)

    def size(self, pool: str) -> int:
        return max(1, self.gpu_slots if pool == GPU_POOL else self.cpu_slots)

    @staticmethod
    def pool_for(pipeline: Pipeline) -> str:
        return GPU_POOL if "cuda" in pipeline.devices else CPU_POOL

    def admit(self, pool: str) -> Ticket:
        """A place in `pool`'s line, or QueueFull when `max_waiting` jobs already wait across the pools."""
        with self._cond:
            waiting = sum(len(line) for line in self._waiting.values())
            if waiting >= self.max_waiting:
                raise QueueFull(f"The studio's queue is full ({waiting} jobs waiting). Try again in a minute.")
            ticket = Ticket(pool, next(self._numbers))
            self._waiting[pool].append(ticket)
            return ticket

    def wait(self, ticket: Ticket, job: JobContext, on_position: Callable[[int], None] | None = None) -> None:
        """Block until `ticket` holds a slot; reports its place in line as it changes; raises if cancelled."""
        reported = None
        with self._cond:
            while True:
                line = self._waiting[ticket.pool]
                position = line.index(ticket)
                if position == 0 and self._running[ticket.pool] < self.size(ticket.pool):
                    line.popleft()
                    self._running[ticket.pool] += 1
                    ticket.admitted = True
                    self._cond.notify_all()
                    return
                if job.cancelled.is_set():
                    line.remove(ticket)
                    self._cond.notify_all()
                    job.check()
                if on_position is not None and position != reported:
                    reported = position
                    on_position(position + 1)
                self._cond.wait(0.1)

    def leave(self, ticket: Ticket) -> None:
        """Give the slot back (or the place in line, for a job that never ran)."""
        with self._cond:
            if ticket.admitted:
                self._running[ticket.pool] -= 1
                ticket.admitted = False
            elif ticket in self._waiting[ticket.pool]:
                self._waiting[ticket.pool].remove(ticket)
            self._cond.notify_all()

    def status(self) -> dict:
        with self._cond:
            return {pool: {"slots": self.size(pool), "running": self._running[pool],
                           "waiting": len(self._waiting[pool])} for pool in (GPU_POOL, CPU_POOL)}
