"""Built-in text to 3D: template choice by meaning, prompt words on the material, seeds, clean output.

The pipeline is called directly (the `/text_to_3d` endpoint has its own tests).
The selection prompts below are paraphrases written for this test, not the
templates' own descriptions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from pipelines.base import Stages
from pipelines.errors import InputError
from pipelines.mesh.export import export_asset
from pipelines.mesh.io import scene_stats
from pipelines.text_to_3d.builtin import BuiltinTextTo3D, assemble, linear, match_warnings
from pipelines.text_to_3d.prompt import parse_style, strip_style, subject
from pipelines.text_to_3d.templates import TEMPLATES, Kit

from .conftest import assert_valid_glb

DATA = Path(__file__).parent / "data"

SELECTION = [
    ("a comfy seat with armrests for the dining room", "chair"),
    ("a tall-backed wooden throne", "chair"),
    ("a sturdy oak dinner table for six people", "table"),
    ("a low round table for the living room", "table"),
    ("tall shelves stacked with old novels", "bookshelf"),
    ("a queen-size bed with soft pillows", "bed"),
    ("a desk lamp that lights up the room", "lamp"),
    ("an old whisky cask with iron bands", "barrel"),
    ("a wooden box for carrying apples to market", "crate"),
    ("a tall ceramic vessel to put flowers in", "vase"),
    ("a cup for morning coffee", "mug"),
    ("a tall broadleaf tree with a wide canopy", "tree"),
    ("an evergreen fir covered in needles", "pine_tree"),
    ("a spiny plant that grows in the desert", "cactus"),
    ("a pink blossom growing in a clay pot", "potted_flower"),
    ("a spotted toadstool from a fairy tale", "mushroom"),
    ("a weathered grey boulder", "rock"),
    ("sparkling purple gems sticking out of a stone", "crystal"),
    ("a cosy cottage with a chimney", "house"),
    ("a fortified castle turret", "tower"),
    ("a red hatchback parked on the street", "car"),
    ("a small sailing dinghy", "boat"),
    ("a spacecraft blasting off to the moon", "rocket"),
    ("a passenger jet with two wings", "airplane"),
    ("a heavy tool for driving nails into wood", "hammer"),
    ("a knight's double-edged longsword", "sword"),
    ("a crisp green fruit from an orchard", "apple"),
    ("a layered birthday cake with candles on top", "cake"),
    ("a frosted ring doughnut with rainbow sprinkles", "donut"),
    ("a snowman wearing a black top hat", "snowman"),
    ("a clunky metal android with glowing eyes", "robot"),
    ("a little yellow duckling floating in the bath", "duck"),
    ("an orange goldfish with flowing fins", "fish"),
    ("a woman in a blue dress", "person"),
    ("a friendly golden retriever", "quadruped"),
    ("a kitten with pointy ears", "quadruped"),
    ("a wooden bench for the garden", "chair"),
    ("a writing desk by the window", "table"),
    ("a big rock covered in moss", "rock"),
    ("a brick cottage with a red tiled roof", "house"),
    ("a lighthouse on a rocky coast", "tower"),
    ("a pickup truck", "car"),
    ("a fishing trawler", "boat"),
    ("a sharp steel dagger", "sword"),
    ("a ripe peach", "apple"),
    ("a stone statue of a soldier", "person"),
    ("a galloping horse", "quadruped"),
    ("a tropical clownfish", "fish"),
]


@pytest.fixture(scope="module")
def pipeline():
    pipe = BuiltinTextTo3D()
    pipe.load("cpu")
    return pipe


def run(pipeline, prompt, **knobs):
    return pipeline.run({"prompt": prompt, **knobs}, Stages())


def node(output, role):
    """The geometry of one role of the chosen template, e.g. node(out, "body")."""
    name = f"{output.metadata['template']}_{role}"
    return output.asset.geometry[name]


def test_library_spans_the_categories():
    assert len(TEMPLATES) >= 20
    categories = {t.category for t in TEMPLATES.values()}
    assert {"furniture", "containers", "plants", "rocks", "buildings", "vehicles", "tools", "food",
            "creatures", "characters"} <= categories
    assert all(len(t.descriptions) >= 4 for t in TEMPLATES.values())


def prompt_set(name: str) -> list[tuple[str, str]]:
    """(prompt, template) pairs of a prompt set in tests/data (lines: template<TAB>prompt, # comments)."""
    lines = (DATA / name).read_text().splitlines()
    return [(prompt, want) for want, prompt in (line.split("\t") for line in lines if line and line[0] != "#")]


@pytest.mark.parametrize("prompts", [
    pytest.param(SELECTION, id="paraphrases"),
    pytest.param(prompt_set("text_prompts_dev.tsv"), id="development"),
    pytest.param(prompt_set("text_prompts_heldout.tsv"), id="held-out"),
])
def test_paraphrases_pick_the_intended_template(pipeline, prompts):
    """The issue's bar, 90%, on each set: the paraphrases above, the development set the selection was
    tuned on, and the held-out set written with it but scored only once, after tuning (short and
    descriptive prompts, synonyms, plurals, possessives, scenes naming other objects too)."""
    assert len(prompts) >= 40
    assert {want for _, want in prompts} <= set(TEMPLATES)
    names = list(pipeline.templates)
    chosen = [names[i] for i in pipeline.scores([prompt for prompt, _ in prompts]).argmax(axis=1)]
    misses = [(prompt, want, got) for (prompt, want), got in zip(prompts, chosen) if got != want]
    accuracy = 1.0 - len(misses) / len(prompts)
    assert accuracy >= 0.9, f"accuracy {accuracy:.0%}; misses: {misses}"


@pytest.mark.parametrize("name", ["text_prompts_dev.tsv", "text_prompts_heldout.tsv"])
def test_prompt_sets_span_every_template(name):
    assert {want for _, want in prompt_set(name)} == set(TEMPLATES)


@pytest.mark.parametrize(("prompt", "expected"), [
    ("a cat sitting on a chair", "a cat"),
    ("a table with a vase of flowers on it", "a table"),
    ("a tall tower of a castle with a flag", "a tall tower"),
    ("a bunch of daisies", "daisies"),
    ("a robot holding a flower", "a robot"),
    ("a duck swimming", "a duck"),
    ("a standing lamp", "a standing lamp"),
    ("a sugar coated donut", "a sugar coated donut"),
])
def test_subject_is_the_object_not_its_setting(prompt, expected):
    assert subject(prompt) == expected


def test_style_words_are_dropped_unless_they_are_the_noun():
    assert strip_style("a knight's big red steel sword") == "a sword"
    assert strip_style("a navy blue boat") == "a boat" and strip_style("a sky blue car") == "a car"
    assert strip_style("a stone from the beach") == "a stone from the beach"
    assert strip_style("a glass of milk") == "a glass of milk" and strip_style("an orange") == "an orange"


@pytest.mark.parametrize(("prompt", "template"), [
    ("a kitten sitting on a rug", "quadruped"), ("a robot holding a flower", "robot"),
    ("a stone from the beach", "rock"), ("three fir trees", "pine_tree"),
])
def test_the_prompts_own_noun_wins_over_its_setting(pipeline, prompt, template):
    out = run(pipeline, prompt, detail="low")
    assert out.metadata["template"] == template and out.metadata["named_by"] and out.warnings == []
@pytest.mark.parametrize("name, front, back", [("car", "lights", "glass"), ("duck", "beak", "body"),
                                               ("quadruped", "nose", "fur"), ("fish", "eyes", "fins")])
def test_templates_face_gltf_front(name, front, back):
    """glTF's front is +z (toward a default viewer camera): head, beak and headlights come first."""
    template = TEMPLATES[name]
    meshes = assemble(template.build(np.random.default_rng(0), Kit("low")), 1.0, template.yaw)
    depth = np.ptp(np.vstack([m.bounds for m in meshes.values()])[:, 2])
    assert meshes[front].centroid[2] - meshes[back].centroid[2] > 0.1 * depth, (name, depth)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_is_clean_and_grounded(name):
    """Closed, outward-facing parts, standing on y = 0, centred, and of a plausible real-world size."""
    template = TEMPLATES[name]
    for seed in (0, 1):
        parts = template.build(np.random.default_rng(seed), Kit("low"))
        assert {role for role, _ in parts} <= set(template.materials)
        meshes = assemble(parts, 1.0)
        assert scene_stats(trimesh.Scene(list(meshes.values())))["watertight"], (name, seed)
        for role, mesh in meshes.items():
            assert mesh.is_watertight and mesh.is_winding_consistent, (name, seed, role)
            for body in mesh.split(only_watertight=False):
                assert body.volume > 0, (name, seed, role)  # normals point outwards
        bounds = np.array([m.bounds for m in meshes.values()])
        low, high = bounds[:, 0].min(axis=0), bounds[:, 1].max(axis=0)
        assert abs(low[1]) < 1e-9
        assert np.allclose((low[[0, 2]] + high[[0, 2]]) / 2, 0.0, atol=1e-9)
        assert 0.05 < (high - low).max() < 40.0, (name, high - low)


def test_colour_words_land_in_the_base_colour(pipeline):
    plain = run(pipeline, "a chair", seed=1)
    blue = run(pipeline, "a blue chair", seed=1)
    frame = TEMPLATES["chair"].materials["frame"]
    assert np.allclose(node(plain, "frame").visual.material.baseColorFactor[:3] / 255.0, linear(frame.color), atol=0.01)
    r, g, b = node(blue, "frame").visual.material.baseColorFactor[:3]
    assert b > 2 * r and b > 2 * g

    car = run(pipeline, "a green car with white wheels", seed=2)
    assert car.metadata["template"] == "car"
    r, g, b = node(car, "body").visual.material.baseColorFactor[:3]
    assert g > 2 * r and g > 2 * b
    assert node(car, "tyres").visual.material.baseColorFactor[:3].min() > 200  # the colour named with the wheels

    tree = run(pipeline, "a tree with orange leaves", seed=1)
    assert tree.metadata["template"] == "tree"
    r, g, b = node(tree, "leaves").visual.material.baseColorFactor[:3]
    assert r > 2 * g > 2 * b
    trunk = TEMPLATES["tree"].materials["trunk"]
    assert np.allclose(node(tree, "trunk").visual.material.baseColorFactor[:3] / 255.0, linear(trunk.color), atol=0.01)
    person = run(pipeline, "a woman with a red dress and black hair", seed=1)
    r, g, b = node(person, "clothes").visual.material.baseColorFactor[:3]
    assert r > 4 * g and r > 4 * b
    assert node(person, "hair").visual.material.baseColorFactor[:3].max() < 10

    dark, light = parse_style("a dark red vase").colors[0], parse_style("a light red vase").colors[0]
    assert sum(dark) < sum(parse_style("a red vase").colors[0]) < sum(light)


def test_material_words_set_roughness_and_metalness(pipeline):
    metal = node(run(pipeline, "a steel chair"), "frame").visual.material
    assert metal.metallicFactor == 1.0 and metal.roughnessFactor < 0.5
    marble = node(run(pipeline, "a marble vase"), "body").visual.material
    assert marble.metallicFactor == 0.0 and marble.roughnessFactor < 0.3
    matte = node(run(pipeline, "a matte vase"), "body").visual.material
    assert matte.roughnessFactor >= 0.85
    golden = node(run(pipeline, "a golden robot"), "body").visual.material
    r, g, b = golden.baseColorFactor[:3]
    assert golden.metallicFactor == 1.0 and r > g > b
    wood = node(run(pipeline, "a golden wooden chair"), "frame").visual.material
    assert wood.metallicFactor == 0.0  # a named material beats a colour that is also a metal


def test_size_words_scale_the_asset(pipeline):
    normal = run(pipeline, "a house", seed=4).asset.extents
    tiny = run(pipeline, "a tiny house", seed=4).asset.extents
    huge = run(pipeline, "a huge house", seed=4).asset.extents
    assert np.allclose(tiny / normal, 0.45, rtol=1e-6)
    assert np.allclose(huge / normal, 1.9, rtol=1e-6)


def test_same_seed_gives_the_same_mesh(pipeline, tmp_path):
    first = run(pipeline, "a leafy tree in a park", seed=11)
    second = run(pipeline, "a leafy tree in a park", seed=11)
    assert set(first.asset.geometry) == set(second.asset.geometry)
    for name, mesh in first.asset.geometry.items():
        other = second.asset.geometry[name]
        assert np.array_equal(mesh.vertices, other.vertices) and np.array_equal(mesh.faces, other.faces)
    a, _ = export_asset(first.asset, "glb", tmp_path / "a")
    b, _ = export_asset(second.asset, "glb", tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("prompt", ["a wooden chair", "a pine tree", "a small house", "a robot", "a cake"])
def test_different_seeds_give_visibly_different_variants(pipeline, prompt):
    variants = []
    for seed in range(4):
        out = run(pipeline, prompt, seed=seed)
        faces = sum(len(g.faces) for g in out.asset.geometry.values())
        variants.append((out.metadata["parts"], faces, out.asset.extents))
    for i in range(len(variants)):
        for j in range(i):
            (parts_a, faces_a, size_a), (parts_b, faces_b, size_b) = variants[i], variants[j]
            relative = np.abs(size_a - size_b).max() / size_b.max()
            assert parts_a != parts_b or faces_a != faces_b or relative > 0.05, (prompt, i, j)


def test_metadata_names_the_template_and_says_procedural(pipeline):
    out = run(pipeline, "a rubber duck for the bath", seed=3, detail="low")
    meta = out.metadata
    assert meta["template"] == "duck" and meta["category"] == "creatures"
    assert 0.3 < meta["similarity"] <= 1.0
    assert meta["alternatives"] and all(a["similarity"] <= meta["similarity"] for a in meta["alternatives"])
    assert "procedural" in meta["note"].lower() and "not" in meta["note"]
    assert meta["seed"] == 3 and out.warnings == []


def test_textured_bakes_a_procedural_texture(pipeline, tmp_path):
    out = run(pipeline, "a wooden barrel", seed=5, detail="low", textured=True)
    staves = node(out, "staves")
    image = np.asarray(staves.visual.material.baseColorTexture.convert("RGB"), dtype=np.float64)
    assert image.shape[0] == image.shape[1] >= 256 and staves.visual.uv is not None
    hoops = node(out, "hoops").visual.material.baseColorTexture
    assert hoops.size[0] < image.shape[0]  # texture size follows each part's share of the surface
    assert image.std(axis=(0, 1)).max() > 5.0  # wood grain, not a flat colour
    red = run(pipeline, "a red barrel", seed=5, detail="low", textured=True)
    pixels = np.asarray(node(red, "staves").visual.material.baseColorTexture.convert("RGB"), dtype=np.float64)
    r, g, b = pixels.reshape(-1, 3).mean(axis=0)
    assert r > 1.5 * g and r > 1.5 * b
    glb, _ = export_asset(out.asset, "glb", tmp_path)
    assert_valid_glb(glb)
    loaded = trimesh.load(str(glb), force="scene")
    assert any(getattr(g.visual.material, "baseColorTexture", None) is not None for g in loaded.geometry.values())


@pytest.mark.parametrize("prompt", ["a red sports car", "a mug of tea", "a snowman", "a purple crystal cluster"])
def test_exported_glb_is_valid(pipeline, tmp_path, prompt):
    out = run(pipeline, prompt, seed=2, detail="low")
    glb, _ = export_asset(out.asset, "glb", tmp_path)
    assert_valid_glb(glb)
    loaded = trimesh.load(str(glb), force="scene")
    assert loaded.bounds[0][1] == pytest.approx(0.0, abs=1e-6)  # y-up, on the ground


@pytest.mark.parametrize("prompt", ["", "   ", "x" * 10_000, "a chair\x00", "a chair\u200b"])
def test_bad_prompts_are_refused(pipeline, prompt):
    with pytest.raises(InputError):
        run(pipeline, prompt)


def test_prompt_outside_the_library_still_gives_an_asset_and_says_so(pipeline):
    out = run(pipeline, "qwzx vlorp", seed=1, detail="low")
    assert out.metadata["similarity"] < 0.5
    assert len(out.warnings) == 1 and out.metadata["template"] in out.warnings[0]
    assert out.asset.geometry


@pytest.mark.parametrize("prompt", ["a laptop", "a pair of sneakers", "an umbrella", "a violin"])
def test_unknown_objects_get_a_warning_naming_the_closest_template(pipeline, prompt):
    out = run(pipeline, prompt, seed=1, detail="low")
    (warning,) = out.warnings
    alternative = out.metadata["alternatives"][0]["template"]
    assert f"closest template, {out.metadata['template']} " in warning and alternative in warning
    assert subject(strip_style(prompt)) in warning and out.metadata["named_by"] is None


@pytest.mark.parametrize("prompt", ["a ceramic teapot", "a glass teapot with a bamboo handle", "a silver goblet",
                                    "a yellow submarine", "a woodcutter's axe", "a palm tree on a beach",
                                    "a wooden toy train", "a chocolate chip cookie"])
def test_objects_the_library_only_stands_in_for_warn_naming_what_was_built(pipeline, prompt):
    """The issue's case: "a ceramic teapot" matched the mug template with similarity 1.0 and no warning. An
    object the library lacks warns however strongly its description (or a material word) matches."""
    out = run(pipeline, prompt, seed=1, detail="low")
    (warning,) = out.warnings
    thing = subject(strip_style(prompt))
    assert out.metadata["stands_in_for"] == thing
    assert f'No built-in template makes "{thing}"' in warning
    assert f"built the closest template, {out.metadata['template']} " in warning


def test_every_stand_in_warns_and_every_kind_the_library_builds_does_not(pipeline):
    """Each template's own descriptions, used as prompts: the objects it only stands in for warn, the kinds it
    builds do not (the library's own words are the clearest case of a strong match)."""
    stand_ins = [(text, name) for name, t in TEMPLATES.items() for text in t.stand_ins]
    kinds = [(text, name) for name, t in TEMPLATES.items() for text in t.descriptions if text not in t.stand_ins]
    assert len(stand_ins) >= 30 and all(set(t.stand_ins) <= set(t.descriptions) for t in TEMPLATES.values())
    chosen = dict(zip(stand_ins + kinds, pipeline.scores([text for text, _ in stand_ins + kinds]).argmax(axis=1)))
    names = list(pipeline.templates)
    assert [text for text, name in stand_ins if pipeline.builds(text, names[chosen[text, name]]) is not False] == []
    assert [text for text, name in kinds if not pipeline.builds(text, names[chosen[text, name]])] == []


@pytest.mark.parametrize("name", ["text_prompts_dev.tsv", "text_prompts_heldout.tsv"])
def test_prompts_whose_object_is_in_the_library_rarely_warn(pipeline, name):
    """False warnings on the prompt sets: prompts given the intended template, whose object that template builds
    (not one it stands in for), that still warn. Measured: 0 of 203 (development), 7 of 209 (held-out: a
    recliner, a loveseat, an orchid, a broadsword, a scimitar, a highchair, a futon; nouns no description
    uses, matched below SURE_MATCH). The rule before stand-ins warned on 1 and 9 of them."""
    prompts = prompt_set(name)
    names = list(pipeline.templates)
    false_warnings, in_library = [], 0
    for (prompt, want), ranking in zip(prompts, pipeline.rankings([prompt for prompt, _ in prompts])):
        builds = pipeline.builds(prompt, ranking[0][0])
        if ranking[0][0] != want or builds is False:
            continue
        in_library += 1
        if match_warnings(prompt, ranking, builds, names):
            false_warnings.append(prompt)
    assert len(false_warnings) <= 0.05 * in_library, false_warnings


def test_unseen_colour_and_material_words(pipeline, tmp_path):
    for word, channel in (("navy", 2), ("crimson", 0), ("teal", 1)):
        r, g, b = parse_style(f"a {word} vase").colors[0]
        assert (r, g, b)[channel] == max(r, g, b) and len(parse_style(f"a {word} blue vase").colors) == 1
    assert sum(parse_style("a sky blue car").colors[0]) > sum(parse_style("a blue car").colors[0])
    chrome = node(run(pipeline, "a chrome robot", detail="low"), "body").visual.material
    assert chrome.metallicFactor == 1.0 and chrome.roughnessFactor < 0.1
    golden = node(run(pipeline, "a golden sword", detail="low"), "blade").visual.material
    assert golden.metallicFactor == 1.0
    marble = node(run(pipeline, "a marble statue of a woman", detail="low"), "clothes").visual.material
    assert marble.metallicFactor == 0.0 and marble.roughnessFactor < 0.3
    for textured in (False, True):
        out = run(pipeline, "a glass vase", detail="low", textured=textured)
        glass = node(out, "body").visual.material
        assert glass.alphaMode == "BLEND" and glass.baseColorFactor[3] < 128
        assert glass.metallicFactor == 0.0 and glass.roughnessFactor < 0.1
        glb, _ = export_asset(out.asset, "glb", tmp_path / str(textured))
        assert_valid_glb(glb)
    opaque = node(run(pipeline, "a ceramic vase", detail="low"), "body").visual.material
    assert opaque.alphaMode in (None, "OPAQUE") and opaque.baseColorFactor[3] == 255
