"""Which way is up: +Y (glTF) or +Z (Blender, CAD tools, many generators), and turning a scene +Y up.

Features that assume an up direction (rigging, the painting views) take `up_axis`: "+Y", "+Z" or
"auto". Auto tries both and keeps the one the shape stands on, scoring each candidate by cues that
do not depend on scale:
- stability: the centre of mass lies over the ground contact (the convex hull of the surface
  within 2% of the size of the lowest point), measured as the tangent of the tipping angle;
- stance: the ground contact is two or more separate pieces (feet, legs, wheels) rather than one
  patch (a back, a bumper);
- height: a standing character is taller than it is deep; a lying one is not.
When the scores are close, +Y (glTF's convention) is kept with a warning. Outputs are always +Y up:
a +Z-up scene is turned -90 degrees about X, so its -Y front faces +Z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from .io import flatten

UP_AXES = ("auto", "+Y", "+Z")
AXIS_INDEX = {"+Y": 1, "+Z": 2}
# (x, y, z) -> (x, z, -y): +Z up becomes +Y up, a -Y front becomes a +Z front.
Z_UP_TO_Y_UP = trimesh.transformations.rotation_matrix(-np.pi / 2, [1.0, 0.0, 0.0])
GROUND_BAND = 0.02  # share of the size: surface this close to the lowest point touches the ground
SAMPLES = 20_000
DOUBTFUL_MARGIN = 0.5  # scores closer than this leave the answer in doubt


@dataclass
class UpAxis:
    """The up axis used, whether it was detected, how sure that was, and the cues per candidate."""

    axis: str
    requested: str
    scores: dict
    doubtful: bool = False
    found_by: str = "shape"  # or what settled a doubtful case (the rigger: "humanoid fit")

    def metadata(self) -> dict:
        out = {"up_axis": self.axis, "up_axis_requested": self.requested}
        if self.requested == "auto":
            out |= {"up_axis_scores": self.scores, "up_axis_found_by": self.found_by}
        return out

    def settled(self, axis: str, found_by: str) -> "UpAxis":
        """`axis` taken because `found_by` settled a doubtful detection."""
        return UpAxis(axis, self.requested, self.scores, False, found_by)

    def warnings(self) -> list[str]:
        if self.found_by != "shape":
            return [f"The up axis was hard to tell from the shape; {self.axis} was taken because a standing "
                    f"character fits that way (the {self.found_by})."]
        if not self.doubtful:
            return []
        return ["The up axis was hard to tell, so the mesh was taken as +Y up (glTF's convention); if the result "
                "lies on its side, set up_axis to +Z."]


def stance_cues(points: np.ndarray, axis: int) -> dict:
    """Stability, number of ground contacts and relative height of `points` standing along `axis`."""
    others = [i for i in range(3) if i != axis]
    size = float(np.ptp(points, axis=0).max())
    height = points[:, axis] - points[:, axis].min()
    contact = points[height <= GROUND_BAND * size][:, others]
    centre = points.mean(axis=0)
    lift = max(float(centre[axis] - points[:, axis].min()), 1e-12 * size)
    try:
        hull = ConvexHull(contact)
        margin = -float((hull.equations[:, :2] @ centre[others] + hull.equations[:, 2]).max())
    except (QhullError, ValueError):  # a point or a line of contact: it balances on an edge at best
        margin = -float(np.linalg.norm(contact.mean(axis=0) - centre[others]))
    return {
        "tip": round(margin / lift, 3),
        "contacts": contact_pieces(contact, 2 * GROUND_BAND * size),
        "height": round(float(np.ptp(points[:, axis])) / size, 3),
    }


def contact_pieces(points: np.ndarray, cell: float) -> int:
    """Separate pieces of ground contact (feet, wheels): connected cells of a 2D grid, crumbs ignored."""
    cells = np.floor((points - points.min(axis=0)) / cell).astype(np.int64)
    grid = np.zeros(cells.max(axis=0) + 1, dtype=bool)
    grid[cells[:, 0], cells[:, 1]] = True
    labels, count = ndimage.label(grid, structure=np.ones((3, 3)))
    sizes = np.bincount(labels[cells[:, 0], cells[:, 1]], minlength=count + 1)[1:]
    return int((sizes >= 0.05 * sizes.max()).sum())


def stance_score(cues: dict) -> float:
    """Standing (not tipping over) counts most, then standing on separate feet, then height."""
    stable = cues["tip"] > -0.02
    return 2.0 * stable + 1.0 * (stable and cues["contacts"] >= 2) + cues["height"] + 0.3 * float(np.clip(cues["tip"], -1, 1))


def detect_up(mesh: trimesh.Trimesh) -> UpAxis:
    """+Y or +Z, whichever the shape stands on better (see the module docstring)."""
    if len(mesh.faces) and mesh.area > 0:
        points, _ = trimesh.sample.sample_surface(mesh, SAMPLES, seed=0)
    else:
        points = np.asarray(mesh.vertices, dtype=float)
    if len(points) < 4 or float(np.ptp(points, axis=0).max()) <= 0:
        return UpAxis("+Y", "auto", {}, doubtful=True)
    cues = {name: stance_cues(points, index) for name, index in AXIS_INDEX.items()}
    scores = {name: round(stance_score(c), 3) for name, c in cues.items()}
    doubtful = abs(scores["+Y"] - scores["+Z"]) < DOUBTFUL_MARGIN
    best = "+Y" if doubtful else max(scores, key=scores.get)  # in doubt, glTF's own convention
    return UpAxis(best, "auto", {name: {**cues[name], "score": scores[name]} for name in cues}, doubtful)


def resolve_up(scene: trimesh.Scene, requested: str) -> UpAxis:
    """`requested` ("+Y", "+Z", or "auto": detected on the scene's geometry)."""
    if requested != "auto":
        return UpAxis(requested, requested, {})
    return detect_up(flatten(scene))


def turn_y_up(scene: trimesh.Scene, up: UpAxis) -> trimesh.Scene:
    """The scene +Y up (turned in place when it was +Z up)."""
    if up.axis == "+Z":
        scene.apply_transform(Z_UP_TO_Y_UP)
    return scene
