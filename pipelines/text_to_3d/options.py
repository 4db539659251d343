"""The `/text_to_3d` request, checked once for every pipeline: the prompt and the quality knobs."""

from __future__ import annotations

import random
import unicodedata

from ..errors import InputError
from ..knobs import checked_knobs

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
    out = checked_knobs(inputs, defaults, LIMITS, {"detail": DETAIL_LEVELS})
    if out["seed"] == -1:
        out["seed"] = random.randrange(2**32)
    return out
