"""The toy text-to-image backbone: ``toy:init`` (untrained, built in memory from a fixed seed) and
``toy:base`` (trained on the toy world, shipped in the package as a diffusers-style folder).

Parts, shaped for a 2-core CPU budget:

- autoencoder: a fixed pixel-unshuffle by 2 (32 x 32 x 3 <-> 16 x 16 x 12), no weights;
- UNet: diffusers ``UNet2DConditionModel`` on 16 x 16 x 12 latents, channels (32, 64, 96),
  7 transformer blocks (2 down at 16 x 16 and 8 x 8, 1 mid at 4 x 4, 4 up), 2.2 M parameters
  (0.53 s per training step at batch 64 on 2 cores; wider variants cost 1.5-2.5x per step);
- text: a word-level tokenizer over the world's 25 words and a 2-layer ``CLIPTextModel`` (64-d),
  trained together with the UNet;
- scheduler: DDPM, linear betas 1e-4 .. 0.02, 1000 steps, x0 not clipped (as SD2.1-base's config:
  clipping raised DDPM's text-only fidelity by 0.026 but broke DDIM, which clips x0 and not the
  epsilon it derives from it), v-prediction (base v2): an epsilon-trained base predicts
  x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t) badly at high noise (sqrt(a_981) = 0.006), which
  DDPM's clipping hid in v1 and DPM-Solver++ / Euler (no clipping) turned into noise;
  v = sqrt(a_t) eps - sqrt(1 - a_t) x0 keeps x0 well-posed at every t.
"""

from __future__ import annotations

import os
from typing import Any

from ezigen.io import write_json_atomic

TOY_ASSETS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "toy")
TOY_BASE = os.path.join(TOY_ASSETS, "base")
TOY_ADAPTER = os.path.join(TOY_ASSETS, "ezigen-adapter.safetensors")
TOY_SEED = 0
MAX_TOKENS = 16


SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


def toy_tokenizer(specials: tuple[str, ...] = SPECIALS):
    """A word-level tokenizer (tokenizers' WordLevel) over the toy world's vocabulary.

    ``specials`` are the first ids, in order (the toy CLIP's tokenizer reorders them, see
    ``ezigen.toy.encoders.models``); the words follow, with the same ids for any order of four."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from ezigen.toy.world import vocabulary

    vocab = {token: i for i, token in enumerate(list(specials) + vocabulary())}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", vocab["<bos>"]), ("<eos>", vocab["<eos>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>", model_max_length=MAX_TOKENS)


def _seeded(offset: int, build):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TOY_SEED + offset)
        return build()


def toy_text_encoder(tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=MAX_TOKENS,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id, hidden_act="gelu")
    return _seeded(1, lambda: CLIPTextModel(config)).eval()


def toy_unet():
    from diffusers import UNet2DConditionModel

    return _seeded(2, lambda: UNet2DConditionModel(
        sample_size=16,
        in_channels=12,
        out_channels=12,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(32, 64, 96),
        layers_per_block=1,
        attention_head_dim=(1, 2, 3),  # heads per level (diffusers' name): 32 channels per head
        cross_attention_dim=64,
        norm_num_groups=16,
        use_linear_projection=True,
    )).eval()


def toy_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                         prediction_type="v_prediction", clip_sample=False, clip_sample_range=1.0, steps_offset=1,
                         timestep_spacing="leading")


def toy_init_parts() -> dict[str, Any]:
    """The untrained toy backbone (``toy:init``), deterministic."""
    from ezigen.toy.autoencoder import PixelUnshuffleAutoencoder

    tokenizer = toy_tokenizer()
    return {"unet": toy_unet(), "vae": PixelUnshuffleAutoencoder(), "text_encoder": toy_text_encoder(tokenizer),
            "tokenizer": tokenizer, "scheduler": toy_scheduler(), "force_zeros_for_empty_prompt": False}


MODEL_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["ezigen.toy.autoencoder", "PixelUnshuffleAutoencoder"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
    "scheduler": ["diffusers", "DDPMScheduler"],
    "safety_checker": [None, None],
    "feature_extractor": [None, None],
    "requires_safety_checker": False,
}


def save_toy_folder(parts: dict[str, Any], folder: str) -> None:
    """Write a toy backbone as a folder ezigen's backbone loader reads (``backbone.pretrained: FOLDER``)."""
    os.makedirs(folder, exist_ok=True)
    for name in ("unet", "vae", "text_encoder", "tokenizer"):
        parts[name].save_pretrained(os.path.join(folder, name))
    parts["scheduler"].save_pretrained(os.path.join(folder, "scheduler"))
    # last and atomically: the loader takes a folder without model_index.json as incomplete
    write_json_atomic(os.path.join(folder, "model_index.json"), MODEL_INDEX)


def embedded_folder(name: str) -> str:
    """``toy:base`` -> the shipped folder."""
    from ezigen.errors import EzigenError

    if name != "toy:base":
        raise EzigenError(f"backbone.pretrained: {name!r} is not an embedded toy backbone; expected toy:base or toy:init")
    if not os.path.isfile(os.path.join(TOY_BASE, "model_index.json")):
        raise EzigenError("toy:base is not in this installation (ezigen/assets/toy/base); rebuild it with "
                          "scripts/toy-chain.sh (docs/toy-world.md)")
    return TOY_BASE


def embedded_weights(uri: str) -> str:
    """``toy:ezigen`` -> the shipped adapter file."""
    from ezigen.errors import WeightsError

    if uri != "toy:ezigen":
        raise WeightsError(f"fusion.weights: unknown embedded weights {uri!r}; expected toy:ezigen")
    if not os.path.isfile(TOY_ADAPTER):
        raise WeightsError("toy:ezigen is not in this installation (ezigen/assets/toy); rebuild it with "
                           "scripts/toy-chain.sh (docs/toy-world.md)")
    return TOY_ADAPTER


def assemble_base(run: str, out: str) -> str:
    """A trained base folder: toy:init's fixed parts + the UNet and text encoder trained in ``run``."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    parts = toy_init_parts()
    parts["unet"] = UNet2DConditionModel.from_pretrained(os.path.join(run, "unet"))
    parts["text_encoder"] = CLIPTextModel.from_pretrained(os.path.join(run, "text_encoder"))
    save_toy_folder(parts, out)
    return out
