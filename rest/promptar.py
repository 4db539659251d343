"""PromptAR compatibility: `POST /api/models/generate` with {prompt, mode}, `GET /api/models/download/{model_id}`.

The call waits for the model, as the seed's did, and answers with its id and download URL. Mode
"advanced" (TRELLIS in the seed) runs the best available text-to-3D pipeline, textured; "basic" (Shap-E)
runs Shap-E when it is installed, else the best available one with a warning in the job. The studio's
per-client rate limit answers 429 with Retry-After, as the seed's did. `GET /health` is the studio's own.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from pipelines.errors import InputError
from pipelines.text_to_3d.options import check_prompt

from .common import Caller, Rest, RestError, detail_error, error_route, file_response

MODES = {"advanced": ("auto", True), "basic": ("shap-e", False)}  # mode -> (preferred pipeline, textured)


class Generate(BaseModel):
    prompt: str = Field(..., description="what to generate, e.g. 'wooden chair'")
    mode: Literal["advanced", "basic"] = Field("advanced", description="advanced: textured; basic: fast, untextured")


class Generated(BaseModel):
    status: str
    message: str
    model_id: str
    download_url: str


def build(rest: Rest) -> APIRouter:
    studio = rest.studio
    router = APIRouter(prefix="/api/models", route_class=error_route(detail_error), tags=["PromptAR"])

    @router.post("/generate", response_model=Generated)
    async def generate(body: Generate, caller: Caller = Depends(rest.caller)):
        """Generate a GLB from a text prompt and wait for it; download it from download_url."""
        try:
            prompt = check_prompt(body.prompt)
        except InputError as exc:
            raise RestError(400, str(exc)) from exc
        preferred, textured = MODES[body.mode]
        warnings = []
        if preferred != "auto" and not any(p.name == preferred for p in studio.registry.available("text_to_3d")):
            warnings.append(f"mode {body.mode!r} runs {preferred}, which is not installed here; ran the best available "
                            "text-to-3D pipeline.")
            preferred = "auto"
        job = rest.submit(caller, "text_to_3d", preferred, {"prompt": prompt, "textured": textured, "mode": body.mode},
                          "glb", warnings)
        await rest.finish(job)
        return Generated(status="success", message=f"3D model generated successfully using {body.mode} mode",
                         model_id=job.id, download_url=f"/api/models/download/{job.id}")

    @router.get("/download/{model_id}")
    def download(model_id: str, caller: Caller = Depends(rest.caller)):
        """The generated model as GLB."""
        glb, _, _ = rest.result(model_id, caller)
        return file_response(glb, f"{model_id}.glb")

    return router
