"""Real-size backbones with random weights: ``random:sd21-base`` and ``random:sdxl-base``.

The architectures of SD2.1-base and SDXL-base (UNet configs in ``ezigen/assets/configs``; VAE
and text encoders from spec/REAL_CONFIGS.md) with random weights from a fixed seed, built on
the GPU when there is one. For speed and memory measurements at real size without downloading
weights (benchmarks/gpu.sh); the images are noise. The tokenizer is the tiny one (its ids are
valid for the real 49,408-token vocabulary).
"""

from __future__ import annotations

import json
import os
from typing import Any

RANDOM_BACKBONES = ("random:sd21-base", "random:sdxl-base")
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "assets", "configs")


def _text_config(tokenizer: Any, **values: Any):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **values)


def random_real_parts(name: str) -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from ezigen.builtins.backbones.tiny import _sd21_scheduler, _sdxl_scheduler, tiny_tokenizer

    xl = name == "random:sdxl-base"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with open(os.path.join(CONFIGS, "sdxl-base-unet.json" if xl else "sd21-base-unet.json")) as fh:
        unet_config = json.load(fh)
    tokenizer = tiny_tokenizer()
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**unet_config)
        vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                            up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
                            layers_per_block=2, latent_channels=4, sample_size=1024 if xl else 512,
                            scaling_factor=0.13025 if xl else 0.18215, force_upcast=xl)
        if xl:
            text_encoder = CLIPTextModel(_text_config(tokenizer, hidden_size=768, intermediate_size=3072,
                                                      num_hidden_layers=12, num_attention_heads=12,
                                                      hidden_act="quick_gelu"))
            text_encoder_2 = CLIPTextModelWithProjection(_text_config(
                tokenizer, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
                hidden_act="gelu", projection_dim=1280))
        else:
            text_encoder = CLIPTextModel(_text_config(tokenizer, hidden_size=1024, intermediate_size=4096,
                                                      num_hidden_layers=23, num_attention_heads=16, hidden_act="gelu"))
    parts = {"unet": unet.eval(), "vae": vae.eval(), "text_encoder": text_encoder.eval(), "tokenizer": tokenizer,
             "scheduler": _sdxl_scheduler() if xl else _sd21_scheduler()}
    if xl:
        parts["text_encoder_2"] = text_encoder_2.eval()
        parts["tokenizer_2"] = tiny_tokenizer()
    return parts
