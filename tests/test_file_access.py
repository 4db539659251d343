"""No file outside the outputs, the uploads and `assets/` can be read through any event.

Every `fn_index` of the app, queued or not, public or private, is called with payloads that name files
elsewhere (as plain strings, as Gradio FileData, inside dicts and lists, as a gallery would carry them).
Whatever the answers link to is fetched, and none of it may be one of those files.
"""

from __future__ import annotations

import json
import re
import secrets
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT


def post(url: str, body: dict) -> tuple[int, str]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def payloads(path: str) -> list:
    file_data = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": Path(path).name}
    return [
        path,
        file_data,
        {"path": path, "url": f"/gradio_api/file={path}"},
        [path],
        [file_data],
        [[path, "caption"]],
        {"x": path},
        {"job_id": "x", "images": {"x": path}},
    ]


@pytest.fixture(scope="module")
def secrets_outside(tmp_path_factory):
    """Files the server must never serve: one in the system's temp folder, an SVG elsewhere, the app's source."""
    marker = f"studio-secret-{secrets.token_hex(8)}"  # the content; the names differ, since errors may echo them
    temp = Path(tempfile.gettempdir()) / f"studio-probe-{secrets.token_hex(4)}.txt"
    temp.write_text(marker)
    svg = tmp_path_factory.mktemp("elsewhere") / "secret.svg"
    svg.write_text(f'<svg xmlns="http://www.w3.org/2000/svg"><title>{marker}</title></svg>')
    yield marker, [str(temp), str(svg), str(ROOT / "app.py"), str(ROOT / ".git" / "config")]
    temp.unlink(missing_ok=True)


def linked_files(text: str) -> set[str]:
    """Every file an answer links to or names."""
    links = set(re.findall(r"/gradio_api/file=([^\"'\s\\]+)", text))
    links |= set(re.findall(r'"path":\s*"([^"]+)"', text))
    return links


def test_no_event_serves_a_file_from_outside(studio_server, secrets_outside):
    url = studio_server["url"]
    marker, paths = secrets_outside
    app_source = (ROOT / "app.py").read_bytes()
    dependencies = studio_server["demo"].config["dependencies"]
    answers = []
    for dependency in dependencies:
        count = len(dependency["inputs"])
        for path in paths:
            for payload in payloads(path):
                body = {"data": [payload] * count, "fn_index": dependency["id"],
                        "session_hash": f"probe{secrets.token_hex(6)}", "event_data": None, "trigger_id": None}
                if dependency.get("queue") is False:
                    answers.append(post(f"{url}gradio_api/run/predict", body)[1])
                else:
                    code, text = post(f"{url}gradio_api/queue/join", body)
                    answers.append(text)
                    if code == 200:
                        answers.append(read_stream(url, body["session_hash"]))
    served = set()
    for answer in answers:
        assert marker not in answer
        for link in linked_files(answer):
            code, content = get(f"{url}gradio_api/file={link}")
            if code == 200:
                served.add(link)
                assert marker.encode() not in content and content != app_source, link
    # Whatever was served lies inside the outputs, the uploads or assets/.
    outputs, assets = Path(studio_server["outputs"]).resolve(), (ROOT / "assets").resolve()
    for link in served:
        resolved = Path(link).resolve()
        assert (resolved.is_relative_to(outputs) or resolved.is_relative_to(assets)
                or resolved.is_relative_to(Path(tempfile.gettempdir()) / "gradio")), link


def read_stream(url: str, session_hash: str) -> str:
    """The queue's event stream for one session, until its job completes."""
    lines = []
    with urllib.request.urlopen(f"{url}gradio_api/queue/data?session_hash={session_hash}", timeout=120) as stream:
        for raw in stream:
            line = raw.decode(errors="replace").strip()
            lines.append(line)
            if '"msg": "process_completed"' in line or '"msg":"process_completed"' in line \
                    or '"close_stream"' in line:
                break
    return "\n".join(lines)
