"""The ``reference-attention`` fusion's recipe keys: its config and enums (the method: ``__init__.py``; the module: ``model.py``)."""

from __future__ import annotations

import enum

import attrs

from ezigen.config import in_range, setting


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
