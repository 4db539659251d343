"""Fuzzing every endpoint: over a thousand seeded malformed requests, each answered with a result or a clear error.

The cases are generated from a fixed seed, so a run repeats: random bytes under every mesh and image
extension, malformed glTF JSON, zips with odd members, huge, tiny and degenerate coordinates, n-gons,
numeric edge cases, wrong types, unicode with control characters, and job ids that are not ids. Every
answer must be a valid result or a message that names what to change: never Gradio's generic
"Could not preprocess", an exception's type, an internal error or a server path. `/health` must answer
after every batch, and no job may hang (the runtime's time limit stops it).
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
import urllib.request
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from .conftest import ROOT, launched

pytestmark = pytest.mark.slow

SEED = 20261202
MESH_EXTENSIONS = ("glb", "gltf", "obj", "ply", "stl", "off", "zip")
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif", "bmp", "tiff")
GENERIC = re.compile(r"Could not preprocess|Traceback|internal error|pydantic|validation error|object has no attribute|"
                     r"NoneType|\b(Index|Key|Type|Value|Attribute|Runtime|Assertion|ZeroDivision|Overflow)Error\b|"
                     r"/tmp/|/work/|/root/|/home/|" + re.escape(str(ROOT)))
MESH_ENDPOINTS = {
    "/convert_mesh": lambda mesh: dict(mesh=mesh, output_format="glb", target_faces=None, repair=True),
    "/segment_mesh": lambda mesh: dict(mesh=mesh, num_parts=3),
    "/rig_mesh": lambda mesh: dict(mesh=mesh),
    "/complete_parts": lambda mesh: dict(mesh=mesh),
    "/paint_mesh": lambda mesh: dict(mesh=mesh, prompt="red plastic", texture_size=512),
}


def obj_text(vertices, faces) -> str:
    return "".join(f"v {x!r} {y!r} {z!r}\n" for x, y, z in vertices) + "".join(
        "f " + " ".join(str(i + 1) for i in face) + "\n" for face in faces)


def zip_bytes(members: list[tuple[str, bytes]], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16  # a symbolic link to /etc/passwd
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def glb_bytes(document) -> bytes:
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    return b"glTF" + struct.pack("<II", 2, 12 + 8 + len(text)) + struct.pack("<I", len(text)) + b"JSON" + text


def nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = {"a": [value]}
    return value


def mesh_files(rng: random.Random) -> list[tuple[str, bytes]]:
    """(file name, content) pairs of odd meshes."""
    box = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nv 1 0 1\nv 1 1 1\nv 0 1 1\n" \
          "f 1 2 3 4\nf 5 6 7 8\nf 1 2 6 5\nf 2 3 7 6\nf 3 4 8 7\nf 4 1 5 8\n"
    files = []
    for ext in MESH_EXTENSIONS:
        for size in (0, 1, 7, 64, 4096):
            files.append((f"random{size}.{ext}", rng.randbytes(size)))
        files.append((f"text.{ext}", "mesh? no. ünïcödé \u202e\x00".encode()))
    gltf_documents = [[], "a string", 42, None, {"asset": None}, {"buffers": "x"}, {"meshes": [1, 2]},
                      {"asset": {"version": "2.0"}, "meshes": [{"primitives": [{"attributes": {"POSITION": 99}}]}]},
                      {"asset": {"version": "2.0"}, "accessors": [{"count": -1, "componentType": 5126, "type": "VEC3"}],
                       "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}]},
                      {"asset": {"version": "2.0"}, "buffers": [{"byteLength": 10**15}]},
                      {"asset": {"version": "2.0"}, "buffers": [{"uri": "/etc/passwd", "byteLength": 10}]},
                      {"asset": {"version": "2.0"}, "images": [{"uri": "../../secret.png"}]},
                      {"asset": {"version": "2.0"}, "scenes": [{"nodes": [0]}], "nodes": [{"children": [0]}]},
                      {"asset": {"version": "2.0"}, "extensionsRequired": ["KHR_draco_mesh_compression"]},
                      {"asset": {"version": "2.0"}, "extensionsRequired": "not a list"}, nested(60)]
    for index, document in enumerate(gltf_documents):
        files.append((f"bad{index}.gltf", json.dumps(document).encode()))
        files.append((f"bad{index}.glb", glb_bytes(document)))
    files.append(("deep.gltf", ("[" * 100_000 + "]" * 100_000).encode()))
    files += [
        ("dir_and_file.zip", zip_bytes([("a", b"x"), ("a/b.obj", box.encode())])),
        ("symlink.zip", zip_bytes([("m.obj", box.encode())], symlink="link.obj")),
        ("escape.zip", zip_bytes([("../../escape.obj", box.encode())])),
        ("absolute.zip", zip_bytes([("/tmp/absolute.obj", box.encode())])),
        ("empty.zip", zip_bytes([])),
        ("two_meshes.zip", zip_bytes([("a.obj", box.encode()), ("b.obj", box.encode())])),
        ("only_mtl.zip", zip_bytes([("m.mtl", b"newmtl m\nmap_Kd /etc/passwd\n")])),
        ("nested.zip", zip_bytes([("inner.zip", zip_bytes([("m.obj", box.encode())]))])),
        ("unicode.zip", zip_bytes([("módel\u202e.obj", box.encode())])),
        ("mtl_outside.zip", zip_bytes([("m.obj", ("mtllib ../../../etc/m.mtl\n" + box).encode())])),
    ]
    for scale in (1e38, 1e30, 1e12, 1e-12, 1e-30):
        files.append((f"scale{scale:g}.obj", obj_text([(x * scale, y * scale, z * scale) for x, y, z in
                                                       [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]],
                                                      [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]).encode()))
    files += [
        ("huge_triangle.obj", b"v 1e38 1e38 1e38\nv -1e38 1e38 -1e38\nv 1e38 -1e38 1e38\nf 1 2 3\n"),
        ("point.obj", b"v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\n"),
        ("line.obj", b"v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n"),
        ("nan.obj", b"v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"),
        ("bad_index.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99\n"),
        ("one_triangle.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"),
        ("two_islands.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 5 5 5\nv 6 5 5\nv 5 6 5\nf 1 2 3\nf 4 5 6\n"),
    ]
    for sides in (5, 64, 1000):
        ring = [(float(round(__import__("math").cos(a), 6)), float(round(__import__("math").sin(a), 6)), 0.0)
                for a in (2 * 3.141592653589793 * i / sides for i in range(sides))]
        files.append((f"ngon{sides}.obj", obj_text(ring, [tuple(range(sides))]).encode()))
    return files


def image_files(rng: random.Random) -> list[tuple[str, bytes]]:
    files = []
    for ext in IMAGE_EXTENSIONS:
        for size in (0, 8, 300):
            files.append((f"random{size}.{ext}", rng.randbytes(size)))
    png = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(png, "PNG")
    files += [("truncated.png", png.getvalue()[:60]), ("one_pixel.png", _image((1, 1))),
              ("transparent.png", _image((64, 64), (0, 0, 0, 0))), ("wide.png", _image((4000, 2))),
              ("bomb.png", _png_header(60000, 60000)), ("vector.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>'),
              ("mesh.glb", glb_bytes({"asset": {"version": "2.0"}}))]
    return files


def _image(size, colour=(30, 120, 200, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, colour).save(out, "PNG")
    return out.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a huge size (a decompression bomb) with almost no data."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


ODD_VALUES = ["abc", "", None, -1, 0, 1, 2**31, 2**64, -(2**64), 1e308, 3.5, -0.0, True, [1], {"a": 1}, "12",
              " 7 ", "1e5", "0x10", "٣"]
ODD_TEXT = ["", " ", "\x00", "a\x00b", "\u202e evil", "🪑" * 50, "x" * 10_000, "a chair\r\n\t", "\ud7ff", "NULL",
            "'; DROP TABLE jobs; --", "../../etc/passwd", "%s%n%x", "<script>alert(1)</script>", "a" * 501,
            "\u200b\u200b", "chair" + "\u0301" * 40, "ǅemo", "\x7f", "a red chair"]


def cases(tmp: Path) -> list[tuple[str, dict]]:
    rng = random.Random(SEED)
    out = []
    for name, content in mesh_files(rng):
        path = tmp / "meshes" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        for endpoint, make in MESH_ENDPOINTS.items():
            out.append((endpoint, make(str(path))))
    toy = str(ROOT / "assets" / "toy_front.png")
    capsule = str(ROOT / "assets" / "capsule.glb")
    for name, content in image_files(rng):
        path = tmp / "images" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        out.append(("/image_to_3d", dict(front=str(path), face_count=2000)))
        out.append(("/image_to_3d", dict(front=toy, back=str(path), face_count=2000)))
        out.append(("/paint_mesh", dict(mesh=capsule, image=str(path), texture_size=512)))
    numeric = {
        "/text_to_3d": (dict(prompt="a red chair"), ("seed", "guidance", "steps", "detail", "textured")),
        "/image_to_3d": (dict(front=toy, face_count=2000), ("seed", "steps", "guidance", "octree_resolution",
                                                            "face_count", "textured", "remove_background")),
        "/paint_mesh": (dict(mesh=capsule, prompt="oak wood"), ("texture_size", "seed")),
        "/segment_mesh": (dict(mesh=capsule), ("num_parts",)),
        "/convert_mesh": (dict(mesh=capsule), ("target_faces", "repair")),
    }
    for endpoint, (base, params) in numeric.items():
        for param in params:
            for value in ODD_VALUES:
                out.append((endpoint, {**base, param: value}))
    for endpoint in ("/text_to_3d", "/segment_mesh", "/rig_mesh", "/complete_parts", "/paint_mesh"):
        base = dict(prompt="a cup") if endpoint == "/text_to_3d" else dict(mesh=capsule)
        for value in ODD_TEXT[:12]:
            out.append((endpoint, {**base, "pipeline": value}))
            out.append((endpoint, {**base, "output_format": value}))
    for value in ODD_TEXT:
        out.append(("/text_to_3d", dict(prompt=value)))
        out.append(("/paint_mesh", dict(mesh=capsule, prompt=value)))
        out.append(("/rig_mesh", dict(mesh=capsule, mode=value)))
        out.append(("/rig_mesh", dict(mesh=capsule, up_axis=value)))
        out.append(("/paint_mesh", dict(mesh=capsule, prompt="oak wood", up_axis=value)))
    for endpoint in ("/job_status", "/job_result", "/rerun_job", "/cancel_job", "/delete_job"):
        for value in [*ODD_TEXT, "0" * 12, "abcdef123456"]:
            out.append((endpoint, dict(job_id=value)))
    for limit in ODD_VALUES:
        out.append(("/list_jobs", dict(limit=limit, feature="")))
    for feature in ODD_TEXT:
        out.append(("/list_jobs", dict(limit=5, feature=feature)))
    return out


def as_upload(endpoint: str, arguments: dict) -> dict:
    files = {"mesh", "front", "back", "left", "right", "image"}
    return {k: handle_file(v) if k in files and isinstance(v, str) and Path(v).is_file() else v
            for k, v in arguments.items()}


def test_a_thousand_malformed_requests_get_results_or_clear_errors(tmp_path):
    generated = cases(tmp_path)
    assert len(generated) >= 1000
    generic, hung = [], []
    with launched(tmp_path / "outputs", "--rate-limit", "0", "--client-jobs", "0", "--queue-size", "64",
                  "--job-timeout", "20", "--upload-quota", "0") as server:
        client = Client(server["url"], verbose=False)
        for batch_start in range(0, len(generated), 100):
            for endpoint, arguments in generated[batch_start:batch_start + 100]:
                try:
                    result = client.submit(**as_upload(endpoint, arguments), api_name=endpoint).result(timeout=120)
                    message = json.dumps(result, default=str) if endpoint in ("/list_jobs", "/job_status") else ""
                except AppError as exc:
                    message = str(exc)
                except TimeoutError:
                    hung.append((endpoint, arguments))
                    continue
                if GENERIC.search(message):
                    generic.append((endpoint, _short(arguments), message[:300]))
            with urllib.request.urlopen(f"{server['url']}health", timeout=10) as answer:
                assert json.loads(answer.read())["status"] == "ok"
    assert not hung, hung[:5]
    messages = sorted({message for _, _, message in generic})
    assert not generic, f"{len(generic)} generic answers, {len(messages)} distinct: {messages}; e.g. {generic[:3]}"


def _short(arguments: dict) -> dict:
    return {k: (Path(v).name if isinstance(v, str) and "/" in v else repr(v)[:40]) for k, v in arguments.items()}
