"""The ``token-adapter-attention`` fusion's recipe keys: its config and enums (the method: ``__init__.py``; the module: ``model.py``)."""

from __future__ import annotations

import attrs

from ezigen.builtins.fusions.adapter_attention import AdapterAttentionConfig
from ezigen.config import in_range, setting


@attrs.frozen
class TokenAdapterAttentionConfig(AdapterAttentionConfig):
    token_dim: int | None = setting(None, doc="Encoder token size D; null = taken from the recipe's encoder.",
                                    validator=in_range(1, 100000))
