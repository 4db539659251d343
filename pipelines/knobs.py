"""Quality knobs of a request, checked the same way for every feature."""

from __future__ import annotations

from .errors import InputError
from .mesh.up_axis import UP_AXES


def checked_knobs(inputs: dict, defaults: dict, limits: dict, choices: dict | None = None) -> dict:
    """The keys of `defaults` read from `inputs`: missing ones defaulted, numbers range-checked, choices checked.

    Each value takes its default's type, so a number sent as text by a script still works.
    """
    choices = choices or {}
    out = {}
    for key, default in defaults.items():
        value = inputs.get(key)
        if value is None or value == "":
            value = default
        if isinstance(default, bool):
            out[key] = bool(value)
        elif key in choices:
            if value not in choices[key]:
                raise InputError(f"{key} must be one of {', '.join(choices[key])}; got {value!r}.")
            out[key] = value
        else:
            try:
                value = type(default)(value)
            except (TypeError, ValueError) as exc:
                raise InputError(f"{key} must be a number; got {value!r}.") from exc
            low, high = limits[key]
            if not low <= value <= high:
                raise InputError(f"{key} must be between {low:,} and {high:,}; got {value:,}.")
            out[key] = value
    return out


def up_axis_knob(inputs: dict) -> str:
    """The `up_axis` knob of features that assume an up direction: "auto" (detected), "+Y" or "+Z"."""
    return checked_knobs(inputs, {"up_axis": "auto"}, {}, {"up_axis": UP_AXES})["up_axis"]
