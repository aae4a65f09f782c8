"""Loading a backbone as a diffusers pipeline: hub ids and local folders through
``DiffusionPipeline.from_pretrained`` (revision, variant, dtype and safetensors handling are
diffusers'), and the embedded names (``tiny:*``, ``toy:*``, ``random:*``) built in memory or
shipped with ezigen and wrapped in the pipeline class of their kind.

Nothing is cached: every call loads (or builds) its own modules, so two systems never share a
UNet unless the caller passes one backbone to both (``build_system(recipe, backbone=...)``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from typing import Any

from ezigen.errors import EzigenError
from ezigen.values import BackboneKind

TOY_BACKBONES = ("toy:init", "toy:base")  # the toy world's base model: untrained (in memory) / trained (shipped)
MODULES = ("unet", "vae", "text_encoder", "text_encoder_2")  # the torch modules of a backbone


def probe_kind(pretrained: str, revision: str | None = None) -> BackboneKind:
    """SD or SDXL, from the tiny name or the folder's/hub repo's ``model_index.json`` (no weights loaded)."""
    from ezigen.builtins.backbones.tiny import TINY_BACKBONES, is_tiny

    if is_tiny(pretrained):
        if pretrained not in TINY_BACKBONES:
            raise EzigenError(
                f"backbone.pretrained: unknown tiny backbone {pretrained!r}; expected one of {', '.join(TINY_BACKBONES)}"
            )
        return BackboneKind.SDXL if pretrained == "tiny:sdxl" else BackboneKind.SD
    if pretrained.startswith("random:"):
        from ezigen.builtins.backbones.random_real import RANDOM_BACKBONES

        if pretrained not in RANDOM_BACKBONES:
            raise EzigenError(f"backbone.pretrained: unknown random backbone {pretrained!r}; expected one of "
                              f"{', '.join(RANDOM_BACKBONES)}")
        return BackboneKind.SDXL if "xl" in pretrained else BackboneKind.SD
    if pretrained.startswith("toy:"):
        if pretrained not in TOY_BACKBONES:
            raise EzigenError(f"backbone.pretrained: unknown toy backbone {pretrained!r}; expected one of "
                              f"{', '.join(TOY_BACKBONES)}")
        return BackboneKind.SD
    index = model_index(pretrained, revision)
    has_second = bool(index.get("text_encoder_2")) and index["text_encoder_2"][0] is not None
    return BackboneKind.SDXL if has_second else BackboneKind.SD


def model_index(pretrained: str, revision: str | None = None) -> dict[str, Any]:
    """The pipeline's ``model_index.json`` (a folder's file, or the hub repo's at ``revision``)."""
    if os.path.isdir(pretrained):
        path = os.path.join(pretrained, "model_index.json")
        if not os.path.isfile(path):
            raise EzigenError(f"backbone.pretrained: {pretrained!r} is a folder without model_index.json; "
                              "expected a diffusers pipeline folder (e.g. written by `ezigen tiny save`)")
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    from diffusers import DiffusionPipeline

    from ezigen.hub import require_hub

    require_hub(pretrained, "backbone.pretrained")
    try:
        return dict(DiffusionPipeline.load_config(pretrained, revision=revision))
    except Exception as exc:  # OSError / HF hub errors: offline, unknown repo or revision, no access
        at = f" at revision {revision!r}" if revision else ""
        raise EzigenError(
            f"backbone.pretrained: cannot load {pretrained!r}{at}: not a local folder, and the hub could not "
            f"provide it ({type(exc).__name__}). Offline, use --tiny or a local diffusers folder."
        ) from None


def load_pipeline(pretrained: str, dtype: Any, vae: str | None = None, variant: str | None = None,
                  revision: str | None = None) -> tuple[Any, dict[str, Any]]:
    """(pipe, scheduler config): a diffusers ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline`` (or
    the class a folder names) holding the backbone's modules in ``dtype`` (an ezigen DType), frozen and in
    eval mode, and the model's scheduler config as shipped.

    The config is read apart because the pipelines' constructors rewrite a scheduler whose config has
    ``clip_sample: true`` or ``steps_offset != 1`` (a deprecation fix-up); ezigen samples with the
    config the model was trained with (the toy world's DDPM clips), as its loader always has.
    """
    with _quiet_constructor_fix_ups():
        pipe, scheduler_config = _load(pretrained, dtype.torch(), variant, revision)
    return _finish(pipe, dtype.torch(), vae), scheduler_config


class _DropToyVaeTypeWarning:
    """A logging filter: diffusers warns that the toy world's autoencoder is not an AutoencoderKL (it
    speaks its interface on purpose, ezigen/toy/autoencoder.py)."""

    def filter(self, record: Any) -> bool:
        return "PixelUnshuffleAutoencoder" not in record.getMessage()


@contextlib.contextmanager
def _quiet_constructor_fix_ups():
    """Silence the loading bars where the hub's are off, and the two warnings a load prints that do not apply to ezigen: the pipelines' constructors'
    ``clip_sample`` / ``steps_offset`` deprecation (a FutureWarning with the whole scheduler config;
    ezigen reads the config as shipped, see :func:`load_pipeline`), and the toy autoencoder's type."""
    import logging
    import warnings

    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").lower() in ("1", "true", "yes", "on"):
        # the hub's switch (the CLI sets it) also for the two libraries' own loading bars
        # ("Loading pipeline components", "Loading weights"); Python callers keep them unless they set it
        import diffusers.utils.logging
        import transformers.utils.logging

        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()
    logger = logging.getLogger("diffusers.pipelines.pipeline_utils")
    drop = _DropToyVaeTypeWarning()
    logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"(?s).*(clip_sample|steps_offset)", category=FutureWarning)
            yield
    finally:
        logger.removeFilter(drop)


def _load(pretrained: str, torch_dtype: Any, variant: str | None, revision: str | None) -> tuple[Any, dict[str, Any]]:
    if pretrained == "toy:init":
        from ezigen.toy.backbone import toy_init_parts

        pipe, scheduler_config = pipeline_of_parts(toy_init_parts(), BackboneKind.SD)
    elif pretrained.startswith("toy:"):
        from ezigen.toy.backbone import embedded_folder

        pipe, scheduler_config = _from_pretrained(embedded_folder(pretrained), torch_dtype, variant, None)
    elif pretrained.startswith("random:"):
        from ezigen.builtins.backbones.random_real import random_real_parts

        pipe, scheduler_config = pipeline_of_parts(random_real_parts(pretrained), probe_kind(pretrained))
    elif pretrained.startswith("tiny:"):
        from ezigen.builtins.backbones.tiny import tiny_pipeline_parts

        kind = probe_kind(pretrained)  # first: the unknown-name error
        pipe, scheduler_config = pipeline_of_parts(tiny_pipeline_parts(pretrained), kind)
    else:
        pipe, scheduler_config = _from_pretrained(pretrained, torch_dtype, variant, revision)
    return pipe, scheduler_config


def _finish(pipe: Any, torch_dtype: Any, vae: str | None) -> Any:
    """``pipe`` with ``vae`` swapped in (when given) and every module in ``torch_dtype``, frozen, in eval mode."""
    if vae is not None:
        import diffusers

        try:
            pipe.vae = diffusers.AutoencoderKL.from_pretrained(vae, torch_dtype=torch_dtype)
        except Exception as exc:
            raise EzigenError(f"backbone.vae: cannot load {vae!r}: {type(exc).__name__}: {exc}") from None
    for name in MODULES:
        module = getattr(pipe, name, None)
        if module is not None:
            if module.dtype != torch_dtype:
                module.to(torch_dtype)
            module.requires_grad_(False).eval()
    return pipe


def pipeline_of_parts(parts: dict[str, Any], kind: BackboneKind) -> tuple[Any, dict[str, Any]]:
    """(the diffusers pipeline of ``kind`` over in-memory parts, the same modules; the scheduler's config)."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    parts = dict(parts)
    force_zeros = bool(parts.pop("force_zeros_for_empty_prompt", True))
    scheduler_config = dict(parts["scheduler"].config)
    if kind is BackboneKind.SDXL:
        return StableDiffusionXLPipeline(**parts, force_zeros_for_empty_prompt=force_zeros), scheduler_config
    pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return pipe, scheduler_config


def _from_pretrained(pretrained: str, torch_dtype: Any, variant: str | None,
                     revision: str | None) -> tuple[Any, dict[str, Any]]:
    from diffusers import DiffusionPipeline

    index = model_index(pretrained, revision)  # also the fast offline / missing-folder errors
    for entry in index.values():
        # ezigen's own parts (the toy world's autoencoder): diffusers loads a library's classes only once it
        # is imported, and this one is ours, so importing it runs no code from the folder
        if isinstance(entry, list) and entry and isinstance(entry[0], str) and entry[0].startswith("ezigen."):
            importlib.import_module(entry[0])
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if variant:
        kwargs["variant"] = variant
    if revision and not os.path.isdir(pretrained):
        kwargs["revision"] = revision
    if index.get("safety_checker", [None])[0] is not None:
        # a separate model that ezigen never runs (SD2.1-base ships none): not loaded
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    try:
        pipe = DiffusionPipeline.from_pretrained(pretrained, **kwargs)
    except EzigenError:
        raise
    except Exception as exc:
        raise EzigenError(f"backbone.pretrained: cannot load {pretrained!r}: {type(exc).__name__}: {exc}") from None
    missing = [name for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
               if getattr(pipe, name, None) is None]
    if missing:
        raise EzigenError(f"backbone.pretrained: {pretrained!r} loads a {type(pipe).__name__} without "
                          f"{', '.join(missing)}; expected a Stable Diffusion (XL) pipeline folder")
    at = {"revision": revision} if revision and not os.path.isdir(pretrained) else {}
    scheduler_config = dict(type(pipe.scheduler).load_config(pretrained, subfolder="scheduler", **at))
    return pipe, scheduler_config
