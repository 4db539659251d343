"""The studio in a real browser: headless Chromium runs a mesh tools job through the UI and the viewer draws it.

Debian's `chromium` renders WebGL through SwiftShader, so the Model3D canvas can be read back as pixels.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import ROOT, assert_valid_glb

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
if not Path(CHROMIUM).is_file():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

TEXTURED_ZIP = ROOT / "assets" / "textured_box.zip"


@pytest.fixture(scope="module")
def page(studio_server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(studio_server["url"])
        yield page
        browser.close()


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def model_pixels(image: np.ndarray) -> np.ndarray:
    """Pixels that differ from the canvas background (its most common colour)."""
    flat = image.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    return flat[np.abs(flat - background).sum(axis=1) > 40]


def texture_colours(model: np.ndarray) -> dict[str, float]:
    """Share of the model's pixels in each of the checker texture's red, green and blue cells."""
    if not len(model):
        return {"red": 0.0, "green": 0.0, "blue": 0.0}
    r, g, b = model.T
    return {
        "red": float(np.mean((r > g + 60) & (r > b + 60))),
        "green": float(np.mean((g > r + 40) & (g > b + 20))),
        "blue": float(np.mean((b > r + 60) & (b > g + 20))),
    }


def test_mesh_tools_job_in_the_browser_draws_the_textured_model(page, studio_server):
    outputs = Path(studio_server["outputs"])
    jobs_before = set(outputs.iterdir())
    page.get_by_role("tab", name="Mesh tools").click()
    panel = page.get_by_role("tabpanel").filter(visible=True)
    assert panel.locator("canvas").count() == 0, "the viewer shows something before any job ran"

    with page.expect_response(lambda response: "/gradio_api/upload" in response.url) as upload:
        panel.locator("input[type=file]").set_input_files(str(TEXTURED_ZIP))
    assert upload.value.ok
    panel.get_by_role("button", name="Convert").click()

    canvas = panel.locator("canvas").first
    canvas.wait_for(state="visible")
    # Babylon.js loads the GLB and draws over a few frames; read the canvas until the model is there.
    deadline = time.monotonic() + 60
    while True:
        model = model_pixels(pixels(canvas.screenshot()))
        colours = texture_colours(model)
        if min(colours.values()) > 0.02 or time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)

    image = pixels(canvas.screenshot())
    assert len(model) / (image.shape[0] * image.shape[1]) > 0.05, "the viewer canvas is blank"
    # The checker texture reached the viewer (not a flat or black silhouette).
    assert min(colours.values()) > 0.02, colours
    assert len(np.unique(model // 16, axis=0)) > 20

    new_jobs = set(outputs.iterdir()) - jobs_before
    assert len(new_jobs) == 1
    job = new_jobs.pop()
    assert_valid_glb(job / "model.glb")
    record = json.loads((job / "job.json").read_text())
    assert record["status"] == "done"
    # The UI's untouched "target faces" box reached the server as "keep every face", not 0.
    assert record["parameters"]["target_faces"] is None
    assert panel.get_by_text("model.glb").count() >= 1
