"""Tiny random Hunyuan3D-2.1 shape weights, made with hy3dshape's own classes and saved in its own layout.

Run with the Python of the hunyuan3d-2.1 environment (it imports hy3dshape):
    python -m tests.tiny_hunyuan3d_21 FOLDER
writes FOLDER/hunyuan3d-dit-v2-1/config.yaml and model.fp16.ckpt, as the tencent/Hunyuan3D-2.1 repository
lays them out: the config's model / vae / conditioner / scheduler / image_processor sections with the classes
the real config names, shrunk to a few thousand parameters, and one torch checkpoint holding the three state
dicts under "model", "vae" and "conditioner" (what hy3dshape's from_pretrained reads with use_safetensors=False).
"""

from __future__ import annotations

import sys
from pathlib import Path

SUBFOLDER = "hunyuan3d-dit-v2-1"
DEPTH = 3  # two plain blocks and one MoE block (the real DiT: 21 blocks, the last 6 MoE)


def tiny_config() -> dict:
    dino_width = 32
    return {
        "model": {"target": "hy3dshape.models.denoisers.hunyuandit.HunYuanDiTPlain", "params": {
            "input_size": 16, "in_channels": 8, "hidden_size": 32, "context_dim": dino_width, "depth": DEPTH,
            "num_heads": 2, "qk_norm": True, "text_len": 5, "with_decoupled_ca": False,
            "use_attention_pooling": False, "qk_norm_type": "rms", "qkv_bias": False, "use_pos_emb": False,
            "num_moe_layers": 1, "num_experts": 2, "moe_top_k": 1}},
        "vae": {"target": "hy3dshape.models.autoencoders.ShapeVAE", "params": {
            "num_latents": 16, "embed_dim": 8, "num_freqs": 4, "include_pi": False, "heads": 2, "width": 32,
            "num_encoder_layers": 1, "num_decoder_layers": 1, "qkv_bias": False, "qk_norm": True,
            "scale_factor": 1.0, "geo_decoder_mlp_expand_ratio": 4, "geo_decoder_downsample_ratio": 1,
            "geo_decoder_ln_post": True, "point_feats": 4, "pc_size": 64, "pc_sharpedge_size": 64}},
        "conditioner": {"target": "hy3dshape.models.conditioner.SingleImageEncoder", "params": {
            "main_image_encoder": {"type": "DinoImageEncoder", "kwargs": {
                "config": {"model_type": "dinov2", "hidden_size": dino_width, "num_hidden_layers": 1,
                           "num_attention_heads": 2, "mlp_ratio": 2, "patch_size": 14, "image_size": 28,
                           "layer_norm_eps": 1e-6, "use_swiglu_ffn": False},
                "image_size": 28, "use_cls_token": True}}}},
        "scheduler": {"target": "hy3dshape.schedulers.FlowMatchEulerDiscreteScheduler",
                      "params": {"num_train_timesteps": 1000}},
        "image_processor": {"target": "hy3dshape.preprocessors.ImageProcessorV2",
                            "params": {"size": 64, "border_ratio": 0.15}},
    }


def save_tiny_weights(folder: Path) -> None:
    import torch
    import yaml
    from hy3dshape.pipelines import instantiate_from_config  # what its loader builds the parts with

    config = tiny_config()
    torch.manual_seed(0)
    checkpoint = {part: {key: value.detach().to(torch.float16).contiguous()
                         for key, value in instantiate_from_config(config[part]).state_dict().items()}
                  for part in ("model", "vae", "conditioner")}
    (folder / SUBFOLDER).mkdir(parents=True, exist_ok=True)
    (folder / SUBFOLDER / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(checkpoint, folder / SUBFOLDER / "model.fp16.ckpt")


if __name__ == "__main__":
    save_tiny_weights(Path(sys.argv[1]))
