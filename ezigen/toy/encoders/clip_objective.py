"""The CLIP stand-in's objective: CLIP's symmetric image-text InfoNCE with a learned temperature.

With L2-normalised embeddings x_i (image) and y_j (text) from ``CLIPModel`` and its learned
``logit_scale`` s = exp(t) (clamped to 100, as CLIP does), logits z_ij = s <x_i, y_j>:

    L = 1/2 [ CE(z, P) + CE(z^T, P^T) ],   P_ij = [text_i == text_j] / #{k : text_k == text_i}

CLIP's targets are the identity (P = I); the toy world has few distinct texts (240 captions, 6
class prompts), so a batch holds duplicates, and P spreads each row's target over the identical
texts instead of calling them negatives. With unique texts it is exactly CLIP's loss. transformers
gives the logits (``logits_per_image``); only these soft targets are written here.

What it can learn: whatever the texts tell apart, i.e. the subject's shape, the background colour
and the position. The subject's colours and texture are in no text, so nothing asks the image
tower to keep them (beyond telling the background apart from the subject).
"""

from __future__ import annotations

import math
from typing import Any

MAX_LOGIT_SCALE = math.log(100.0)


def duplicate_targets(texts: list[str]):
    """P (B, B): row i uniform over the batch positions whose text equals text i."""
    import torch

    ids = {t: k for k, t in enumerate(dict.fromkeys(texts))}
    labels = torch.tensor([ids[t] for t in texts])  # (B,)
    same = (labels[:, None] == labels[None, :]).float()  # (B, B)
    return same / same.sum(dim=1, keepdim=True)


class ClipObjective:
    """L above on a ``CLIPModel``; ``inputs`` = the processor's output for (images, texts)."""

    def __init__(self, model: Any):
        self.model = model

    def loss(self, inputs: dict[str, Any], texts: list[str]):
        import torch

        out = self.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                         pixel_values=inputs["pixel_values"])
        logits = out.logits_per_image  # (B, B) = s <x_i, y_j>
        targets = duplicate_targets(texts)
        loss = 0.5 * (torch.nn.functional.cross_entropy(logits, targets)
                      + torch.nn.functional.cross_entropy(logits.T, targets.T))
        return loss, {"logit_scale": float(self.model.logit_scale.detach().exp())}

    def after_step(self) -> None:
        import torch

        with torch.no_grad():
            self.model.logit_scale.clamp_(0.0, MAX_LOGIT_SCALE)
