"""Hunyuan3D-2.1 Space API compatibility: `GET /api/health`, `POST /api/generate`, `GET /api/status?job_id=`.

`/api/generate` takes the views as multipart files (`front`, optional `back`, `left`, `right`) and an
`options` JSON (`enable_pbr`, `should_remesh`, `should_texture`); the job runs the studio's /image_to_3d on
the best available pipeline. `/api/status` reports the seed's stage names and `model_urls.glb`.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile

from pipelines.image_to_3d.options import DEFAULTS, LIMITS

from .common import Caller, Rest, RestError, base_url, detail_error, error_route, file_response, percent

STATUS = {"queued": "queued", "running": "processing", "done": "completed", "failed": "failed",
          "cancelled": "failed", "interrupted": "failed"}
# The seed's stages, found from the words of the studio's own stage names (pipelines/image_to_3d).
STAGE_WORDS = (
    ("initializing", ("waiting",)),
    ("preprocessing", ("preprocess", "background", "mask", "crop", "view")),
    ("texture_generation", ("texture", "colour", "color", "paint", "bak", "uv")),
    ("face_reduction", ("decimat", "simplif", "reduc", "remesh")),
)
OPTIONS = {"enable_pbr": True, "should_remesh": True, "should_texture": True}


def stage_of(record: dict) -> str:
    """The seed's stage name for a job's status and the studio's stage."""
    if record["status"] in ("queued", "failed"):
        return record["status"]
    if record["status"] == "done":
        return "completed"
    if record["status"] != "running":
        return "failed"
    stage = str(record.get("stage") or "").lower()
    return next((name for name, words in STAGE_WORDS if any(w in stage for w in words)), "shape_generation")


def parsed_options(text: str | None) -> dict:
    """The options JSON with the seed's defaults (all true); refuses what is not an object of booleans."""
    if not text:
        return dict(OPTIONS)
    try:
        given = json.loads(text)
    except ValueError:
        raise RestError(400, 'options must be a JSON object, e.g. {"enable_pbr": true, "should_texture": true}.') from None
    if not isinstance(given, dict):
        raise RestError(400, 'options must be a JSON object, e.g. {"should_texture": true}.')
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise RestError(400, f"Unknown option(s) {', '.join(unknown)}; use {', '.join(OPTIONS)}.")
    for key, value in given.items():
        if not isinstance(value, bool):
            raise RestError(400, f"options.{key} must be true or false; got {value!r}.")
    return {**OPTIONS, **given}


def build(rest: Rest) -> APIRouter:
    router = APIRouter(prefix="/api", route_class=error_route(detail_error), tags=["Hunyuan3D-2.1 API"])

    @router.get("/health")
    def health():
        return {"status": "ok", "version": "2.1"}

    @router.post("/generate")
    async def generate(front: UploadFile = File(..., description="front view image (PNG, JPEG or WebP)"),
                       back: UploadFile | None = File(None), left: UploadFile | None = File(None),
                       right: UploadFile | None = File(None),
                       options: str | None = Form(None, description='JSON: {"enable_pbr", "should_remesh", '
                                                                    '"should_texture"}, each true by default'),
                       caller: Caller = Depends(rest.caller)):
        """Start an image-to-3D job from one to four views; poll /api/status?job_id=... for its GLB."""
        chosen = parsed_options(options)
        views = {}
        try:
            for name, upload in (("front", front), ("back", back), ("left", left), ("right", right)):
                if upload is not None and upload.filename:
                    views[name] = (await rest.store(upload, caller, f"{name} image"))[1]
            warnings = []
            if chosen["enable_pbr"] and chosen["should_texture"]:
                warnings.append("enable_pbr: the studio bakes a base-colour texture; no metallic-roughness maps.")
            inputs = {**views, "textured": chosen["should_texture"],
                      # no remeshing keeps the full marching-cubes mesh, up to the studio's largest face count
                      "face_count": DEFAULTS["face_count"] if chosen["should_remesh"] else LIMITS["face_count"][1],
                      "options": chosen}
            job = rest.submit(caller, "image_to_3d", "auto", inputs, "glb", warnings)
        finally:
            rest.discard(*views.values())
        rest.start(job)
        return {"job_id": job.id, "status": "queued"}

    @router.get("/status")
    def status(request: Request, job_id: str = Query(..., description="the id /api/generate returned"),
               caller: Caller = Depends(rest.caller)):
        """Status (queued, processing, completed, failed), progress 0-100, stage, and model_urls.glb when done."""
        record = rest.record(job_id, caller)
        answer = {"status": STATUS[record["status"]], "progress": percent(record), "stage": stage_of(record),
                  "model_urls": {}}
        if record["status"] == "done":
            answer["model_urls"]["glb"] = f"{base_url(request)}/api/files/{job_id}/{record['outputs']['glb']}"
        if record.get("error"):
            answer["error"] = record["error"]
        return answer

    @router.get("/files/{job_id}/{name}")
    def files(job_id: str, name: str, caller: Caller = Depends(rest.caller)):
        """A finished job's file (the model_urls point here)."""
        return file_response(rest.job_file(job_id, name, caller))

    return router
