"""One training step's loss, and the module accelerate wraps (spec §3.2).

    z0  = VAE.enc(target).sample() * scale            t ~ U[low, high)      eps ~ N(0, I)
    z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps       S = encoder(subjects)  (frozen, no grad)
    S   = 0 for dropped samples (subject dropout)      c = text(caption or "" when dropped)
    loss = || eps_hat(z_t, t, c, S) - eps ||^2         (v-prediction models: the velocity target)

All randomness of a micro-batch comes from one generator seeded by (seed, micro-batch, rank),
so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

import torch

from ezigen.training.config import DropoutComparison


class TrainingModel(torch.nn.Module):
    """The trainable part (a fusion, or the whole UNet) with a forward through the frozen backbone.

    Accelerate wraps this module (DDP on several processes), so the forward must go through it;
    the backbone is held outside the module tree so DDP never syncs frozen weights.
    """

    def __init__(self, trainable: torch.nn.Module, backbone: Any, attachment: Any = None):
        super().__init__()
        self.trainable = trainable
        self._backbone = [backbone]
        self._attachment = [attachment]

    def set_attachment(self, attachment: Any) -> None:
        self._attachment[0] = attachment

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor, embeds: Any, features: Any = None) -> torch.Tensor:
        """``embeds``: PromptEmbeds, or the captions themselves when the text encoder trains too."""
        if isinstance(embeds, list):
            embeds = self._backbone[0].encode_prompt(embeds, None, cfg=False, grad=True).cond
        attachment = self._attachment[0]
        if attachment is not None:
            attachment.set_subject(features)
        try:
            return self._backbone[0].predict_noise(noisy, timesteps, embeds)
        finally:
            if attachment is not None:
                attachment.set_subject(None)


def dropped(batch: int, probability: float, comparison: DropoutComparison, generator: torch.Generator) -> torch.Tensor:
    """Which samples lose their subject features: (B,) bool.

    intended: Bernoulli(p). released: the released code's test ``randint(1, 10) / 10 > p``
    (drops 80% of samples for p = 0.2; spec §3.3).
    """
    if comparison is DropoutComparison.RELEASED:
        draws = torch.randint(1, 11, (batch,), generator=generator).float() / 10
        return draws > probability
    return torch.rand(batch, generator=generator) < probability


def zero_samples(features: Any, drop: torch.Tensor) -> Any:
    """Zero every subject token of the dropped samples (tokens stay: K = V = 0 still soak up softmax mass)."""
    import attrs

    if not bool(drop.any()):
        return features
    keep = (~drop).view(-1, 1, 1)

    def zeroed(tensor: torch.Tensor) -> torch.Tensor:
        return tensor * keep.to(device=tensor.device, dtype=tensor.dtype)

    if features.layers is not None:
        return attrs.evolve(features, layers={k: zeroed(v) for k, v in features.layers.items()})
    return attrs.evolve(features, tokens=zeroed(features.tokens))


def training_loss(model: Any, backbone: Any, encoder: Any, batch: list[Any], config: Any,
                  generator: torch.Generator, train_fusion: bool, encoder_spec: Any = None,
                  pixels: torch.Tensor | None = None) -> torch.Tensor:
    """The loss of one micro-batch of loaded samples (``encoder_spec``: the recipe section, for error messages).

    ``pixels``: the targets (B, 3, R, R) in [-1, 1] when the DataLoader made them already; else made here.
    """
    from ezigen.subject_encoding import encode_training_batch
    from ezigen.training.config import TrainTarget
    from ezigen.training.dataset import target_pixels

    size = len(batch)
    device = backbone.device
    captions = [item.sample.caption for item in batch]
    text_drop = torch.rand(size, generator=generator) < config.text_dropout
    captions = ["" if drop else caption for caption, drop in zip(captions, text_drop.tolist())]
    with torch.no_grad():
        if pixels is None:
            pixels = target_pixels([item.target for item in batch], backbone.resolution)
        pixels = pixels.to(device, non_blocking=True)
        clean = backbone.encode_images(pixels, generator=generator)  # (B, 4, h, w)
        train_text = config.target is TrainTarget.UNET_TEXT
        embeds = captions if train_text else backbone.encode_prompt(captions, None, cfg=False).cond
        features = None
        if train_fusion:
            features = encode_training_batch(encoder, [item.subjects for item in batch],
                                             [list(item.sample.subject_prompts) for item in batch],
                                             config.num_sub_img, backbone, generator, spec=encoder_spec)
            features = zero_samples(features, dropped(size, config.subject_dropout, config.dropout_comparison,
                                                      generator))
    low, high = config.timestep_range
    timesteps = torch.randint(low, high, (size,), generator=generator).to(device)
    noise = torch.randn(clean.shape, generator=generator).to(device=device, dtype=clean.dtype)
    scheduler = backbone.training_scheduler
    noisy = scheduler.add_noise(clean, noise, timesteps)
    if scheduler.config.prediction_type == "v_prediction":
        target = scheduler.get_velocity(clean, noise, timesteps)
    else:
        target = noise
    prediction = model(noisy, timesteps, embeds, features)
    return torch.nn.functional.mse_loss(prediction.float(), target.float())
