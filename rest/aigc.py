"""3DAIGC-API compatibility (`/api/v1`): file uploads by id, mesh generation, segmentation, rigging, job routes.

Its `model_preference` names (`trellis_text_to_textured_mesh`, `hunyuan3d_image_to_raw_mesh`, ...) map to the
studio's pipelines; a model that is not installed here is replaced by the best available pipeline for the
feature, and the job's metadata says so in its warnings. A studio pipeline name is accepted as well.
"""

from __future__ import annotations

import base64
import datetime
import shutil
import time
from pathlib import Path

import psutil
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from pydantic import BaseModel, Field

from pipelines.base import FEATURES
from pipelines.errors import InputError
from pipelines.mesh.io import MESH_FORMATS
from pipelines.text_to_3d.options import check_prompt
from tabs.rig_mesh import RIG_FORMATS

from .common import (CONTENT_TYPES, UPLOAD_HOURS, Caller, Rest, RestError, base_url, error_route, file_response, iso,
                     percent, took)

# 3DAIGC feature -> (studio feature, fixed inputs)
AIGC_FEATURES = {
    "text_to_raw_mesh": ("text_to_3d", {"textured": False}),
    "text_to_textured_mesh": ("text_to_3d", {"textured": True}),
    "text_mesh_painting": ("paint_mesh", {}),
    "image_to_raw_mesh": ("image_to_3d", {"textured": False}),
    "image_to_textured_mesh": ("image_to_3d", {"textured": True}),
    "image_mesh_painting": ("paint_mesh", {}),
    "part_completion": ("complete_parts", {}),
    "mesh_segmentation": ("segment_mesh", {}),
    "auto_rig": ("rig_mesh", {}),
}
# The seed's model families (the first part of a model_preference name) -> studio pipelines that run them, best first.
MODEL_FAMILIES = {
    "hunyuan3d_2_0": {"image_to_3d": ["hunyuan3d-2", "hunyuan3d-2mini", "hunyuan3d-2mv"],
                      "paint_mesh": ["hunyuan3d-2-paint"]},
    "hunyuan3d_2mini": {"image_to_3d": ["hunyuan3d-2mini"]},
    "hunyuan3d": {},  # Hunyuan3D-2.1: not in the studio; the best available pipeline (Hunyuan3D-2 if installed) runs
    "trellis": {},
    "partpacker": {},
    "partfield": {},
    "unirig": {},
    "holopart": {},
    "shap_e": {"text_to_3d": ["shap-e"], "image_to_3d": ["shap-e"]},
}
SEED_MODELS = {
    "text_to_raw_mesh": ["trellis_text_to_raw_mesh"],
    "text_to_textured_mesh": ["trellis_text_to_textured_mesh"],
    "text_mesh_painting": ["trellis_text_mesh_painting"],
    "image_to_raw_mesh": ["trellis_image_to_raw_mesh", "hunyuan3d_image_to_raw_mesh", "hunyuan3d_2_0_image_to_raw_mesh",
                          "partpacker_image_to_raw_mesh"],
    "image_to_textured_mesh": ["trellis_image_to_textured_mesh", "hunyuan3d_image_to_textured_mesh",
                               "hunyuan3d_2_0_image_to_textured_mesh"],
    "image_mesh_painting": ["trellis_image_mesh_painting", "hunyuan3d_image_mesh_painting",
                            "hunyuan3d_2_0_image_mesh_painting"],
    "part_completion": ["holopart_part_completion"],
    "mesh_segmentation": ["partfield_mesh_segmentation"],
    "auto_rig": ["unirig_auto_rig"],
}
STATUS = {"queued": "queued", "running": "processing", "done": "completed", "failed": "failed",
          "cancelled": "failed", "interrupted": "failed"}
MESH_OUTPUTS = ("glb", "obj", "ply", "stl", "fbx", "usdz")
IMAGE_TYPES = ("png", "jpg", "jpeg", "webp")  # what pipelines.image_io reads


def aigc_error(exc: RestError) -> dict:
    """The seed's error shape: a code, a message and a detail."""
    return {"error": exc.code, "message": exc.message, "detail": exc.message}


# -- requests -----------------------------------------------------------------------------------------


class Request3D(BaseModel):
    output_format: str = Field("glb", description=f"one of {', '.join(MESH_OUTPUTS)}")
    model_preference: str | None = Field(None, description="a model name from /system/models (or a studio pipeline)")


class TextToMesh(Request3D):
    text_prompt: str = Field(..., description="what to generate, e.g. 'A red sports car'")
    texture_prompt: str | None = Field(None, description="colours and materials, added to the prompt")
    texture_resolution: int = Field(1024, description="texture size in pixels (painting); recorded otherwise")


class ImageInput(Request3D):
    image_path: str | None = Field(None, description="not accepted: upload the file and send its image_file_id")
    image_base64: str | None = None
    image_file_id: str | None = Field(None, description="id from POST /api/v1/file-upload/image")


class ImageToMesh(ImageInput):
    texture_image_path: str | None = None
    texture_image_base64: str | None = None
    texture_image_file_id: str | None = None
    texture_resolution: int = 1024


class MeshInput(Request3D):
    mesh_path: str | None = Field(None, description="not accepted: upload the file and send its mesh_file_id")
    mesh_base64: str | None = None
    mesh_file_id: str | None = Field(None, description="id from POST /api/v1/file-upload/mesh")


class TextMeshPainting(MeshInput):
    text_prompt: str
    texture_resolution: int = 1024


class ImageMeshPainting(MeshInput):
    image_path: str | None = None
    image_base64: str | None = None
    image_file_id: str | None = None
    texture_resolution: int = 1024


class SegmentMesh(MeshInput):
    num_parts: int = Field(8, ge=2, le=32, description="number of parts, 2-32")


class GenerateRig(MeshInput):
    rig_mode: str = Field("skeleton", description="skeleton, skin or full: every studio rig has a skeleton and skin")
    output_format: str = Field("fbx", description="fbx or glb")


class JobAccepted(BaseModel):
    job_id: str
    status: str
    message: str


def build(rest: Rest) -> APIRouter:
    studio = rest.studio
    router = APIRouter(prefix="/api/v1", route_class=error_route(aigc_error))

    def pick(aigc_feature: str, preference: str | None) -> tuple[str, list[str]]:
        """The studio pipeline for a model_preference, and the warnings when it is not the one asked for."""
        feature = AIGC_FEATURES[aigc_feature][0]
        if preference in (None, "", "auto"):
            return "auto", []
        ready = [p.name for p in studio.registry.available(feature)]
        if preference in ready:
            return preference, []
        family = next((f for f in sorted(MODEL_FAMILIES, key=len, reverse=True) if preference.startswith(f + "_")), None)
        for name in MODEL_FAMILIES.get(family, {}).get(feature, []):
            if name in ready:
                return name, []
        try:
            best = studio.registry.get(feature, "auto").name
        except InputError as exc:
            raise RestError(400, str(exc), "MODEL_NOT_AVAILABLE") from exc
        known = ("is not installed here" if family or preference in studio.registry.names(feature)
                 else "is not a model this studio knows")
        return "auto", [f"model_preference {preference!r} {known}; ran {best!r}, the best available pipeline for "
                        f"{FEATURES[feature]}."]

    def file_input(caller: Caller, what: str, path: str | None, data: str | None, file_id: str | None,
                   required: bool = True) -> Path | None:
        if file_id:
            return rest.uploaded(file_id, caller, what)[0]
        if data:
            return rest.store_base64(data, caller, what, f"{what}.{'png' if what == 'image' else 'glb'}")
        if path:
            raise RestError(400, f"{what}_path (a file on the server) is not accepted; upload the file to "
                                 f"/api/v1/file-upload/{what} and send its {what}_file_id.", "INVALID_VALUE")
        if required:
            raise RestError(400, f"No {what} given; send {what}_file_id (from /api/v1/file-upload/{what}) "
                                 f"or {what}_base64.", "INVALID_VALUE")
        return None

    def queue(caller: Caller, aigc_feature: str, body: Request3D, inputs: dict, label: str,
              formats: tuple[str, ...] = MESH_OUTPUTS) -> JobAccepted:
        fmt = (body.output_format or "glb").lower()
        if fmt not in formats:
            raise RestError(400, f"output_format must be one of {', '.join(formats)}; got {body.output_format!r}.",
                            "INVALID_VALUE")
        feature, fixed = AIGC_FEATURES[aigc_feature]
        pipeline, warnings = pick(aigc_feature, body.model_preference)
        inputs = {**inputs, **fixed, "aigc_feature": aigc_feature, "model_preference": body.model_preference}
        job = rest.submit(caller, feature, pipeline, inputs, fmt, warnings)
        rest.start(job)
        message = f"{label} job queued successfully" + (f" ({warnings[0]})" if warnings else "")
        return JobAccepted(job_id=job.id, status="queued", message=message)

    def prompt(text: str) -> str:
        try:
            return check_prompt(text)
        except InputError as exc:
            raise RestError(400, str(exc), "INVALID_VALUE") from exc

    # -- file upload -----------------------------------------------------------------------
    def uploaded_answer(file_id: str, path: Path, what: str, stamp: float) -> dict:
        when = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
        return {"file_id": file_id, "filename": path.name, "file_type": what,
                "file_size_mb": round(path.stat().st_size / 2**20, 4), "upload_time": when.isoformat(),
                "expires_at": (when + datetime.timedelta(hours=UPLOAD_HOURS)).isoformat()}

    async def upload(file: UploadFile, caller: Caller, what: str, suffixes: tuple[str, ...]) -> dict:
        suffix = Path(file.filename or "").suffix.lower().lstrip(".")
        if suffix not in suffixes:
            raise RestError(400, f"{file.filename!r} is not a supported {what} file; send one of: "
                                 f"{', '.join(suffixes)}.", "FILE_UPLOAD_ERROR")
        file_id, path = await rest.store(file, caller, what)
        return uploaded_answer(file_id, path, what, rest.uploaded(file_id, caller, what)[1]["uploaded"])

    @router.post("/file-upload/image", tags=["3DAIGC-API"], summary="Upload an image; returns its file_id")
    async def upload_image(file: UploadFile = File(...), caller: Caller = Depends(rest.caller)):
        return await upload(file, caller, "image", IMAGE_TYPES)

    @router.post("/file-upload/mesh", tags=["3DAIGC-API"], summary="Upload a mesh; returns its file_id")
    async def upload_mesh(file: UploadFile = File(...), caller: Caller = Depends(rest.caller)):
        return await upload(file, caller, "mesh", MESH_FORMATS + ("zip",))

    @router.get("/file-upload/metadata/{file_id}", tags=["3DAIGC-API"], summary="An uploaded file's metadata")
    def upload_metadata(file_id: str, caller: Caller = Depends(rest.caller)):
        for what in ("image", "mesh"):
            try:
                path, record = rest.uploaded(file_id, caller, what)
            except RestError as exc:
                if exc.status == 404:
                    raise
                continue
            return {**uploaded_answer(file_id, path, what, record["uploaded"]), "is_available": True}
        raise RestError(404, f"There is no uploaded file {file_id!r}.", "NOT_FOUND")

    # -- mesh generation ----------------------------------------------------------------------
    @router.post("/mesh-generation/text-to-raw-mesh", response_model=JobAccepted, tags=["3DAIGC-API"])
    def text_to_raw_mesh(body: TextToMesh, caller: Caller = Depends(rest.caller)):
        """Generate an untextured mesh from text (studio /text_to_3d, textured off)."""
        return queue(caller, "text_to_raw_mesh", body, {"prompt": prompt(body.text_prompt)}, "Text-to-mesh generation")

    @router.post("/mesh-generation/text-to-textured-mesh", response_model=JobAccepted, tags=["3DAIGC-API"])
    def text_to_textured_mesh(body: TextToMesh, caller: Caller = Depends(rest.caller)):
        """Generate a textured mesh from text; texture_prompt's colour and material words join the prompt."""
        text = body.text_prompt + (f", {body.texture_prompt}" if body.texture_prompt else "")
        return queue(caller, "text_to_textured_mesh", body, {"prompt": prompt(text),
                                                             "texture_resolution": body.texture_resolution},
                     "Text-to-textured-mesh generation")

    @router.post("/mesh-generation/text-mesh-painting", response_model=JobAccepted, tags=["3DAIGC-API"])
    def text_mesh_painting(body: TextMeshPainting, caller: Caller = Depends(rest.caller)):
        """Paint an uploaded mesh from a text prompt (studio /paint_mesh)."""
        mesh = file_input(caller, "mesh", body.mesh_path, body.mesh_base64, body.mesh_file_id)
        return queue(caller, "text_mesh_painting", body, {"mesh": mesh, "prompt": prompt(body.text_prompt),
                                                          "texture_size": body.texture_resolution},
                     "Text-based mesh painting")

    @router.post("/mesh-generation/image-to-raw-mesh", response_model=JobAccepted, tags=["3DAIGC-API"])
    def image_to_raw_mesh(body: ImageInput, caller: Caller = Depends(rest.caller)):
        """Reconstruct an untextured mesh from an image (studio /image_to_3d, textured off)."""
        image = file_input(caller, "image", body.image_path, body.image_base64, body.image_file_id)
        return queue(caller, "image_to_raw_mesh", body, {"front": image}, "Image-to-mesh generation")

    @router.post("/mesh-generation/image-to-textured-mesh", response_model=JobAccepted, tags=["3DAIGC-API"])
    def image_to_textured_mesh(body: ImageToMesh, caller: Caller = Depends(rest.caller)):
        """Reconstruct a textured mesh from an image; the texture comes from the image itself."""
        image = file_input(caller, "image", body.image_path, body.image_base64, body.image_file_id)
        texture = file_input(caller, "image", body.texture_image_path, body.texture_image_base64,
                             body.texture_image_file_id, required=False)
        if texture is not None:
            raise RestError(400, "A separate texture image is not supported: the texture is taken from the image. "
                                 "Leave texture_image_* out, or paint the result with image-mesh-painting.",
                            "INVALID_VALUE")
        return queue(caller, "image_to_textured_mesh", body, {"front": image, "texture_resolution":
                                                              body.texture_resolution}, "Image-to-textured-mesh generation")

    @router.post("/mesh-generation/image-mesh-painting", response_model=JobAccepted, tags=["3DAIGC-API"])
    def image_mesh_painting(body: ImageMeshPainting, caller: Caller = Depends(rest.caller)):
        """Paint an uploaded mesh from a reference image (studio /paint_mesh)."""
        image = file_input(caller, "image", body.image_path, body.image_base64, body.image_file_id)
        mesh = file_input(caller, "mesh", body.mesh_path, body.mesh_base64, body.mesh_file_id)
        return queue(caller, "image_mesh_painting", body, {"mesh": mesh, "image": image,
                                                           "texture_size": body.texture_resolution},
                     "Image-based mesh painting")

    @router.post("/mesh-generation/part-completion", response_model=JobAccepted, tags=["3DAIGC-API"])
    def part_completion(body: MeshInput, caller: Caller = Depends(rest.caller)):
        """Close the open parts of a part-segmented mesh (studio /complete_parts)."""
        mesh = file_input(caller, "mesh", body.mesh_path, body.mesh_base64, body.mesh_file_id)
        return queue(caller, "part_completion", body, {"mesh": mesh}, "Part completion")

    @router.post("/mesh-segmentation/segment-mesh", response_model=JobAccepted, tags=["3DAIGC-API"])
    def segment_mesh(body: SegmentMesh, caller: Caller = Depends(rest.caller)):
        """Split a mesh into num_parts parts (studio /segment_mesh)."""
        mesh = file_input(caller, "mesh", body.mesh_path, body.mesh_base64, body.mesh_file_id)
        return queue(caller, "mesh_segmentation", body, {"mesh": mesh, "num_parts": body.num_parts},
                     "Mesh segmentation")

    def generate_rig(body: GenerateRig, caller: Caller = Depends(rest.caller)):
        """Add a skeleton and skin weights to a mesh (studio /rig_mesh); output fbx or glb."""
        if body.rig_mode not in ("skeleton", "skin", "full"):
            raise RestError(400, f"rig_mode must be skeleton, skin or full; got {body.rig_mode!r}.", "INVALID_VALUE")
        mesh = file_input(caller, "mesh", body.mesh_path, body.mesh_base64, body.mesh_file_id)
        return queue(caller, "auto_rig", body, {"mesh": mesh, "mode": "auto", "rig_mode": body.rig_mode},
                     "Auto-rigging", RIG_FORMATS)

    router.add_api_route("/auto-rigging/generate-rig", generate_rig, methods=["POST"], response_model=JobAccepted,
                         tags=["3DAIGC-API"])
    # The seed's own test client posts here (its server never had this path): the same route.
    router.add_api_route("/auto-rig/generate-rig", generate_rig, methods=["POST"], response_model=JobAccepted,
                         include_in_schema=False)

    @router.get("/mesh-generation/supported-formats", tags=["3DAIGC-API"])
    def supported_formats():
        return {"input_formats": {"text": ["string"], "image": list(IMAGE_TYPES), "mesh": list(MESH_FORMATS),
                                  "base64": ["image/png", "image/jpeg", "model/gltf-binary"]},
                "output_formats": {"mesh": list(MESH_OUTPUTS), "texture": ["png"]},
                "upload_limits": {"max_size_mb": rest.max_bytes / 2**20 if rest.max_bytes else None}}

    # -- system ---------------------------------------------------------------------------
    @router.get("/system/health", tags=["3DAIGC-API"])
    def health():
        return {"status": "healthy", "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "uptime": round(time.time() - psutil.Process().create_time(), 1)}  # seconds since the studio started

    @router.get("/system/status", tags=["3DAIGC-API"])
    @router.get("/system/status/", include_in_schema=False)
    def system_status(caller: Caller = Depends(rest.caller)):
        """CPU, memory, disk, GPUs (MiB), resident pipelines and the queue."""
        memory, disk = psutil.virtual_memory(), shutil.disk_usage(studio.outputs)
        devices = studio.manager.status()
        counts = studio.jobs.counts()
        resident = [r for d in devices.get("devices", []) for r in d.get("resident", [])]
        return {
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "system": {"cpu_usage": psutil.cpu_percent(interval=None),
                       "memory": {"total": memory.total, "available": memory.available, "used": memory.used,
                                  "percent": memory.percent},
                       "disk": {"total": disk.total, "free": disk.free, "used": disk.used,
                                "percent": round(100 * disk.used / disk.total, 2)}},
            "gpu": [{"id": i, "name": d["name"], "memory_total": round(d["total_gib"] * 1024),
                     "memory_used": round(d["used_gib"] * 1024), "memory_free": round(d["free_gib"] * 1024),
                     "memory_budget": round(d["budget_gib"] * 1024)}
                    for i, d in enumerate(d for d in devices.get("devices", []) if d["kind"] == "cuda")],
            "models": {"loaded": len(resident), "available": sum(len(studio.registry.available(f)) for f in FEATURES),
                       "total_vram_used": sum(r.get("weights_gib", 0) for r in resident)},
            "queue": {"pending_jobs": counts.get("queued", 0), "processing_jobs": counts.get("running", 0),
                      "completed_jobs": counts.get("done", 0)},
            "devices": devices,
        }

    def available_models(feature: str) -> list[str]:
        return [p.name for p in studio.registry.available(AIGC_FEATURES[feature][0])]

    @router.get("/system/models", tags=["3DAIGC-API"])
    def models(feature: str | None = Query(None, description="one 3DAIGC feature, e.g. image_to_textured_mesh"),
               caller: Caller = Depends(rest.caller)):
        """Per feature, the studio pipelines available here; `aliases` says what each seed model name runs now."""
        if feature is not None and feature not in AIGC_FEATURES:
            raise RestError(400, f"feature must be one of {', '.join(AIGC_FEATURES)}; got {feature!r}.", "INVALID_VALUE")
        if feature is not None:
            return {"feature": feature, "models": available_models(feature)}
        found = {f: available_models(f) for f in AIGC_FEATURES}
        aliases = {f: {name: pick(f, name)[0] for name in SEED_MODELS[f]} for f in AIGC_FEATURES}
        for f, names in aliases.items():
            best = (available_models(f) or [None])[0]
            aliases[f] = {name: best if run == "auto" else run for name, run in names.items()}
        return {"available_models": found, "total_features": len(found),
                "total_models": sum(len(m) for m in found.values()), "aliases": aliases}

    @router.get("/system/features", tags=["3DAIGC-API"])
    def features():
        rows = [{"name": f, "model_count": len(available_models(f)), "models": available_models(f)}
                for f in AIGC_FEATURES if available_models(f)]
        return {"features": rows, "total_features": len(rows)}

    # -- jobs -----------------------------------------------------------------------------
    def aigc_feature(record: dict) -> str:
        feature = record["parameters"].get("aigc_feature")
        if feature in AIGC_FEATURES:
            return feature
        textured = "textured" if record["parameters"].get("textured") else "raw"
        return {"text_to_3d": f"text_to_{textured}_mesh", "image_to_3d": f"image_to_{textured}_mesh",
                "paint_mesh": "image_mesh_painting" if record["files"].get("image") else "text_mesh_painting",
                "complete_parts": "part_completion", "segment_mesh": "mesh_segmentation",
                "rig_mesh": "auto_rig"}.get(record["feature"], record["feature"])

    def output_path(record: dict) -> Path | None:
        name = record["outputs"].get("file")
        path = studio.outputs / record["folder"] / name if name else None
        return path if path is not None and path.is_file() else None

    def file_info(path: Path) -> dict:
        size = path.stat().st_size
        return {"filename": path.name, "file_size_bytes": size, "file_size_mb": round(size / 2**20, 4),
                "content_type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
                "file_extension": path.suffix}

    def job_answer(record: dict, request: Request) -> dict:
        metadata = record.get("metadata") or {}
        answer = {"job_id": record["id"], "status": STATUS[record["status"]], "feature": aigc_feature(record),
                  "created_at": iso(record["created"]), "completed_at": iso(record.get("finished")),
                  "processing_time": took(record), "progress": percent(record), "stage": record.get("stage"),
                  "model_preference": record["parameters"].get("model_preference") or record["pipeline"],
                  "pipeline": record["pipeline"], "warnings": metadata.get("warnings", [])}
        if record.get("error"):
            answer["error"] = record["error"]
        path = output_path(record) if record["status"] == "done" else None
        if path is not None:
            output = metadata.get("output", {})
            answer["result"] = {
                "output_mesh_path": f"{record['folder']}/{path.name}",
                "mesh_url": f"{base_url(request)}/api/v1/system/jobs/{record['id']}/download",
                "mesh_file_info": file_info(path),
                "generation_info": {"model_used": record["pipeline"], "parameters": record["parameters"],
                                    "vertex_count": output.get("vertices"), "face_count": output.get("faces"),
                                    "warnings": metadata.get("warnings", []), "thumbnail_generated": False},
            }
        return answer

    @router.get("/system/jobs/history", tags=["3DAIGC-API"])
    def history(request: Request, limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0),
                status: str | None = Query(None, description="queued, processing, completed or failed"),
                feature: str | None = None, start_date: str | None = None, end_date: str | None = None,
                caller: Caller = Depends(rest.caller)):
        """The caller's jobs (an admin's: everyone's), newest first, with filters and pagination."""
        if status is not None and status not in set(STATUS.values()):
            raise RestError(400, "status must be queued, processing, completed or failed.", "INVALID_VALUE")
        try:
            after, before = (datetime.datetime.fromisoformat(d).timestamp() if d else None
                             for d in (start_date, end_date))
        except ValueError:
            raise RestError(400, "start_date and end_date are ISO dates, e.g. 2024-01-01T00:00:00Z.",
                            "INVALID_VALUE") from None
        jobs = [r for r in studio.jobs.recent(1000, studio.owner_filter(caller.user))
                if (status is None or STATUS[r["status"]] == status) and (feature is None or aigc_feature(r) == feature)
                and (after is None or r["created"] >= after) and (before is None or r["created"] <= before)]
        page = jobs[offset:offset + limit]
        rows = []
        for r in page:
            answer = job_answer(r, request)
            rows.append({**{k: answer[k] for k in ("job_id", "status", "feature", "created_at", "completed_at",
                                                   "model_preference", "processing_time")},
                         "output_mesh_path": answer.get("result", {}).get("output_mesh_path")})
        return {"jobs": rows, "pagination": {"limit": limit, "offset": offset, "total": len(jobs),
                                             "has_more": offset + limit < len(jobs)},
                "filters": {"status": status, "feature": feature, "start_date": start_date, "end_date": end_date},
                "timestamp": datetime.datetime.now().timestamp()}

    @router.get("/system/jobs/{job_id}", tags=["3DAIGC-API"])
    def job_status(job_id: str, request: Request, caller: Caller = Depends(rest.caller)):
        """Status, progress and, when completed, the result with its download URL."""
        return job_answer(rest.record(job_id, caller), request)

    @router.get("/system/jobs/{job_id}/download", tags=["3DAIGC-API"])
    def download(job_id: str, format: str = Query("file", description="file or base64"), filename: str | None = None,
                 caller: Caller = Depends(rest.caller)):
        """The result file in the requested output format (as a file, or base64 in JSON)."""
        _, path, metadata = rest.result(job_id, caller)
        if format == "base64":
            return {"job_id": job_id, "filename": filename or path.name, "file_size_mb": round(path.stat().st_size / 2**20, 4),
                    "content_type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
                    "base64_data": base64.b64encode(path.read_bytes()).decode(),
                    "generation_info": {"model_used": metadata.get("pipeline")},
                    "download_time": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        if format != "file":
            raise RestError(400, f"format must be file or base64; got {format!r}.", "INVALID_VALUE")
        return file_response(path, filename or f"result_{job_id}_{path.name}", {"X-Job-ID": job_id})

    @router.get("/system/jobs/{job_id}/info", tags=["3DAIGC-API"])
    def info(job_id: str, caller: Caller = Depends(rest.caller)):
        """What the result is, without downloading it."""
        record = rest.record(job_id, caller)
        path = output_path(record) if record["status"] == "done" else None
        return {"job_id": job_id, "status": STATUS[record["status"]],
                "file_info": {**(file_info(path) if path else {}), "file_exists": path is not None,
                              "file_format": record["output_format"]},
                "generation_info": {"model_used": record["pipeline"], "processing_time": took(record),
                                    "warnings": (record.get("metadata") or {}).get("warnings", [])},
                "download_urls": {"direct_download": f"/api/v1/system/jobs/{job_id}/download",
                                  "base64_download": f"/api/v1/system/jobs/{job_id}/download?format=base64"}}

    return router
