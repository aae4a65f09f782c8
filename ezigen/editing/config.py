"""The ``editing:`` recipe section: subject-driven editing with a mask and partial inversion (spec §4.4).

Every default is the released SD2.1 script's (``infer.py --do_editing``); the quirks each key
keeps or fixes are described in docs/editing.md.
"""

from __future__ import annotations

import enum

import attrs

from ezigen.config import in_range, setting


class InversionText(enum.Enum):
    """The text conditioning of the inversion (no CFG)."""

    RELEASED = "released"  # ExceptionCLIPTextModel: every token id -> inversion_token_id, no positional embeddings
    EMPTY_PROMPT = "empty-prompt"  # the backbone's plain text encoder on ""


class BlendIndex(enum.Enum):
    """Which inverted latent is blended in after denoising step i (0-based in the edit's steps)."""

    RELEASED = "released"  # x_inv[::-1][i]: one step behind (at i = 0 the starting latent itself)
    CORRECTED = "corrected"  # x_inv[::-1][i + 1]: the latent at the noise level the step reached (SDXL dev code)


@attrs.frozen
class EditingConfig:
    inversion_steps: int = setting(
        50, doc="N: steps of the DPMSolverMultistepInverseScheduler schedule; the inversion runs its first "
        "int(f N) steps (f = guidance.appearance_fraction), which must equal the denoising steps the edit runs "
        "(T - int(T - f T)).", validator=in_range(1, 1000))
    inversion_text: InversionText = setting(
        InversionText.RELEASED, doc="released: the release's ExceptionCLIPTextModel (every token id of the empty "
        "prompt -> inversion_token_id, positional embeddings dropped); empty-prompt: the plain text encoder on ''.")
    inversion_token_id: int = setting(
        7788, doc="The token id of the released inversion text; a text encoder with a smaller vocabulary V "
        "(tiny and toy models) uses inversion_token_id mod V.", validator=in_range(0, 10**9))
    blend_index: BlendIndex = setting(
        BlendIndex.RELEASED, doc="released: after denoising step i blend x_inv[::-1][i] (off by one: at i = 0 the "
        "starting latent); corrected: x_inv[::-1][i + 1], the latent at the step's own noise level (as the SDXL "
        "dev code). The final step then blends the clean source latent, so outside the mask the result is the source.")
    text_scale: float = setting(2.0, doc="g: text CFG of the edit's denoising steps (the release's "
                                "guidance_scale 2 for editing).", validator=in_range(0.0, 100.0))
    negative_prompt: str | None = setting(None, doc="Negative prompt of the edit's denoising steps; null = none "
                                          "(the empty prompt, as released).")
    short_side: int | None = setting(
        None, doc="The source is resized so its short side is this many pixels (released: 512); null = "
        "backbone.resolution. The long side keeps the aspect ratio, rounded down to a multiple the UNet accepts.",
        validator=in_range(8, 8192))
