"""The ``unet`` subject encoder: EZIGen's frozen diffusion UNet as the subject encoder (spec §2.2).

For each subject image x (RGB, resized to the backbone resolution, mapped to [-1, 1]; see
``preprocess`` below):

    z  = VAE.enc(x).sample() * scale                        # (N, 4, h, w)
    z1 = sqrt(abar_t) z + sqrt(1 - abar_t) eps,  t = 1     # nearly clean; one eps broadcast over images
    UNet(z1, t, text(subject prompt))                       # one pass, the prediction is discarded

capturing, per transformer block, the tensor at ``position`` (default ``before_sa``: the
norm1 output the self-attention reads). The N images' tokens are concatenated along the token
axis: each layer gives (1, N * HW, C). Features are computed once per (images, prompt, config)
and cached by the System.

``preprocess`` (spec §2.2 point 1): ``stretch`` (released) decodes the file with PIL's plain
``convert("RGB")`` (alpha dropped, no EXIF transpose) and resizes it bilinearly to R x R
without keeping the aspect ratio; ``pad-white`` applies EXIF orientation, composites alpha on
white and pads to a square with ``background`` before the same resize (same pixels as ``stretch``
for an opaque, square, upright subject).

``share_backbone_weights: true`` runs the backbone's own UNet (no second copy in memory); the
UNet must be plain while it runs, which holds because fusions attach only around denoising.
``mode: per-step`` produces REFERENCE features instead (the clean latent and the prompt's
conditioning), for fusions that run the UNet on the reference at every step.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import json
from typing import Any

import attrs

from ezigen.builtins.revisions import is_hub_id, revision_setting
from ezigen.config import in_range, setting, unstructure
from ezigen.images import load_image, pad_to_square, to_tensor
from ezigen.unet.capture import FeaturePosition, capture_block_features
from ezigen.unet.layers import transformer_block_names
from ezigen.values import FeatureKind, SubjectFeatures, SubjectInput


class SubjectPreprocess(enum.Enum):
    STRETCH = "stretch"  # released: Image.open().convert("RGB"), Resize((R, R)) bilinear
    PAD_WHITE = "pad-white"  # EXIF + alpha on white + pad to a square, then the same resize


class PadPrompt(enum.Enum):
    RELEASED = "released"  # all-zero token ids, as the released collate pads (no BOS/EOS)
    EMPTY = "empty"  # the empty prompt "" (BOS, EOS, padding)


class EncodingMode(enum.Enum):
    OFFLINE = "offline"  # features once per subject (EZIGen)
    PER_STEP = "per-step"  # the reference latent, for fusions that run the UNet at every step


@attrs.frozen
class UNetEncoderConfig:
    timestep: int = setting(1, doc="Diffusion timestep the subject latent is noised to (released 1: nearly clean).",
                            validator=in_range(0, 999))
    position: FeaturePosition = setting(
        FeaturePosition.BEFORE_SA, doc="Where features are taken in each block: before_sa | after_sa | after_ca | after_ff."
    )
    share_backbone_weights: bool = setting(
        True, doc="Use the backbone's own UNet (no second copy in memory); false keeps a separate frozen copy."
    )
    pretrained: str | None = setting(
        None, doc="A different UNet (diffusers folder or hub id with a unet/ subfolder) as the reference; "
        "null = the backbone's.", tiny="drop",
    )
    revision: str | None = revision_setting()
    mode: EncodingMode = setting(EncodingMode.OFFLINE, doc="offline (EZIGen) | per-step (reference attention).")
    noise_seed: int = setting(0, doc="Seed of the VAE sample and the t-noise, so cached features are reproducible.",
                              validator=in_range(0, 2**63 - 1))
    preprocess: SubjectPreprocess = setting(
        SubjectPreprocess.STRETCH, doc="stretch: as released, convert('RGB') (alpha dropped, no EXIF rotation) and "
        "resize to R x R, aspect not kept; pad-white: EXIF rotation, alpha on white, pad to a square, then resize.",
    )
    pad_prompt: PadPrompt = setting(
        PadPrompt.RELEASED, doc="Training: text of an empty subject slot. released: all-zero token ids (no BOS/EOS), "
        "as the released collate pads; empty: the empty prompt.",
    )
    background: tuple[int, int, int] = setting(
        (255, 255, 255), doc="Padding colour for preprocess: pad-white (the released subjects are on white).",
    )


class UNetSubjectEncoder:
    """Frozen-UNet subject features (SPATIAL, keyed by block name) or the reference latent (REFERENCE)."""

    config_class = UNetEncoderConfig

    def __init__(self, config: UNetEncoderConfig, unet: Any | None = None):
        self.config = config
        self._own_unet = unet  # None: use the backbone's UNet at encode time

    @classmethod
    def from_config(cls, config: UNetEncoderConfig, backbone: Any) -> UNetSubjectEncoder:
        unet = None
        if config.pretrained is not None:
            from diffusers import UNet2DConditionModel

            from ezigen.errors import EzigenError

            try:
                revision = {"revision": config.revision} if config.revision and is_hub_id(config.pretrained) else {}
                unet = UNet2DConditionModel.from_pretrained(config.pretrained, subfolder="unet",
                                                            torch_dtype=backbone.dtype, **revision)
            except Exception as exc:
                raise EzigenError(f"subject_encoder.pretrained: cannot load a UNet from {config.pretrained!r}: "
                                  f"{type(exc).__name__}") from None
        elif not config.share_backbone_weights:
            unet = copy.deepcopy(backbone.unet)
        if unet is not None:
            unet.requires_grad_(False).eval().to(backbone.device)
        return cls(config, unet)

    @classmethod
    def output_kind(cls, config: UNetEncoderConfig) -> FeatureKind:
        return FeatureKind.REFERENCE if config.mode is EncodingMode.PER_STEP else FeatureKind.SPATIAL

    @classmethod
    def unet_evals(cls, config: UNetEncoderConfig, subject_images: int) -> int:
        """UNet evaluations of one encoding (the cost model): one pass per image offline, none per-step."""
        return subject_images if config.mode is EncodingMode.OFFLINE else 0

    def cache_key(self) -> str:
        payload = json.dumps({"encoder": "unet", **unstructure(self.config)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def to(self, device: Any = None, dtype: Any = None) -> UNetSubjectEncoder:
        if self._own_unet is not None:
            self._own_unet.to(device=device, dtype=dtype)
        return self

    def load_image(self, source: Any, what: str = "subject image") -> Any:
        """A path or PIL image -> RGB PIL image, decoded as ``preprocess`` says (see the module docstring)."""
        return load_image(source, what, released=self.config.preprocess is SubjectPreprocess.STRETCH)

    def preprocess(self, subject: SubjectInput, resolution: int):
        """Subject images -> (N, 3, R, R) in [-1, 1]: ``stretch``: bilinear resize (aspect not kept);
        ``pad-white``: pad to a square with ``background`` first."""
        images = list(subject.images)
        if self.config.preprocess is SubjectPreprocess.PAD_WHITE:
            images = [pad_to_square(image, tuple(self.config.background)) for image in images]
        return to_tensor(images, resolution)

    def encode(self, subject: SubjectInput, backbone: Any) -> SubjectFeatures:
        import torch
        from diffusers.utils.torch_utils import randn_tensor

        unet = self._own_unet if self._own_unet is not None else backbone.unet
        generator = torch.Generator("cpu").manual_seed(self.config.noise_seed)
        pixels = self.preprocess(subject, backbone.resolution).to(backbone.device)
        latents = backbone.encode_images(pixels, generator=generator)  # (N, 4, h, w)
        prompt = backbone.encode_prompt([subject.prompt], None, cfg=False).cond
        count = latents.shape[0]
        info = {"encoder": "unet", "images": count, "prompt": subject.prompt, **unstructure(self.config),
                "vae_encodes": count}
        if self.config.mode is EncodingMode.PER_STEP:
            info["unet_evals"] = 0
            return SubjectFeatures(FeatureKind.REFERENCE, reference={
                "latents": latents, "embeds": prompt.embeds, "pooled": prompt.pooled, "time_ids": prompt.time_ids,
            }, info=info)

        # one noise draw (1, 4, h, w) broadcast over the subject images, as released
        noise = randn_tensor((1,) + tuple(latents.shape[1:]), generator=generator, device=latents.device,
                             dtype=latents.dtype)
        timestep = torch.tensor([self.config.timestep], device=latents.device)
        noisy = backbone.training_scheduler.add_noise(latents, noise, timestep)  # DDPM forward process at t
        names = transformer_block_names(unet)
        embeds = _repeat_embeds(prompt, count)
        with capture_block_features(unet, names, self.config.position) as captured, torch.no_grad():
            backbone.predict_noise(noisy, timestep.expand(count), embeds, unet=unet)
        layers = {}
        for name in names:
            tokens = captured[name]  # (N, HW, C)
            layers[name] = tokens.reshape(1, count * tokens.shape[1], tokens.shape[2]).detach()  # (1, N*HW, C)
        info["unet_evals"] = count
        return SubjectFeatures(FeatureKind.SPATIAL, layers=layers, info=info)


    def encode_batch(self, images: list[list[Any]], prompts: list[list[str]], slots: int, backbone: Any,
                     generator: Any) -> SubjectFeatures:
        """Training: B samples of up to ``slots`` subjects -> layers (B, slots * HW, C) and ``slot_mask`` (B, slots).

        Empty slots are padded as released: a zero image (mid-grey in [-1, 1]) with the text of
        ``pad_prompt`` (released: all-zero token ids, spec §3.1; ``empty``: the empty prompt).
        One t-noise draw per sample is broadcast over its slots (spec §3.2).
        """
        import torch

        unet = self._own_unet if self._own_unet is not None else backbone.unet
        batch = len(images)
        resolution = backbone.resolution
        pixels = torch.zeros(batch * slots, 3, resolution, resolution)
        slot_mask = torch.zeros(batch, slots, dtype=torch.bool)
        texts = [""] * (batch * slots)
        for b, (subject_images, subject_prompts) in enumerate(zip(images, prompts)):
            for j, (image, prompt) in enumerate(list(zip(subject_images, subject_prompts))[:slots]):
                pixels[b * slots + j] = self.preprocess(SubjectInput.from_images([image], prompt), resolution)[0]
                slot_mask[b, j] = True
                texts[b * slots + j] = prompt
        with torch.no_grad():
            latents = backbone.encode_images(pixels.to(backbone.device), generator=generator)  # (B*slots, 4, h, w)
            noise = torch.randn((batch, 1) + tuple(latents.shape[1:]), generator=generator)
            noise = noise.expand(batch, slots, *latents.shape[1:]).reshape(latents.shape)
            timestep = torch.full((batch * slots,), self.config.timestep, device=latents.device, dtype=torch.long)
            noisy = backbone.training_scheduler.add_noise(latents, noise.to(latents), timestep)
            embeds = backbone.encode_prompt(texts, None, cfg=False).cond  # (B*slots, L, D)
            padded = (~slot_mask).reshape(-1)  # (B*slots,)
            if self.config.pad_prompt is PadPrompt.RELEASED and bool(padded.any()):
                embeds = _with_rows(embeds, padded, backbone.encode_zero_token_ids(int(padded.sum())))
            names = transformer_block_names(unet)
            with capture_block_features(unet, names, self.config.position) as captured:
                backbone.predict_noise(noisy, timestep, embeds, unet=unet)
            layers = {n: captured[n].reshape(batch, slots * captured[n].shape[1], captured[n].shape[2]).detach()
                      for n in names}
        info = {"encoder": "unet", "slots": slots, "unet_evals": batch * slots, **unstructure(self.config)}
        return SubjectFeatures(FeatureKind.SPATIAL, layers=layers, slot_mask=slot_mask.to(backbone.device), info=info)


def _with_rows(embeds: Any, rows: Any, replacement: Any) -> Any:
    """``embeds`` (PromptEmbeds, B rows) with the rows where ``rows`` (B,) is True taken from ``replacement``."""
    def put(values: Any, new: Any) -> Any:
        if values is None:
            return None
        values = values.clone()
        values[rows.to(values.device)] = new.to(device=values.device, dtype=values.dtype)
        return values

    return attrs.evolve(embeds, embeds=put(embeds.embeds, replacement.embeds),
                        pooled=put(embeds.pooled, replacement.pooled),
                        time_ids=put(embeds.time_ids, replacement.time_ids))


def _repeat_embeds(prompt: Any, count: int) -> Any:
    return prompt.repeat(count) if count > 1 else prompt
