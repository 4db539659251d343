"""SyncHuman compatibility: `POST /generate` with an image (multipart), `GET /info`.

The call waits for the result, as the seed's did. The studio has no multi-view diffusion stage: "stage1"
holds the input image and the views the pipeline preprocessed (`input.png`, `preprocessed_*.png`), and
"stage2" the model (`output.glb`, `output_mesh.ply`). With `download=true` (a form field or a query
parameter) the answer is a zip of both folders; otherwise JSON that names the files, each downloadable at
`/generate/{job_id}/{stage}/{name}`.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from .common import Caller, Rest, RestError, base_url, detail_error, error_route, file_response


def truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def build(rest: Rest) -> APIRouter:
    studio = rest.studio
    router = APIRouter(route_class=error_route(detail_error), tags=["SyncHuman"])

    def stage_files(job_id: str, caller: Caller) -> dict[str, dict[str, Path]]:
        """Per stage folder, archive name -> the job's file."""
        glb, ply, metadata = rest.result(job_id, caller)
        record = rest.record(job_id, caller)
        folder = studio.outputs / record["folder"]
        front = folder / record["files"]["front"]
        stage1 = {f"input{front.suffix}": front}
        for name in metadata.get("images", {}).values():
            stage1[name] = rest.job_file(job_id, name, caller)
        return {"stage1": stage1, "stage2": {"output.glb": glb, "output_mesh.ply": ply}}

    @router.post("/generate")
    async def generate(request: Request, image: UploadFile | None = File(None, description="the person (RGBA PNG)"),
                       image_url: str | None = Form(None, description="not supported: upload the image"),
                       download: str | None = Form(None, description="true: answer with a zip of the results"),
                       download_query: str | None = Query(None, alias="download"),
                       caller: Caller = Depends(rest.caller)):
        """Reconstruct a 3D model from one image and wait for it (a zip with download=true, else JSON)."""
        if image is None or not image.filename:
            if image_url:
                raise RestError(400, "image_url is not supported (the studio does not fetch URLs); upload the image "
                                     "as the multipart field 'image'.")
            raise RestError(400, "No image: send it as the multipart field 'image'.")
        path = (await rest.store(image, caller, "image"))[1]
        try:
            job = rest.submit(caller, "image_to_3d", "auto", {"front": path, "textured": True}, "ply")
        finally:
            rest.discard(path)
        await rest.finish(job)
        files = stage_files(job.id, caller)
        if truthy(download) or truthy(download_query):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for stage, members in files.items():
                    for name, source in members.items():
                        archive.write(source, f"{stage}/{name}")
            return Response(buffer.getvalue(), media_type="application/zip",
                            headers={"Content-Disposition": f'attachment; filename="{job.id}.zip"'})
        base = base_url(request)
        return {"job_id": job.id, "mode": "studio", "status": "completed",
                **{stage: {"status": "completed", "output_dir": f"{job.id}/{stage}",
                           "files": {Path(name).stem: name for name in members},
                           "urls": {name: f"{base}/generate/{job.id}/{stage}/{name}" for name in members}}
                   for stage, members in files.items()}}

    @router.get("/generate/{job_id}/{stage}/{name}")
    def generated_file(job_id: str, stage: str, name: str, caller: Caller = Depends(rest.caller)):
        """One file of a finished /generate job."""
        path = stage_files(job_id, caller).get(stage, {}).get(name)
        if path is None:
            raise RestError(404, f"Job {job_id!r} has no file {stage}/{name}.")
        return file_response(path, name)

    @router.get("/info")
    def info():
        """What /generate runs here."""
        ready = studio.registry.available("image_to_3d")
        return {"service": "3D Studio (SyncHuman-compatible API)", "mode": "studio",
                "stage1": {"description": "input image and the pipeline's preprocessed views", "available": True},
                "stage2": {"description": "textured GLB and PLY mesh", "available": bool(ready),
                           "pipeline": ready[0].name if ready else None}}

    return router
