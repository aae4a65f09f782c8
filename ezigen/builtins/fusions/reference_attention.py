"""The ``reference-attention`` fusion: training-free "reference-only" control.

At every denoising step the UNet first runs on the reference latent noised to the current
timestep, x_ref,t = sqrt(abar_t) z_ref + sqrt(1 - abar_t) eps (one fixed eps, seeded), with the
subject prompt; each transformer block records its self-attention input LN1(h_ref). In the
generating pass each block's self-attention then attends over its own tokens and the
reference's:

    a1 = Attn1(Q = LN1(h), K/V = [LN1(h); LN1(h_ref)])

``style_fidelity`` s_f mixes in plain self-attention on the unconditional CFG rows:
cond rows use a1; uncond rows use s_f * Attn1(LN1(h)) + (1 - s_f) * a1. With ``adain: true``
every ResNet block's output is also re-normalised to the reference's per-channel mean and
standard deviation (AdaIN), mixed the same way. No weights: nothing to train.

It reads REFERENCE features: the ``unet`` encoder with ``mode: per-step``.
"""

from __future__ import annotations

from typing import Any

import attrs

from ezigen.config import in_range, setting
from ezigen.values import FeatureKind


@attrs.frozen
class ReferenceAttentionConfig:
    scale: float = setting(1.0, doc="s: output = plain + s * (referenced - plain) (1 = reference-only as "
                           "published; 0 = off).", validator=in_range(0.0, 10.0))
    style_fidelity: float = setting(0.5, doc="s_f: how much the unconditional rows keep plain attention (0..1).",
                                    validator=in_range(0.0, 1.0))
    attention: bool = setting(True, doc="Concatenate the reference's self-attention inputs (reference_attn).")
    adain: bool = setting(False, doc="Match ResNet block statistics to the reference's (reference_adain).")
    noise_seed: int = setting(0, doc="Seed of the reference's noise (fixed across steps).",
                              validator=in_range(0, 2**63 - 1))

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
    def extra_unet_rows(cls, config: ReferenceAttentionConfig, subject_images: int) -> int:
        """UNet rows added per subject-on step (the cost model): the reference pass, one row per image."""
        return subject_images

    @classmethod
    def from_config(cls, config: ReferenceAttentionConfig, backbone: Any, encoder: Any = None):
        from ezigen.builtins.fusions.reference_attention_modules import ReferenceAttentionFusion

        return ReferenceAttentionFusion(config, backbone)
