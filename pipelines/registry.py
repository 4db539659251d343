"""The registry: every pipeline the studio knows, per feature.

Adding a model is one adapter module plus one line in `ENTRIES`. Modules are
imported here, but adapters import their heavy packages only in `load`, so
listing a pipeline costs nothing at start-up.
"""

from __future__ import annotations

import importlib
import threading

from .base import FEATURES, Pipeline
from .errors import InputError

# "module:Class", one line per pipeline.
ENTRIES: list[str] = [
    "pipelines.mesh_tools:MeshToolsPipeline",
    "pipelines.text_to_3d.builtin:BuiltinTextTo3D",
    "pipelines.image_to_3d.builtin:BuiltinImageTo3D",
    "pipelines.image_to_3d.hunyuan3d:Hunyuan3D2Mini",
    "pipelines.image_to_3d.hunyuan3d:Hunyuan3D2",
    "pipelines.image_to_3d.hunyuan3d:Hunyuan3D2MV",
    "pipelines.image_to_3d.hunyuan3d:Hunyuan3D21",
    "pipelines.rig.pipeline:BuiltinRigPipeline",
    "pipelines.complete.pipeline:BuiltinCompletionPipeline",
    "pipelines.paint.builtin:BuiltinPaintPipeline",
    "pipelines.paint.hunyuan3d_paint:Hunyuan3DPaintAdapter",
    "pipelines.segment.builtin:BuiltinSegmentPipeline",
    "pipelines.shap_e:ShapETextPipeline",
    "pipelines.shap_e:ShapEImagePipeline",
]


def load_class(spec: str) -> type:
    """The class named by "package.module:Class" (registry entries, and what a worker is asked to hold)."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"{spec!r} is not module:Class")
    obj = importlib.import_module(module_name)
    for part in class_name.split("."):
        obj = getattr(obj, part)
    return obj


def class_spec(obj) -> str:
    """The "module:Class" that `load_class` turns back into `obj`'s class."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


class Registry:
    def __init__(self, entries: list[str] | None = None, device_kinds: set[str] | None = None):
        self._lock = threading.Lock()
        self._pipelines: dict[str, dict[str, Pipeline]] = {f: {} for f in FEATURES}
        self.device_kinds = device_kinds or {"cpu"}
        for entry in ENTRIES if entries is None else entries:
            self.register_entry(entry)

    def register_entry(self, entry: str) -> None:
        """Register the pipeline class named by "module:Class"."""
        try:
            cls = load_class(entry)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(f"No pipeline class {entry!r} ({exc}); give it as module:Class.") from exc
        self.register(cls())

    def register(self, pipeline: Pipeline) -> None:
        if pipeline.feature not in self._pipelines:
            raise ValueError(f"{pipeline!r} has unknown feature {pipeline.feature!r}")
        with self._lock:
            self._pipelines[pipeline.feature][pipeline.name] = pipeline

    def names(self, feature: str) -> list[str]:
        return list(self._pipelines[feature])

    def available(self, feature: str) -> list[Pipeline]:
        """Available pipelines for `feature`, best first; without a GPU, those too slow on a CPU come last."""
        ready = [p for p in self._pipelines[feature].values() if p.availability(self.device_kinds)[0]]
        return sorted(ready, key=lambda p: (p.gpu_for_auto and "cuda" not in self.device_kinds, -p.priority))

    def get(self, feature: str, name: str | None) -> Pipeline:
        """The pipeline called `name`, or the best available one for `"auto"`."""
        pipelines = self._pipelines[feature]
        if not name or name == "auto":
            ready = self.available(feature)
            if not ready:
                reasons = "; ".join(f"{p.name}: {p.availability(self.device_kinds)[1]}" for p in pipelines.values())
                raise InputError(f"No pipeline for {FEATURES[feature]} is available on this machine"
                                 f"{' (' + reasons + ')' if reasons else ''}.")
            return ready[0]
        if name not in pipelines:
            raise InputError(
                f"Unknown pipeline {name!r} for {FEATURES[feature]}; choose one of: auto, {', '.join(pipelines)}."
            )
        pipeline = pipelines[name]
        ok, reason = pipeline.availability(self.device_kinds)
        if not ok:
            raise InputError(f"Pipeline {name!r} is not available here: {reason}.")
        return pipeline

    def listing(self) -> dict:
        """Per feature, every pipeline with availability and the reason (for /list_pipelines)."""
        out = {}
        for feature, pipelines in self._pipelines.items():
            ready = self.available(feature)
            rows = []
            for p in sorted(pipelines.values(), key=lambda p: -p.priority):
                ok, reason = p.availability(self.device_kinds)
                rows.append({**p.describe(), "available": ok, "reason": reason})
            out[feature] = {
                "label": FEATURES[feature],
                "auto": ready[0].name if ready else None,
                "pipelines": rows,
            }
        return out
