"""Loading a backbone's parts: hub ids and local diffusers folders through ``from_pretrained``,
and the embedded names (``tiny:*``, ``toy:*``, ``random:*``) built in memory or shipped.

Parts are cached per process (several recipes share one model), keyed by what was loaded.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

from ezigen.errors import EzigenError
from ezigen.values import BackboneKind


COMPONENTS_SD = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
TOY_BACKBONES = ("toy:init", "toy:base")  # the toy world's base model: untrained (in memory) / trained (shipped)
COMPONENTS_SDXL = COMPONENTS_SD + ("text_encoder_2", "tokenizer_2")

_PARTS_CACHE: dict[tuple, dict[str, Any]] = {}
_PARTS_CACHE_SIZE = 2


def probe_kind(pretrained: str) -> BackboneKind:
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
    index = _model_index(pretrained)
    has_second = bool(index.get("text_encoder_2")) and index["text_encoder_2"][0] is not None
    return BackboneKind.SDXL if has_second else BackboneKind.SD


def _model_index(pretrained: str) -> dict[str, Any]:
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
        return dict(DiffusionPipeline.load_config(pretrained))
    except Exception as exc:  # OSError / HF hub errors: offline, unknown repo, no access
        raise EzigenError(
            f"backbone.pretrained: cannot load {pretrained!r}: not a local folder, and the hub could not "
            f"provide it ({type(exc).__name__}). Offline, use --tiny or a local diffusers folder."
        ) from None


def load_parts(pretrained: str, dtype: Any, vae: str | None = None, variant: str | None = None,
               cache: bool = True) -> dict[str, Any]:
    """The diffusers components of a backbone (cached per process: several recipes share one model)."""
    key = (pretrained, dtype.value, vae, variant)
    if cache and key in _PARTS_CACHE:
        return _PARTS_CACHE[key]
    parts = _load_parts_uncached(pretrained, dtype, vae, variant)
    if cache:
        while len(_PARTS_CACHE) >= _PARTS_CACHE_SIZE:
            _PARTS_CACHE.pop(next(iter(_PARTS_CACHE)))
        _PARTS_CACHE[key] = parts
    return parts


def _load_parts_uncached(pretrained: str, dtype: Any, vae: str | None, variant: str | None) -> dict[str, Any]:
    import diffusers
    import transformers

    from ezigen.builtins.backbones.tiny import is_tiny, tiny_pipeline_parts

    torch_dtype = dtype.torch()
    if pretrained == "toy:init":
        from ezigen.toy.backbone import toy_init_parts

        parts = toy_init_parts()
        for name in ("unet", "vae", "text_encoder"):
            parts[name] = parts[name].to(torch_dtype)
    elif pretrained.startswith("toy:"):
        from ezigen.toy.backbone import embedded_folder

        parts = _load_parts_uncached(embedded_folder(pretrained), dtype, vae, variant)
    elif pretrained.startswith("random:"):
        from ezigen.builtins.backbones.random_real import random_real_parts

        parts = random_real_parts(pretrained)
        for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
            if name in parts:
                parts[name] = parts[name].to(torch_dtype)
    elif is_tiny(pretrained):
        parts = tiny_pipeline_parts(pretrained)
        for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
            if name in parts and parts[name].dtype != torch_dtype:
                parts[name] = parts[name].to(torch_dtype)
    else:
        index = _model_index(pretrained)
        kind = probe_kind(pretrained)
        names = COMPONENTS_SDXL if kind is BackboneKind.SDXL else COMPONENTS_SD
        parts = {"force_zeros_for_empty_prompt": bool(index.get("force_zeros_for_empty_prompt", True))}
        for name in names:
            library, class_name = index[name]
            if library in ("diffusers", "transformers"):
                module = diffusers if library == "diffusers" else transformers
            elif library.startswith("ezigen."):  # ezigen's own parts (the toy world's autoencoder)
                module = importlib.import_module(library)
            else:
                raise EzigenError(f"backbone.pretrained: {pretrained!r} needs {library}.{class_name}, "
                                  "which ezigen does not load")
            cls = getattr(module, class_name)
            kwargs: dict[str, Any] = {"subfolder": name}
            if name in ("unet", "vae", "text_encoder", "text_encoder_2"):
                kwargs["torch_dtype"] = torch_dtype
                if variant:
                    kwargs["variant"] = variant
            try:
                parts[name] = cls.from_pretrained(pretrained, **kwargs)
            except Exception as exc:
                raise EzigenError(f"backbone.pretrained: cannot load {name} from {pretrained!r}: {exc}") from None
    if vae is not None:
        try:
            parts["vae"] = diffusers.AutoencoderKL.from_pretrained(vae, torch_dtype=torch_dtype)
        except Exception as exc:
            raise EzigenError(f"backbone.vae: cannot load {vae!r}: {type(exc).__name__}: {exc}") from None
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if name in parts:
            parts[name].requires_grad_(False).eval()
    return parts
