"""Processors and hooks of ``reference-attention`` (formulas in reference_attention.py).

Two modes per step: *write* (the reference pass: record each block's LN1 output and each
ResNet block's channel statistics, attention unchanged) and *read* (the generating pass). The
self-attention change is a wrapper around each block's attn1 processor that calls the original
processor with ``encoder_hidden_states = [LN1(h); bank]``; with the subject off it calls the
original processor unchanged (bit-identical UNet).
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.resnet import ResnetBlock2D

from ezigen.builtins.backbones.stable_diffusion import PromptEmbeds
from ezigen.builtins.fusions.adapter_attention_modules import match_batch
from ezigen.errors import EzigenError
from ezigen.unet.fusion_base import FusionModule, FusionState
from ezigen.unet.layers import transformer_block_names
from ezigen.values import FeatureKind

WRITE, READ = "write", "read"


def mix_for_uncond(referenced: torch.Tensor, plain: torch.Tensor, uncond: torch.Tensor | None,
                   style_fidelity: float) -> torch.Tensor:
    """cond rows: ``referenced``; uncond rows: s_f * plain + (1 - s_f) * referenced."""
    if uncond is None or style_fidelity == 0.0:
        return referenced
    rows = uncond.to(device=referenced.device).bool().view(-1, *([1] * (referenced.dim() - 1)))
    mixed = style_fidelity * plain + (1.0 - style_fidelity) * referenced
    return torch.where(rows, mixed, referenced)


class ReferenceSelfAttentionProcessor:
    def __init__(self, inner: Any, name: str, fusion: ReferenceAttentionFusion, state: FusionState):
        self.inner, self.name, self.fusion, self.state = inner, name, fusion, state

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: Any = None,
                 attention_mask: Any = None, temb: Any = None, *args: Any, **kwargs: Any) -> torch.Tensor:
        fusion = self.fusion
        if fusion.mode == WRITE:
            fusion.bank[self.name] = hidden_states.detach()  # (N_ref, HW, C): LN1(h_ref)
        plain = self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        if fusion.mode != READ or self.state.features is None or not fusion.config.attention:
            return plain
        bank = fusion.bank[self.name]
        reference = bank.reshape(1, -1, bank.shape[-1])  # (1, N_ref * HW, C)
        context = torch.cat([hidden_states, match_batch(reference, hidden_states.shape[0])], dim=1)
        referenced = self.inner(attn, hidden_states, context, attention_mask, temb, *args, **kwargs)
        out = mix_for_uncond(referenced, plain, self.state.uncond, fusion.config.style_fidelity)
        return plain + self.state.gate(out - plain)  # scale and per-row activity; 0 is exactly plain


class ReferenceAttentionFusion(FusionModule):
    fusion_type = "reference-attention"

    def __init__(self, config: Any, backbone: Any):
        unet = backbone.unet
        super().__init__(config, backbone.kind.value, transformer_block_names(unet))
        self.resnets = [name for name, m in unet.named_modules() if isinstance(m, ResnetBlock2D)]
        self._backbone = [backbone]  # not a submodule: the fusion owns no backbone weights
        self.mode = READ
        self.bank: dict[str, torch.Tensor] = {}
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._noise: tuple[int, torch.Tensor] | None = None

    def install(self, patch: Any, state: FusionState) -> None:
        self.mode, self.bank, self.stats = READ, {}, {}
        for name in self.layers:
            inner = patch.unet.get_submodule(f"{name}.attn1").processor
            patch.set_processor(f"{name}.attn1", ReferenceSelfAttentionProcessor(inner, name, self, state))
        if self.config.adain:
            for name in self.resnets:
                module = patch.unet.get_submodule(name)
                patch.add_hook(module.register_forward_hook(self._adain_hook(name, state)))

    def _adain_hook(self, name: str, state: FusionState):
        def hook(_module: Any, _args: Any, output: torch.Tensor) -> torch.Tensor | None:
            var, mean = torch.var_mean(output, dim=(2, 3), keepdim=True, correction=0)  # (B, C, 1, 1)
            if self.mode == WRITE:
                self.stats[name] = (mean.mean(0, keepdim=True), var.mean(0, keepdim=True))
                return None
            if state.features is None or name not in self.stats:
                return None
            ref_mean, ref_var = self.stats[name]
            eps = 1e-5
            adained = (output - mean) / (var + eps).sqrt() * (ref_var + eps).sqrt() + ref_mean
            out = mix_for_uncond(adained, output, state.uncond, self.config.style_fidelity)
            return output + state.gate(out - output)

        return hook

    def check_features(self, features: Any) -> None:
        if features.kind is not FeatureKind.REFERENCE or features.reference is None:
            raise EzigenError("reference-attention reads the reference latent: use the unet encoder with "
                              f"mode: per-step (got {features.kind.value} features)")

    def prepare_step(self, state: FusionState, timestep: Any, batch: int) -> int:
        """The reference pass at this step: noise z_ref to t, run the UNet in write mode; returns its rows."""
        features = state.features
        if features is None:
            return 0
        backbone = self._backbone[0]
        reference = features.reference
        latents = reference["latents"]  # (N_ref, 4, h, w)
        noise = self._fixed_noise(latents)
        t = torch.as_tensor(timestep, device=latents.device).round().long().reshape(1)
        noisy = backbone.training_scheduler.add_noise(latents, noise, t.expand(latents.shape[0]))
        embeds = PromptEmbeds(reference["embeds"], reference.get("pooled"), reference.get("time_ids"))
        if latents.shape[0] > 1:
            embeds = embeds.repeat(latents.shape[0])
        self.mode = WRITE
        try:
            with torch.no_grad():
                backbone.predict_noise(noisy, t.expand(latents.shape[0]), embeds)
        finally:
            self.mode = READ
        return int(latents.shape[0])

    def _fixed_noise(self, latents: torch.Tensor) -> torch.Tensor:
        key = id(latents)
        if self._noise is None or self._noise[0] != key:
            generator = torch.Generator("cpu").manual_seed(self.config.noise_seed)
            noise = torch.randn(latents.shape, generator=generator).to(device=latents.device, dtype=latents.dtype)
            self._noise = (key, noise)
        return self._noise[1]
