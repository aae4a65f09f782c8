"""Builtin metrics: ``dino``, ``clip-i`` and ``clip-t`` (DreamBench, spec BENCHMARKS §2.2).

Every metric scores each generated image on its own (one float per image, so scores never
depend on how images are batched):

- ``dino``:   s_i = mean_r cos(d(x_i), d(y_r)), d = the CLS token of the last hidden state of
  DINO ViT-S/16 (``facebook/dino-vits16``, after the final LayerNorm, as the original DINO
  repository returns it); typical range 0.3 (unrelated) to 0.8 (real vs real).
- ``clip-i``: s_i = mean_r cos(c(x_i), c(y_r)), c = CLIP's projected image embedding
  (``get_image_features``; OpenAI ViT-B/32 by default); typical range 0.6 to 0.9.
- ``clip-t``: s_i = cos(c(x_i), t(p_i)), t = CLIP's projected text embedding of the prompt
  (the raw cosine: no 2.5 factor and no clipping as in CLIPScore); typical range 0.2 to 0.35.

``references`` are the real images y_1..y_R of the subject, **the conditioning image first**:
``references: all`` averages over all of them (DreamBooth's "average pairwise similarity"),
``references: conditioning`` uses y_1 alone (what a zero-shot method actually saw).

Models load through transformers (``load_dino`` / ``load_clip``: a hub id or a local folder;
``tiny:dino`` / ``tiny:clip`` offline) once, in ``from_config``, so a bad model id fails before
any image is generated. ``describe()`` returns the backbone and its preprocessing, which the
evaluation writes into every result file. Embeddings are cached by image content, so the
same image scored by two variants of a metric (all / conditioning) is embedded once.

This module is torch-free at import; torch and transformers are imported inside methods.
"""

from __future__ import annotations

import collections
import enum
import hashlib
from typing import Any

import attrs

from ezigen.builtins.revisions import revision_setting
from ezigen.config import in_range, setting
from ezigen.errors import EzigenError
from ezigen.markers import hookimpl

PROCESSOR_KEYS = ("do_resize", "size", "resample", "do_center_crop", "crop_size", "do_rescale", "rescale_factor",
                  "do_normalize", "image_mean", "image_std", "do_convert_rgb")
DINO_EVAL_RESIZE_RATIO = 256 / 224  # the DINO repository's evaluation: resize to 256, centre-crop 224


class ReferenceMode(enum.Enum):
    ALL = "all"
    CONDITIONING = "conditioning"


class DinoPreprocessing(enum.Enum):
    RESIZE_CROP = "resize-crop"
    MODEL = "model"


def _references_setting() -> Any:
    return setting(ReferenceMode.ALL, doc="all: mean over every real image of the subject (DreamBooth); "
                   "conditioning: the conditioning image alone (the first reference).")


def _batch_setting() -> Any:
    return setting(32, doc="Images per forward pass (scores do not depend on it).", validator=in_range(1, 4096))


@attrs.frozen
class DinoMetricConfig:
    pretrained: str = setting("facebook/dino-vits16", doc="DINO model (hub id or folder), loaded through "
                              "transformers AutoModel; tiny:dino offline.", tiny="dino")
    revision: str | None = revision_setting("facebook/dino-vits16")
    references: ReferenceMode = _references_setting()
    preprocessing: DinoPreprocessing = setting(
        DinoPreprocessing.RESIZE_CROP,
        doc="resize-crop: shortest side to 256/224 of the model's input size (bicubic), centre crop, the model's "
            "mean/std (the DINO repository's evaluation transform); model: the model's own image processor.")
    batch_size: int = _batch_setting()


@attrs.frozen
class ClipImageMetricConfig:
    pretrained: str = setting("openai/clip-vit-base-patch32", doc="CLIP model (hub id or folder); tiny:clip "
                              "offline.", tiny="clip")
    revision: str | None = revision_setting("openai/clip-vit-base-patch32")
    references: ReferenceMode = _references_setting()
    batch_size: int = _batch_setting()


@attrs.frozen
class ClipTextMetricConfig:
    pretrained: str = setting("openai/clip-vit-base-patch32", doc="CLIP model (hub id or folder); tiny:clip "
                              "offline.", tiny="clip")
    revision: str | None = revision_setting("openai/clip-vit-base-patch32")
    batch_size: int = _batch_setting()


class EmbeddingCache:
    """Unit embeddings (D,) keyed by (model key, image content); least recently used dropped first."""

    def __init__(self, capacity: int = 50_000):
        self.capacity = capacity
        self._items: collections.OrderedDict[tuple[str, str], Any] = collections.OrderedDict()

    @staticmethod
    def digest(image: Any) -> str:
        return hashlib.sha1(f"{image.mode}{image.size}".encode() + image.tobytes()).hexdigest()

    def embed(self, model_key: str, images: list[Any], compute: Any, batch_size: int):
        """(N, D) float32 unit rows for ``images``; ``compute(list_of_images) -> (n, D)`` runs on misses only."""
        import torch

        keys = [(model_key, self.digest(im)) for im in images]
        missing = list(dict.fromkeys(k for k in keys if k not in self._items))
        by_key = dict(zip(keys, images))
        for start in range(0, len(missing), batch_size):
            chunk = missing[start:start + batch_size]
            rows = compute([by_key[k] for k in chunk]).detach().float().cpu()  # (n, D)
            for key, row in zip(chunk, rows):
                self._items[key] = row
        for key in keys:
            self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return torch.stack([self._items[k] for k in keys])  # (N, D)

    def clear(self) -> None:
        self._items.clear()


EMBEDDINGS = EmbeddingCache()


def describe_processor(processor: Any) -> dict[str, Any]:
    """The preprocessing a transformers image processor applies, as plain data (resample by name)."""
    image_processor = getattr(processor, "image_processor", processor)
    data = image_processor.to_dict()
    out: dict[str, Any] = {"class": type(image_processor).__name__}
    for key in PROCESSOR_KEYS:
        if key in data and data[key] is not None:
            out[key] = data[key]
    if isinstance(out.get("resample"), int):
        from PIL import Image

        out["resample"] = Image.Resampling(out["resample"]).name.lower()
    return out


def _as_tensor(features: Any) -> Any:
    import torch

    if torch.is_tensor(features):
        return features
    # transformers 5 may return a model output from get_*_features
    return features.pooler_output if getattr(features, "pooler_output", None) is not None else features[0]


class _ImageReferenceMetric:
    """Shared scoring for metrics comparing each image with the subject's real images."""

    name = ""
    uses_references = True
    embedding = ""

    def __init__(self, config: Any):
        self.config = config
        self.model, self.processor = self.load()

    @classmethod
    def from_config(cls, config: Any):
        return cls(config)

    def load(self) -> tuple[Any, Any]:
        raise NotImplementedError

    def compute(self, images: list[Any]):
        raise NotImplementedError

    @property
    def model_key(self) -> str:
        return f"{self.name}|{self.config.pretrained}@{self.config.revision}|{getattr(self.config, 'preprocessing', '')}"

    def to(self, device: Any = None) -> _ImageReferenceMetric:
        self.model.to(device)
        return self

    def embed(self, images: list[Any]):
        """(N, D) unit embeddings of RGB PIL ``images``."""
        images = [im.convert("RGB") for im in images]
        return EMBEDDINGS.embed(self.model_key, images, self.compute, self.config.batch_size)

    def score(self, images: list[Any], references: list[Any] | None = None, prompts: Any = None) -> list[float]:
        """One score per image: mean over the chosen references of the cosine of unit embeddings."""
        if not references:
            raise EzigenError(f"metric {self.name!r} needs reference images (the subject's real images)")
        if not images:
            return []
        if self.config.references is ReferenceMode.CONDITIONING:
            references = references[:1]
        generated = self.embed(list(images))  # (N, D)
        real = self.embed(list(references))  # (R, D)
        return [float(v) for v in (generated @ real.T).mean(dim=1)]  # (N,)

    def describe(self) -> dict[str, Any]:
        return {"metric": self.name, "backbone": self.config.pretrained, "revision": self.config.revision,
                "model_class": type(self.model).__name__,
                "embedding": self.embedding, "references": self.config.references.value,
                "score": "mean over references r of cos(e(image), e(r))",
                "preprocessing": describe_processor(self.processor)}


class DinoMetric(_ImageReferenceMetric):
    """DINO: cosine of DINO CLS embeddings, generated vs real (DreamBooth's subject-fidelity metric)."""

    config_class = DinoMetricConfig
    example_config = {"pretrained": "tiny:dino"}
    name = "dino"
    embedding = "CLS token of last_hidden_state (after the final LayerNorm), L2-normalised"

    def load(self) -> tuple[Any, Any]:
        from ezigen.builtins.image_models import load_dino

        model, processor = load_dino(self.config.pretrained, self.config.revision)
        if self.config.preprocessing is DinoPreprocessing.RESIZE_CROP:
            processor = resize_crop_processor(processor)
        return model, processor

    def compute(self, images: list[Any]):
        import torch

        inputs = self.processor(images=images, return_tensors="pt")
        with torch.no_grad():
            pixel_values = inputs["pixel_values"].to(device=self.model.device, dtype=self.model.dtype)
            hidden = self.model(pixel_values=pixel_values).last_hidden_state  # (n, 1 + P, D)
        return torch.nn.functional.normalize(hidden[:, 0].float(), dim=-1)  # (n, D)


def resize_crop_processor(processor: Any) -> Any:
    """The DINO evaluation transform at the model's input size S: shortest side round(S * 256/224)
    (bicubic), centre crop S x S, rescale to [0, 1], the model's mean/std. A transformers
    ``BitImageProcessor``: the slow PIL path, no torchvision."""
    try:  # transformers 5 names the PIL implementation; older versions have only the one class
        from transformers import BitImageProcessorPil as BitImageProcessor
    except ImportError:
        from transformers import BitImageProcessor

    data = processor.to_dict()
    crop = data.get("crop_size") if data.get("do_center_crop") else None
    size = crop or data.get("size") or {}
    side = int(size.get("height") or size.get("shortest_edge") or 224)
    return BitImageProcessor(
        do_resize=True, size={"shortest_edge": round(side * DINO_EVAL_RESIZE_RATIO)}, resample=3,  # 3: bicubic
        do_center_crop=True, crop_size={"height": side, "width": side}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=data.get("image_mean"), image_std=data.get("image_std"), do_convert_rgb=True,
    )


class ClipImageMetric(_ImageReferenceMetric):
    """CLIP-I: cosine of CLIP image embeddings, generated vs real."""

    config_class = ClipImageMetricConfig
    example_config = {"pretrained": "tiny:clip"}
    name = "clip-i"
    embedding = "CLIP get_image_features (projected image embedding), L2-normalised"

    def load(self) -> tuple[Any, Any]:
        from ezigen.builtins.image_models import load_clip

        return load_clip(self.config.pretrained, self.config.revision)

    def compute(self, images: list[Any]):
        from ezigen.builtins.image_models import image_features

        return image_features(self.model, self.processor, images)


class ClipTextMetric:
    """CLIP-T: cosine of an image's CLIP embedding and its prompt's CLIP text embedding."""

    config_class = ClipTextMetricConfig
    example_config = {"pretrained": "tiny:clip"}
    name = "clip-t"
    uses_references = False

    def __init__(self, config: ClipTextMetricConfig):
        self.config = config
        self.images = ClipImageMetric(ClipImageMetricConfig(pretrained=config.pretrained, revision=config.revision,
                                                            batch_size=config.batch_size))
        self.model, self.processor = self.images.model, self.images.processor

    @classmethod
    def from_config(cls, config: ClipTextMetricConfig) -> ClipTextMetric:
        return cls(config)

    def to(self, device: Any = None) -> ClipTextMetric:
        self.model.to(device)
        return self

    def text_embeddings(self, prompts: list[str]):
        """(P, D) unit CLIP text embeddings (tokenised with padding, truncated at the model's 77 tokens)."""
        import torch

        tokenizer = self.processor.tokenizer
        rows = []
        for start in range(0, len(prompts), self.config.batch_size):
            chunk = prompts[start:start + self.config.batch_size]
            tokens = tokenizer(chunk, padding=True, truncation=True, return_tensors="pt").to(self.model.device)
            with torch.no_grad():
                features = _as_tensor(self.model.get_text_features(**tokens))  # (n, D)
            rows.append(torch.nn.functional.normalize(features.float(), dim=-1).cpu())
        return torch.cat(rows)  # (P, D)

    def score(self, images: list[Any], references: Any = None, prompts: Any = None) -> list[float]:
        """s_i = cos(image_i, prompt_i); ``prompts`` is one string for all images or one per image."""
        if not images:
            return []
        if isinstance(prompts, str):
            prompts = [prompts] * len(images)
        if not prompts or len(prompts) != len(images):
            raise EzigenError(f"metric 'clip-t' needs one prompt per image ({len(images)} images, "
                              f"{0 if not prompts else len(prompts)} prompts)")
        image_rows = self.images.embed(list(images))  # (N, D)
        text_rows = self.text_embeddings(list(prompts))  # (N, D)
        return [float(v) for v in (image_rows * text_rows).sum(dim=-1)]  # (N,)

    def describe(self) -> dict[str, Any]:
        return {"metric": self.name, "backbone": self.config.pretrained, "revision": self.config.revision,
                "model_class": type(self.model).__name__,
                "embedding": "CLIP get_image_features and get_text_features (projected), L2-normalised",
                "score": "cos(e(image), e(prompt)), raw cosine (no 2.5 factor, no clipping)",
                "text": "tokenizer padding to the longest prompt, truncation at the model's maximum length",
                "preprocessing": describe_processor(self.processor)}


@hookimpl
def ezigen_register_metrics(register):
    register("dino", DinoMetric)
    register("clip-i", ClipImageMetric)
    register("clip-t", ClipTextMetric)
