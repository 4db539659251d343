"""The `/text_to_3d` request, checked once for every pipeline: the prompt and the quality knobs."""

from __future__ import annotations

import random
import unicodedata

from ..errors import InputError

MAX_PROMPT_CHARS = 500
DETAIL_LEVELS = ("low", "medium", "high")
DEFAULTS = {"seed": 0, "guidance": 15.0, "steps": 64, "detail": "medium", "textured": False}
LIMITS = {"seed": (-1, 2**32 - 1), "guidance": (0.0, 50.0), "steps": (1, 200)}


def check_prompt(prompt) -> str:
    """The prompt with surrounding whitespace removed; refuses empty, huge or binary-looking text."""
    if prompt is None or not isinstance(prompt, str) or not prompt.strip():
        raise InputError("The prompt is empty; describe the object, e.g. 'a red wooden chair'.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(
            f"The prompt has {len(prompt):,} characters; keep it under {MAX_PROMPT_CHARS} (one or two sentences)."
        )
    bad = sorted({c for c in prompt if c not in "\n\r\t" and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        raise InputError(f"The prompt contains control or invisible characters ({shown}); type plain text only.")
    return " ".join(prompt.split())


def options(inputs: dict) -> dict:
    """Prompt and knobs with defaults filled in and ranges checked."""
    return {"prompt": check_prompt(inputs.get("prompt")), **knobs(inputs)}


def knobs(inputs: dict, defaults: dict = DEFAULTS) -> dict:
    """The quality knobs in `defaults` with defaults filled in and ranges checked; seed -1 draws a random seed."""
    out = {}
    for key, default in defaults.items():
        value = inputs.get(key)
        if value is None or value == "":
            value = default
        if isinstance(default, bool):
            out[key] = bool(value)
        elif key == "detail":
            if value not in DETAIL_LEVELS:
                raise InputError(f"detail must be one of {', '.join(DETAIL_LEVELS)}; got {value!r}.")
            out[key] = value
        else:
            try:
                value = type(default)(value)
            except (TypeError, ValueError) as exc:
                raise InputError(f"{key} must be a number; got {value!r}.") from exc
            low, high = LIMITS[key]
            if not low <= value <= high:
                raise InputError(f"{key} must be between {low:,} and {high:,}; got {value:,}.")
            out[key] = value
    if out["seed"] == -1:
        out["seed"] = random.randrange(2**32)
    return out
