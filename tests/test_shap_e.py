"""Shap-E adapters on CPU with tiny random components of the real diffusers/transformers classes.

The components are saved with `save_pretrained` and loaded back through the
adapters' own loading path from a local folder. Random weights leave the
renderer's marching-cubes tables (checkpoint buffers) at zero, so the test
fills them with a table built here from scikit-image's classic marching cubes.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import Image

from pipelines.base import Stages
from pipelines.errors import InputError
from tests.conftest import assert_valid_glb

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


def tiny_renderer():
    from diffusers.pipelines.shap_e import ShapERenderer

    names = tuple(f"nerstf.mlp.{i}.weight" for i in range(4))
    shapes = ((D_HIDDEN, 93), (D_HIDDEN, D_HIDDEN), (D_HIDDEN, D_HIDDEN), (D_HIDDEN, D_HIDDEN))
    renderer = ShapERenderer(param_names=names, param_shapes=shapes, d_latent=EMBED, d_hidden=D_HIDDEN)
    cases, masks = marching_cubes_table()
    renderer.mesh_decoder.cases.copy_(cases)
    renderer.mesh_decoder.masks.copy_(masks)
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
