"""The ``stable-diffusion`` backbone: SD2.1-style and SDXL-style diffusers models.

Loaded part by part with ``from_pretrained`` from a hub id or a local diffusers folder, or
built in memory for ``tiny:sd21`` / ``tiny:sdxl``. Prompt encoding, latent preparation and
VAE decoding follow diffusers' ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline``
exactly, so that a plain run through ezigen's own sampling loop reproduces them (the parity
test in ``tests/test_parity.py``).
"""

from __future__ import annotations

import contextlib
import enum
import functools
from typing import Any

import attrs

from ezigen.conditioning import Conditioning, PromptEmbeds
from ezigen.builtins.backbones.loading import load_parts, probe_kind
from ezigen.config import in_range, setting
from ezigen.errors import EzigenError, Problem, RecipeError
from ezigen.values import BackboneKind

__all__ = ["Conditioning", "PromptEmbeds", "StableDiffusionBackbone", "StableDiffusionConfig", "load_parts",
           "probe_kind"]


class SchedulerName(enum.Enum):
    """Sampler names and the diffusers class each builds ``from_config`` of the model's scheduler config."""

    DDPM = "ddpm"
    DDIM = "ddim"
    DPMPP_2M = "dpmpp-2m"
    EULER = "euler"


class CompileMode(enum.Enum):
    """``torch.compile`` modes for the UNet (null = not compiled)."""

    DEFAULT = "default"
    REDUCE_OVERHEAD = "reduce-overhead"
    MAX_AUTOTUNE = "max-autotune"


class CompileBackend(enum.Enum):
    """``torch.compile`` backends: inductor generates kernels (slow to compile, fastest); eager only
    captures the graph (seconds to compile; removes Python module overhead, which dominates small models)."""

    INDUCTOR = "inductor"
    EAGER = "eager"
    AOT_EAGER = "aot_eager"
    CUDAGRAPHS = "cudagraphs"


class DType(enum.Enum):
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"

    def torch(self):
        import torch

        return getattr(torch, self.value)


SDXL_ONLY = ("original_size", "crops_coords_top_left", "target_size")


@attrs.frozen
class StableDiffusionConfig:
    pretrained: str = setting(
        doc="Hub id (e.g. stabilityai/stable-diffusion-2-1-base), local diffusers folder, or tiny:sd21 / tiny:sdxl.",
        tiny="backbone",
    )
    revision: str | None = setting(None, doc="Hub revision of `pretrained`: a commit hash (a branch or tag also works, but moves); null = main. Ignored for local folders and tiny:* models.")
    scheduler: SchedulerName | None = setting(
        None, doc="Sampler: ddpm | ddim | dpmpp-2m | euler, built from_config of the model's scheduler; null = the model's own."
    )
    resolution: int | None = setting(
        None, doc="Image side in pixels (multiple of 8); null = the model's native size.", validator=in_range(8, 4096)
    )
    dtype: DType = setting(DType.FLOAT32, doc="Weights dtype: float32 | float16 | bfloat16.")
    vae: str | None = setting(
        None, doc="Another VAE (hub id or folder), e.g. madebyollin/sdxl-vae-fp16-fix.", tiny="drop"
    )
    variant: str | None = setting(None, doc="Weights variant to load, e.g. fp16.")
    compile: CompileMode | None = setting(
        None, doc="torch.compile the UNet (attachments included): default | reduce-overhead | max-autotune; "
        "null = eager. Compilation happens on the first call of each attachment state.",
    )
    compile_backend: CompileBackend = setting(CompileBackend.INDUCTOR, doc="torch.compile backend when compile is "
                                              "set: inductor | eager | aot_eager | cudagraphs.")
    upcast_vae: bool = setting(True, doc="Run the VAE in float32 when the model is float16 and the VAE asks for it (force_upcast), as diffusers does.")
    original_size: tuple[int, int] | None = setting(None, doc="SDXL only: added time id (height, width); null = resolution.")
    crops_coords_top_left: tuple[int, int] | None = setting(None, doc="SDXL only: added time id (top, left); null = (0, 0).")
    target_size: tuple[int, int] | None = setting(None, doc="SDXL only: added time id (height, width); null = resolution.")

    def __attrs_post_init__(self) -> None:
        if self.resolution is not None and self.resolution % 8:
            raise ValueError(f"resolution must be a multiple of 8, got {self.resolution}")


def scheduler_class(name: SchedulerName):
    import diffusers

    return {
        SchedulerName.DDPM: diffusers.DDPMScheduler,
        SchedulerName.DDIM: diffusers.DDIMScheduler,
        SchedulerName.DPMPP_2M: diffusers.DPMSolverMultistepScheduler,
        SchedulerName.EULER: diffusers.EulerDiscreteScheduler,
    }[name]


class StableDiffusionBackbone:
    """UNet, VAE, text encoder(s), tokenizer(s) and scheduler config of one SD2.1- or SDXL-style model."""

    config_class = StableDiffusionConfig
    example_config = {"pretrained": "tiny:sd21"}

    def __init__(self, config: StableDiffusionConfig, parts: dict[str, Any], kind: BackboneKind):
        self.config = config
        self.kind = kind
        self.unet = parts["unet"]
        self.vae = parts["vae"]
        self.text_encoder = parts["text_encoder"]
        self.tokenizer = parts["tokenizer"]
        self.text_encoder_2 = parts.get("text_encoder_2")
        self.tokenizer_2 = parts.get("tokenizer_2")
        self.scheduler_config = dict(parts["scheduler"].config)
        self._default_scheduler_class = type(parts["scheduler"])
        self._compiled = None  # torch.compile wrapper of self.unet, made on first use
        # SDXL pipelines' config: a null negative prompt means zero embeddings (True for SDXL-base)
        self.force_zeros_for_empty_prompt = bool(parts.get("force_zeros_for_empty_prompt", True))

    @classmethod
    def from_config(cls, config: StableDiffusionConfig, *, cache: bool = True) -> StableDiffusionBackbone:
        kind = probe_kind(config.pretrained)
        if kind is BackboneKind.SD:
            wrong = [name for name in SDXL_ONLY if getattr(config, name) is not None]
            if wrong:
                raise RecipeError([
                    Problem(f"backbone.{name}", f"is an SDXL option, but backbone {config.pretrained!r} is SD2.1-style "
                            "(one text encoder, no added time ids)", "remove it or use an SDXL backbone")
                    for name in wrong
                ])
        parts = load_parts(config.pretrained, config.dtype, config.vae, config.variant, cache=cache)
        return cls(config, parts, kind)

    @classmethod
    def from_pipe(cls, pipe: Any, config: StableDiffusionConfig | None = None) -> StableDiffusionBackbone:
        """A backbone over an already loaded ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline``:
        the very same modules (nothing copied or moved); ``config`` supplies resolution and scheduler
        (``config.pretrained`` is not read)."""
        missing = [name for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
                   if getattr(pipe, name, None) is None]
        if missing:
            raise EzigenError(f"backbone: {type(pipe).__name__} has no {', '.join(missing)}; expected a loaded "
                              "StableDiffusionPipeline or StableDiffusionXLPipeline")
        parts = {name: getattr(pipe, name, None) for name in
                 ("unet", "vae", "text_encoder", "tokenizer", "scheduler", "text_encoder_2", "tokenizer_2")}
        force_zeros = getattr(getattr(pipe, "config", None), "force_zeros_for_empty_prompt", True)
        parts["force_zeros_for_empty_prompt"] = bool(force_zeros)
        kind = BackboneKind.SDXL if parts["text_encoder_2"] is not None else BackboneKind.SD
        return cls(config or StableDiffusionConfig(pretrained="<loaded pipeline>"), parts, kind)

    # --- geometry -------------------------------------------------------------------------

    @property
    def vae_scale_factor(self) -> int:
        explicit = getattr(self.vae.config, "downscale_factor", None)  # the toy world's pixel-unshuffle
        return int(explicit) if explicit else 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def resolution(self) -> int:
        return self.config.resolution or int(self.unet.config.sample_size) * self.vae_scale_factor

    @property
    def device(self):
        return self.unet.device

    @property
    def dtype(self):
        return self.unet.dtype

    def latent_shape(self, batch: int) -> tuple[int, int, int, int]:
        side = self.resolution // self.vae_scale_factor
        return (batch, int(self.unet.config.in_channels), side, side)

    def to(self, device: Any = None, dtype: Any = None) -> StableDiffusionBackbone:
        for module in (self.unet, self.vae, self.text_encoder, self.text_encoder_2):
            if module is not None:
                module.to(device=device, dtype=dtype)
        return self

    # --- scheduler --------------------------------------------------------------------------

    def make_scheduler(self, name: SchedulerName | str | None = None):
        """A fresh scheduler: ``name``'s class (or the model's own) ``from_config`` of the model's scheduler config."""
        if name is None:
            name = self.config.scheduler
        if name is None:
            return self._default_scheduler_class.from_config(self.scheduler_config)
        return scheduler_class(SchedulerName(name)).from_config(self.scheduler_config)

    @functools.cached_property
    def training_scheduler(self):
        """A DDPMScheduler of the model's training noise schedule: ``add_noise`` for training and encoding."""
        import diffusers

        return diffusers.DDPMScheduler.from_config(self.scheduler_config)

    # --- text -------------------------------------------------------------------------------

    def _tokenize(self, tokenizer, prompts: list[str], max_length: int | None = None):
        return tokenizer(
            prompts,
            padding="max_length",
            max_length=max_length or tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )

    def _encode_sd(self, prompts: list[str]):
        inputs = self._tokenize(self.tokenizer, prompts)
        use_mask = getattr(self.text_encoder.config, "use_attention_mask", False)
        mask = inputs.attention_mask.to(self.text_encoder.device) if use_mask else None
        out = self.text_encoder(inputs.input_ids.to(self.text_encoder.device), attention_mask=mask)
        return out[0].to(dtype=self.text_encoder.dtype)

    def _encode_sdxl(self, prompts: list[str]):
        import torch

        hidden, pooled = [], None
        for tokenizer, encoder in ((self.tokenizer, self.text_encoder), (self.tokenizer_2, self.text_encoder_2)):
            ids = self._tokenize(tokenizer, prompts).input_ids.to(encoder.device)
            out = encoder(ids, output_hidden_states=True)
            if out[0].ndim == 2:  # CLIPTextModelWithProjection: text_embeds (B, P)
                pooled = out[0]
            hidden.append(out.hidden_states[-2])  # penultimate layer, as SDXL was trained
        embeds = torch.cat(hidden, dim=-1).to(dtype=self.text_encoder_2.dtype)
        return embeds, pooled

    def encode_zero_token_ids(self, count: int) -> PromptEmbeds:
        """Conditioning of ``count`` rows of all-zero token ids (no BOS/EOS, no padding token), what the
        released collate gives an empty subject slot (spec §3.1 "Padding to 4 slots"): (count, L, D)
        hidden states, for SDXL with the pooled output and time ids."""
        import torch

        encoders = [(self.tokenizer, self.text_encoder)]
        if self.kind is BackboneKind.SDXL:
            encoders.append((self.tokenizer_2, self.text_encoder_2))
        hidden, pooled = [], None
        for tokenizer, encoder in encoders:
            ids = torch.zeros(count, tokenizer.model_max_length, dtype=torch.long, device=encoder.device)
            with torch.no_grad():
                out = encoder(ids, output_hidden_states=self.kind is BackboneKind.SDXL)
            if self.kind is BackboneKind.SD:
                return PromptEmbeds(out[0].to(dtype=encoder.dtype))
            if out[0].ndim == 2:  # CLIPTextModelWithProjection: text_embeds (B, P)
                pooled = out[0]
            hidden.append(out.hidden_states[-2])  # penultimate layer, as _encode_sdxl
        embeds = torch.cat(hidden, dim=-1).to(dtype=self.text_encoder_2.dtype)
        return PromptEmbeds(embeds, pooled, self.time_ids(count))

    def time_ids(self, batch: int):
        """SDXL added time ids (original_h, original_w, crop_top, crop_left, target_h, target_w) -> (B, 6)."""
        import torch

        size = (self.resolution, self.resolution)
        values = list(self.config.original_size or size) + list(self.config.crops_coords_top_left or (0, 0))
        values += list(self.config.target_size or size)
        return torch.tensor([values] * batch, dtype=self.text_encoder_2.dtype, device=self.device)

    def encode_prompt(self, prompts: list[str], negative_prompts: list[str] | None, cfg: bool,
                      grad: bool = False) -> Conditioning:
        """Text conditioning as the diffusers pipelines build it.

        ``negative_prompts=None`` means the pipeline default: the empty prompt for SD2.1, zero
        embeddings for SDXL models whose ``model_index.json`` sets ``force_zeros_for_empty_prompt``
        (SDXL-base does; it is the pipeline's default), the empty prompt otherwise.
        ``grad``: keep the graph (training the text encoder).
        """
        import torch

        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            if self.kind is BackboneKind.SD:
                cond = PromptEmbeds(self._encode_sd(prompts))
                uncond = None
                if cfg:
                    negatives = negative_prompts if negative_prompts is not None else [""] * len(prompts)
                    uncond = PromptEmbeds(self._encode_sd(negatives))
                return Conditioning(cond, uncond)
            embeds, pooled = self._encode_sdxl(prompts)
            cond = PromptEmbeds(embeds, pooled, self.time_ids(len(prompts)))
            uncond = None
            if cfg:
                if negative_prompts is None and self.force_zeros_for_empty_prompt:
                    uncond = PromptEmbeds(torch.zeros_like(embeds), torch.zeros_like(pooled), cond.time_ids)
                else:
                    negatives = negative_prompts if negative_prompts is not None else [""] * len(prompts)
                    n_embeds, n_pooled = self._encode_sdxl(negatives)
                    uncond = PromptEmbeds(n_embeds, n_pooled, cond.time_ids)
            return Conditioning(cond, uncond)

    # --- UNet -------------------------------------------------------------------------------

    def predict_noise(self, latents, timestep, embeds: PromptEmbeds, unet=None):
        """One UNet evaluation: eps(latents, t, text) (B, 4, h, w)."""
        if unet is None:
            unet = self.compiled_unet() if self.config.compile is not None else self.unet
        return unet(
            latents,
            timestep,
            encoder_hidden_states=embeds.embeds,
            added_cond_kwargs=embeds.added_cond_kwargs(),
            return_dict=False,
        )[0]

    def compiled_unet(self):
        """``torch.compile(unet)``: attachments change the UNet in place, which dynamo's guards follow."""
        import torch

        if self._compiled is None:
            backend = self.config.compile_backend.value
            mode = self.config.compile.value if backend == "inductor" else None  # modes are inductor's
            self._compiled = torch.compile(self.unet, mode=mode, backend=backend)
        return self._compiled

    # --- VAE --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _vae_in_safe_precision(self):
        """Run the VAE in float32 while it is float16 and its config asks for it (SDXL's VAE overflows)."""
        import torch

        upcast = (self.config.upcast_vae and self.vae.dtype == torch.float16
                  and bool(getattr(self.vae.config, "force_upcast", False)))
        if not upcast:
            yield self.vae
            return
        self.vae.to(torch.float32)
        try:
            yield self.vae
        finally:
            self.vae.to(torch.float16)

    def encode_images(self, pixels, generator=None, sample: bool = True):
        """Pixels (B, 3, H, W) in [-1, 1] -> scaled latents (B, 4, H/8, W/8): z = VAE.enc(x).sample() * scale."""
        import torch

        with self._vae_in_safe_precision() as vae, torch.no_grad():
            dist = vae.encode(pixels.to(device=vae.device, dtype=vae.dtype)).latent_dist
            latents = dist.sample(generator) if sample else dist.mode()
        return _apply_latent_stats(latents, self.vae.config, forward=True).to(self.unet.dtype)

    def decode_latents(self, latents):
        """Scaled latents (B, 4, h, w) -> pixels (B, 3, H, W), float32, in [-1, 1] (not clamped)."""
        import torch

        latents = _apply_latent_stats(latents, self.vae.config, forward=False)
        with self._vae_in_safe_precision() as vae, torch.no_grad():
            pixels = vae.decode(latents.to(device=vae.device, dtype=vae.dtype), return_dict=False)[0]
        return pixels.float()

    @staticmethod
    def to_pil(pixels) -> list:
        """Pixels in [-1, 1] (B, 3, H, W) -> PIL images, with diffusers' VaeImageProcessor rounding."""
        from diffusers.image_processor import VaeImageProcessor

        return VaeImageProcessor(do_resize=False).postprocess(pixels.detach().cpu(), output_type="pil")


def _apply_latent_stats(latents, vae_config, forward: bool):
    """Scale latents as diffusers does: with ``latents_mean``/``latents_std`` when the VAE defines them."""
    import torch

    mean = getattr(vae_config, "latents_mean", None)
    std = getattr(vae_config, "latents_std", None)
    scale = vae_config.scaling_factor
    if mean is not None and std is not None:
        mean_t = torch.tensor(mean, device=latents.device, dtype=latents.dtype).view(1, -1, 1, 1)
        std_t = torch.tensor(std, device=latents.device, dtype=latents.dtype).view(1, -1, 1, 1)
        return (latents - mean_t) * scale / std_t if forward else latents * std_t / scale + mean_t
    return latents * scale if forward else latents / scale
