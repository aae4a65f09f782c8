"""Modules of ``decoupled-cross-attention`` (formulas in decoupled_cross_attention.py).

diffusers' own parts are reused: ``ImageProjection`` / ``IPAdapterPlusImageProjection`` for the
projection, ``IPAdapterAttnProcessor2_0`` for the decoupled attention (holding ``to_k_ip`` /
``to_v_ip``), its converter for official files, and its InstantStyle scale expansion. What is
ours: a thin wrapper per cross-attention layer that hands the processor the image tokens as
``encoder_hidden_states=(text, [tokens])`` and calls the layer's original processor when the
subject is off (so the UNet stays bit-identical), and the per-row choice of subject or
"no subject" tokens for the CFG branches.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0
from diffusers.models.embeddings import ImageProjection, IPAdapterPlusImageProjection

from ezigen.unet.base_layers import base_module
from ezigen.unet.batch import match_batch
from ezigen.builtins.fusions.decoupled_cross_attention import NegativeSubject, Projection
from ezigen.builtins.fusions.decoupled_cross_attention.ip_adapter_layout import image_proj_to_official, split_official
from ezigen.errors import EzigenError, WeightsError
from ezigen.unet.fusion_base import FusionModule, FusionState
from ezigen.values import FeatureKind

INIT_SEED = 0


def cross_attention_layers(unet: Any) -> list[str]:
    """Cross-attention module names in ``attn_processors`` order (the order official IP-Adapter ids follow)."""
    return [name[: -len(".processor")] for name in unet.attn_processors if not name.endswith("attn1.processor")]


def layer_scale_map(unet: Any, layer_scales: Any, layers: list[str]) -> list[float]:
    """Per-layer scales from an InstantStyle mapping, with diffusers' expansion and prefix rule."""
    if layer_scales is None:
        return [1.0] * len(layers)
    from ezigen._compat import expand_layer_scales

    if isinstance(layer_scales, dict):  # diffusers silently ignores a block that has no cross-attention
        for part in ("down", "up"):
            blocks = [f"block_{i}" for i, block in enumerate(getattr(unet, f"{part}_blocks"))
                      if hasattr(block, "attentions")]
            named = layer_scales.get(part)
            for block in named if isinstance(named, dict) else ():
                if block not in blocks:
                    raise EzigenError(f"fusion.layer_scales: {part}.{block} is not a block with cross-attention "
                                      f"in this UNet (its {part} blocks with attention: {', '.join(blocks)})")
    try:
        expanded = expand_layer_scales(unet, layer_scales, default_scale=0.0)
    except (ValueError, KeyError, TypeError) as exc:
        raise EzigenError(f"fusion.layer_scales: {exc}") from None
    if not isinstance(expanded, dict):
        return [float(expanded)] * len(layers)
    scales = []
    for name in layers:
        value = 1.0
        for prefix, scale in expanded.items():
            if name.startswith(prefix):
                value = float(scale)
        scales.append(value)
    return scales


class IPCrossAttentionProcessor:
    """Wraps one cross-attention layer: plain processor when off, diffusers' IP-Adapter processor when on."""

    def __init__(self, inner: Any, ip: IPAdapterAttnProcessor2_0, layer_scale: float, fusion: Any, state: FusionState):
        self.inner = inner
        self.ip = ip
        self.layer_scale = layer_scale
        self.fusion = fusion
        self.state = state

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: Any = None,
                 attention_mask: Any = None, temb: Any = None, *args: Any, **kwargs: Any) -> torch.Tensor:
        state = self.state
        if state.features is None:
            return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        tokens = self.fusion.image_tokens(state, hidden_states.shape[0])  # (B, N, cross_dim)
        self.ip.scale = [state.scale * self.layer_scale]
        out = self.ip(attn, hidden_states, encoder_hidden_states=(encoder_hidden_states, [tokens]),
                      attention_mask=attention_mask, temb=temb)
        if state.active is not None:  # subject-free rows (subject guidance): the plain layer, exactly
            plain = self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
            keep = state.active.to(device=out.device).bool().view(-1, *([1] * (out.dim() - 1)))
            out = torch.where(keep, out, plain)
        return out


class DecoupledCrossAttentionModel(FusionModule):
    fusion_type = "decoupled-cross-attention"

    def __init__(self, config: Any, backbone: Any, encoder: Any = None):
        unet = backbone.unet
        layers = cross_attention_layers(unet)
        super().__init__(config, backbone.kind.value, layers)
        embed_dim = config.image_embed_dim or getattr(encoder, "output_dim", None)
        if embed_dim is None:
            raise EzigenError("decoupled-cross-attention needs the encoder's token size: pair it with a token "
                              "encoder (clip, dino) or set fusion.image_embed_dim")
        self.embed_dim = int(embed_dim)
        cross_dim = int(unet.config.cross_attention_dim)
        self.kind = config.projection.value
        tokens = config.num_tokens or (4 if config.projection is Projection.LINEAR else 16)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED)
            if config.projection is Projection.LINEAR:
                self.image_proj = ImageProjection(image_embed_dim=self.embed_dim, cross_attention_dim=cross_dim,
                                                  num_image_text_embeds=tokens)
            else:
                heads = max(1, round(cross_dim / 64))  # official Plus: hidden = heads * 64 = cross_dim
                self.image_proj = IPAdapterPlusImageProjection(
                    embed_dims=self.embed_dim, output_dims=cross_dim, hidden_dims=heads * 64, depth=4, dim_head=64,
                    heads=heads, num_queries=tokens, ffn_ratio=4)
        self.ip_layers = torch.nn.ModuleList()
        for name in layers:
            attn = unet.get_submodule(name)
            ip = IPAdapterAttnProcessor2_0(hidden_size=attn.to_k.out_features, cross_attention_dim=cross_dim,
                                           num_tokens=[tokens], scale=1.0)
            with torch.no_grad():  # IP-Adapter's initialisation: copies of the layer's text key/value
                ip.to_k_ip[0].weight.copy_(base_module(attn.to_k).weight)  # the base weights, without a LoRA
                ip.to_v_ip[0].weight.copy_(base_module(attn.to_v).weight)
            self.ip_layers.append(ip)
        self.to(device=unet.device, dtype=unet.dtype)
        self.layer_scales = layer_scale_map(unet, config.layer_scales, layers)
        self._unet = [unet]  # for diffusers' converter; a list keeps it out of this module's state
        self._token_cache: tuple | None = None

    # --- tokens -------------------------------------------------------------------------

    def project(self, tokens: torch.Tensor, per_image: int) -> torch.Tensor:
        """Encoder tokens (b, N*T, D) -> image tokens (b, N*n, cross_dim), each image projected alone."""
        rows, total, dim = tokens.shape
        images = tokens.reshape(rows * (total // per_image), per_image, dim)  # (b*N, T, D)
        dtype = next(self.image_proj.parameters()).dtype
        if self.kind == "linear":
            out = self.image_proj(images[:, 0].to(dtype))  # pooled embedding: (b*N, n, C)
        else:
            out = self.image_proj(images.to(dtype))  # resampler: (b*N, n, C)
        return out.reshape(rows, -1, out.shape[-1])

    def image_tokens(self, state: FusionState, batch: int) -> torch.Tensor:
        """(B, N*n, C) tokens for the batch: the subject's, and "no subject" on unconditional rows (IP-Adapter)."""
        features = state.features
        key = (id(features), batch, None if state.uncond is None else tuple(state.uncond.tolist()),
               torch.is_grad_enabled())
        if self._token_cache is not None and self._token_cache[0] == key and not torch.is_grad_enabled():
            return self._token_cache[1]
        per_image = int(features.info.get("tokens_per_image", features.tokens.shape[1]))
        subject = match_batch(self.project(features.tokens, per_image), batch)
        if state.uncond is not None and self.config.negative is NegativeSubject.EMPTY:
            images = features.tokens.shape[1] // per_image
            null = features.extras["null_tokens"].repeat(1, images, 1)  # one "no image" per subject image
            empty = match_batch(self.project(null, per_image), batch)
            rows = state.uncond.to(device=subject.device).bool().view(-1, 1, 1)
            subject = torch.where(rows, empty, subject)
        self._token_cache = (key, subject)
        return subject

    # --- attach ---------------------------------------------------------------------------

    def install(self, patch: Any, state: FusionState) -> None:
        self._token_cache = None
        for name, ip, scale in zip(self.layers, self.ip_layers, self.layer_scales):
            inner = patch.unet.get_submodule(name).processor
            patch.set_processor(name, IPCrossAttentionProcessor(inner, ip, scale, self, state))

    def check_features(self, features: Any) -> None:
        if features.kind is not FeatureKind.TOKENS or features.tokens is None:
            raise EzigenError(f"decoupled-cross-attention reads token features, got {features.kind.value}")
        if features.tokens.shape[-1] != self.embed_dim:
            raise EzigenError(f"subject tokens have size {features.tokens.shape[-1]}, but this IP-Adapter's "
                              f"projection expects {self.embed_dim}")

    # --- weights: the official IP-Adapter layout ----------------------------------------------

    def weights_state(self) -> dict[str, torch.Tensor]:
        out = {f"image_proj.{k}": v for k, v in image_proj_to_official(self.image_proj.state_dict(), self.kind).items()}
        for i, ip in enumerate(self.ip_layers):
            out[f"ip_adapter.{2 * i + 1}.to_k_ip.weight"] = ip.to_k_ip[0].weight
            out[f"ip_adapter.{2 * i + 1}.to_v_ip.weight"] = ip.to_v_ip[0].weight
        return out

    def convert_foreign(self, tensors: dict[str, Any], meta: dict[str, str]) -> dict[str, Any]:
        image_proj, ip_adapter = split_official(tensors)  # official .bin files nest the two parts
        flat = {f"image_proj.{k}": v for k, v in image_proj.items()}
        flat.update({f"ip_adapter.{k}": v for k, v in ip_adapter.items()})
        return flat

    def load_weights_state(self, tensors: dict[str, torch.Tensor]) -> None:
        from ezigen._compat import ip_adapter_image_proj_to_diffusers

        image_proj, ip_adapter = split_official(tensors)
        converted = ip_adapter_image_proj_to_diffusers(self._unet[0], image_proj)
        if type(converted) is not type(self.image_proj):
            raise WeightsError(f"the weights hold a {type(converted).__name__}, but fusion.projection is "
                               f"{self.config.projection.value} ({type(self.image_proj).__name__})")
        self.image_proj.load_state_dict(converted.state_dict())
        with torch.no_grad():
            for i, ip in enumerate(self.ip_layers):
                ip.to_k_ip[0].weight.copy_(ip_adapter[f"{2 * i + 1}.to_k_ip.weight"])
                ip.to_v_ip[0].weight.copy_(ip_adapter[f"{2 * i + 1}.to_v_ip.weight"])
        self._token_cache = None
