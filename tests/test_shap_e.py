"""Shap-E adapters on CPU with tiny random components of the real diffusers/transformers classes.

The components are saved with `save_pretrained` and loaded back through the
adapters' own loading path, from a local folder and from a Hugging Face hub
cache laid out as a download leaves it. Random weights leave the renderer's
marching-cubes tables (checkpoint buffers) at zero, so the test fills them with
a table built here from scikit-image's classic marching cubes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image, ImageDraw

from pipelines.base import Pipeline, PipelineOutput, Stages
from pipelines.errors import InputError
from pipelines import shap_e
from pipelines.registry import Registry
from pipelines.shap_e import ShapEImagePipeline, ShapETextPipeline, skipped_files
from queueing.studio import Studio
from tests.conftest import assert_valid_glb, free_port, load_glb_mesh

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

D_HIDDEN = 8
EMBED = 16


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-level alphabet: every byte maps to a printable character."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def tiny_tokenizer():
    from transformers import CLIPTokenizer

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)


def _edge_index(point: np.ndarray) -> int:
    """Shap-E's local edge numbering: 4 * axis + offsets along the other two axes (low axis first)."""
    axis = int(np.argmin(np.abs(point - 0.5)))
    a, b = (int(round(point[i])) for i in range(3) if i != axis)
    return 4 * axis + a + 2 * b


def marching_cubes_table() -> tuple[torch.Tensor, torch.Tensor]:
    """(cases, masks) for Shap-E's MeshDecoder: corner bit i + 2j + 4k is set where the field is > 0 (inside)."""
    from skimage.measure import marching_cubes

    cases = torch.zeros(256, 5, 3, dtype=torch.long)
    masks = torch.zeros(256, 5, dtype=torch.bool)
    for case in range(1, 255):
        corners = np.array([[[1.0 if case >> (i + 2 * j + 4 * k) & 1 else -1.0 for k in range(2)]
                             for j in range(2)] for i in range(2)])
        verts, faces, _, _ = marching_cubes(corners, 0.0, method="lorensen", gradient_direction="ascent")
        edges = np.array([_edge_index(v) for v in verts])
        cases[case, : len(faces)] = torch.from_numpy(edges[faces])
        masks[case, : len(faces)] = True
    return cases, masks


def sdf_field(renderer, latents: torch.Tensor, grid_size: int = 32) -> torch.Tensor:
    """The renderer's signed distance on a grid for `latents`, the way `decode_to_mesh` queries it."""
    from diffusers.pipelines.shap_e.renderer import volume_query_points

    params = renderer.params_proj(latents)
    for name, param in renderer.mlp.state_dict().items():
        if f"nerstf.{name}" in params:
            param.copy_(params[f"nerstf.{name}"].squeeze(0))
    points = volume_query_points(renderer.volume, grid_size)[None]
    return renderer.mlp(position=points, direction=None, ts=None, nerf_level="fine", rendering_mode="stf").signed_distance


@torch.no_grad()
def smooth_field(renderer, octaves: int = 1, inside: float = 0.05) -> None:
    """Make random weights give a few smooth blobs instead of noise, so the test meshes stay small.

    The first MLP layer's weights (projected from the latent) are zeroed on every
    position encoding above `octaves`, and the SDF output is shifted so about
    `inside` of the grid is inside for a zero latent (else the field is positive
    everywhere and the mesh is the grid's box, whatever the seed).
    """
    proj = next(iter(renderer.params_proj.projections.values()))  # nerstf.mlp.0.weight: (D_HIDDEN, 93)
    octave = (torch.arange(proj.channels) - 3) % 45 // 3  # encoding: xyz, then sin and cos for 15 octaves
    high = (torch.arange(proj.channels) >= 3) & (octave >= octaves)
    proj.proj.weight.view(proj.vectors, proj.channels, proj.d_latent)[:, high] = 0
    proj.proj.bias.view(proj.vectors, proj.channels)[:, high] = 0
    proj.norm.weight[high] = 0
    proj.norm.bias[high] = 0
    field = torch.atanh(sdf_field(renderer, torch.zeros(1, 4 * D_HIDDEN, EMBED)).clamp(-0.999, 0.999))
    renderer.mlp.mlp[-1].bias[0] -= torch.quantile(field.flatten(), 1.0 - inside)


def tiny_renderer():
    from diffusers.pipelines.shap_e import ShapERenderer

    names = tuple(f"nerstf.mlp.{i}.weight" for i in range(4))
    shapes = ((D_HIDDEN, 93), (D_HIDDEN, D_HIDDEN), (D_HIDDEN, D_HIDDEN), (D_HIDDEN, D_HIDDEN))
    renderer = ShapERenderer(param_names=names, param_shapes=shapes, d_latent=EMBED, d_hidden=D_HIDDEN)
    cases, masks = marching_cubes_table()
    renderer.mesh_decoder.cases.copy_(cases)
    renderer.mesh_decoder.masks.copy_(masks)
    smooth_field(renderer)
    return renderer


def tiny_prior(proj_dim: int, num_embeddings_extra: int = 0):
    from diffusers import PriorTransformer

    return PriorTransformer(
        num_attention_heads=2, attention_head_dim=8, num_layers=1, embedding_dim=EMBED,
        num_embeddings=4 * D_HIDDEN, additional_embeddings=num_embeddings_extra, time_embed_act_fn="gelu",
        norm_in_type="layer", embedding_proj_norm_type="layer", encoder_hid_proj_type=None, added_emb_type=None,
        clip_embed_dim=2 * EMBED, embedding_proj_dim=proj_dim, time_embed_dim=32,
    )


def tiny_scheduler():
    from diffusers import HeunDiscreteScheduler

    return HeunDiscreteScheduler(beta_schedule="exp", num_train_timesteps=1024, prediction_type="sample",
                                 use_karras_sigmas=True, clip_sample=True, clip_sample_range=1.0)


@pytest.fixture(scope="module")
def text_model_dir(tmp_path_factory):
    from diffusers import ShapEPipeline
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_attention_heads=2,
                            num_hidden_layers=1, projection_dim=16, max_position_embeddings=16, pad_token_id=0,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    pipe = ShapEPipeline(prior=tiny_prior(16), text_encoder=CLIPTextModelWithProjection(config), tokenizer=tokenizer,
                         scheduler=tiny_scheduler(), shap_e_renderer=tiny_renderer())
    folder = tmp_path_factory.mktemp("shap-e-tiny")
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def image_model_dir(tmp_path_factory):
    from diffusers import ShapEImg2ImgPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    vision = CLIPVisionModel(CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2,
                                              num_hidden_layers=1, image_size=32, patch_size=8))
    processor = CLIPImageProcessor(crop_size=32, size={"shortest_edge": 32})
    # 32 / 8 = 4 patches a side: 16 image tokens condition the prior.
    pipe = ShapEImg2ImgPipeline(prior=tiny_prior(16), image_encoder=vision, image_processor=processor,
                                scheduler=tiny_scheduler(), shap_e_renderer=tiny_renderer())
    folder = tmp_path_factory.mktemp("shap-e-img2img-tiny")
    pipe.save_pretrained(folder)
    return folder


def test_marching_cubes_table_closes_a_sphere():
    """The test's own table must be right, or a passing adapter test would mean nothing."""
    from diffusers.pipelines.shap_e.renderer import MeshDecoder

    decoder = MeshDecoder()
    cases, masks = marching_cubes_table()
    decoder.cases.copy_(cases)
    decoder.masks.copy_(masks)
    axis = torch.linspace(-1, 1, 40)
    x, y, z = torch.meshgrid(axis, axis, axis, indexing="ij")
    field = 0.6 - torch.sqrt(x**2 + y**2 + z**2)
    raw = decoder(field, torch.tensor([-1.0, -1.0, -1.0]), torch.tensor([2.0, 2.0, 2.0]))
    mesh = trimesh.Trimesh(raw.verts.numpy(), raw.faces.numpy())
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * 0.6**3, rel=0.05)


# -- the adapters, end to end ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def studio(tmp_path_factory, text_model_dir, image_model_dir):
    """A studio whose Shap-E pipelines point at the tiny saved folders."""
    studio = Studio.create(tmp_path_factory.mktemp("shap-e-outputs"))
    studio.registry.register(ShapETextPipeline(text_model_dir))
    studio.registry.register(ShapEImagePipeline(image_model_dir))
    yield studio
    studio.stop()


def test_text_job_loads_the_saved_pipeline_and_writes_a_valid_coloured_glb(studio, text_model_dir):
    progress = []
    glb, path, metadata = studio.run_job(
        "text_to_3d", "auto", {"prompt": "  a red   chair ", "seed": 3, "steps": 2, "guidance": 4.0, "detail": "low"},
        "ply", lambda fraction, text: progress.append(text))
    assert_valid_glb(glb)
    assert metadata["pipeline"] == "shap-e" and metadata["model"] == text_model_dir.name  # a folder name, never a server path
    assert (metadata["seed"], metadata["steps"], metadata["grid_size"]) == (3, 2, 64)
    assert metadata["prompt"] == "a red chair"  # whitespace normalised
    assert {"acquire", "diffusion", "decode mesh", "export"} <= set(metadata["timings_s"])  # weights load in acquire
    assert any(text.startswith("diffusion ") for text in progress)  # per-step progress from the prior hook
    mesh = load_glb_mesh(glb)
    assert mesh.visual.kind == "vertex" and len(np.unique(mesh.visual.vertex_colors[:, :3], axis=0)) > 1
    assert mesh.extents.max() == pytest.approx(1.0, abs=1e-3) and mesh.bounds[0][1] == pytest.approx(0.0, abs=1e-3)
    assert path.endswith(".ply") and metadata["output"]["faces"] == len(mesh.faces)


def test_textured_text_job_bakes_the_colours_into_a_texture(studio):
    glb, _, metadata = studio.run_job("text_to_3d", "shap-e", {"prompt": "a vase", "seed": 1, "steps": 2,
                                                                "detail": "low", "textured": True})
    assert_valid_glb(glb)
    mesh = load_glb_mesh(glb)
    assert mesh.visual.kind == "texture" and mesh.visual.material.baseColorTexture is not None
    assert len(mesh.faces) <= shap_e.TEXTURE_FACES * 1.05  # decimated before the unwrap
    assert "bake texture" in metadata["timings_s"]


def test_seed_decides_the_shape(studio):
    pipeline = studio.registry.get("text_to_3d", "shap-e")
    pipeline.load("cpu")

    def vertices(seed):
        inputs = {"prompt": "a lamp", "seed": seed, "steps": 2, "detail": "low"}
        return pipeline.run(inputs, Stages()).asset.vertices

    first, again, other = vertices(5), vertices(5), vertices(6)
    assert np.array_equal(first, again)
    assert first.shape != other.shape or not np.allclose(first, other)


def test_bad_text_inputs_are_refused_before_any_work(studio):
    pipeline = studio.registry.get("text_to_3d", "shap-e")
    with pytest.raises(InputError, match="prompt is empty"):
        pipeline.run({"prompt": " \n "}, Stages())
    with pytest.raises(InputError, match="detail must be one of low, medium, high"):
        pipeline.run({"prompt": "a cup", "detail": "ultra"}, Stages())
    with pytest.raises(InputError, match="steps must be between 1 and 200"):
        pipeline.run({"prompt": "a cup", "steps": 0}, Stages())


def test_image_job_uses_the_front_view_and_writes_a_valid_glb(studio, image_model_dir, tmp_path):
    front = Image.new("RGBA", (200, 160), (0, 0, 0, 0))
    ImageDraw.Draw(front).ellipse([40, 30, 160, 130], fill=(200, 40, 30, 255))
    front.save(tmp_path / "front.png")
    Image.new("RGB", (64, 64), (90, 90, 90)).save(tmp_path / "back.png")
    inputs = {"front": str(tmp_path / "front.png"), "back": str(tmp_path / "back.png"), "seed": 2, "steps": 2,
              "guidance": 3.0, "octree_resolution": 64, "face_count": 4000, "textured": False}
    glb, _, metadata = studio.run_job("image_to_3d", "shap-e", inputs)
    assert_valid_glb(glb)
    assert metadata["pipeline"] == "shap-e" and metadata["model"] == image_model_dir.name
    assert metadata["mask"] == "alpha" and metadata["grid_size"] == 64
    assert metadata["warnings"] == ["Shap-E uses only the front image; the back view was ignored."]
    assert {"preprocessed_front", "mask_front"} <= set(metadata["images"])
    seen = np.asarray(Image.open(Path(glb).parent / metadata["images"]["preprocessed_front"]).convert("RGB"))
    assert (seen[0, 0] == 255).all() and tuple(seen[128, 128]) == (200, 40, 30)  # the object on white, centred
    mesh = load_glb_mesh(glb)
    # Random weights give a field full of tiny closed bubbles, which decimation cannot take all the way to 4000.
    assert len(mesh.faces) < metadata["faces_extracted"] / 2 and mesh.visual.kind == "vertex"


def test_image_job_refuses_a_missing_front_view(studio):
    with pytest.raises(InputError, match="No front image"):
        studio.run_job("image_to_3d", "shap-e", {"back": None, "octree_resolution": 64})


@pytest.fixture(scope="module")
def shap_e_server(tmp_path_factory, text_model_dir, image_model_dir):
    """The real app with its Shap-E pipelines pointed at the tiny folders, driven by gradio_client."""
    import app
    from gradio_client import Client

    outputs = tmp_path_factory.mktemp("shap-e-app")
    args = app.parse_args(["--port", str(free_port()), "--outputs", str(outputs)])
    studio = app.Studio.create(outputs, args.gpu_slots, args.cpu_slots, args.queue_size)
    studio.registry.register(ShapETextPipeline(text_model_dir))
    studio.registry.register(ShapEImagePipeline(image_model_dir))
    demo = app.build_app(studio)
    _, url, _ = app.launch(demo, studio, args, prevent_thread_lock=True, quiet=True)
    yield Client(url, verbose=False)
    demo.close()
    studio.stop()


def test_both_tabs_run_shap_e_through_gradio_client(shap_e_server, tmp_path):
    from gradio_client import handle_file

    glb, obj_zip, metadata = shap_e_server.predict("a green frog", "shap-e", 7, 5.0, 2, "low", False, "obj",
                                                   api_name="/text_to_3d")
    assert_valid_glb(glb)
    assert obj_zip.endswith(".zip") and metadata["pipeline"] == "shap-e" and metadata["seed"] == 7

    image = Image.new("RGB", (96, 96), (255, 255, 255))  # no alpha: the background is removed (GrabCut)
    ImageDraw.Draw(image).rectangle([30, 20, 66, 80], fill=(30, 60, 200))
    image.save(tmp_path / "front.png")
    glb, _, metadata = shap_e_server.predict(
        handle_file(str(tmp_path / "front.png")), None, None, None, "shap-e", True, 4, 2, 3.0, 64, 2000, False, "glb",
        api_name="/image_to_3d")
    assert_valid_glb(glb)
    assert metadata["pipeline"] == "shap-e" and metadata["mask"] == "grabcut" and metadata["steps"] == 2


# -- availability and "auto" ---------------------------------------------------------------------------


class FakeBuiltin(Pipeline):
    name = "fake-builtin"
    feature = "text_to_3d"
    priority = 0

    def run(self, inputs, stages):
        return PipelineOutput(trimesh.creation.box())


def as_hub_cache(folder, cache, repo_id: str) -> None:
    """Lay `folder` out the way huggingface_hub leaves a downloaded snapshot (refs/main -> snapshots/<commit>)."""
    import shutil

    commit = "0" * 40
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_auto_prefers_shap_e_only_when_its_weights_are_on_the_machine(text_model_dir, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    registry = Registry(entries=[])
    registry.register(FakeBuiltin())
    registry.register(ShapETextPipeline("openai/shap-e"))
    assert registry.get("text_to_3d", "auto").name == "fake-builtin"
    row = next(r for r in registry.listing()["text_to_3d"]["pipelines"] if r["name"] == "shap-e")
    assert not row["available"]
    assert "HF_HUB_OFFLINE is set" in row["reason"] and "snapshot_download('openai/shap-e')" in row["reason"]
    assert "STUDIO_SHAP_E_MODEL" in row["reason"]

    as_hub_cache(text_model_dir, tmp_path / "hub", "openai/shap-e")
    assert registry.get("text_to_3d", "auto").name == "shap-e"
    pipeline = registry.get("text_to_3d", "auto")
    pipeline.load("cpu")  # from the hub cache, offline
    assert pipeline.pipe is not None and str(tmp_path / "hub") in pipeline.pipe.name_or_path
    pipeline.unload()

    registry.register(ShapETextPipeline(text_model_dir))  # a local folder, named instead of a hub id
    assert registry.get("text_to_3d", "auto").model == str(text_model_dir)


def test_unavailable_reasons_say_what_to_do(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    pipeline = ShapETextPipeline("openai/shap-e")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    ok, reason = pipeline.availability({"cpu"})
    assert not ok and "without a GPU a run takes minutes" in reason
    ok, reason = pipeline.availability({"cpu", "cuda"})
    assert ok and "download on first use" in reason
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    registry = Registry(entries=[])
    registry.register(pipeline)
    with pytest.raises(InputError, match=r"No pipeline for Text to 3D is available on this machine \(shap-e: weights"):
        registry.get("text_to_3d", "auto")
    with pytest.raises(InputError, match="Pipeline 'shap-e' is not available here: weights for openai/shap-e"):
        registry.get("text_to_3d", "shap-e")
    monkeypatch.setenv("STUDIO_SHAP_E_MODEL", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    assert not ShapETextPipeline().availability({"cpu", "cuda"})[0]  # a folder without model_index.json


def test_first_use_downloads_with_progress_in_load_then_runs(text_model_dir, tmp_path, monkeypatch):
    """Online with nothing cached: `load` downloads (a stage with progress) and loads; `run` only runs."""
    import shutil

    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    hub_files = ["model_index.json", "prior/diffusion_pytorch_model.safetensors", "prior/diffusion_pytorch_model.bin"]
    calls = []

    def snapshot_download(repo_id, local_files_only=False, ignore_patterns=None, tqdm_class=None, **kwargs):
        calls.append((repo_id, local_files_only, ignore_patterns))
        target = tmp_path / "hub" / repo_id
        if local_files_only:
            if not target.exists():
                raise LocalEntryNotFoundError("not cached")
            return str(target)
        files = [f for f in sorted(text_model_dir.rglob("*")) if f.is_file()]
        with tqdm_class(total=len(files)) as bar:
            for f in files:
                (target / f.parent.relative_to(text_model_dir)).mkdir(parents=True, exist_ok=True)
                shutil.copy(f, target / f.relative_to(text_model_dir))
                bar.update(1)
        return str(target)

    class Api:
        def list_repo_files(self, repo_id):
            return hub_files

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    pipeline = ShapETextPipeline("someone/shap-e")
    progress = []
    loading = Stages(lambda fraction, text: progress.append(text))
    pipeline.load("cpu", loading)
    assert pipeline.pipe is not None and pipeline.loaded
    assert ("someone/shap-e", False, ["prior/diffusion_pytorch_model.bin"]) in calls
    files = sum(1 for f in text_model_dir.rglob("*") if f.is_file())
    assert f"downloading weights: {files}/{files} files" in progress
    assert set(loading.timings) == {"download weights (first use)", "load weights"}
    running = Stages()
    output = pipeline.run({"prompt": "a mug", "steps": 2, "detail": "low"}, running)
    assert "diffusion" in running.timings and not {"download weights (first use)", "load weights"} & set(running.timings)
    assert len(output.asset.faces) > 0
    pipeline.unload()
    pipeline.load("cpu")  # cached now: loads at once, no second download
    assert pipeline.pipe is not None and sum(not local for _, local, _ in calls) == 1


def test_download_skips_duplicate_weight_formats():
    files = ["model_index.json", "prior/config.json", "prior/diffusion_pytorch_model.safetensors",
             "prior/diffusion_pytorch_model.bin", "text_encoder/pytorch_model.bin", "text_encoder/flax_model.msgpack",
             "shap_e_renderer/diffusion_pytorch_model.safetensors", "shap_e_renderer/model.onnx"]
    assert skipped_files(files) == ["prior/diffusion_pytorch_model.bin", "shap_e_renderer/model.onnx"]
