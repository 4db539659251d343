"""Errors that carry a message meant for the user.

Pipelines and mesh helpers raise these; the tabs turn them into `gr.Error` so the
user sees what to change instead of a stack trace. `scrub_paths` keeps where the
server keeps its files out of every message and record a client sees.
"""

import re
from typing import Any

# An absolute path (POSIX or Windows) of two or more parts, not inside a URL or a word.
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/\\])(?:[A-Za-z]:)?(?:[/\\][^\s'\"`()<>,;|]+){2,}")


class InputError(ValueError):
    """The request cannot be served as given (bad file, out-of-range value)."""


class PipelineUnavailable(RuntimeError):
    """The chosen pipeline cannot run here (missing package, weights or device)."""


def scrub_paths(value: Any) -> Any:
    """`value` with every absolute file path cut to its last part (strings inside dicts and lists too).

    Users see file names; where the server keeps them stays in the server's log.
    """
    if isinstance(value, str):
        return ABSOLUTE_PATH.sub(lambda m: re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], value)
    if isinstance(value, dict):
        return {k: scrub_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_paths(v) for v in value]
    return value
