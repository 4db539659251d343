"""Errors that carry a message meant for the user.

Pipelines and mesh helpers raise these; the tabs turn them into `gr.Error` so the
user sees what to change instead of a stack trace.
"""


class InputError(ValueError):
    """The request cannot be served as given (bad file, out-of-range value)."""


class PipelineUnavailable(RuntimeError):
    """The chosen pipeline cannot run here (missing package, weights or device)."""
