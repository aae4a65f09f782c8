"""Loading the image models used by encoders, stop rules and metrics (CLIP, DINO/DINOv2).

Hub ids and local folders go through transformers ``from_pretrained`` (the model's own image
processor included, no torchvision); ``tiny:clip`` / ``tiny:dino`` are built in memory;
``toy:clip`` / ``toy:dino`` (the toy world's trained stand-ins, ezigen.toy.encoders) are shipped folders
loaded like any local folder.
Loaded models are cached per process: a stop rule and a metric using the same CLIP share it.
``revision`` (a commit, branch or tag; None = ``main``) goes to every ``from_pretrained`` of a hub
id; a local folder has no revisions, so it is not passed there.
"""

from __future__ import annotations

import functools
from typing import Any

from ezigen.errors import EzigenError


@functools.lru_cache(maxsize=4)
def load_clip(pretrained: str, revision: str | None = None) -> tuple[Any, Any]:
    """(CLIPModel, CLIPProcessor) for ``pretrained``; both towers, for image-image and image-text scores."""
    pretrained = _toy_folder(pretrained, "toy:clip")
    from ezigen.builtins.backbones.tiny import tiny_clip_model, tiny_clip_processor

    if pretrained == "tiny:clip":
        return tiny_clip_model(), tiny_clip_processor()
    _reject_other_tiny(pretrained, "tiny:clip")
    from transformers import CLIPModel, CLIPProcessor

    model = _from_pretrained(CLIPModel, pretrained, revision)
    processor = _from_pretrained(CLIPProcessor, pretrained, revision)
    return model.eval().requires_grad_(False), processor


@functools.lru_cache(maxsize=4)
def load_clip_vision(pretrained: str, subfolder: str | None = None, revision: str | None = None) -> tuple[Any, Any]:
    """(CLIPVisionModelWithProjection, image processor): the image tower alone (IP-Adapter's encoder).

    ``subfolder`` addresses an encoder inside a repo (``h94/IP-Adapter`` + ``models/image_encoder``).
    Such folders often have no preprocessor config; CLIP's default preprocessing (224 px, the
    OpenAI mean/std) is used then, as diffusers' IP-Adapter pipelines do.
    """
    pretrained = _toy_folder(pretrained, "toy:clip")
    from ezigen.builtins.backbones.tiny import tiny_clip_model, tiny_clip_processor

    from transformers import CLIPVisionModelWithProjection

    if pretrained == "tiny:clip":
        full = tiny_clip_model()
        config = full.config.vision_config
        config.projection_dim = full.config.projection_dim
        vision = CLIPVisionModelWithProjection(config)
        vision.vision_model.load_state_dict(full.vision_model.state_dict())
        vision.visual_projection.load_state_dict(full.visual_projection.state_dict())
        return vision.eval().requires_grad_(False), tiny_clip_processor().image_processor
    _reject_other_tiny(pretrained, "tiny:clip")
    from transformers import CLIPImageProcessor

    kwargs = {"subfolder": subfolder} if subfolder else {}
    model = _from_pretrained(CLIPVisionModelWithProjection, pretrained, revision, **kwargs)
    try:
        processor = CLIPImageProcessor.from_pretrained(pretrained, **_revision(pretrained, revision), **kwargs)
    except Exception:  # no preprocessor_config.json beside the weights
        size = int(model.config.image_size)
        processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return model.eval().requires_grad_(False), processor


@functools.lru_cache(maxsize=4)
def load_dino(pretrained: str, revision: str | None = None) -> tuple[Any, Any]:
    """(model, image processor) for DINO (ViT) or DINOv2 through ``AutoModel``."""
    pretrained = _toy_folder(pretrained, "toy:dino")
    from ezigen.builtins.backbones.tiny import tiny_dino_model, tiny_dino_processor

    if pretrained == "tiny:dino":
        return tiny_dino_model(), tiny_dino_processor()
    _reject_other_tiny(pretrained, "tiny:dino")
    from transformers import AutoImageProcessor, AutoModel

    model = _from_pretrained(AutoModel, pretrained, revision)
    processor = _from_pretrained(AutoImageProcessor, pretrained, revision)
    return model.eval().requires_grad_(False), processor


def _toy_folder(pretrained: str, expected: str) -> str:
    """``toy:clip`` / ``toy:dino`` -> the shipped folder (a clear error when not built); other names unchanged."""
    if not pretrained.startswith("toy:"):
        return pretrained
    if pretrained != expected:
        raise EzigenError(f"{pretrained!r} is not a model of this kind; the toy stand-in here is {expected!r}")
    from ezigen.toy.encoders.models import embedded_folder

    return embedded_folder(pretrained)


def _reject_other_tiny(pretrained: str, expected: str) -> None:
    if pretrained.startswith("tiny:"):
        raise EzigenError(f"{pretrained!r} is not a model of this kind; the tiny stand-in here is {expected!r}")


def _revision(pretrained: str, revision: str | None) -> dict[str, str]:
    """``{"revision": ...}`` for a hub id; nothing for a local folder (which has no revisions)."""
    import os

    return {"revision": revision} if revision and not os.path.isdir(pretrained) else {}


def _from_pretrained(cls: Any, pretrained: str, revision: str | None = None, **kwargs: Any) -> Any:
    from ezigen.hub import require_hub

    require_hub(pretrained, f"{cls.__name__}")
    try:
        return cls.from_pretrained(pretrained, **_revision(pretrained, revision), **kwargs)
    except Exception as exc:  # offline hub, missing folder, unknown revision, wrong model type
        at = f" at revision {revision!r}" if revision else ""
        raise EzigenError(
            f"cannot load {cls.__name__} from {pretrained!r}{at}: {type(exc).__name__}: {str(exc).splitlines()[0]}. "
            "Offline, use --tiny or a local folder."
        ) from None


def image_features(model: Any, processor: Any, images: list[Any]):
    """CLIP image embeddings (N, D), L2-normalised."""
    import torch

    inputs = processor(images=images, return_tensors="pt")
    with torch.no_grad():
        pixel_values = inputs["pixel_values"].to(device=model.device, dtype=model.dtype)
        features = model.get_image_features(pixel_values=pixel_values)
    if not torch.is_tensor(features):  # transformers 5 may return a model output
        features = features.pooler_output if hasattr(features, "pooler_output") else features[0]
    return torch.nn.functional.normalize(features.float(), dim=-1)
