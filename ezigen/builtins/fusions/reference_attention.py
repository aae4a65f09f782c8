"""The ``reference-attention`` fusion: training-free "reference-only" control, by default as the
diffusers community pipeline ``stable_diffusion_reference`` does it (its users' baseline).

At every denoising step the UNet first runs on the reference latent z_ref noised to the current
timestep, x_ref,t = sqrt(abar_t) z_ref + sqrt(1 - abar_t) eps, and each transformer block
records its self-attention input LN1(h_ref) (the *write* pass). In the generating pass each
block's self-attention then attends over its own tokens and the reference's:

    a1 = Attn1(Q = LN1(h), K/V = [LN1(h); LN1(h_ref)])

- ``reference_noise``: ``per-step`` (community) draws a fresh eps at every step from the
  generation's generator, before the step's UNet calls; ``fixed`` reuses one eps seeded by
  ``noise_seed``.
- ``reference_prompt``: ``generation`` (community) runs the write pass once per generation
  row with that row's prompt embeddings, i.e. the reference is duplicated for CFG and its
  unconditional copy sees the negative prompt; each row reads its own copy. ``subject`` runs
  it once per reference image with the subject prompt, shared by every row.
- ``attention_auto_machine_weight`` w_a: blocks sorted by channel width (widest first, module
  order within a width) get weights i / L; block i takes part iff w_a > i / L (1.0: all).

``style_fidelity`` s_f mixes in plain self-attention on the unconditional CFG rows:
cond rows use a1; uncond rows use s_f * Attn1(LN1(h)) + (1 - s_f) * a1. With ``adain: true``
feature maps are also matched to the reference's per-channel mean and standard deviation,
mixed the same way, where ``adain_placement`` says (reference_adain.py: ``blocks``, the
community's depth-weighted block outputs gated by ``gn_auto_machine_weight``; or ``resnets``).
``scale`` s: output = plain + s * (referenced - plain); s = 0 skips the write pass, so the
UNet and the generator are exactly as without the fusion. No weights: nothing to train.

It reads REFERENCE features: the ``unet`` encoder with ``mode: per-step``.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from ezigen.config import in_range, setting
from ezigen.values import FeatureKind


class ReferenceNoise(enum.Enum):
    PER_STEP = "per-step"  # community: fresh eps from the generation's generator at every step
    FIXED = "fixed"  # one eps, seeded by noise_seed


class AdainPlacement(enum.Enum):
    BLOCKS = "blocks"  # community: down/up block units and the mid block, depth-weighted
    RESNETS = "resnets"  # every ResnetBlock2D output, no depth weights


class ReferencePrompt(enum.Enum):
    GENERATION = "generation"  # community: one reference row per generation row, with its prompt
    SUBJECT = "subject"  # one reference row per image, with the subject prompt, shared


@attrs.frozen
class ReferenceAttentionConfig:
    scale: float = setting(1.0, doc="s: output = plain + s * (referenced - plain) (1 = reference-only as "
                           "published; 0 = off).", validator=in_range(0.0, 10.0))
    style_fidelity: float = setting(0.5, doc="s_f: how much the unconditional rows keep plain attention (0..1).",
                                    validator=in_range(0.0, 1.0))
    attention: bool = setting(True, doc="Concatenate the reference's self-attention inputs (reference_attn).")
    adain: bool = setting(False, doc="Match feature-map statistics to the reference's (reference_adain).")
    reference_noise: ReferenceNoise = setting(
        ReferenceNoise.PER_STEP, doc="per-step: a fresh eps from the generation's generator at every step (community); "
        "fixed: one eps seeded by noise_seed.",
    )
    reference_prompt: ReferencePrompt = setting(
        ReferencePrompt.GENERATION, doc="generation: the reference pass per generation row with its prompt, "
        "duplicated for CFG (community); subject: once per reference image with the subject prompt.",
    )
    adain_placement: AdainPlacement = setting(
        AdainPlacement.BLOCKS, doc="blocks: down/up block units and the mid block, depth-weighted, std = sqrt(max(var, "
        "1e-6)) (community); resnets: every ResnetBlock2D output, std = sqrt(var + 1e-5).",
    )
    attention_auto_machine_weight: float = setting(
        1.0, doc="w_a: block i of L (widest first) takes part iff w_a > i / L (community; 1.0 = all).",
        validator=in_range(0.0, 1.0),
    )
    gn_auto_machine_weight: float = setting(
        1.0, doc="w_g (adain_placement: blocks): a block with depth weight w takes part iff w_g >= w; mid 0, "
        "down k of K 2 (1 - k/K), up k of K 2 k/K (community; 2.0 = all).", validator=in_range(0.0, 2.0),
    )
    noise_seed: int = setting(0, doc="Seed of the reference's noise with reference_noise: fixed (and per-step "
                              "without a generation generator).", validator=in_range(0, 2**63 - 1))

    def __attrs_post_init__(self) -> None:
        if not (self.attention or self.adain):
            raise ValueError("at least one of attention and adain must be true")


class ReferenceAttention:
    """Training-free reference-only attention (and optional AdaIN), REFERENCE features at every step."""

    config_class = ReferenceAttentionConfig

    @classmethod
    def input_kinds(cls, config: ReferenceAttentionConfig) -> frozenset[FeatureKind]:
        return frozenset({FeatureKind.REFERENCE})

    @classmethod
    def from_config(cls, config: ReferenceAttentionConfig, backbone: Any, encoder: Any = None):
        from ezigen.builtins.fusions.reference_attention_modules import ReferenceAttentionFusion

        return ReferenceAttentionFusion(config, backbone)
