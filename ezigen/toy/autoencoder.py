"""The toy backbone's autoencoder: a fixed, exactly invertible pixel (un)shuffle.

    encode: x (B, 3, H, W) in [-1, 1]  ->  z = pixel_unshuffle(x, f)  (B, 3 f^2, H/f, W/f)
    decode: z                           ->  x = pixel_shuffle(z, f)

No weights, no training, no loss of detail: the toy world's CPU budget goes to the UNet. It
speaks the ``AutoencoderKL`` interface the backbone uses (``encode(x).latent_dist.sample()``,
``decode(z).sample``, ``config.scaling_factor``), so every code path runs unchanged; diffusers has
no such module, hence this small one.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput
from diffusers.models.modeling_outputs import AutoencoderKLOutput
from diffusers.models.modeling_utils import ModelMixin


class ExactLatent:
    """A 'distribution' that is one point: ``sample()`` and ``mode()`` both return it."""

    def __init__(self, value: torch.Tensor):
        self.value = value

    def sample(self, generator: Any = None) -> torch.Tensor:
        return self.value

    def mode(self) -> torch.Tensor:
        return self.value


class PixelUnshuffleAutoencoder(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, downscale_factor: int = 2, in_channels: int = 3, scaling_factor: float = 1.0,
                 force_upcast: bool = False, block_out_channels: tuple[int, ...] = (12, 12)):
        # block_out_channels only tells diffusers' pipelines the 2x scale (2 ** (len - 1)): they size latents by it
        super().__init__()
        # one buffer gives the module a dtype and device, as ModelMixin expects
        self.register_buffer("anchor", torch.zeros(1))  # persistent: from_pretrained wants a weights file

    @property
    def latent_channels(self) -> int:
        return self.config.in_channels * self.config.downscale_factor ** 2

    def encode(self, x: torch.Tensor, return_dict: bool = True) -> Any:
        z = torch.nn.functional.pixel_unshuffle(x, self.config.downscale_factor)  # (B, 3 f^2, H/f, W/f)
        latent = ExactLatent(z)
        return AutoencoderKLOutput(latent_dist=latent) if return_dict else (latent,)

    def decode(self, z: torch.Tensor, return_dict: bool = True, generator: Any = None) -> Any:
        x = torch.nn.functional.pixel_shuffle(z, self.config.downscale_factor)  # (B, 3, H, W)
        return DecoderOutput(sample=x) if return_dict else (x,)
