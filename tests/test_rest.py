"""REST compatibility: each seed API's routes driven the way its document's examples drive them (multipart
uploads, JSON bodies, polling, downloading), the results checked as files; auth, per-caller listings and 429."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import time
import zipfile

import pytest
import requests
import trimesh
from gradio_client import Client

from queueing.users import main as users_cli
from rest.aigc import AIGC_FEATURES

from .conftest import ROOT, launched

ASSETS = ROOT / "assets"
POLL_S = 0.5
WAIT_S = 300


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with launched(tmp_path_factory.mktemp("outputs"), "--rate-limit", "0", "--client-jobs", "0") as running:
        running["base"] = running["url"].rstrip("/")
        yield running


def poll(url: str, done, headers: dict | None = None) -> dict:
    """GET `url` until `done(answer)`; the last answer."""
    deadline = time.monotonic() + WAIT_S
    while True:
        response = requests.get(url, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        answer = response.json()
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(POLL_S)


def mesh_of(content: bytes, file_type: str) -> trimesh.Trimesh:
    """The downloaded file read back by trimesh, all of its geometry in one mesh."""
    loaded = trimesh.load(io.BytesIO(content), file_type=file_type, force="mesh")
    assert isinstance(loaded, trimesh.Trimesh)
    return loaded


def job_ids_in_history(base: str, headers: dict | None = None) -> set[str]:
    """The ids /list_jobs (the History tab's endpoint) shows."""
    client = Client(base, verbose=False, headers=headers)
    return {job["id"] for job in client.predict(200, "", api_name="/list_jobs")}


# -- docs ---------------------------------------------------------------------------------------------


def test_openapi_docs_list_every_family(server):
    docs = requests.get(f"{server['base']}/docs", timeout=30)
    assert docs.status_code == 200 and "swagger" in docs.text.lower() and "/openapi.json" in docs.text
    paths = requests.get(f"{server['base']}/openapi.json", timeout=30).json()["paths"]
    for path in ("/api/v1/file-upload/image", "/api/v1/mesh-generation/text-to-textured-mesh",
                 "/api/v1/mesh-segmentation/segment-mesh", "/api/v1/auto-rigging/generate-rig",
                 "/api/v1/system/jobs/{job_id}/download", "/api/generate", "/api/status", "/image_to_3d",
                 "/my_requests", "/queue/status", "/api/models/generate", "/api/models/download/{model_id}",
                 "/generate"):
        assert path in paths, path
    assert "requestBody" in paths["/image_to_3d"]["post"]  # the multipart form is documented, though read by hand


# -- 3DAIGC-API -----------------------------------------------------------------------------------------


def upload(base: str, kind: str, path, headers: dict | None = None) -> str:
    with open(path, "rb") as handle:
        response = requests.post(f"{base}/api/v1/file-upload/{kind}", headers=headers, timeout=60,
                                 files={"file": (path.name, handle, "application/octet-stream")})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["file_type"] == kind and answer["filename"] == path.name and answer["expires_at"]
    return answer["file_id"]


def aigc_jobs(base: str) -> dict[str, tuple[str, dict]]:
    """One job per generation route, as the seed's test client sends them (file ids from uploads)."""
    image = upload(base, "image", ASSETS / "toy_front.png")
    mesh = upload(base, "mesh", ASSETS / "capsule.glb")
    parts = upload(base, "mesh", ASSETS / "parts.glb")
    figure = upload(base, "mesh", ASSETS / "figure.glb")
    return {
        "text_to_raw_mesh": ("mesh-generation/text-to-raw-mesh",
                             {"text_prompt": "A red sports car", "model_preference": "trellis_text_to_raw_mesh"}),
        "text_to_textured_mesh": ("mesh-generation/text-to-textured-mesh",
                                  {"text_prompt": "A cute robot cat", "texture_prompt": "shiny metallic paint",
                                   "texture_resolution": 1024, "output_format": "glb",
                                   "model_preference": "trellis_text_to_textured_mesh"}),
        "text_mesh_painting": ("mesh-generation/text-mesh-painting",
                               {"text_prompt": "rusty metal texture", "mesh_file_id": mesh, "texture_resolution": 512,
                                "output_format": "glb", "model_preference": "trellis_text_mesh_painting"}),
        "image_to_raw_mesh": ("mesh-generation/image-to-raw-mesh",
                              {"image_file_id": image, "output_format": "ply",
                               "model_preference": "hunyuan3d_image_to_raw_mesh"}),
        "image_to_textured_mesh": ("mesh-generation/image-to-textured-mesh",
                                   {"image_file_id": image, "texture_resolution": 1024, "output_format": "glb",
                                    "model_preference": "trellis_image_to_textured_mesh"}),
        "image_mesh_painting": ("mesh-generation/image-mesh-painting",
                                {"image_file_id": image, "mesh_file_id": mesh, "texture_resolution": 512,
                                 "output_format": "glb", "model_preference": "trellis_image_mesh_painting"}),
        "part_completion": ("mesh-generation/part-completion",
                            {"mesh_file_id": parts, "output_format": "glb", "model_preference": "holopart_part_completion"}),
        "mesh_segmentation": ("mesh-segmentation/segment-mesh",
                              {"mesh_file_id": figure, "num_parts": 4, "output_format": "glb",
                               "model_preference": "partfield_mesh_segmentation"}),
        "auto_rig": ("auto-rigging/generate-rig",
                     {"mesh_file_id": figure, "rig_mode": "skeleton", "output_format": "fbx",
                      "model_preference": "unirig_auto_rig"}),
    }


def test_aigc_every_generation_route_runs_to_a_downloadable_file(server):
    base = server["base"]
    api = f"{base}/api/v1"
    submitted = {}
    for feature, (route, body) in aigc_jobs(base).items():
        response = requests.post(f"{api}/{route}", json=body, timeout=60)
        assert response.status_code == 200, (route, response.text)
        answer = response.json()
        assert answer["status"] == "queued" and "queued successfully" in answer["message"]
        submitted[feature] = (answer["job_id"], body)
    for feature, (job_id, body) in submitted.items():
        status = poll(f"{api}/system/jobs/{job_id}", lambda a: a["status"] in ("completed", "failed"))
        assert status["status"] == "completed", (feature, status)
        assert status["feature"] == feature and status["model_preference"] == body["model_preference"]
        # the named model is not installed here: the best available pipeline ran, and the job says so
        assert status["pipeline"] == server["studio"].registry.get(AIGC_FEATURES[feature][0], "auto").name
        assert any(body["model_preference"] in w and "not installed" in w for w in status["warnings"]), status
        result = status["result"]
        assert result["mesh_url"] == f"{api}/system/jobs/{job_id}/download"
        info = requests.get(f"{api}/system/jobs/{job_id}/info", timeout=30).json()
        assert info["file_info"]["file_exists"] and info["file_info"]["filename"].endswith(body["output_format"] if
                                                                                           "output_format" in body else "glb")
        download = requests.get(result["mesh_url"], timeout=60)
        assert download.status_code == 200 and download.headers["x-job-id"] == job_id
        assert len(download.content) == info["file_info"]["file_size_bytes"]
        fmt = body.get("output_format", "glb")
        if fmt == "fbx":
            assert download.content.startswith(b"Kaydara FBX Binary")
            assert download.headers["content-type"] == "model/fbx"
        else:
            assert len(mesh_of(download.content, fmt).faces) > 0, feature
        if feature == "mesh_segmentation":
            scene = trimesh.load(io.BytesIO(download.content), file_type="glb")
            assert len(scene.geometry) >= 2  # one node per part
        encoded = requests.get(f"{api}/system/jobs/{job_id}/download", params={"format": "base64"}, timeout=60).json()
        assert base64.b64decode(encoded["base64_data"]) == download.content
    # the same jobs are in the studio's History
    assert {job_id for job_id, _ in submitted.values()} <= job_ids_in_history(base)
    history = requests.get(f"{api}/system/jobs/history", params={"feature": "auto_rig", "status": "completed"},
                           timeout=30).json()
    assert submitted["auto_rig"][0] in {job["job_id"] for job in history["jobs"]}
    assert all(job["feature"] == "auto_rig" for job in history["jobs"])
    page = requests.get(f"{api}/system/jobs/history", params={"limit": 2, "offset": 1}, timeout=30).json()
    assert len(page["jobs"]) == 2 and page["pagination"]["has_more"] and page["pagination"]["total"] >= 9


def test_aigc_seed_test_client_rig_path_and_system_routes(server):
    """The seed's own test client posts rigging to /auto-rig/generate-rig; system routes answer as documented."""
    api = f"{server['base']}/api/v1"
    mesh = upload(server["base"], "mesh", ASSETS / "figure.glb")
    response = requests.post(f"{api}/auto-rig/generate-rig", timeout=60,
                             json={"mesh_file_id": mesh, "rig_mode": "skeleton", "output_format": "glb",
                                   "model_preference": "unirig_auto_rig"})
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    assert poll(f"{api}/system/jobs/{job_id}", lambda a: a["status"] in ("completed", "failed"))["status"] == "completed"
    rigged = requests.get(f"{api}/system/jobs/{job_id}/download", timeout=60).content
    assert "skins" in json.loads(rigged[20:20 + int.from_bytes(rigged[12:16], "little")])  # a skinned glTF
    health = requests.get(f"{api}/system/health", timeout=30).json()
    assert health["status"] == "healthy" and 0 <= health["uptime"] < 24 * 3600  # seconds since start, not a date
    status = requests.get(f"{api}/system/status", timeout=30).json()
    assert {"system", "gpu", "models", "queue"} <= set(status) and status["system"]["memory"]["total"] > 0
    features = requests.get(f"{api}/system/features", timeout=30).json()
    assert {f["name"] for f in features["features"]} >= {"text_to_textured_mesh", "mesh_segmentation", "auto_rig"}
    models = requests.get(f"{api}/system/models", timeout=30).json()
    assert models["available_models"]["auto_rig"] == ["builtin"]
    assert models["aliases"]["auto_rig"]["unirig_auto_rig"] == "builtin"
    assert requests.get(f"{api}/system/models", params={"feature": "auto_rig"}, timeout=30).json()["models"] == ["builtin"]
    # a studio pipeline that cannot run here (Hunyuan3D-2 needs a CUDA GPU and its weights) falls back the same way
    if any(p.name == "hunyuan3d-2" for p in server["studio"].registry.available("image_to_3d")):
        return
    image = upload(server["base"], "image", ASSETS / "toy_photo.jpg")
    response = requests.post(f"{api}/mesh-generation/image-to-raw-mesh", timeout=60,
                             json={"image_file_id": image, "model_preference": "hunyuan3d-2"})
    assert response.status_code == 200 and "'hunyuan3d-2' is not installed here" in response.json()["message"]
    done = poll(f"{api}/system/jobs/{response.json()['job_id']}", lambda a: a["status"] in ("completed", "failed"))
    assert done["status"] == "completed" and done["pipeline"] == server["studio"].registry.get("image_to_3d", "auto").name


def test_aigc_refusals_say_what_to_change(server):
    api = f"{server['base']}/api/v1"
    missing = requests.post(f"{api}/mesh-segmentation/segment-mesh", json={"mesh_file_id": "0" * 24}, timeout=30)
    assert missing.status_code == 404 and missing.json()["error"] == "NOT_FOUND"
    assert "upload the mesh again" in missing.json()["message"]
    server_path = requests.post(f"{api}/mesh-generation/image-to-raw-mesh", json={"image_path": "/etc/passwd"}, timeout=30)
    assert server_path.status_code == 400 and "image_file_id" in server_path.json()["message"]
    image = upload(server["base"], "image", ASSETS / "toy_front.png")
    wrong_kind = requests.post(f"{api}/mesh-segmentation/segment-mesh", json={"mesh_file_id": image}, timeout=30)
    assert wrong_kind.status_code == 400 and "uploaded as a image" in wrong_kind.json()["message"]
    bad_format = requests.post(f"{api}/mesh-generation/text-to-raw-mesh", timeout=30,
                               json={"text_prompt": "a chair", "output_format": "dwg"})
    assert bad_format.status_code == 400 and "output_format" in bad_format.json()["message"]
    not_mesh = requests.post(f"{api}/file-upload/mesh", files={"file": ("notes.txt", b"hello")}, timeout=30)
    assert not_mesh.status_code == 400 and "glb" in not_mesh.json()["message"]
    assert requests.get(f"{api}/system/jobs/nosuchjob", timeout=30).status_code == 404


# -- Hunyuan3D-2.1 ----------------------------------------------------------------------------------------


def test_hunyuan_generate_status_and_glb(server):
    base = server["base"]
    assert requests.get(f"{base}/api/health", timeout=30).json() == {"status": "ok", "version": "2.1"}
    files = {view: (f"{view}.png", open(ASSETS / f"toy_{view}.png", "rb"), "image/png") for view in ("front", "back")}
    options = {"enable_pbr": True, "should_texture": True, "should_remesh": True}
    response = requests.post(f"{base}/api/generate", files=files, data={"options": json.dumps(options)}, timeout=60)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "queued"
    seen = set()

    def finished(answer):
        seen.add(answer["stage"])
        assert 0 <= answer["progress"] <= 100
        return answer["status"] in ("completed", "failed")

    data = poll(f"{base}/api/status?job_id={job['job_id']}", finished)
    assert data["status"] == "completed" and data["stage"] == "completed" and data["progress"] == 100, data
    assert seen <= {"queued", "initializing", "preprocessing", "shape_generation", "face_reduction",
                    "texture_generation", "completed"}
    glb = requests.get(data["model_urls"]["glb"], timeout=60)
    assert glb.status_code == 200 and glb.headers["content-type"] == "model/gltf-binary"
    assert len(mesh_of(glb.content, "glb").faces) > 0
    assert job["job_id"] in job_ids_in_history(base)
    bad = requests.post(f"{base}/api/generate", files={"front": ("f.png", open(ASSETS / "toy_front.png", "rb"))},
                        data={"options": '{"should_texture": "yes"}'}, timeout=30)
    assert bad.status_code == 400 and "should_texture" in bad.json()["detail"]
    assert requests.get(f"{base}/api/status?job_id=unknown", timeout=30).status_code == 404


# -- TRELLIS ------------------------------------------------------------------------------------------------


def test_trellis_image_to_3d_my_requests_and_outputs(server):
    base = server["base"]
    with open(ASSETS / "toy_front.png", "rb") as handle:
        response = requests.post(f"{base}/image_to_3d", timeout=60,
                                 files={"image": ("toy.png", handle, "image/png")},
                                 data={"sparse_structure_sample_steps": 12, "ss_cfg_strength": "7.5",
                                       "slat_sample_steps": 12, "texture_size": 1024})
    assert response.status_code == 200, response.text
    request_id = response.json()["request_id"]
    assert response.json()["status"] == "queued"
    encoded = base64.b64encode((ASSETS / "toy_photo.jpg").read_bytes()).decode()
    by_json = requests.post(f"{base}/image_to_3d", json={"image_data": encoded, "image_name": "photo.jpg"}, timeout=60)
    assert by_json.status_code == 200, by_json.text

    def row(answer, rid=request_id):
        return next((r for r in answer["requests"] if r["request_id"] == rid), None)

    for rid in (request_id, by_json.json()["request_id"]):
        answer = poll(f"{base}/my_requests", lambda a, rid=rid: (row(a, rid) or {}).get("status") in ("complete", "error"))
        task = row(answer, rid)
        assert task["status"] == "complete", task
        assert task["image_name"].endswith((".png", ".jpg")) and task["error"] is None
        glb_url = next(url for url in task["output_files"] if url.endswith(".glb"))
        glb = requests.get(glb_url, timeout=60)
        assert glb.status_code == 200 and len(mesh_of(glb.content, "glb").faces) > 0
    record = server["studio"].jobs.get(request_id)
    assert record["parameters"]["steps"] == 12 and record["parameters"]["guidance"] == 7.5  # sampling reached the job
    queue = requests.get(f"{base}/queue/status", params={"request_id": request_id}, timeout=30).json()
    assert {"queue_length", "processing", "client_queue_length", "client_processing"} <= set(queue)
    assert queue["request"]["status"] == "complete"
    missing = requests.post(f"{base}/image_to_3d", data={"slat_sample_steps": 12}, timeout=30)
    assert missing.status_code == 400 and "image" in missing.json()["error"]
    bad = requests.post(f"{base}/image_to_3d", files={"image": ("t.png", b"x")}, data={"slat_sample_steps": "many"},
                        timeout=30)
    assert bad.status_code == 400 and "slat_sample_steps" in bad.json()["error"]


def test_trellis_text_to_3d_and_status_as_the_seed_test_client_calls_them(server):
    base = server["base"]
    assert requests.get(f"{base}/status", timeout=30).status_code == 200  # the seed client's "is the server up"
    response = requests.post(f"{base}/text_to_3d", timeout=60,
                             json={"text": "a wooden chair", "ss_sample_steps": 30, "ss_cfg_strength": 7.5})
    assert response.status_code == 200, response.text
    request_id = response.json()["request_id"]
    answer = poll(f"{base}/my_requests", lambda a: any(r["request_id"] == request_id and r["status"] in
                                                       ("complete", "error") for r in a["requests"]))
    task = next(r for r in answer["requests"] if r["request_id"] == request_id)
    assert task["status"] == "complete" and task["task_type"] == "text_to_3d" and task["text"] == "a wooden chair"
    glb = requests.get(task["output_files"][0], timeout=60)
    assert len(mesh_of(glb.content, "glb").faces) > 0
    assert requests.post(f"{base}/text_to_3d", json={"text": " "}, timeout=30).status_code == 400


def test_upload_metadata_and_synchuman_info(server):
    base = server["base"]
    file_id = upload(base, "mesh", ASSETS / "capsule.glb")
    meta = requests.get(f"{base}/api/v1/file-upload/metadata/{file_id}", timeout=30).json()
    assert meta["is_available"] and meta["file_type"] == "mesh" and meta["filename"] == "capsule.glb"
    assert meta["file_size_mb"] == round((ASSETS / "capsule.glb").stat().st_size / 2**20, 4)
    assert requests.get(f"{base}/api/v1/file-upload/metadata/{'f' * 24}", timeout=30).status_code == 404
    info = requests.get(f"{base}/info", timeout=30).json()
    assert info["stage2"]["available"] and info["stage2"]["pipeline"]


# -- PromptAR --------------------------------------------------------------------------------------------------


def test_promptar_generate_and_download(server):
    base = server["base"]
    response = requests.post(f"{base}/api/models/generate", json={"prompt": "a red sports car", "mode": "basic"},
                             timeout=WAIT_S)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "success" and "basic mode" in answer["message"]
    assert answer["download_url"] == f"/api/models/download/{answer['model_id']}"
    glb = requests.get(base + answer["download_url"], timeout=60)
    assert glb.status_code == 200 and len(mesh_of(glb.content, "glb").faces) > 0
    record = server["studio"].jobs.get(answer["model_id"])
    shap_e_here = any(p.name == "shap-e" for p in server["studio"].registry.available("text_to_3d"))
    assert shap_e_here or any("shap-e" in w for w in record["metadata"]["warnings"])
    assert requests.get(f"{base}/health", timeout=30).json()["status"] == "ok"
    bad = requests.post(f"{base}/api/models/generate", json={"prompt": "", "mode": "advanced"}, timeout=30)
    assert bad.status_code == 400 and "prompt" in bad.json()["detail"]


# -- SyncHuman ------------------------------------------------------------------------------------------------


def test_synchuman_generate_zip_and_json(server):
    base = server["base"]
    with open(ASSETS / "toy_front.png", "rb") as handle:
        response = requests.post(f"{base}/generate", files={"image": ("image.png", handle, "image/png")},
                                 data={"download": True}, timeout=WAIT_S)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip", response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = set(archive.namelist())
        assert {"stage1/input.png", "stage2/output.glb", "stage2/output_mesh.ply"} <= names
        assert any(n.startswith("stage1/preprocessed_") for n in names)
        assert len(mesh_of(archive.read("stage2/output.glb"), "glb").faces) > 0
        assert len(mesh_of(archive.read("stage2/output_mesh.ply"), "ply").faces) > 0
        assert archive.read("stage1/input.png") == (ASSETS / "toy_front.png").read_bytes()
    with open(ASSETS / "toy_front.png", "rb") as handle:
        answer = requests.post(f"{base}/generate", files={"image": ("image.png", handle, "image/png")},
                               timeout=WAIT_S).json()
    assert answer["status"] == "completed" and answer["stage2"]["files"]["output"] == "output.glb"
    ply = requests.get(answer["stage2"]["urls"]["output_mesh.ply"], timeout=60)
    assert ply.status_code == 200 and len(mesh_of(ply.content, "ply").faces) > 0
    refused = requests.post(f"{base}/generate", data={"image_url": "https://example.com/a.png"}, timeout=30)
    assert refused.status_code == 400 and "upload" in refused.json()["detail"]


# -- accounts and limits --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """A studio with --auth (alice and bob, each with an API key), a rate limit of 2 jobs a minute and uploads up
    to 1 MB."""
    folder = tmp_path_factory.mktemp("rest_accounts")
    users_file = folder / "users.json"
    keys = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("alice", "bob"):
            monkeypatch.setattr("sys.stdin", io.StringIO(f"{name}-password\n"))
            users_cli(["add", name, "--file", str(users_file), "--password-stdin"])
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                users_cli(["key", name, "--file", str(users_file)])
            keys[name] = {"X-API-Key": out.getvalue().strip()}
    with launched(folder / "outputs", "--auth", str(users_file), "--rate-limit", "2", "--max-file-size", "1mb") as running:
        yield running["url"].rstrip("/"), keys


def test_rest_needs_a_key_and_shows_each_caller_only_their_jobs(accounts):
    base, keys = accounts
    image = ("toy.png", (ASSETS / "toy_front.png").read_bytes(), "image/png")
    assert requests.post(f"{base}/image_to_3d", files={"image": image}, timeout=30).status_code == 401
    assert requests.get(f"{base}/api/v1/system/jobs/history", timeout=30).status_code == 401
    assert requests.get(f"{base}/my_requests", timeout=30).status_code == 401
    ids = {}
    for name in ("alice", "bob"):
        response = requests.post(f"{base}/image_to_3d", files={"image": image}, headers=keys[name], timeout=60)
        assert response.status_code == 200, response.text
        ids[name] = response.json()["request_id"]
    for name, other in (("alice", "bob"), ("bob", "alice")):
        answer = poll(f"{base}/my_requests", lambda a: all(r["status"] in ("complete", "error") for r in a["requests"]),
                      headers=keys[name])
        assert [r["request_id"] for r in answer["requests"]] == [ids[name]]
        glb = requests.get(answer["requests"][0]["output_files"][0], headers=keys[name], timeout=60)
        assert glb.status_code == 200 and len(mesh_of(glb.content, "glb").faces) > 0
        # another user's job and files are not there for them
        assert requests.get(answer["requests"][0]["output_files"][0], headers=keys[other], timeout=60).status_code == 404
        assert requests.get(f"{base}/api/v1/system/jobs/{ids[other]}", headers=keys[name], timeout=30).status_code == 404
        history = requests.get(f"{base}/api/v1/system/jobs/history", headers=keys[name], timeout=30).json()
        assert [job["job_id"] for job in history["jobs"]] == [ids[name]]
        assert ids[name] in job_ids_in_history(base, keys[name]) and ids[other] not in job_ids_in_history(base, keys[name])


def test_uploads_past_the_size_limit_are_refused(accounts):
    base, keys = accounts
    big = ("big.png", b"\x89PNG" + bytes(1_100_000), "image/png")
    aigc = requests.post(f"{base}/api/v1/file-upload/image", files={"file": big}, headers=keys["bob"], timeout=60)
    assert aigc.status_code == 413 and "--max-file-size" in aigc.json()["message"]
    hunyuan = requests.post(f"{base}/api/generate", files={"front": big}, headers=keys["bob"], timeout=60)
    assert hunyuan.status_code == 413 and "larger than" in hunyuan.json()["detail"]


def test_rate_limit_answers_429_with_retry_after(accounts):
    base, keys = accounts
    answers = []
    for _ in range(3):  # 2 jobs a minute: by the third job of the minute at the latest, the answer is 429
        answers.append(requests.post(f"{base}/api/models/generate", json={"prompt": "a blue teapot", "mode": "advanced"},
                                     headers=keys["alice"], timeout=WAIT_S))
        if answers[-1].status_code != 200:
            break
    *accepted, refused = answers
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert "Rate limit" in refused.json()["detail"]
    for answer in accepted:
        glb = requests.get(base + answer.json()["download_url"], headers=keys["alice"], timeout=60)
        assert len(mesh_of(glb.content, "glb").faces) > 0


def test_a_job_store_from_before_clients_were_recorded_gains_the_column(tmp_path):
    """Per-caller listings (/my_requests) read the job's client; an older jobs.sqlite is upgraded in place."""
    import sqlite3

    from queueing.jobs import SCHEMA, JobStore

    old = sqlite3.connect(tmp_path / "jobs.sqlite")
    old.executescript(SCHEMA.replace("    client TEXT,\n", ""))
    old.execute("INSERT INTO jobs (id, feature, pipeline, status, folder, created) "
                "VALUES ('abc', 'text_to_3d', 'builtin', 'done', 'f', 1)")
    old.commit()
    old.close()
    store = JobStore(tmp_path)
    assert store.get("abc")["client"] is None
    job_id, _ = store.create("image_to_3d", "builtin", {}, "glb", None, "address:10.0.0.7")
    assert [r["id"] for r in store.recent(10, client="address:10.0.0.7")] == [job_id]
    assert {r["id"] for r in store.recent(10)} == {"abc", job_id}
