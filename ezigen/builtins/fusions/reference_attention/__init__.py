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
mixed the same way, where ``adain_placement`` says (adain.py: ``blocks``, the
community's depth-weighted block outputs gated by ``gn_auto_machine_weight``; or ``resnets``).
``scale`` s: output = plain + s * (referenced - plain); s = 0 skips the write pass, so the
UNet and the generator are exactly as without the fusion. No weights: nothing to train.

It reads REFERENCE features: the ``unet`` encoder with ``mode: per-step``.
"""

from __future__ import annotations

from typing import Any

from ezigen.builtins.fusions.reference_attention.config import (
    ReferenceNoise, AdainPlacement, ReferencePrompt, ReferenceAttentionConfig,
)
from ezigen.values import FeatureKind

__all__ = ["ReferenceAttention", "ReferenceNoise", "AdainPlacement", "ReferencePrompt", "ReferenceAttentionConfig"]


class ReferenceAttention:
    """Training-free reference-only attention (and optional AdaIN), REFERENCE features at every step."""

    config_class = ReferenceAttentionConfig

    @classmethod
    def input_kinds(cls, config: ReferenceAttentionConfig) -> frozenset[FeatureKind]:
        return frozenset({FeatureKind.REFERENCE})

    @classmethod
    def extra_unet_rows(cls, config: ReferenceAttentionConfig, subject_images: int, rows: int) -> int:
        """UNet rows the reference pass adds on a subject-on step of ``rows`` CFG branches (the cost model):
        N per generating row with ``reference_prompt: generation`` (the reference duplicated for CFG),
        else N; none at scale 0 (the fusion is off)."""
        if config.scale == 0.0:
            return 0
        return subject_images * (rows if config.reference_prompt is ReferencePrompt.GENERATION else 1)

    @classmethod
    def from_config(cls, config: ReferenceAttentionConfig, backbone: Any, encoder: Any = None):
        from ezigen.builtins.fusions.reference_attention.model import ReferenceAttentionModel

        return ReferenceAttentionModel(config, backbone)
