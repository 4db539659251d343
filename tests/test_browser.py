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


def coloured(rgb: np.ndarray) -> np.ndarray:
    """Mask of clearly coloured pixels (not the grey background, the viewer's labels, black or white)."""
    rgb = rgb / 255.0
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    return (high > 0.2) & (high - low > 0.35 * high)


def hue_shares(model: np.ndarray, bins: int = 12) -> np.ndarray:
    """Share of the model's pixels in each hue sector, counting only clearly coloured pixels."""
    hsv = np.asarray(Image.fromarray(model[coloured(model)].reshape(1, -1, 3).astype(np.uint8)).convert("HSV"))[0]
    return np.bincount(hsv[:, 0].astype(int) * bins // 256, minlength=bins) / max(len(model), 1)


def rendered_model(page, panel, ready, seconds: float = 60) -> tuple[np.ndarray, np.ndarray]:
    """The viewer canvas and its model pixels, once `ready(model)` holds (Babylon.js draws over a few frames)."""
    canvas = panel.locator("canvas").first
    canvas.wait_for(state="visible")
    deadline = time.monotonic() + seconds
    while True:
        image = pixels(canvas.screenshot())
        model = model_pixels(image)
        if ready(model) or time.monotonic() > deadline:
            return image, model
        page.wait_for_timeout(250)


def open_tab(page, studio_server, name: str):
    page.goto(studio_server["url"])
    page.get_by_role("tab", name=name).click()
    return page.get_by_role("tabpanel").filter(visible=True)


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

    image, model = rendered_model(page, panel, lambda model: min(texture_colours(model).values()) > 0.02)
    colours = texture_colours(model)
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


def test_text_to_3d_in_the_browser_draws_a_blue_car_facing_the_camera(page, studio_server):
    """The prompt's colour reaches the viewer lit (not black, not washed out), and the car faces glTF's +z,
    so the viewer's default camera sees its front, not its side."""
    panel = open_tab(page, studio_server, "Text to 3D")
    panel.get_by_label("Prompt").fill("a blue sports car")
    panel.get_by_label("Textured (UV atlas); off gives vertex colours").uncheck()
    panel.get_by_role("button", name="Generate").click()

    image, model = rendered_model(page, panel, lambda model: len(model) > 2000 and hue_shares(model)[7:9].sum() > 0.3)
    assert len(model) / (image.shape[0] * image.shape[1]) > 0.03, "the viewer canvas is blank"
    shares = hue_shares(model)
    assert shares[7:9].sum() > 0.3, shares  # hue sectors 210-270 degrees: blue
    assert shares.argmax() in (7, 8), shares
    # The painted body seen from the front is about 1.5 times as wide as it is tall; from the side, over 3 times.
    rows, cols = np.nonzero(coloured(image))
    width, height = np.ptp(cols) + 1, np.ptp(rows) + 1
    assert width / height < 2.2, (width, height)


def test_segmentation_in_the_browser_shows_each_part_in_its_own_colour(page, studio_server):
    panel = open_tab(page, studio_server, "Segment mesh")
    with page.expect_response(lambda response: "/gradio_api/upload" in response.url) as upload:
        panel.locator("input[type=file]").set_input_files(str(ROOT / "assets" / "figure.glb"))
    assert upload.value.ok
    panel.get_by_role("button", name="Segment").click()

    image, model = rendered_model(page, panel, lambda model: (hue_shares(model) > 0.03).sum() >= 3)
    assert len(model) / (image.shape[0] * image.shape[1]) > 0.03, "the viewer canvas is blank"
    shares = hue_shares(model)
    # Four parts (the tab's default) in distinct hues, and the parts' colours cover most of the figure.
    assert (shares > 0.03).sum() >= 3, shares
    assert shares.sum() > 0.6, shares


def test_history_lists_jobs_and_reopens_one_in_the_viewer(page, studio_server, client):
    from gradio_client import handle_file

    _, _, meta = client.predict(handle_file(str(TEXTURED_ZIP)), "glb", None, True, api_name="/convert_mesh")
    panel = open_tab(page, studio_server, "History")
    row = panel.get_by_role("row").filter(has_text=meta["job_id"])
    row.first.wait_for(state="visible")
    assert row.first.get_by_text("done").count() >= 1
    row.first.get_by_text(meta["job_id"]).click()
    job_id = panel.get_by_label("Job id (Enter opens it)")
    deadline = time.monotonic() + 30
    while job_id.input_value() != meta["job_id"] and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert job_id.input_value() == meta["job_id"]
    image, model = rendered_model(page, panel, lambda model: min(texture_colours(model).values()) > 0.02)
    assert min(texture_colours(model).values()) > 0.02, "the reopened job's textured box is not drawn"
