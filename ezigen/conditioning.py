"""Text conditioning values: prompt embeddings for a batch, conditional and unconditional."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.define
class PromptEmbeds:
    """Text conditioning for a batch: ``embeds`` (B, L, D); SDXL also ``pooled`` (B, P) and ``time_ids`` (B, 6)."""

    embeds: Any
    pooled: Any = None
    time_ids: Any = None

    @staticmethod
    def cat(parts: list[PromptEmbeds]) -> PromptEmbeds:
        import torch

        def join(values: list[Any]) -> Any:
            return None if values[0] is None else torch.cat(values, dim=0)

        return PromptEmbeds(
            embeds=join([p.embeds for p in parts]),
            pooled=join([p.pooled for p in parts]),
            time_ids=join([p.time_ids for p in parts]),
        )

    def repeat(self, n: int) -> PromptEmbeds:
        """Each row repeated ``n`` times in place (row i -> rows i*n .. i*n+n-1), as ``num_images_per_prompt``."""
        def rep(t: Any) -> Any:
            return None if t is None else t.repeat_interleave(n, dim=0)

        return PromptEmbeds(rep(self.embeds), rep(self.pooled), rep(self.time_ids))

    def added_cond_kwargs(self) -> dict[str, Any] | None:
        if self.pooled is None:
            return None
        return {"text_embeds": self.pooled, "time_ids": self.time_ids}

    @property
    def batch_size(self) -> int:
        return int(self.embeds.shape[0])


@attrs.define
class Conditioning:
    """Conditional and (when CFG is used) unconditional prompt embeddings for one batch of prompts."""

    cond: PromptEmbeds
    uncond: PromptEmbeds | None
