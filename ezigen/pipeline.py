"""``EZIGenPipeline``: ezigen used the way diffusers users work.

    from diffusers import StableDiffusionPipeline
    from ezigen import EZIGenPipeline

    sd = StableDiffusionPipeline.from_pretrained("stabilityai/stable-diffusion-2-1-base")
    pipe = EZIGenPipeline.from_pipe(sd, recipe="ezigen-sd21-base", overrides=["fusion.weights=adapter.safetensors"])
    out = pipe("a dog on the beach", subject_image=dog, subject_prompt="a dog",
               num_inference_steps=50, guidance_scale=7.5, generator=torch.Generator().manual_seed(0))
    out.images[0].save("dog.png"); out.trace.to_json()

A :class:`diffusers.DiffusionPipeline` subclass, so the diffusers machinery comes for free
(``progress_bar`` / ``set_progress_bar_config``, ``.components``, ``.device``, ``.to``). It holds
the same modules as the pipe it was made from (``from_pipe(sd).unet is sd.unet``) and a
:class:`~ezigen.system.System` built from the recipe on them; the fusion is attached only for the
duration of a call, so ``sd`` gives exactly its own images before and after.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import attrs
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from ezigen.errors import EzigenError

OUTPUT_TYPES = ("pil", "pt", "np", "latent")


@dataclass
class EZIGenPipelineOutput(BaseOutput):
    """``images``: PIL images, a (B, 3, H, W) tensor in [0, 1] ("pt"), a (B, H, W, 3) array ("np") or the
    latents ("latent"); ``trace``: every step run, refinement included (``ezigen.sampling.trace.Trace``)."""

    images: Any
    trace: Any


class EZIGenPipeline(DiffusionPipeline):
    """Subject-driven generation with an ezigen recipe on a diffusers Stable Diffusion (XL) pipeline's modules."""

    model_cpu_offload_seq = "text_encoder->text_encoder_2->unet->vae"
    _optional_components = ["text_encoder_2", "tokenizer_2"]

    def __init__(self, vae: Any, text_encoder: Any, tokenizer: Any, unet: Any, scheduler: Any,
                 text_encoder_2: Any = None, tokenizer_2: Any = None):
        super().__init__()
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                              text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2)
        self.system: Any = None
        self._interrupt = False

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_pipe(cls, pipe: Any, recipe: Any = "ezigen-sd21-base", overrides: list[str] | tuple[str, ...] = (),
                  tiny: bool = False, **_ignored: Any) -> EZIGenPipeline:
        """Share ``pipe``'s modules (a loaded StableDiffusionPipeline / StableDiffusionXLPipeline) under
        ``recipe`` (a name, path or loaded Recipe; ``overrides`` as ``--set``; ``tiny``: tiny subject
        encoders and stop models, for offline tests). The recipe's ``backbone.scheduler`` applies
        (``overrides=["backbone.scheduler=null"]`` keeps the pipe's own scheduler class)."""
        from ezigen.build import build_system
        from ezigen.recipe.loader import load_recipe

        modules = {name: getattr(pipe, name, None) for name in
                   ("vae", "text_encoder", "tokenizer", "unet", "scheduler", "text_encoder_2", "tokenizer_2")}
        if any(modules[name] is None for name in ("vae", "text_encoder", "tokenizer", "unet", "scheduler")):
            raise EzigenError(f"EZIGenPipeline.from_pipe: {type(pipe).__name__} is not a Stable Diffusion (XL) "
                              "pipeline (it lacks a unet, vae, text encoder, tokenizer or scheduler)")
        if isinstance(recipe, str):
            recipe = load_recipe(recipe, list(overrides), tiny=tiny)
        elif overrides or tiny:
            raise EzigenError("overrides and tiny apply when the recipe is given by name or path")
        self = cls(**modules)
        if hasattr(pipe, "_progress_bar_config"):
            self.set_progress_bar_config(**pipe._progress_bar_config)
        self.system = build_system(recipe, backbone=pipe)
        return self

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str, recipe: Any = "ezigen-sd21-base",
                        overrides: list[str] | tuple[str, ...] = (), tiny: bool = False, **kwargs: Any) -> EZIGenPipeline:
        """Load a base model with ``DiffusionPipeline.from_pretrained(model, **kwargs)`` (``torch_dtype``,
        ``revision``, ``variant``, ``use_safetensors`` ... as diffusers takes them), then :meth:`from_pipe`.

        A folder written by :meth:`save_pretrained` / ``ezigen export`` brings its own recipe and
        weights; its base model (``backbone.pretrained``) is loaded the same way, or built in memory
        for the embedded ``tiny:`` / ``toy:`` / ``random:`` names."""
        from ezigen.export import RECIPE_FILE

        path = str(pretrained_model_name_or_path)
        if not (os.path.isdir(path) and os.path.isfile(os.path.join(path, RECIPE_FILE))):
            base = DiffusionPipeline.from_pretrained(path, **kwargs)
            return cls.from_pipe(base, recipe=recipe, overrides=overrides, tiny=tiny)
        from ezigen.build import build_system
        from ezigen.recipe.loader import load_recipe

        loaded = load_recipe(path, list(overrides), tiny=tiny)
        base_id = loaded.backbone.config.pretrained
        if ":" in base_id.split("/")[0]:  # embedded models: no diffusers pipeline to load
            system = build_system(loaded)
            backbone = system.backbone
            self = cls(**{name: getattr(backbone, name, None) for name in
                          ("vae", "text_encoder", "tokenizer", "unet", "text_encoder_2", "tokenizer_2")},
                       scheduler=backbone.make_scheduler())
            self.system = system
            return self
        revision = getattr(loaded.backbone.config, "revision", None)  # the recipe's pin, where the schema has one
        if revision is not None:
            kwargs.setdefault("revision", revision)
        return cls.from_pipe(DiffusionPipeline.from_pretrained(base_id, **kwargs), recipe=loaded)

    def save_pretrained(self, save_directory: str, overwrite: bool = True, **_ignored: Any) -> str:
        """Write the resolved recipe, the fusion's weights (safetensors) and a model card to ``save_directory``
        (``ezigen.export``); the base model is named by the recipe, not copied."""
        import tempfile

        from ezigen.export import export_folder

        fusion = self.system.fusion
        with tempfile.TemporaryDirectory() as tmp:
            weights = None
            if fusion is not None and fusion.trainable_parameters():
                weights = os.path.join(tmp, "fusion.safetensors")
                fusion.save_weights(weights)
            return export_folder(self.system.recipe, weights, save_directory, overwrite=overwrite)

    # --- diffusers-style state ---------------------------------------------------------------

    @property
    def recipe(self) -> Any:
        return self.system.recipe

    @property
    def interrupt(self) -> bool:
        """Set ``pipe._interrupt = True`` (e.g. in ``callback_on_step_end``) to stop before the next step."""
        return self._interrupt

    # --- offload -------------------------------------------------------------------------------

    def enable_sequential_cpu_offload(self, *args: Any, **kwargs: Any) -> None:
        """Not supported: it hooks every leaf module once, and a fusion adds its modules for each call."""
        raise EzigenError("EZIGenPipeline: enable_sequential_cpu_offload is not supported (a fusion's modules are "
                          "attached per call, after its hooks are placed); use enable_model_cpu_offload()")

    def _offloaded_extras(self) -> Any:
        """Under ``enable_model_cpu_offload``: the subject encoder and the fusion on the execution device for
        the call, back on the CPU after it.

        The pipeline's models (text encoders, UNet, VAE) move through the accelerate hooks that offload
        placed on them, and the fusion's modules attached inside the UNet (adapter-attention's adapters,
        its ``learnable_weights``, IP-Adapter processors) move with the UNet through its hook. The
        encoder's own models and the fusion's modules outside the UNet (projections) are never called
        through a hooked ``forward``, so they are moved here, once per call.
        """
        import contextlib

        device = getattr(self, "_offload_device", None)
        hooked = getattr(getattr(self.unet, "_hf_hook", None), "execution_device", None) is not None

        @contextlib.contextmanager
        def scope():
            if device is None or not hooked:
                yield
                return
            from ezigen import defaults

            parts = [part for part in (self.system.encoder, self.system.fusion) if part is not None]
            for part in parts:
                defaults.move(part, device)
            try:
                yield
            finally:
                for part in parts:
                    defaults.move(part, "cpu")

        return scope()

    # --- generation --------------------------------------------------------------------------

    def __call__(
        self,
        prompt: str | list[str],
        subject_image: Any = None,
        subject_prompt: str | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        generator: Any = None,
        latents: Any = None,
        output_type: str = "pil",
        callback_on_step_end: Callable[..., dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] | tuple[str, ...] = ("latents",),
        return_dict: bool = True,
        image: Any = None,
        mask_image: Any = None,
    ) -> EZIGenPipelineOutput | tuple:
        """Generate, with diffusers' argument meanings; ``None`` = the recipe's value.

        ``subject_image``: a PIL image, a path, or a list of them (views of one subject) for a
        subject-driven recipe; ``subject_prompt``: its class text ("a dog"). ``height``/``width``:
        the image size in pixels (default: the recipe's ``backbone.height`` / ``width``, else
        ``backbone.resolution``; subject images are encoded at ``backbone.resolution`` whatever the
        size). ``callback_on_step_end(pipe, step, timestep, callback_kwargs)`` runs after every
        denoising step actually run, refinement included (``step`` counts them all from 0); it may
        return ``{"latents": ...}`` to replace the latents, and setting ``pipe._interrupt = True`` stops cleanly.

        ``image`` and ``mask_image`` (diffusers' inpainting names; white = edit) make the call an
        edit: :meth:`ezigen.system.System.edit` with this prompt, subject and generator, its steps
        and guidance from the recipe's ``sampling`` and ``editing`` sections (passing
        ``num_inference_steps``, ``guidance_scale``, ``height``/``width``, ``latents`` or
        ``num_images_per_prompt`` > 1 with them is an error; docs/editing.md).
        """
        if self.system is None:
            raise EzigenError("EZIGenPipeline: build it with EZIGenPipeline.from_pipe(...) or .from_pretrained(...)")
        if output_type not in OUTPUT_TYPES:
            raise EzigenError(f"output_type: expected one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        unknown = set(callback_on_step_end_tensor_inputs) - {"latents"}
        if unknown:
            raise EzigenError(f"callback_on_step_end_tensor_inputs: only 'latents' is available, got {sorted(unknown)}")
        if isinstance(negative_prompt, (list, tuple)):
            if len(set(negative_prompt)) > 1:
                raise EzigenError("negative_prompt: one negative prompt for all prompts (a list of different ones "
                                  "is not supported)")
            negative_prompt = negative_prompt[0] if negative_prompt else None
        system = self.system
        if image is not None or mask_image is not None:
            return self._edit(prompt, image, mask_image, subject_image, subject_prompt, generator, output_type,
                              callback_on_step_end, return_dict, num_inference_steps=num_inference_steps,
                              guidance_scale=guidance_scale, height=height, width=width, latents=latents,
                              negative_prompt=negative_prompt,
                              num_images_per_prompt=None if num_images_per_prompt == 1 else num_images_per_prompt)
        sizes = self._size(height, width)
        self._interrupt = False
        steps = num_inference_steps or system.recipe.sampling.steps
        total = self._expected_steps(steps)
        with self._at_size(sizes), self._offloaded_extras(), self.progress_bar(total=total) as bar:
            on_step = self._step_callback(callback_on_step_end, bar)
            result = system.generate(prompt, subject=subject_image, subject_prompt=subject_prompt,
                                     num_images=num_images_per_prompt, callback=on_step, steps=steps,
                                     text_scale=guidance_scale, negative_prompt=negative_prompt, generator=generator,
                                     latents=latents, interrupted=lambda: self._interrupt,
                                     decode=output_type == "pil")
            images = self._output(result, output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return EZIGenPipelineOutput(images=images, trace=result.trace)

    def _edit(self, prompt: Any, image: Any, mask_image: Any, subject_image: Any, subject_prompt: Any, generator: Any,
              output_type: str, callback_on_step_end: Any, return_dict: bool, **unsupported: Any) -> Any:
        """``__call__`` with ``image`` / ``mask_image``: :meth:`System.edit` (diffusers' output conventions)."""
        given = sorted(name for name, value in unsupported.items() if value is not None)
        if given:
            raise EzigenError(f"image/mask_image: an edit takes its steps, guidance and size from the recipe's "
                              f"sampling and editing sections; drop {', '.join(given)} (or use --set / overrides)")
        if image is None or mask_image is None:
            raise EzigenError("image/mask_image: an edit needs both the source image and its mask_image")
        if isinstance(prompt, (list, tuple)):
            if len(prompt) != 1:
                raise EzigenError("prompt: an edit takes one prompt")
            prompt = prompt[0]
        if isinstance(generator, (list, tuple)):
            if len(generator) != 1:
                raise EzigenError("generator: an edit makes one image, so it takes one generator")
            generator = generator[0]
        self._interrupt = False
        from ezigen.editing.run import edit_plan

        plan = edit_plan(self.system.recipe)
        iterations = int(self.system.stop.max_iterations) if self.system.recipe.refinement is not None else 1
        with self._offloaded_extras(), self.progress_bar(total=iterations * plan.denoise_steps) as bar:
            on_step = self._step_callback(callback_on_step_end, bar)
            result = self.system.edit(image=image, mask=mask_image, prompt=prompt, subject=subject_image,
                                      subject_prompt=subject_prompt, callback=on_step, generator=generator)
            images = self._output(result, output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return EZIGenPipelineOutput(images=images, trace=result.trace)

    def _step_callback(self, callback_on_step_end: Any, bar: Any) -> Callable[[int, int, Any], Any]:
        """The system's per-step callback: diffusers' ``callback_on_step_end(pipe, step, timestep, kwargs)``
        with ``step`` counting every step run (refinement included), its ``latents`` taken back, and the bar advanced."""
        import torch

        counter = {"step": 0}

        def on_step(index: int, timestep: int, current: Any) -> Any:
            replaced = None
            if callback_on_step_end is not None:
                out = callback_on_step_end(self, counter["step"], torch.tensor(timestep), {"latents": current})
                replaced = (out or {}).get("latents")
            counter["step"] += 1
            bar.update()
            return replaced

        return on_step

    def _output(self, result: Any, output_type: str) -> Any:
        if output_type == "pil":
            return result.images
        if output_type == "latent":
            return result.latents
        from diffusers.image_processor import VaeImageProcessor

        pixels = self.system.backbone.decode_latents(result.latents)  # (B, 3, H, W) in [-1, 1]
        result.trace.count("vae_decodes", int(result.latents.shape[0]))
        return VaeImageProcessor(do_resize=False).postprocess(pixels, output_type=output_type)  # [0, 1], as diffusers

    def _size(self, height: int | None, width: int | None) -> dict[str, int]:
        """The backbone config changes for this call's image size (``backbone.height`` / ``width``)."""
        sizes = {name: int(value) for name, value in (("height", height), ("width", width)) if value is not None}
        factor = int(getattr(self.system.backbone, "vae_scale_factor", 8))
        for name, value in sizes.items():
            if value < factor or value % factor:
                raise EzigenError(f"{name}: must be a positive multiple of {factor}, got {value}")
        config = getattr(self.system.backbone, "config", None)
        if sizes and not (attrs.has(type(config)) and {"height", "width"} <= set(attrs.fields_dict(type(config)))):
            raise EzigenError(f"height/width: backbone {self.system.recipe.backbone.type!r} has no height/width "
                              "settings; set its size in the recipe")
        return sizes

    def _at_size(self, sizes: dict[str, int]) -> Any:
        """The backbone at another image size for one call (its config, not its weights, changes)."""
        import contextlib

        backbone = self.system.backbone

        @contextlib.contextmanager
        def scope():
            if not sizes:
                yield
                return
            before = backbone.config
            backbone.config = attrs.evolve(before, **sizes)
            try:
                yield
            finally:
                backbone.config = before

        return scope()

    def _expected_steps(self, steps: int) -> int:
        """The progress bar's total: the first pass plus every refinement iteration the stop rule allows."""
        refinement = self.system.recipe.refinement
        if refinement is None or self.system.stop is None:
            return steps
        from ezigen import defaults
        from ezigen.sampling.refinement import restart_plan

        fraction = refinement.config.appearance_fraction
        if fraction is None:
            fraction = defaults.appearance_fraction(self.system.recipe.guidance.config)
        start, _ = restart_plan(fraction, steps, refinement.config.renoise)
        return steps + int(self.system.stop.max_iterations) * max(0, steps - start)
