"""TRELLIS API compatibility: `POST /image_to_3d`, `POST /text_to_3d`, `GET /my_requests`, `GET /queue/status`,
`GET /status` and the result files at `/output(s)/<client>/<request_id>/<filename>`.

`/image_to_3d` takes the document's multipart form (an `image` file and the sampling parameters, by their
long or short names) or the JSON the seed's newer web server reads (`image_data` in base64). Sampling
steps and guidance map to the studio's steps and guidance; each job runs the best available pipeline.
`/my_requests` lists only the caller's own requests (per account with --auth, else per address).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile

from .common import Caller, Rest, RestError, base_url, error_route, file_response

STATUS = {"queued": "queued", "running": "processing", "done": "complete", "failed": "error",
          "cancelled": "error", "interrupted": "error"}
HISTORY = 10  # the seed keeps each client's 10 most recent requests
# parameter -> (other name the seed's clients send, type, default)
SAMPLING = {
    "sparse_structure_sample_steps": ("ss_sample_steps", int, 25),
    "sparse_structure_cfg_strength": ("ss_cfg_strength", float, 8.5),
    "slat_sample_steps": ("slat_sample_steps", int, 25),
    "slat_cfg_strength": ("slat_cfg_strength", float, 4.0),
    "simplify_ratio": ("simplify_ratio", float, 1.0),
    "texture_size": ("texture_size", int, 1024),
    "texture_bake_mode": ("texture_bake_mode", str, "pbr"),
}
FORM_SCHEMA = {
    "type": "object", "required": ["image"],
    "properties": {"image": {"type": "string", "format": "binary"},
                   **{name: {"type": {int: "integer", float: "number", str: "string"}[kind], "default": default}
                      for name, (_, kind, default) in SAMPLING.items()}},
}


def trellis_error(exc: RestError) -> dict:
    return {"error": exc.message}


def sampling(values) -> dict:
    """The sampling parameters from a form or JSON body, by either name, with the document's defaults."""
    out = {}
    for name, (short, kind, default) in SAMPLING.items():
        value = values.get(name, values.get(short))
        try:
            out[name] = default if value in (None, "") else kind(value)
        except (TypeError, ValueError):
            raise RestError(400, f"{name} must be {'a whole number' if kind is int else 'a number'}; got {value!r}.") \
                from None
    return out


def studio_knobs(params: dict) -> dict:
    """The studio's knobs for TRELLIS's sampling parameters: the sparse-structure steps and guidance."""
    return {"steps": params["sparse_structure_sample_steps"], "guidance": params["sparse_structure_cfg_strength"]}


def build(rest: Rest) -> APIRouter:
    studio = rest.studio
    router = APIRouter(route_class=error_route(trellis_error), tags=["TRELLIS API"])

    def folder_of(caller: Caller) -> str:
        return caller.client.split(":", 1)[-1].replace("/", "_")

    def answer(job_id: str) -> dict:
        return {"request_id": job_id, "status": "queued", "message": "Request queued successfully"}

    @router.post("/image_to_3d", openapi_extra={"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": FORM_SCHEMA},
        "application/json": {"schema": {"type": "object", "required": ["image_data"], "properties": {
            "image_data": {"type": "string", "description": "the image file in base64"},
            "image_name": {"type": "string"}, **FORM_SCHEMA["properties"]}}}}}})
    async def image_to_3d(request: Request, caller: Caller = Depends(rest.caller)):
        """Queue an image-to-3D request; poll /my_requests for its status and output files."""
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                raise RestError(400, "The body is not valid JSON.") from None
            if not isinstance(body, dict) or not body.get("image_data"):
                raise RestError(400, "No image data provided: send image_data (base64) or a multipart 'image' file.")
            path = rest.store_base64(str(body["image_data"]), caller, "image", str(body.get("image_name") or "image.png"))
        else:
            body = await request.form()
            upload = body.get("image")
            if not isinstance(upload, UploadFile):
                raise RestError(400, "No image file provided: send it as the multipart field 'image'.")
            path = (await rest.store(upload, caller, "image"))[1]
        try:
            params = sampling(body)
            job = rest.submit(caller, "image_to_3d", "auto", {"front": path, **studio_knobs(params), **params,
                                                              "image_name": path.name})
        finally:
            rest.discard(path)
        rest.start(job)
        return answer(job.id)

    @router.post("/text_to_3d")
    async def text_to_3d(request: Request, caller: Caller = Depends(rest.caller)):
        """Queue a text-to-3D request from JSON {"text": ..., sampling parameters}."""
        try:
            body = await request.json()
        except ValueError:
            raise RestError(400, 'Send JSON: {"text": "a wooden chair"}.') from None
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise RestError(400, 'No text provided: send JSON {"text": "a wooden chair"}.')
        params = sampling(body)
        job = rest.submit(caller, "text_to_3d", "auto", {"prompt": " ".join(text.split()), **params,
                                                         "steps": params["sparse_structure_sample_steps"]})
        rest.start(job)
        return answer(job.id)

    def request_row(record: dict, request: Request, caller: Caller) -> dict:
        row = {"request_id": record["id"], "task_type": record["feature"], "status": STATUS[record["status"]],
               "start_time": record.get("started") or record["created"], "finish_time": record.get("finished"),
               "image_name": record["parameters"].get("image_name"), "text": record["parameters"].get("prompt"),
               "output_files": None, "error": record.get("error")}
        if record["status"] == "done":
            names = dict.fromkeys(n for n in (record["outputs"].get("glb"), record["outputs"].get("file")) if n)
            row["output_files"] = [f"{base_url(request)}/output/{folder_of(caller)}/{record['id']}/{n}" for n in names]
        return row

    def mine(caller: Caller) -> list[dict]:
        jobs = studio.jobs.recent(200, client=caller.client)
        return [r for r in jobs if r["feature"] in ("image_to_3d", "text_to_3d")][:HISTORY]

    @router.get("/my_requests")
    def my_requests(request: Request, caller: Caller = Depends(rest.caller)):
        """The caller's own recent requests (at most 10), newest first, with output file URLs when complete."""
        return {"ip_address": folder_of(caller), "requests": [request_row(r, request, caller) for r in mine(caller)]}

    @router.get("/queue/status")
    def queue_status(request: Request, request_id: str | None = Query(None), caller: Caller = Depends(rest.caller)):
        """Jobs waiting and running: everyone's, and the caller's; with request_id, that request's status too."""
        counts = studio.jobs.counts()
        own = studio.jobs.recent(1000, client=caller.client)
        answer = {"queue_length": counts.get("queued", 0), "processing": counts.get("running", 0),
                  "client_queue_length": sum(r["status"] == "queued" for r in own),
                  "client_processing": sum(r["status"] == "running" for r in own)}
        if request_id:
            answer["request"] = request_row(rest.record(request_id, caller), request, caller)
        return answer

    @router.get("/status")
    def server_status():
        """Whether the server is up (the seed's test client calls this first)."""
        return {"status": "ok", "pools": studio.pools.status()}

    def output(client: str, request_id: str, filename: str, caller: Caller = Depends(rest.caller)):
        """A completed request's output file (the URLs in output_files; `client` is the caller's folder name)."""
        return file_response(rest.job_file(request_id, filename, caller))

    for prefix in ("/output", "/outputs"):
        router.add_api_route(prefix + "/{client}/{request_id}/{filename}", output, methods=["GET"],
                             include_in_schema=prefix == "/outputs")
    return router
