"""Where generated assets stand: every generator puts its output on the ground the same way."""

from __future__ import annotations

import numpy as np


def ground_offset(bounds: np.ndarray) -> np.ndarray:
    """Translation that stands an asset with these (2, 3) bounds on the ground of glTF's +Y-up frame:
    lowest point at y = 0 and the bounding box centred on the vertical axis (x = z = 0)."""
    low, high = np.asarray(bounds, dtype=np.float64)
    return -np.array([(low[0] + high[0]) / 2, low[1], (low[2] + high[2]) / 2])
