"""Processors and hooks of ``reference-attention`` (formulas in reference_attention.py).

Two modes per step: *write* (the reference pass: record each block's LN1 output and the
channel statistics at each AdaIN site, attention unchanged) and *read* (the generating pass). The
self-attention change is a wrapper around each block's attn1 processor that calls the original
processor with ``encoder_hidden_states = [LN1(h); bank]``; with the subject off it calls the
original processor unchanged (bit-identical UNet).
"""

from __future__ import annotations

from typing import Any

import torch
from ezigen.builtins.backbones.stable_diffusion import PromptEmbeds
from ezigen.builtins.fusions.reference_attention.adain import adain, adain_sites, output_tensor, replace_output, stats
from ezigen.builtins.fusions.reference_attention import ReferenceNoise, ReferencePrompt
from ezigen.unet.batch import match_batch
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
    def __init__(self, inner: Any, name: str, fusion: ReferenceAttentionModel, state: FusionState):
        self.inner, self.name, self.fusion, self.state = inner, name, fusion, state

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: Any = None,
                 attention_mask: Any = None, temb: Any = None, *args: Any, **kwargs: Any) -> torch.Tensor:
        fusion = self.fusion
        if fusion.mode == WRITE:
            fusion.bank[self.name] = hidden_states.detach()  # (rows * N_ref, HW, C): LN1(h_ref)
        plain = self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        off = self.state.features is None or self.state.scale == 0.0 or not fusion.config.attention
        if fusion.mode != READ or off or self.name not in fusion.attention_layers or self.name not in fusion.bank:
            return plain
        bank = fusion.bank[self.name]
        reference = bank.reshape(-1, fusion.ref_count * bank.shape[1], bank.shape[-1])  # (rows or 1, N_ref * HW, C)
        context = torch.cat([hidden_states, match_batch(reference, hidden_states.shape[0])], dim=1)
        referenced = self.inner(attn, hidden_states, context, attention_mask, temb, *args, **kwargs)
        out = mix_for_uncond(referenced, plain, self.state.uncond, fusion.config.style_fidelity)
        return plain + self.state.gate(out - plain)  # scale and per-row activity; 0 is exactly plain


class ReferenceAttentionModel(FusionModule):
    fusion_type = "reference-attention"

    def __init__(self, config: Any, backbone: Any):
        unet = backbone.unet
        super().__init__(config, backbone.kind.value, transformer_block_names(unet))
        self.attention_layers = attention_layers(unet, self.layers, config.attention_auto_machine_weight)
        self.adain_sites = adain_sites(unet, config.adain_placement, config.gn_auto_machine_weight)
        self._backbone = [backbone]  # not a submodule: the fusion owns no backbone weights
        self.mode = READ
        self.ref_count = 1
        self.bank: dict[str, torch.Tensor] = {}
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._noise: tuple[int, torch.Tensor] | None = None
        self._own_generator: tuple[int, torch.Generator] | None = None

    def install(self, patch: Any, state: FusionState) -> None:
        self.mode, self.bank, self.stats = READ, {}, {}
        for name in self.layers:
            inner = patch.unet.get_submodule(f"{name}.attn1").processor
            patch.set_processor(f"{name}.attn1", ReferenceSelfAttentionProcessor(inner, name, self, state))
        if self.config.adain:
            for name in self.adain_sites:
                module = patch.unet.get_submodule(name)
                patch.add_hook(module.register_forward_hook(self._adain_hook(name, state)))

    def _adain_hook(self, name: str, state: FusionState):
        placement = self.config.adain_placement

        def hook(_module: Any, _args: Any, output: Any) -> Any:
            x = output_tensor(output)  # (B, C, H, W)
            if self.mode == WRITE:
                mean, var = stats(x)  # (rows * N_ref, C, 1, 1)
                shape = (-1, self.ref_count, *mean.shape[1:])
                self.stats[name] = (mean.reshape(shape).mean(1), var.reshape(shape).mean(1))  # (rows or 1, C, 1, 1)
                return None
            if state.features is None or state.scale == 0.0 or name not in self.stats:
                return None
            ref_mean, ref_var = (match_batch(t, x.shape[0]) for t in self.stats[name])
            out = mix_for_uncond(adain(x, ref_mean, ref_var, placement), x, state.uncond, self.config.style_fidelity)
            return replace_output(output, x + state.gate(out - x))

        return hook

    def check_features(self, features: Any) -> None:
        if features.kind is not FeatureKind.REFERENCE or features.reference is None:
            raise EzigenError("reference-attention reads the reference latent: use the unet encoder with "
                              f"mode: per-step (got {features.kind.value} features)")

    def prepare_step(self, state: FusionState, timestep: Any, batch: int, embeds: PromptEmbeds | None = None,
                     generator: Any = None, branches: int = 1) -> int:
        """The write pass at this step; returns the UNet rows it ran.

        ``batch`` rows of the generating pass = ``branches`` CFG branches x B images; ``embeds``
        their prompt embeddings (reference_prompt: generation; without them the subject prompt
        is used); ``generator`` the generation's (reference_noise: per-step).
        """
        features = state.features
        if features is None or state.scale == 0.0:
            return 0
        backbone = self._backbone[0]
        reference = features.reference
        latents = reference["latents"]  # (N_ref, 4, h, w)
        count = self.ref_count = int(latents.shape[0])
        generation = self.config.reference_prompt is ReferencePrompt.GENERATION and embeds is not None
        images = max(1, batch // max(1, branches)) if generation else 1
        t = torch.as_tensor(timestep, device=latents.device).round().long().reshape(1)
        noise = self._step_noise(latents, images, generator)  # (images * N_ref, 4, h, w), image-major
        noisy = backbone.training_scheduler.add_noise(latents.repeat(images, 1, 1, 1), noise,
                                                      t.expand(images * count))
        if generation:
            noisy = noisy.repeat(branches, 1, 1, 1)  # row r = (branch, image), as the generating batch
            row_embeds = embeds.repeat(count) if count > 1 else embeds  # (rows * N_ref, L, D)
        else:
            row_embeds = PromptEmbeds(reference["embeds"], reference.get("pooled"), reference.get("time_ids"))
            row_embeds = row_embeds.repeat(count) if count > 1 else row_embeds
        self.mode = WRITE
        try:
            with torch.no_grad():
                backbone.predict_noise(noisy, t.expand(noisy.shape[0]), row_embeds)
        finally:
            self.mode = READ
        return int(noisy.shape[0])

    def _step_noise(self, latents: torch.Tensor, images: int, generator: Any) -> torch.Tensor:
        """eps for this step's write pass, (images * N_ref, 4, h, w)."""
        from diffusers.utils.torch_utils import randn_tensor

        shape = (images * latents.shape[0], *latents.shape[1:])
        if self.config.reference_noise is ReferenceNoise.FIXED:
            return self._fixed_noise(latents).repeat(images, 1, 1, 1)
        if generator is None:
            generator = self._private_generator(latents)
        if isinstance(generator, list):  # one generator per image, as diffusers with a list of generators
            if len(generator) != images:
                raise EzigenError(f"reference-attention: {len(generator)} generators for {images} images")
            draws = [randn_tensor((latents.shape[0], *latents.shape[1:]), generator=g, device=latents.device,
                                  dtype=latents.dtype) for g in generator]
            return torch.cat(draws)
        return randn_tensor(shape, generator=generator, device=latents.device, dtype=latents.dtype)

    def _private_generator(self, latents: torch.Tensor) -> torch.Generator:
        """Fresh noise per step without a generation generator: one seeded generator per reference."""
        if self._own_generator is None or self._own_generator[0] != id(latents):
            self._own_generator = (id(latents), torch.Generator("cpu").manual_seed(self.config.noise_seed))
        return self._own_generator[1]

    def _fixed_noise(self, latents: torch.Tensor) -> torch.Tensor:
        key = id(latents)
        if self._noise is None or self._noise[0] != key:
            generator = torch.Generator("cpu").manual_seed(self.config.noise_seed)
            noise = torch.randn(latents.shape, generator=generator).to(device=latents.device, dtype=latents.dtype)
            self._noise = (key, noise)
        return self._noise[1]


def attention_layers(unet: Any, layers: list[str], weight: float) -> frozenset[str]:
    """The blocks whose self-attention reads the reference: sorted widest first (stable in module
    order, as the community sorts its depth-first module list), block i of L iff weight > i / L."""
    wanted = set(layers)
    modules = [name for name, _ in unet.named_modules() if name in wanted]  # depth-first: down, up, mid
    order = sorted(modules, key=lambda name: -unet.get_submodule(f"{name}.norm1").normalized_shape[0])
    return frozenset(name for i, name in enumerate(order) if weight > i / len(order))
