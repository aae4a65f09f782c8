"""What the toy encoders train on: the toy world's *training* subjects only (the held-out ones, and
every subject outside the training split, are never seen), drawn as a pure function of
(seed, step), so a resumed run sees exactly the batches a straight run sees.

- CLIP stand-in: image-caption pairs. A fraction ``1 - crop_fraction`` are scenes with their
  captions ("a <shape> on a <background> background at the <position>"), the rest subject crops
  with their class prompts ("a <shape> on a white background at the center"), as the adapters see
  them. Neither text names the subject's colours or texture.
- DINO stand-in: subject crops (32 px on white), augmented on the fly (:func:`random_resized_crops`).
"""

from __future__ import annotations

import random
from typing import Any

from ezigen.toy.world import Subject, random_scene, render_crop, render_scene, split_subjects


def training_subjects(world_seed: int = 0) -> list[Subject]:
    """The 400 training subjects of the world ``ezigen toy data --seed world_seed`` writes."""
    from ezigen.toy.dataset import WorldSpec

    spec = WorldSpec(seed=world_seed)
    return split_subjects(spec.seed, spec.train_subjects, spec.heldout_subjects)[0]


def caption_batch(subjects: list[Subject], seed: int, step: int, batch_size: int,
                  crop_fraction: float) -> tuple[list[Any], list[str]]:
    """(images, texts) of step ``step``: scenes with captions and crops with class prompts (see above)."""
    rng = random.Random(f"toy-clip:{seed}:{step}")
    images, texts = [], []
    for _ in range(batch_size):
        subject = rng.choice(subjects)
        if rng.random() < crop_fraction:
            images.append(render_crop(subject))
            texts.append(subject.class_prompt)
        else:
            scene = random_scene(subject, rng)
            images.append(render_scene(scene))
            texts.append(scene.caption)
    return images, texts


def crop_pixels(subjects: list[Subject], processor: Any):
    """(N, 3, 32, 32) the subjects' crops, preprocessed by the encoder's own image processor."""
    return processor(images=[render_crop(s) for s in subjects], return_tensors="pt")["pixel_values"]


def random_resized_crops(images: Any, size: int, scale: tuple[float, float], generator: Any,
                         ratio: tuple[float, float] = (3 / 4, 4 / 3), flip: float = 0.5):
    """torchvision's RandomResizedCrop + RandomHorizontalFlip, batched with ``affine_grid`` / ``grid_sample``.

    images (B, C, S, S) -> (B, C, size, size). Per image: area fraction a ~ U(scale), aspect
    r = exp(U(log ratio)), box w = sqrt(a r), h = sqrt(a / r) (fractions of the side, clipped to 1),
    centre uniform where the box fits, mirrored left-right with probability ``flip``; sampled
    bilinearly (no torchvision in ezigen's environment, so the 10 lines are here).
    """
    import math

    import torch

    batch = images.shape[0]
    u = torch.rand(batch, 5, generator=generator)  # (B, 5): area, aspect, x, y, flip
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    aspect = torch.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1])
    w = torch.sqrt(area * aspect).clamp(max=1.0)  # (B,) half-extent in normalised [-1, 1] units
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (2 * u[:, 2] - 1) * (1 - w)
    cy = (2 * u[:, 3] - 1) * (1 - h)
    sign = torch.where(u[:, 4] < flip, -1.0, 1.0)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = torch.nn.functional.affine_grid(theta.to(images.dtype), (batch, images.shape[1], size, size),
                                           align_corners=False)  # (B, size, size, 2)
    return torch.nn.functional.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
