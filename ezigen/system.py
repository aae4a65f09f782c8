"""A built recipe: ``System.generate(prompt=..., subject=..., seed=...)`` -> images and trace;
``System.edit(image=..., mask=..., prompt=..., subject=...)`` puts the subject into an image (spec §4.4)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from ezigen import defaults
from ezigen.errors import EzigenError
from ezigen.features_cache import FeatureCache
from ezigen.recipe.schema import Recipe
from ezigen.sampling.refinement import PassResult, Refiner
from ezigen.sampling.trace import Trace
from ezigen.subject_encoding import encode_subject
from ezigen.values import SubjectFeatures, SubjectInput

@attrs.define
class GenerationResult:
    """Images (one per prompt x num_images, prompt-major), the trace, and the final latents (B, 4, h, w)."""

    images: list[Any]
    trace: Trace
    latents: Any
    seed: int | list[int]
    prompts: list[str]

    @property
    def image(self) -> Any:
        return self.images[0]


class System:
    """Backbone + (subject encoder, fusion) + guidance schedule + (refinement stop rule), from one recipe."""

    def __init__(self, recipe: Recipe, backbone: Any, encoder: Any = None, fusion: Any = None,
                 schedule: Any = None, stop: Any = None, feature_cache: FeatureCache | None = None):
        """``feature_cache`` defaults to an in-memory cache, on disk too when ``sampling.feature_cache`` is set."""
        self.recipe = recipe
        self.backbone = backbone
        self.encoder = encoder
        self.fusion = fusion
        self.schedule = schedule
        self.stop = stop
        self.feature_cache = feature_cache or FeatureCache(cache_dir=recipe.sampling.feature_cache)

    # --- devices ---------------------------------------------------------------------------

    def to(self, device: Any = None, dtype: Any = None) -> System:
        """Move every model (backbone, encoder, fusion) as ``nn.Module.to`` does.

        A system's models are its own: moving it moves no other system, unless both were built on one
        backbone (``build_system(recipe, backbone=other.backbone)``, or the same diffusers pipe), which
        is the only way systems share modules; then both move."""
        self.backbone.to(device, dtype)
        for part in (self.encoder, self.fusion):
            if part is not None:
                defaults.move(part, device, dtype)
        self.feature_cache.clear()  # cached features live on the old device
        return self

    @property
    def device(self) -> Any:
        return self.backbone.device

    # --- subject ---------------------------------------------------------------------------

    @property
    def needs_subject(self) -> bool:
        return self.encoder is not None

    def subject_input(self, subject: Any, subject_prompt: str | None) -> SubjectInput:
        """A path, PIL image, or a list of them (+ class prompt) -> SubjectInput with decoded RGB images.

        Decoded by the encoder's own ``load_image`` when it has one (the ``unet`` encoder decodes
        as its ``preprocess`` says), else by :func:`ezigen.images.load_image`.
        """
        items = list(subject) if isinstance(subject, (list, tuple)) else [subject]
        if not items:
            raise EzigenError("subject: an empty list of images")
        load = defaults.subject_image_loader(self.encoder)
        images = [load(item) for item in items]
        return SubjectInput.from_images(images, subject_prompt or "")

    def encode_subject(self, subject: SubjectInput, trace: Trace | None = None) -> SubjectFeatures:
        """Features for ``subject``, from the cache when this (content, prompt, encoder config) was seen."""
        autocast = self.recipe.sampling.autocast
        encoder_key = self.encoder.cache_key() + (f"\nautocast={autocast.value}" if autocast is not None else "")
        key = FeatureCache.key(subject.key, encoder_key)

        def compute() -> SubjectFeatures:
            with self.autocast():
                return encode_subject(self.encoder, subject, self.backbone, self.recipe.subject_encoder)

        features, computed = self.feature_cache.get_or_compute(key, compute)
        if computed and trace is not None:
            trace.count("subject_encodings")
            trace.count("unet_evals", int(features.info.get("unet_evals", 0)))
            trace.count("vae_encodes", int(features.info.get("vae_encodes", 0)))
        return features.to(device=self.device)

    def _check_subject(self, subject: Any) -> None:
        name = self.recipe.name
        if subject is not None and not self.needs_subject:
            raise EzigenError(f"recipe {name!r} has no subject_encoder, so it cannot use a subject image; "
                              "use a subject-driven recipe (see `ezigen recipes list`) or drop --subject")
        if subject is None and self.needs_subject:
            raise EzigenError(f"recipe {name!r} needs a subject image: pass --subject IMAGE (and --subject-prompt, "
                              "e.g. 'a dog')")

    def autocast(self) -> Any:
        """``torch.autocast`` on the backbone's device with ``sampling.autocast``'s dtype (a no-op when null)."""
        dtype = self.recipe.sampling.autocast
        if dtype is None:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type=torch.device(self.device).type, dtype=getattr(torch, dtype.value))

    @contextlib.contextmanager
    def attached(self) -> Iterator[Any]:
        """The fusion installed in the backbone UNet for the duration of the block (None without a fusion)."""
        if self.fusion is None:
            yield None
            return
        attachment = self.fusion.attach(self.backbone.unet)
        try:
            yield attachment
        finally:
            attachment.detach()

    # --- generation ------------------------------------------------------------------------

    def generate(
        self,
        prompt: str | list[str],
        subject: Any = None,
        subject_prompt: str | None = None,
        seed: int | list[int] | None = None,
        num_images: int | None = None,
        callback: Callable[[int, int, Any], Any] | None = None,
        *,
        steps: int | None = None,
        text_scale: float | None = None,
        negative_prompt: str | None = None,
        generator: Any = None,
        latents: Any = None,
        interrupted: Callable[[], bool] | None = None,
        decode: bool = True,
    ) -> GenerationResult:
        """Generate images for ``prompt`` (one or a list) with the recipe's settings.

        ``subject``: a path, a PIL image, or a list of them (several views of one subject);
        ``subject_prompt``: the subject's class text (e.g. "a dog"); ``seed``: overrides
        ``sampling.seed`` (diffusers semantics: the initial latents of
        ``Generator("cpu").manual_seed(seed)``). A list of seeds, one per image (prompt-major),
        runs them in one denoising batch with one generator per row, as diffusers does with a
        list of generators: each image is the one its seed gives alone.

        Per-call settings (None = the recipe's): ``steps`` (``sampling.steps``), ``text_scale``
        (``guidance.text_scale``, refinement's too unless it sets its own), ``negative_prompt``;
        ``generator`` (a torch.Generator or one per image) replaces the seed's; ``latents``
        (B, 4, h, w) are the initial noise, scaled by the scheduler's ``init_noise_sigma`` as
        diffusers does. ``callback(index, timestep, latents)`` runs after every denoising step,
        refinement included, and may return replacement latents; ``interrupted()`` true stops
        before the next step (no refinement after it). ``decode=False`` leaves ``images`` None.
        """
        import torch

        from ezigen.sampling.loop import SubjectPath, denoise
        from ezigen.sampling.noise import initial_latents, make_generator

        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise EzigenError("prompt: expected a string or a non-empty list of strings")
        self._check_subject(subject)
        recipe = self.recipe
        seed = recipe.sampling.seed if seed is None else seed
        per_prompt = num_images or recipe.sampling.num_images
        if isinstance(seed, (list, tuple)):
            seed = [int(s) for s in seed]
            if num_images is None and len(prompts) == 1:
                per_prompt = len(seed)
            if len(seed) != len(prompts) * per_prompt:
                raise EzigenError(f"seed: {len(seed)} seeds for {len(prompts) * per_prompt} images "
                                  "(one seed per image, prompt-major)")
        else:
            seed = int(seed)
        steps = recipe.sampling.steps if steps is None else int(steps)
        if steps < 1:
            raise EzigenError(f"num_inference_steps: expected at least 1, got {steps}")
        guidance, schedule = self._guidance(text_scale, negative_prompt)
        trace = Trace()

        features = None
        if subject is not None:
            features = self.encode_subject(self.subject_input(subject, subject_prompt), trace)

        if generator is None:
            generator = [make_generator(s) for s in seed] if isinstance(seed, list) else make_generator(seed)
        backbone = self.backbone
        scheduler = backbone.make_scheduler()
        scheduler.set_timesteps(steps, device=backbone.device)
        cfg = any(schedule.at(i, steps).text_scale > 1.0 for i in range(steps))
        conditioning = self._conditioning(prompts, defaults.negative_prompt(guidance), cfg, per_prompt)
        batch = len(prompts) * per_prompt
        dtype = conditioning.cond.embeds.dtype
        if latents is None:
            latents = initial_latents(backbone.latent_shape(batch), generator, scheduler, backbone.device, dtype)
        else:
            if tuple(latents.shape) != tuple(backbone.latent_shape(batch)):
                raise EzigenError(f"latents: expected shape {tuple(backbone.latent_shape(batch))} for {batch} "
                                  f"image(s), got {tuple(latents.shape)}")
            latents = latents.to(device=backbone.device, dtype=dtype) * scheduler.init_noise_sigma

        def decode_pass(latents_: Any) -> PassResult:
            pixels = backbone.decode_latents(latents_)
            trace.count("vae_decodes", int(latents_.shape[0]))
            return PassResult(latents_, pixels, backbone.to_pil(pixels))

        with self.attached() as attachment, torch.no_grad(), self.autocast():
            path = None
            if attachment is not None:
                path = SubjectPath(attachment, features, defaults.fusion_scale(self.fusion.config),
                                   defaults.subject_guidance(guidance))
            latents = denoise(backbone, scheduler, latents, conditioning, schedule, num_steps=steps,
                              subject=path, generator=generator, trace=trace, iteration=0, callback=callback,
                              interrupted=interrupted)
            result = PassResult(latents)
            stopped = interrupted is not None and interrupted()
            if recipe.refinement is not None and not stopped:
                result = self._refine(result, prompts, per_prompt, steps, path, generator, trace, decode_pass,
                                      guidance, callback, interrupted)
        if result.images is None and decode:
            result = decode_pass(result.latents)
        trace.finish()
        return GenerationResult(images=result.images, trace=trace, latents=result.latents, seed=seed, prompts=prompts)

    # --- editing -----------------------------------------------------------------------------

    def edit(
        self,
        image: Any,
        mask: Any,
        prompt: str,
        subject: Any = None,
        subject_prompt: str | None = None,
        seed: int | None = None,
        callback: Callable[[int, int, Any], Any] | None = None,
        *,
        generator: Any = None,
    ) -> GenerationResult:
        """Put ``subject`` into ``image`` inside ``mask`` (white = edit), as released (spec §4.4; docs/editing.md).

        ``image`` / ``mask``: paths or PIL images (any size; the source is resized to short side
        ``editing.short_side``, the mask to the source); ``prompt``: the target prompt ("a dog");
        ``subject`` / ``subject_prompt`` as in :meth:`generate` (``subject=None`` on a subject
        recipe: the text-only edit, same inversion and blending, subject path off); ``seed``:
        ``sampling.seed`` when None. The result is :meth:`generate`'s type; its trace lists each
        iteration's inversion steps (``kind: "inversion"``) before its denoising steps, and
        ``totals.unet_evals`` counts both (:func:`ezigen.cost.edit_unet_evals`).
        """
        from ezigen.editing.run import run_edit

        seed = self.recipe.sampling.seed if seed is None else seed
        return run_edit(self, image, mask, prompt, subject, subject_prompt, seed, callback, generator)

    def _guidance(self, text_scale: float | None, negative_prompt: str | None) -> tuple[Any, Any]:
        """The guidance config and schedule of this call: the recipe's, with per-call overrides."""
        import attrs

        spec = self.recipe.guidance
        changes = {}
        if text_scale is not None:
            changes["text_scale"] = float(text_scale)
        if negative_prompt is not None:
            changes["negative_prompt"] = negative_prompt
        if not changes:
            return spec.config, self.schedule
        missing = [name for name in changes if name not in attrs.fields_dict(type(spec.config))]
        if missing:
            raise EzigenError(f"guidance {spec.type!r} has no {', '.join(missing)} to set per call")
        config = attrs.evolve(spec.config, **changes)
        return config, spec.cls.from_config(config)

    def _conditioning(self, prompts: list[str], negative: str | None, cfg: bool, per_prompt: int) -> Any:
        negatives = [negative] * len(prompts) if negative is not None else None
        conditioning = self.backbone.encode_prompt(prompts, negatives, cfg)
        if per_prompt > 1:
            conditioning.cond = conditioning.cond.repeat(per_prompt)
            if conditioning.uncond is not None:
                conditioning.uncond = conditioning.uncond.repeat(per_prompt)
        return conditioning

    def _refine(self, initial: PassResult, prompts: list[str], per_prompt: int, steps: int, path: Any,
                generator: Any, trace: Trace, decode: Callable[[Any], PassResult], guidance: Any,
                callback: Any = None, interrupted: Any = None) -> PassResult:
        spec = self.recipe.refinement
        fraction = spec.config.appearance_fraction
        if fraction is None:
            fraction = defaults.appearance_fraction(guidance)
        text_scale = spec.config.text_scale if spec.config.text_scale is not None else defaults.text_scale(guidance)
        conditioning = self._conditioning(prompts, spec.config.negative_prompt, text_scale > 1.0, per_prompt)
        arithmetic = defaults.switch_arithmetic(guidance)
        refiner = Refiner(spec.config, self.stop, fraction, text_scale, arithmetic)
        return refiner.run(self.backbone, self.backbone.make_scheduler, steps, conditioning, initial, path,
                           generator, trace, decode, callback=callback, interrupted=interrupted)
