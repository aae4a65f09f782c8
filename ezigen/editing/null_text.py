"""The text conditioning of the inversion (spec §4.4 step 2).

``released``: what the release's ``ExceptionCLIPTextModel`` computes for the empty prompt. Every
token id of the padded prompt is replaced by one id (7788 in CLIP's vocabulary), and the
positional embeddings are dropped:

    h_0[k] = E_tok[7788]                  (no + E_pos[k]),  k = 0 .. L-1
    c      = TextTransformer(h_0)         (B, L, D): the same vector at every position

It is computed with the backbone's own text encoder modules: the ids go through the encoder as
usual, and a forward hook on the ``embeddings.position_embedding`` module returns zeros for the
duration of the call (diffusers and transformers have no switch for this, so the hook is written
here; it is removed afterwards, leaving the encoder as it was). SDXL gets the same for both
encoders (penultimate hidden states, the second encoder's projected pooled output, as the SDXL
pipeline conditions). A vocabulary smaller than the id (tiny and toy models) uses id mod V.

``empty-prompt``: the backbone's plain conditioning of "" (positional embeddings kept).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ezigen.editing.config import EditingConfig, InversionText
from ezigen.errors import EzigenError


# where CLIP text models keep their positional embeddings (transformers 5 flattens text_model away)
POSITION_EMBEDDING = ("text_model.embeddings.position_embedding", "embeddings.position_embedding")


@contextlib.contextmanager
def without_positions(encoder: Any) -> Iterator[None]:
    """Within the block, ``encoder``'s positional embeddings are zeros (a removable forward hook)."""
    import torch

    modules = dict(encoder.named_modules())
    embedding = next((modules[name] for name in POSITION_EMBEDDING if name in modules), None)
    if embedding is None:
        raise EzigenError(f"editing.inversion_text: released needs CLIP text encoders (embeddings."
                          f"position_embedding); {type(encoder).__name__} has none: use empty-prompt")
    handle = embedding.register_forward_hook(lambda _module, _inputs, output: torch.zeros_like(output))
    try:
        yield
    finally:
        handle.remove()


def released_token_id(config: EditingConfig, encoder: Any) -> int:
    """``inversion_token_id``, modulo the encoder's vocabulary size when it is smaller."""
    return int(config.inversion_token_id) % int(encoder.config.vocab_size)


def inversion_conditioning(backbone: Any, config: EditingConfig) -> Any:
    """The prompt embeddings (batch 1) the inversion's UNet calls use, as ``inversion_text`` says."""
    if config.inversion_text is InversionText.EMPTY_PROMPT:
        return backbone.encode_prompt([""], None, cfg=False).cond
    import torch

    from ezigen.conditioning import PromptEmbeds

    pairs = [(backbone.tokenizer, backbone.text_encoder)]
    if getattr(backbone, "text_encoder_2", None) is not None:
        pairs.append((backbone.tokenizer_2, backbone.text_encoder_2))
    sdxl = len(pairs) == 2
    hidden, pooled = [], None
    for tokenizer, encoder in pairs:
        length = tokenizer.model_max_length
        ids = torch.full((1, length), released_token_id(config, encoder), dtype=torch.long, device=encoder.device)
        with without_positions(encoder), torch.no_grad():
            out = encoder(ids, output_hidden_states=sdxl)
        if not sdxl:
            return PromptEmbeds(out[0].to(dtype=encoder.dtype))  # (1, L, D) last hidden state
        if out[0].ndim == 2:  # CLIPTextModelWithProjection: text_embeds (1, P)
            pooled = out[0]
        hidden.append(out.hidden_states[-2])  # (1, L, D_i) penultimate layer, as SDXL conditions
    embeds = torch.cat(hidden, dim=-1).to(dtype=backbone.text_encoder_2.dtype)  # (1, L, D_1 + D_2)
    return PromptEmbeds(embeds, pooled, backbone.time_ids(1))
