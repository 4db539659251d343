"""Image to 3D: preprocessing, the built-in reconstructions, and `/image_to_3d` through gradio_client.

Inputs are real photographs that scikit-image ships (never downloaded) and
renders made here with known geometry and colours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from gradio_client import handle_file
from PIL import Image, ImageDraw
from skimage import data

from pipelines.base import Stages
from pipelines.errors import InputError
from pipelines.image_to_3d.builtin import BuiltinImageTo3D
from pipelines.image_to_3d.options import options
from pipelines.image_to_3d.preprocess import prepare_views, remove_background_mask, scene_warnings
from pipelines.mesh.placement import ground_offset

from .conftest import assert_valid_glb, load_glb_mesh

RED, BLUE, GREEN, YELLOW = (230, 20, 20), (20, 20, 230), (20, 200, 20), (230, 220, 20)
ASSETS = Path(__file__).parents[1] / "assets"
GRADIO_IMAGES = Path(trimesh.__file__).parents[1] / "gradio" / "media_assets" / "images"


def canvas(size: int = 320, background=(0, 0, 0, 0)) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGBA", (size, size), background)
    return image, ImageDraw.Draw(image)


def rectangle(width: float, height: float, colour, scale: float = 300, size: int = 320) -> Image.Image:
    """Orthographic silhouette of a box face, `scale` pixels per unit, off-centre on purpose."""
    image, draw = canvas(size)
    cx, cy = size / 2 + 11, size / 2 - 6
    draw.rectangle([cx - width * scale / 2, cy - height * scale / 2, cx + width * scale / 2 - 1,
                    cy + height * scale / 2 - 1], fill=(*colour, 255))
    return image


def two_colour_ellipse(size: int = 320, background=(0, 0, 0, 0)) -> Image.Image:
    """An ellipse twice as wide as tall: left half red, right half blue."""
    image, draw = canvas(size, background)
    box = [size * 0.1, size * 0.3, size * 0.9, size * 0.7]
    draw.pieslice(box, 90, 270, fill=(*RED, 255))
    draw.pieslice(box, -90, 90, fill=(*BLUE, 255))
    return image


def run_builtin(**inputs):
    stages = Stages()
    output = BuiltinImageTo3D().run(inputs, stages)
    return output, stages


def save(image, path, **kwargs) -> str:
    Image.fromarray(image).save(path, **kwargs) if isinstance(image, np.ndarray) else image.save(path, **kwargs)
    return str(path)


def texture_at_face_centres(mesh: trimesh.Trimesh) -> np.ndarray:
    """Texture colour at each face's UV centroid (inside its chart, away from seams)."""
    texture = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB"))
    uv = mesh.visual.uv[mesh.faces].mean(axis=1)
    size = texture.shape[0]
    cols = np.clip((uv[:, 0] * size).astype(int), 0, size - 1)
    rows = np.clip(((1 - uv[:, 1]) * size).astype(int), 0, size - 1)
    return texture[rows, cols]


def closest_colour(colours: np.ndarray, palette: list[tuple]) -> np.ndarray:
    distances = np.linalg.norm(colours[:, None, :3].astype(float) - np.array(palette)[None], axis=2)
    return distances.argmin(axis=1)


# -- preprocessing --------------------------------------------------------------------------------------

def test_background_removal_finds_an_object_on_a_plain_backdrop():
    """A shaded disc on a light grey backdrop (no alpha): GrabCut's mask matches the drawn disc."""
    size = 300
    rows, cols = np.mgrid[:size, :size]
    truth = (rows - 160) ** 2 + (cols - 140) ** 2 < 90**2
    image = np.full((size, size, 3), 225, np.uint8)
    shade = (120 + 100 * (cols - 50) / 180).clip(0, 255)
    image[truth] = np.stack([shade, shade * 0.5, shade * 0.2], axis=-1)[truth].astype(np.uint8)
    image = np.clip(image + np.random.default_rng(0).normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    mask = remove_background_mask(image)
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.95


def test_alpha_is_the_mask_and_views_share_one_scale():
    front = rectangle(0.6, 0.8, RED)
    side = rectangle(0.3, 0.8, GREEN)
    views = prepare_views({"front": front, "left": side}, remove_background=True, size=256)
    assert [v.source for v in views] == ["alpha", "alpha"]
    heights = [np.ptp(np.flatnonzero(v.mask.max(axis=1) > 0.5)) for v in views]
    widths = [np.ptp(np.flatnonzero(v.mask.max(axis=0) > 0.5)) for v in views]
    assert abs(heights[0] - heights[1]) <= 1
    assert widths[1] / widths[0] == pytest.approx(0.5, abs=0.02)
    for view in views:  # recentred on the object
        cols = np.flatnonzero(view.mask.max(axis=0) > 0.5)
        assert abs((cols[0] + cols[-1]) / 2 - 127.5) <= 1.5


def test_knobs_are_checked_for_every_caller():
    assert options({})["face_count"] == 20_000
    with pytest.raises(InputError, match="face_count must be between 500 and 1,000,000; got 10"):
        options({"face_count": 10})
    with pytest.raises(InputError, match="steps must be a number"):
        options({"steps": "many"})


def test_a_photo_without_an_object_or_without_a_front_is_rejected():
    with pytest.raises(InputError, match="No object was found in the front image"):
        prepare_views({"front": np.full((200, 300, 3), 240, np.uint8)}, remove_background=True, size=128)
    with pytest.raises(InputError, match="No front image"):
        BuiltinImageTo3D().run({"front": None, "left": two_colour_ellipse()}, Stages())


# -- scenes get a warning ---------------------------------------------------------------------------------

def scene_photo_warnings(image) -> list[str]:
    return scene_warnings(prepare_views({"front": image}, remove_background=True, size=128))


def on_plain_backdrop() -> np.ndarray:
    """The two-colour ellipse on an evenly lit, slightly noisy light grey backdrop (no alpha)."""
    rgba = np.asarray(two_colour_ellipse(background=(215, 215, 210, 255))).astype(float)
    noise = np.random.default_rng(1).normal(0, 3, rgba.shape[:2] + (3,))
    return np.clip(rgba[..., :3] + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", ["rocket", "astronaut", "camera", "chelsea", "coins", "hubble_deep_field"])
def test_photos_of_scenes_warn_and_say_what_would_help(name):
    """skimage's photos of a launch pad, a portrait before a flag, a street, a close-up, a table of coins and
    a field of galaxies: none is one whole object on a plain backdrop."""
    (warning,) = scene_photo_warnings(getattr(data, name)())
    assert "looks like a scene" in warning and "plain background" in warning and "PNG" in warning


@pytest.mark.parametrize("source", [
    pytest.param(lambda: Image.open(ASSETS / "toy_photo.jpg"), id="shipped-photo"),
    pytest.param(lambda: Image.open(ASSETS / "toy_front.png"), id="shipped-cut-out"),
    pytest.param(lambda: Image.open(GRADIO_IMAGES / "hf-logo_transpng.png"), id="gradio-cut-out"),
    pytest.param(lambda: data.horse().astype(np.uint8) * 255, id="horse-silhouette"),
    pytest.param(data.colorwheel, id="colour-wheel"),
    pytest.param(data.clock, id="clock-on-a-gradient"),
    pytest.param(on_plain_backdrop, id="object-on-a-plain-backdrop"),
    pytest.param(two_colour_ellipse, id="rgba-cut-out"),
])
def test_one_object_on_a_plain_backdrop_or_cut_out_does_not_warn(source):
    assert scene_photo_warnings(source()) == []


def test_a_cut_out_cropped_by_the_frame_warns():
    image, draw = canvas()
    draw.ellipse([-100, 60, 250, 420], fill=(*RED, 255))  # runs off the left and bottom edges
    (warning,) = scene_photo_warnings(image)
    assert "runs off 2 edges" in warning


def test_the_scene_warning_reaches_the_output():
    output, _ = run_builtin(front=data.rocket(), textured=False, face_count=2000, octree_resolution=96)
    assert any("looks like a scene" in w for w in output.warnings)
    output, _ = run_builtin(front=on_plain_backdrop(), textured=False, face_count=2000, octree_resolution=96)
    assert output.warnings == []


# -- built-in single view ---------------------------------------------------------------------------------

def test_single_view_is_a_closed_shell_with_the_silhouette_of_the_image():
    output, stages = run_builtin(front=two_colour_ellipse(), textured=False, face_count=4000, octree_resolution=128)
    mesh = output.asset
    assert output.metadata["method"] == "inflation"
    assert mesh.is_watertight and mesh.volume > 0
    assert len(mesh.faces) <= 4000
    width, height, depth = mesh.extents
    assert width / height == pytest.approx(2.0, rel=0.05)
    assert 0 < depth < width
    # front and back both carry the image: the left half is red, the right half blue, on both sides.
    colours = np.asarray(mesh.visual.vertex_colors)
    x, z = mesh.vertices[:, 0], mesh.vertices[:, 2]
    labels = closest_colour(colours, [RED, BLUE])
    for side in (z > 0.02, z < -0.02):
        assert (labels[side & (x < -0.05)] == 0).mean() > 0.97
        assert (labels[side & (x > 0.05)] == 1).mean() > 0.97
    assert {"preprocess", "inflate", "marching_cubes", "decimate", "colour"} <= set(stages.timings)
    assert set(output.images) == {"preprocessed_front", "mask_front"}


def test_single_view_textured_bakes_the_image_into_a_uv_texture(tmp_path):
    output, _ = run_builtin(front=two_colour_ellipse(background=(255, 255, 255, 255)), textured=True,
                            face_count=3000, octree_resolution=128)
    assert output.metadata["views"] == {"front": "grabcut"}
    path = tmp_path / "textured.glb"
    output.asset.export(path)
    assert_valid_glb(path)
    mesh = load_glb_mesh(path)
    assert mesh.visual.kind == "texture"
    texture = mesh.visual.material.baseColorTexture
    assert texture is not None and texture.size == (1024, 1024)
    welded = trimesh.Trimesh(mesh.vertices, mesh.faces)
    assert welded.is_watertight
    labels = closest_colour(texture_at_face_centres(mesh), [RED, BLUE])
    x = mesh.triangles_center[:, 0]
    assert (labels[x < -0.05] == 0).mean() > 0.98
    assert (labels[x > 0.05] == 1).mean() > 0.98


@pytest.mark.parametrize("views", [
    pytest.param(lambda: {"front": rectangle(0.6, 0.5, RED)}, id="single-view"),
    pytest.param(lambda: {"front": rectangle(0.6, 0.5, RED), "left": rectangle(0.3, 0.5, GREEN)}, id="multi-view"),
])
def test_meshes_stand_on_the_ground_like_text_to_3d_ones(views):
    """Lowest point at y = 0, bounding box centred on the vertical axis; the photos are drawn off-centre."""
    output, _ = run_builtin(**views(), textured=False, face_count=2000, octree_resolution=96)
    low, high = output.asset.bounds
    assert low[1] == pytest.approx(0.0, abs=1e-9) and high[1] > 0.3
    np.testing.assert_allclose((low + high)[[0, 2]] / 2, 0.0, atol=1e-9)
    np.testing.assert_allclose(ground_offset(output.asset.bounds), 0.0, atol=1e-9)


# -- built-in multi-view ------------------------------------------------------------------------------------

def test_box_carved_from_four_views_recovers_its_volume_and_colours():
    width, height, depth = 0.6, 0.8, 0.4
    views = {"front": rectangle(width, height, RED), "back": rectangle(width, height, BLUE),
             "left": rectangle(depth, height, GREEN), "right": rectangle(depth, height, YELLOW)}
    output, stages = run_builtin(**views, textured=False, face_count=8000)
    mesh = output.asset
    assert output.metadata["method"] == "visual_hull" and "carve" in stages.timings
    assert mesh.is_watertight
    scale = mesh.extents[1] / height  # the reconstruction is in canvas units
    assert mesh.volume / scale**3 == pytest.approx(width * height * depth, rel=0.10)
    np.testing.assert_allclose(mesh.extents / scale, [width, height, depth], rtol=0.05)
    # each side takes the colour of the view that faces it
    labels = closest_colour(np.asarray(mesh.visual.vertex_colors), [RED, BLUE, GREEN, YELLOW])
    normals = mesh.vertex_normals
    for axis, sign, expected in ((2, 1, 0), (2, -1, 1), (0, -1, 2), (0, 1, 3)):
        facing = sign * normals[:, axis] > 0.9
        assert facing.sum() > 20
        assert (labels[facing] == expected).mean() > 0.95


def test_cylinder_carved_from_four_views_recovers_its_volume():
    """A cylinder lying along x: a rectangle from front and back, a circle from the sides."""
    length, radius, scale = 0.9, 0.25, 300
    front = rectangle(length, 2 * radius, RED)
    side, draw = canvas()
    centre = 160
    draw.ellipse([centre - radius * scale, centre - radius * scale, centre + radius * scale - 1,
                  centre + radius * scale - 1], fill=(*GREEN, 255))
    output, _ = run_builtin(front=front, back=front.transpose(Image.FLIP_LEFT_RIGHT), left=side, right=side,
                            textured=False, face_count=8000)
    mesh = output.asset
    assert mesh.is_watertight
    unit = mesh.extents[1] / (2 * radius)
    assert mesh.volume / unit**3 == pytest.approx(np.pi * radius**2 * length, rel=0.10)


# -- through the app ------------------------------------------------------------------------------------------

PHOTOS = [("astronaut", "jpg", {"quality": 92}), ("coffee", "webp", {"quality": 90}), ("chelsea", "png", {})]


@pytest.mark.parametrize("name,ext,options", PHOTOS)
def test_real_photographs_through_the_endpoint(client, studio_server, tmp_path, name, ext, options):
    photo = save(getattr(data, name)(), tmp_path / f"{name}.{ext}", **options)
    glb, path, metadata = client.predict(
        handle_file(photo), None, None, None, "builtin", True, 7, 30, 5.0, 128, 5000, True, "glb",
        api_name="/image_to_3d",
    )
    assert_valid_glb(glb)
    mesh = load_glb_mesh(glb)
    assert mesh.visual.kind == "texture" and mesh.visual.material.baseColorTexture is not None
    assert trimesh.Trimesh(mesh.vertices, mesh.faces).is_watertight
    assert len(mesh.faces) <= 5000
    assert metadata["pipeline"] == "builtin" and metadata["seed"] == 7 and metadata["watertight"]
    assert metadata["views"] == {"front": "grabcut"}
    assert any("looks like a scene" in w and "plain background" in w for w in metadata["warnings"])
    folder = Path(studio_server["outputs"]) / metadata["folder"]  # images are named in the metadata
    preprocessed = Image.open(folder / metadata["images"]["preprocessed_front"])
    mask = np.asarray(Image.open(folder / metadata["images"]["mask_front"]))
    assert preprocessed.size == mask.shape[::-1]
    assert 0.05 < (mask > 127).mean() < 0.85  # an object was cut out, not the whole frame


def test_multi_view_through_the_endpoint_untextured_ply(client, tmp_path):
    width, height, depth = 0.5, 0.7, 0.35
    files = [save(rectangle(width, height, RED), tmp_path / "front.png"),
             save(rectangle(width, height, BLUE), tmp_path / "back.png"),
             save(rectangle(depth, height, GREEN), tmp_path / "left.png"),
             save(rectangle(depth, height, YELLOW), tmp_path / "right.png")]
    glb, ply, metadata = client.predict(
        *map(handle_file, files), "builtin", True, 0, 30, 5.0, 192, 6000, False, "ply", api_name="/image_to_3d",
    )
    assert_valid_glb(glb)
    assert ply.endswith(".ply")
    mesh = load_glb_mesh(glb)
    assert mesh.visual.kind == "vertex"
    assert mesh.is_watertight
    assert metadata["method"] == "visual_hull"
    assert set(metadata["images"]) == {f"{kind}_{view}" for kind in ("preprocessed", "mask")
                                       for view in ("front", "back", "left", "right")}


def _bad_images(folder):
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    corrupt = folder / "corrupt.png"
    good = folder / "good.png"
    two_colour_ellipse().save(good)
    corrupt.write_bytes(good.read_bytes()[:200])
    bomb = folder / "bomb.png"
    Image.new("1", (10_000, 10_000)).save(bomb)  # 100 M pixels in a few kB
    transparent = folder / "transparent.png"
    Image.new("RGBA", (64, 64), (255, 0, 0, 0)).save(transparent)
    animated = folder / "animated.gif"
    frames = [Image.new("RGB", (64, 64), colour) for colour in (RED, BLUE)]
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100, loop=0)
    animated_webp = folder / "animated.webp"
    frames[0].save(animated_webp, save_all=True, append_images=frames[1:], duration=100)
    mesh = folder / "box.glb"
    trimesh.creation.box().export(mesh)
    disguised = folder / "box_disguised.png"
    disguised.write_bytes(mesh.read_bytes())
    tiny = folder / "tiny.png"
    Image.new("RGB", (4, 4)).save(tiny)
    return [
        (empty, "is empty"),
        (corrupt, "could not be read as an image"),
        (bomb, "too large to decode safely"),
        (transparent, "fully transparent"),
        (animated, "upload a PNG, JPEG or WebP"),
        (animated_webp, "is animated"),
        (mesh, "3D mesh file, not an image"),
        (disguised, "3D mesh file, not an image"),
        (tiny, "use at least"),
    ]


def test_bad_images_get_a_clear_error(client, tmp_path):
    for path, message in _bad_images(tmp_path):
        with pytest.raises(Exception) as caught:
            client.predict(handle_file(str(path)), api_name="/image_to_3d")
        text = str(caught.value)
        assert message in text, (path.name, text)
        assert "Traceback" not in text


def test_bad_side_view_and_bad_knobs_are_named(client, tmp_path):
    front = save(two_colour_ellipse(), tmp_path / "front.png")
    transparent = tmp_path / "left.png"
    Image.new("RGBA", (64, 64)).save(transparent)
    with pytest.raises(Exception, match="left image is fully transparent"):
        client.predict(handle_file(front), None, handle_file(str(transparent)), api_name="/image_to_3d")
    with pytest.raises(Exception, match="face_count must be a whole number from 500 to .*; got 10"):
        client.predict(handle_file(front), None, None, None, "builtin", True, 0, 30, 5.0, 128, 10, True, "glb",
                       api_name="/image_to_3d")


def test_list_pipelines_names_what_hunyuan3d_lacks_and_how_to_install_it(client, studio_server):
    """Without its packages or a GPU, each Hunyuan3D-2 adapter is listed as unavailable with the reason."""
    from pipelines.image_to_3d.hunyuan3d import Hunyuan3D2

    listing = client.predict(api_name="/list_pipelines")["image_to_3d"]
    rows = {row["name"]: row for row in listing["pipelines"]}
    assert {"hunyuan3d-2mini", "hunyuan3d-2", "hunyuan3d-2mv"} <= set(rows)
    missing = Hunyuan3D2().missing_requirements()
    has_cuda = "cuda" in studio_server["studio"].registry.device_kinds
    if not missing and has_cuda:
        pytest.skip("hy3dgen and a CUDA device are both here: the adapters may be available")
    for name in ("hunyuan3d-2mini", "hunyuan3d-2", "hunyuan3d-2mv"):
        row = rows[name]
        assert row["available"] is False
        if missing:
            assert row["reason"].startswith(f"missing package(s): {', '.join(missing)}")
            assert "install with: python app.py models install hunyuan3d-2 (Tencent Hunyuan" in row["reason"]
        else:
            assert "needs a cuda device" in row["reason"]
    assert not listing["auto"].startswith("hunyuan3d")


def test_choosing_an_unavailable_hunyuan3d_model_says_why(client, studio_server, tmp_path):
    from pipelines.image_to_3d.hunyuan3d import Hunyuan3D2MV

    ok, reason = Hunyuan3D2MV().availability(studio_server["studio"].registry.device_kinds)
    if ok:
        pytest.skip("hunyuan3d-2mv is available here")
    front = save(two_colour_ellipse(), tmp_path / "front.png")
    with pytest.raises(Exception) as caught:
        client.predict(handle_file(front), None, None, None, "hunyuan3d-2mv", api_name="/image_to_3d")
    assert f"Pipeline 'hunyuan3d-2mv' is not available here: {reason}" in str(caught.value)
