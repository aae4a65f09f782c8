"""Tiny offline models, built in memory from a fixed seed (spec/TINY_MODELS.md).

``tiny:sd21`` and ``tiny:sdxl`` are shaped like the real backbones (same block types, linear
projections, SDXL's two text encoders and added time ids) but are a few MB and random. They
exist so that every code path, test and demo runs with no network. ``tiny:clip`` (a CLIPModel
with its processor) and ``tiny:dino`` (a DINOv2 model with its processor) stand in for the
image encoders used by encoders, stop rules and metrics.

Every builder is deterministic: the same name gives bit-identical weights, and building does
not disturb the caller's global RNG.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

TINY_SEED = 0
TINY_RESOLUTION = 64
TINY_BACKBONES = ("tiny:sd21", "tiny:sdxl")
TINY_IMAGE_MODELS = ("tiny:clip", "tiny:dino")
TINY_NAMES = TINY_BACKBONES + TINY_IMAGE_MODELS


def is_tiny(name: str | None) -> bool:
    return isinstance(name, str) and name.startswith("tiny:")


def _seeded(offset: int):
    """Run a builder under ``torch.manual_seed(TINY_SEED + offset)`` without touching the caller's RNG."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(TINY_SEED + offset)
                return fn(*args, **kwargs)

        return inner

    return wrap


def tiny_tokenizer():
    """An offline CLIP BPE tokenizer over single bytes (no merges): every text tokenizes, 77 tokens max."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    chars = sorted(pre_tokenizers.ByteLevel.alphabet())  # the 256 byte-level symbols
    vocab: dict[str, int] = {}
    for ch in chars:
        vocab[ch] = len(vocab)
    for ch in chars:
        vocab[ch + "</w>"] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    tokenizer.model_max_length = 77
    return tokenizer


def _text_config(tokenizer, **overrides: Any):
    from transformers import CLIPTextConfig

    values = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_act="gelu",
    )
    values.update(overrides)
    return CLIPTextConfig(**values)


@_seeded(1)
def _tiny_text_encoder(tokenizer):
    from transformers import CLIPTextModel

    return CLIPTextModel(_text_config(tokenizer)).eval()


@_seeded(2)
def _tiny_text_encoder_2(tokenizer):
    from transformers import CLIPTextModelWithProjection

    return CLIPTextModelWithProjection(_text_config(tokenizer, projection_dim=32)).eval()


@_seeded(3)
def _tiny_unet_sd21():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=2,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        cross_attention_dim=32,
        norm_num_groups=32,
    ).eval()


@_seeded(4)
def _tiny_unet_sdxl():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=2,
        attention_head_dim=(2, 4),
        transformer_layers_per_block=(1, 2),
        use_linear_projection=True,
        cross_attention_dim=64,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 32,
        norm_num_groups=32,
    ).eval()


@_seeded(5)
def _tiny_vae(scaling_factor: float, force_upcast: bool):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=TINY_RESOLUTION,
        scaling_factor=scaling_factor,
        force_upcast=force_upcast,
    ).eval()


def _sd21_scheduler():
    # SD2.1-base's own scheduler config (spec/REAL_CONFIGS.md).
    from diffusers import PNDMScheduler

    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        set_alpha_to_one=False,
        skip_prk_steps=True,
        steps_offset=1,
        prediction_type="epsilon",
    )


def _sdxl_scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        prediction_type="epsilon",
        timestep_spacing="leading",
        interpolation_type="linear",
        use_karras_sigmas=False,
    )


def tiny_pipeline_parts(name: str) -> dict[str, Any]:
    """The diffusers components of ``tiny:sd21`` or ``tiny:sdxl``, keyed as in the pipelines."""
    if name == "tiny:sd21":
        tokenizer = tiny_tokenizer()
        return dict(
            unet=_tiny_unet_sd21(),
            vae=_tiny_vae(0.18215, False),
            text_encoder=_tiny_text_encoder(tokenizer),
            tokenizer=tokenizer,
            scheduler=_sd21_scheduler(),
        )
    if name == "tiny:sdxl":
        tokenizer = tiny_tokenizer()
        return dict(
            unet=_tiny_unet_sdxl(),
            vae=_tiny_vae(0.13025, True),
            text_encoder=_tiny_text_encoder(tokenizer),
            tokenizer=tokenizer,
            text_encoder_2=_tiny_text_encoder_2(tokenizer),
            tokenizer_2=tiny_tokenizer(),
            scheduler=_sdxl_scheduler(),
        )
    raise ValueError(f"unknown tiny backbone {name!r}; expected one of {', '.join(TINY_BACKBONES)}")


def tiny_pipeline(name: str):
    """A diffusers pipeline (StableDiffusionPipeline / StableDiffusionXLPipeline) of tiny parts."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    parts = tiny_pipeline_parts(name)
    if name == "tiny:sd21":
        return StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return StableDiffusionXLPipeline(**parts)


@_seeded(6)
def tiny_clip_model():
    """A tiny CLIPModel (text + vision towers, projection 32) for encoders, stop rules and metrics."""
    from transformers import CLIPConfig, CLIPModel

    tokenizer = tiny_tokenizer()
    text = _text_config(tokenizer, projection_dim=32).to_dict()
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                  image_size=32, patch_size=4, hidden_act="gelu", projection_dim=32)
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)).eval()


def tiny_clip_processor():
    """CLIP preprocessing at the tiny model's 32 px, with the real CLIP mean/std."""
    from transformers import CLIPImageProcessor, CLIPProcessor

    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return CLIPProcessor(image_processor=image_processor, tokenizer=tiny_tokenizer())


@_seeded(7)
def tiny_dino_model():
    """A tiny DINOv2 model (patch tokens + CLS) for the ``dino`` encoder and the DINO metric."""
    from transformers import Dinov2Config, Dinov2Model

    config = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                          image_size=32, patch_size=4)
    return Dinov2Model(config).eval()


def tiny_dino_processor():
    from transformers import BitImageProcessor

    return BitImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=True,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    )


def save_tiny(name: str, folder: str) -> None:
    """Write a tiny model as a folder that diffusers / transformers ``from_pretrained`` load offline."""
    if name in TINY_BACKBONES:
        tiny_pipeline(name).save_pretrained(folder)
    elif name == "tiny:clip":
        tiny_clip_model().save_pretrained(folder)
        tiny_clip_processor().save_pretrained(folder)
    elif name == "tiny:dino":
        tiny_dino_model().save_pretrained(folder)
        tiny_dino_processor().save_pretrained(folder)
    else:
        raise ValueError(f"unknown tiny model {name!r}; expected one of {', '.join(TINY_NAMES)}")
