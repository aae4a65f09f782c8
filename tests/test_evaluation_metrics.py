"""DINO, CLIP-I and CLIP-T give the numbers of a direct computation with the same models.

The direct computations below use transformers alone (the tiny models' builders, processors
configured by hand, ``get_image_features`` / ``get_text_features`` / CLS tokens, cosines by
hand), so a mistake in the metric code (wrong token, missing normalisation, wrong
preprocessing, averaging over the wrong references) shows up as a number that differs.
"""

from __future__ import annotations

import pytest
import torch

from ezigen.builtins import metrics as metric_module
from ezigen.builtins.backbones.tiny import tiny_clip_model, tiny_clip_processor, tiny_dino_model, tiny_dino_processor
from ezigen.builtins.metrics import (
    ClipImageMetric,
    ClipImageMetricConfig,
    ClipTextMetric,
    ClipTextMetricConfig,
    DinoMetric,
    DinoMetricConfig,
    DinoPreprocessing,
    ReferenceMode,
)
from ezigen.errors import RecipeError, UnknownNameError
from ezigen.evaluation.metric_set import metric_columns

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
PROMPTS = ["a red disc in the snow", "a striped box on the beach", "a green toy"]


@pytest.fixture(scope="module")
def images():
    """Three 'generated' images and four 'real' ones, of different sizes (non-square)."""
    from PIL import Image, ImageDraw

    def draw(size, colour, shape, stripe):
        image = Image.new("RGB", size, "white")
        d = ImageDraw.Draw(image)
        (d.ellipse if shape else d.rectangle)((6, 5, size[0] - 8, size[1] - 6), fill=colour)
        d.line((0, stripe, size[0], stripe + 9), fill=(10, 10, 10), width=3)
        return image

    generated = [draw((64, 64), (200, 30, 30), True, 10), draw((64, 64), (30, 40, 210), False, 30),
                 draw((64, 64), (40, 170, 60), True, 50)]
    real = [draw((80, 60), (190, 40, 30), True, 20), draw((60, 90), (180, 60, 40), True, 40),
            draw((70, 70), (120, 30, 160), False, 12), draw((96, 64), (200, 200, 40), True, 33)]
    return generated, real


@pytest.fixture(autouse=True)
def _fresh_embeddings():
    metric_module.EMBEDDINGS.clear()
    yield
    metric_module.EMBEDDINGS.clear()


def unit(x):
    if not torch.is_tensor(x):  # transformers 5: get_*_features returns an output whose pooler_output is projected
        x = x.pooler_output
    return x / x.norm(dim=-1, keepdim=True)


def by_hand_dino(model, processor, images):
    with torch.no_grad():
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        return unit(model(pixel_values=pixels).last_hidden_state[:, 0])  # CLS


def dino_eval_processor(side):
    """The DINO evaluation transform configured by hand: shortest side round(side*256/224), crop side."""
    from transformers import BitImageProcessor

    return BitImageProcessor(size={"shortest_edge": round(side * 256 / 224)}, resample=3, do_center_crop=True,
                             crop_size={"height": side, "width": side}, image_mean=IMAGENET_MEAN,
                             image_std=IMAGENET_STD)


def by_hand_clip_images(model, processor, images):
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        return unit(model.get_image_features(pixel_values=pixels))


def mean_cosines(a, b):
    return [float(row.mean()) for row in a @ b.T]


def test_dino_equals_cls_cosine_by_hand(images):
    generated, real = images
    got = DinoMetric.from_config(DinoMetricConfig(pretrained="tiny:dino")).score(generated, references=real)
    model = tiny_dino_model()
    expected = mean_cosines(by_hand_dino(model, dino_eval_processor(32), generated),
                            by_hand_dino(model, dino_eval_processor(32), real))
    assert got == pytest.approx(expected, abs=1e-5)
    own = DinoMetric.from_config(DinoMetricConfig(pretrained="tiny:dino", preprocessing=DinoPreprocessing.MODEL))
    expected_own = mean_cosines(by_hand_dino(model, tiny_dino_processor(), generated),
                                by_hand_dino(model, tiny_dino_processor(), real))
    assert own.score(generated, references=real) == pytest.approx(expected_own, abs=1e-5)
    assert expected_own != pytest.approx(expected, abs=1e-4)  # preprocessing matters, so it is recorded


def test_dino_through_a_vit_folder_like_facebook_dino_vits16(images, tmp_path):
    """facebook/dino-vits16 is a ViTModel with a ViTImageProcessor (squash to 224x224, no crop)."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    vit = ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                             image_size=32, patch_size=4), add_pooling_layer=False).eval()
    vit.save_pretrained(tmp_path / "vit")
    ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=IMAGENET_MEAN,
                      image_std=IMAGENET_STD).save_pretrained(tmp_path / "vit")
    metric = DinoMetric.from_config(DinoMetricConfig(pretrained=str(tmp_path / "vit")))
    generated, real = images
    expected = mean_cosines(by_hand_dino(vit, dino_eval_processor(32), generated),
                            by_hand_dino(vit, dino_eval_processor(32), real))
    assert metric.score(generated, references=real) == pytest.approx(expected, abs=1e-5)
    described = metric.describe()
    assert described["backbone"] == str(tmp_path / "vit") and described["model_class"] == "ViTModel"
    assert described["preprocessing"]["crop_size"] == {"height": 32, "width": 32}
    assert described["preprocessing"]["size"] == {"shortest_edge": 37}
    assert described["preprocessing"]["resample"] == "bicubic"


def test_clip_i_and_clip_t_equal_projected_cosines_by_hand(images):
    generated, real = images
    model, processor = tiny_clip_model(), tiny_clip_processor()
    image_rows = by_hand_clip_images(model, processor, generated)
    real_rows = by_hand_clip_images(model, processor, real)
    with torch.no_grad():
        tokens = processor.tokenizer(PROMPTS, padding=True, return_tensors="pt")
        text_rows = unit(model.get_text_features(**tokens))
    clip_i = ClipImageMetric.from_config(ClipImageMetricConfig(pretrained="tiny:clip"))
    assert clip_i.score(generated, references=real) == pytest.approx(mean_cosines(image_rows, real_rows), abs=1e-5)
    clip_t = ClipTextMetric.from_config(ClipTextMetricConfig(pretrained="tiny:clip"))
    expected = [float(v) for v in (image_rows * text_rows).sum(-1)]
    assert clip_t.score(generated, prompts=PROMPTS) == pytest.approx(expected, abs=1e-5)


def test_conditioning_variant_uses_the_first_reference_only(images):
    generated, real = images
    every = DinoMetric.from_config(DinoMetricConfig(pretrained="tiny:dino"))
    first = DinoMetric.from_config(DinoMetricConfig(pretrained="tiny:dino", references=ReferenceMode.CONDITIONING))
    only_first = every.score(generated, references=real[:1])
    assert first.score(generated, references=real) == pytest.approx(only_first, abs=1e-6)
    assert first.score(generated, references=real) != pytest.approx(every.score(generated, references=real), abs=1e-4)


def test_scores_do_not_depend_on_the_batch(images):
    generated, real = images
    metric = ClipTextMetric.from_config(ClipTextMetricConfig(pretrained="tiny:clip", batch_size=2))
    together = metric.score(generated, prompts=PROMPTS)
    metric_module.EMBEDDINGS.clear()
    alone = [metric.score([im], prompts=[p])[0] for im, p in zip(generated, PROMPTS)]
    assert together == pytest.approx(alone, abs=1e-5)


def test_metric_columns_tiny_settings_and_variants(tmp_path):
    columns = metric_columns(tiny=True)
    assert [c.column for c in columns] == ["dino", "clip-i", "clip-t", "dino-cond", "clip-i-cond"]
    assert {c.column: c.config.pretrained for c in columns} == {
        "dino": "tiny:dino", "clip-i": "tiny:clip", "clip-t": "tiny:clip", "dino-cond": "tiny:dino",
        "clip-i-cond": "tiny:clip"}
    assert [c.config.references.value for c in columns if c.uses_references] == ["all", "all", "conditioning",
                                                                                 "conditioning"]
    folder = str(tmp_path)  # a local folder is kept under --tiny, as in recipes
    kept = metric_columns(["clip-i"], [f"clip-i.pretrained={folder}", "clip-i.references=conditioning"], tiny=True)
    assert [(c.column, c.config.pretrained) for c in kept] == [("clip-i-cond", folder)]
    with pytest.raises(RecipeError, match=r"metrics.dino.refrences: unknown key \(did you mean 'references'\?\)"):
        metric_columns(["dino"], ["dino.refrences=all"])
    with pytest.raises(RecipeError, match="expected NAME.KEY=VALUE"):
        metric_columns(["dino"], ["clip-i.pretrained=x"])
    with pytest.raises(UnknownNameError, match="unknown metric 'dinov'; did you mean 'dino'.*clip-i, clip-t, .*dino"):
        metric_columns(["dinov"])
