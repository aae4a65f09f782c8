"""The ``stable-diffusion`` backbone: SD2.1-style and SDXL-style diffusers models.

A backbone holds one diffusers pipeline (``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline``):
loaded with ``DiffusionPipeline.from_pretrained`` from a hub id or a local diffusers folder, built
in memory for ``tiny:sd21`` / ``tiny:sdxl`` (``loading.py``), or a loaded pipe handed in
(:meth:`StableDiffusionBackbone.from_pipe`). Prompts are encoded by that pipeline's own
``encode_prompt`` (clip_skip, LoRA scale and textual inversion come with it); latent preparation
and VAE decoding follow the pipelines exactly, so that a plain run through ezigen's own sampling
loop reproduces them (the parity tests in ``tests/test_parity.py``).
"""

from __future__ import annotations

import contextlib
import enum
import functools
from typing import Any

import attrs

from ezigen.conditioning import Conditioning, PromptEmbeds
from ezigen.builtins.backbones.loading import load_pipeline, probe_kind
from ezigen.config import in_range, setting
from ezigen.errors import EzigenError, Problem, RecipeError
from ezigen.values import BackboneKind

__all__ = ["Conditioning", "PromptEmbeds", "StableDiffusionBackbone", "StableDiffusionConfig", "load_pipeline",
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
        None, doc="Image side in pixels (multiple of 8); null = the model's native size. Subject images are "
        "encoded at this size.", validator=in_range(8, 4096)
    )
    height: int | None = setting(
        None, doc="Generated image height in pixels (multiple of 8); null = resolution.", validator=in_range(8, 4096)
    )
    width: int | None = setting(
        None, doc="Generated image width in pixels (multiple of 8); null = resolution.", validator=in_range(8, 4096)
    )
    dtype: DType = setting(DType.FLOAT32, doc="Weights dtype: float32 | float16 | bfloat16.")
    vae: str | None = setting(
        None, doc="Another VAE (hub id or folder), e.g. madebyollin/sdxl-vae-fp16-fix.", tiny="drop"
    )
    variant: str | None = setting(None, doc="Weights variant to load, e.g. fp16.")
    clip_skip: int | None = setting(
        None, doc="Text-encoder layers to skip from the end, as diffusers' clip_skip (1 = the penultimate layer's "
        "output); null = none.", validator=in_range(1, 64)
    )
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
        for name in ("resolution", "height", "width"):
            value = getattr(self, name)
            if value is not None and value % 8:
                raise ValueError(f"{name} must be a multiple of 8, got {value}")


def scheduler_class(name: SchedulerName):
    import diffusers

    return {
        SchedulerName.DDPM: diffusers.DDPMScheduler,
        SchedulerName.DDIM: diffusers.DDIMScheduler,
        SchedulerName.DPMPP_2M: diffusers.DPMSolverMultistepScheduler,
        SchedulerName.EULER: diffusers.EulerDiscreteScheduler,
    }[name]


class StableDiffusionBackbone:
    """UNet, VAE, text encoder(s), tokenizer(s) and scheduler config of one SD2.1- or SDXL-style model.

    Held as one diffusers pipeline (``self.pipe``), whose ``encode_prompt`` encodes the prompts.
    """

    config_class = StableDiffusionConfig
    example_config = {"pretrained": "tiny:sd21"}

    def __init__(self, config: StableDiffusionConfig, pipe: Any, kind: BackboneKind,
                 scheduler_config: dict[str, Any] | None = None, source: tuple[str, str | None] | None = None):
        """``scheduler_config``: the model's scheduler config as shipped (default: the pipe's scheduler's);
        ``source``: (model ref, revision) of what was loaded, for provenance (default: the recipe's)."""
        self.config = config
        self.source = source or (config.pretrained, getattr(config, "revision", None))
        self.kind = kind
        self.pipe = pipe
        self.scheduler_config = dict(scheduler_config if scheduler_config is not None else pipe.scheduler.config)
        self._default_scheduler_class = type(pipe.scheduler)
        self._compiled = None  # torch.compile wrapper of self.unet, made on first use
        # SDXL pipelines' config: a null negative prompt means zero embeddings (True for SDXL-base)
        self.force_zeros_for_empty_prompt = bool(getattr(pipe.config, "force_zeros_for_empty_prompt", True))

    # the modules are the pipeline's own (one copy in memory, whoever else holds the pipe)
    unet = property(lambda self: self.pipe.unet)
    vae = property(lambda self: self.pipe.vae)
    text_encoder = property(lambda self: self.pipe.text_encoder)
    tokenizer = property(lambda self: self.pipe.tokenizer)
    text_encoder_2 = property(lambda self: getattr(self.pipe, "text_encoder_2", None))
    tokenizer_2 = property(lambda self: getattr(self.pipe, "tokenizer_2", None))

    @classmethod
    def from_config(cls, config: StableDiffusionConfig) -> StableDiffusionBackbone:
        """Load (or build) the model ``config.pretrained`` names: its own modules, shared with nothing."""
        revision = getattr(config, "revision", None)  # a recipe key beside `pretrained` where the schema has it
        kind = probe_kind(config.pretrained, revision)
        if kind is BackboneKind.SD:
            wrong = [name for name in SDXL_ONLY if getattr(config, name) is not None]
            if wrong:
                raise RecipeError([
                    Problem(f"backbone.{name}", f"is an SDXL option, but backbone {config.pretrained!r} is SD2.1-style "
                            "(one text encoder, no added time ids)", "remove it or use an SDXL backbone")
                    for name in wrong
                ])
        pipe, scheduler_config = load_pipeline(config.pretrained, config.dtype, config.vae, config.variant, revision)
        return cls(config, pipe, kind, scheduler_config)

    @classmethod
    def from_pipe(cls, pipe: Any, config: StableDiffusionConfig | None = None) -> StableDiffusionBackbone:
        """A backbone over an already loaded ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline``:
        the very same modules (nothing copied or moved); ``config`` supplies resolution and scheduler
        (``config.pretrained`` is not read)."""
        missing = [name for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
                   if getattr(pipe, name, None) is None]
        if missing or not hasattr(pipe, "encode_prompt"):
            lacks = ", ".join(missing) or "encode_prompt"
            raise EzigenError(f"backbone: {type(pipe).__name__} has no {lacks}; expected a loaded "
                              "StableDiffusionPipeline or StableDiffusionXLPipeline")
        from ezigen.provenance import snapshot_commit

        kind = BackboneKind.SDXL if getattr(pipe, "text_encoder_2", None) is not None else BackboneKind.SD
        name = getattr(pipe.config, "_name_or_path", None) or "<loaded pipeline>"
        source = (str(name), snapshot_commit(getattr(pipe.unet.config, "_name_or_path", None)))
        return cls(config or StableDiffusionConfig(pretrained="<loaded pipeline>"), pipe, kind, source=source)

    # --- geometry -------------------------------------------------------------------------

    @property
    def vae_scale_factor(self) -> int:
        explicit = getattr(self.vae.config, "downscale_factor", None)  # the toy world's pixel-unshuffle
        return int(explicit) if explicit else 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def resolution(self) -> int:
        """The square side subject images are encoded at (and the default image size)."""
        return self.config.resolution or int(self.unet.config.sample_size) * self.vae_scale_factor

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of generated images: ``backbone.height`` / ``width``, each defaulting to resolution."""
        return (self.config.height or self.resolution, self.config.width or self.resolution)

    @property
    def device(self):
        """Where the UNet runs: its weights' device, or, under ``enable_model_cpu_offload``, the device its
        accelerate hook moves it to for each call (the weights wait on the CPU in between)."""
        return execution_device(self.unet)

    @property
    def dtype(self):
        return self.unet.dtype

    def latent_shape(self, batch: int) -> tuple[int, int, int, int]:
        """(B, C, H / f, W / f) for f = vae_scale_factor and (H, W) = :attr:`size`."""
        height, width = self.size
        factor = self.vae_scale_factor
        return (batch, int(self.unet.config.in_channels), height // factor, width // factor)

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

    def encode_zero_token_ids(self, count: int) -> PromptEmbeds:
        """Conditioning of ``count`` rows of all-zero token ids (no BOS/EOS, no padding token), what the
        released collate gives an empty subject slot (spec §3.1 "Padding to 4 slots"): (count, L, D)
        hidden states, for SDXL with the pooled output and time ids. Hand-written: no pipeline encodes
        token ids rather than text."""
        import torch

        encoders = [(self.tokenizer, self.text_encoder)]
        if self.kind is BackboneKind.SDXL:
            encoders.append((self.tokenizer_2, self.text_encoder_2))
        hidden, pooled = [], None
        for tokenizer, encoder in encoders:
            ids = torch.zeros(count, tokenizer.model_max_length, dtype=torch.long, device=execution_device(encoder))
            with torch.no_grad():
                out = encoder(ids, output_hidden_states=self.kind is BackboneKind.SDXL)
            if self.kind is BackboneKind.SD:
                return PromptEmbeds(out[0].to(dtype=encoder.dtype))
            if out[0].ndim == 2:  # CLIPTextModelWithProjection: text_embeds (B, P)
                pooled = out[0]
            hidden.append(out.hidden_states[-2])  # penultimate layer, as the SDXL pipeline's encode_prompt
        embeds = torch.cat(hidden, dim=-1).to(dtype=self.text_encoder_2.dtype)
        return PromptEmbeds(embeds, pooled, self.time_ids(count))

    def time_ids(self, batch: int):
        """SDXL added time ids (original_h, original_w, crop_top, crop_left, target_h, target_w) -> (B, 6), as
        the SDXL pipeline builds them with original_size = target_size = (height, width) by default."""
        import torch

        size = self.size
        values = list(self.config.original_size or size) + list(self.config.crops_coords_top_left or (0, 0))
        values += list(self.config.target_size or size)
        return torch.tensor([values] * batch, dtype=self.text_encoder_2.dtype, device=self.device)

    def encode_prompt(self, prompts: list[str], negative_prompts: list[str] | None, cfg: bool,
                      grad: bool = False) -> Conditioning:
        """Text conditioning from the pipeline's own ``encode_prompt`` (``backbone.clip_skip`` passed on).

        ``negative_prompts=None`` means the pipeline default: the empty prompt for SD2.1, zero
        embeddings for SDXL models whose ``model_index.json`` sets ``force_zeros_for_empty_prompt``
        (SDXL-base does; it is the pipeline's default), the empty prompt otherwise.
        ``grad``: keep the graph (training the text encoder).
        """
        import torch

        device = execution_device(self.text_encoder)
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            out = self.pipe.encode_prompt(prompt=list(prompts), device=device, num_images_per_prompt=1,
                                          do_classifier_free_guidance=cfg, negative_prompt=negative_prompts,
                                          clip_skip=self.config.clip_skip)
        if self.kind is BackboneKind.SD:
            embeds, negative = out  # (B, L, D) each; negative None without CFG
            return Conditioning(PromptEmbeds(embeds), PromptEmbeds(negative) if cfg else None)
        embeds, negative, pooled, negative_pooled = out  # (B, L, D1 + D2), (B, P)
        time_ids = self.time_ids(len(prompts))
        cond = PromptEmbeds(embeds, pooled, time_ids)
        return Conditioning(cond, PromptEmbeds(negative, negative_pooled, time_ids) if cfg else None)

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


def execution_device(module: Any):
    """The device ``module`` computes on: where an accelerate offload hook (``enable_model_cpu_offload``) moves
    it for each call, else where its weights are. diffusers' pipelines read the hook the same way."""
    hook = getattr(module, "_hf_hook", None)
    for candidate in (hook, *getattr(hook, "hooks", ())):  # a SequentialHook holds several
        device = getattr(candidate, "execution_device", None)
        if device is not None:
            import torch

            return torch.device(device)
    return module.device


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
