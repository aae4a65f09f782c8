"""Behavioural checks of the subject path: encoders and fusions, each against fixed builtin partners.

A partner is never "whatever is registered first": an encoder is run through every *shipped*
fusion that reads its feature kind, a fusion is fed by the *builtin* reference encoder of each
kind it reads, so installing a plugin cannot change another component's result.

- encoder: ``from_config`` builds, the object satisfies ``SubjectEncoder`` (``TokenSubjectEncoder``
  for TOKENS), ``encode`` gives features of ``output_kind`` that pass the library's boundary
  checks (``ezigen.subject_encoding``); then, for each shipped fusion of that kind: a UNet call
  with CFG rows (so "no subject" tokens are used) that changes the output and stays finite, and
  one training step (batched features, 2 samples of 1 and 2 images, ``slots`` = 2) whose loss
  gives finite gradients to the fusion's trainable parameters;
- fusion: attach + detach restore the UNet's processors, hooks and ``state_dict()`` exactly;
  attached with the subject off the UNet is bit-identical to the plain UNet; with the subject on
  the output changes.
"""

from __future__ import annotations

import functools
from typing import Any

from ezigen.config import structure
from ezigen.values import FeatureKind, SubjectInput


def subject_for_tests(colour: tuple[int, int, int] = (200, 40, 40)) -> SubjectInput:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (48, 48), "white")
    ImageDraw.Draw(image).rectangle((10, 10, 38, 38), fill=colour)
    return SubjectInput.from_images([image], "a red square")


@functools.lru_cache(maxsize=1)
def shipped_components() -> Any:
    """The builtins alone (no entry-point plugins): where reference partners come from."""
    from ezigen.plugins import build_plugin_manager, collect

    return collect(build_plugin_manager(entry_points=False))


def reference_encoder(kind: FeatureKind, backbone: Any) -> Any:
    """The builtin encoder that produces ``kind`` on tiny models: unet (SPATIAL, or REFERENCE in
    per-step mode), clip on ``tiny:clip`` (TOKENS)."""
    from ezigen.builtins.encoders.clip import ClipEncoderConfig, ClipSubjectEncoder
    from ezigen.builtins.encoders.unet import EncodingMode, UNetEncoderConfig, UNetSubjectEncoder

    if kind is FeatureKind.TOKENS:
        return ClipSubjectEncoder.from_config(ClipEncoderConfig(pretrained="tiny:clip"), backbone)
    mode = EncodingMode.PER_STEP if kind is FeatureKind.REFERENCE else EncodingMode.OFFLINE
    return UNetSubjectEncoder.from_config(UNetEncoderConfig(mode=mode), backbone)


def default_config(cls: Any) -> Any:
    """The config of a partner: its defaults (so sizes come from the encoder), else its example_config."""
    config, problems = structure(cls.config_class, {}, "defaults")
    if problems:
        config, problems = structure(cls.config_class, dict(getattr(cls, "example_config", {}) or {}), "example")
    assert not problems, f"{cls.__name__}: no usable config: {'; '.join(map(str, problems))}"
    return config


def _spec(section: str, name: str, cls: Any, config: Any, plugin: str) -> Any:
    from ezigen.recipe.schema import ComponentSpec

    return ComponentSpec(section=section, type=name, cls=cls, config=config, plugin=plugin)


def check_subject_encoder(name: str, cls: Any, config: Any, plugin: str, backbone: Any) -> None:
    from ezigen.build import build_component
    from ezigen.interfaces import SubjectEncoder, TokenSubjectEncoder
    from ezigen.subject_encoding import encode_subject

    spec = _spec("subject_encoder", name, cls, config, plugin)
    encoder = build_component(spec, backbone)
    kind = cls.output_kind(config)
    protocol = TokenSubjectEncoder if kind is FeatureKind.TOKENS else SubjectEncoder
    assert isinstance(encoder, protocol), f"{name}: the built encoder does not satisfy {protocol.__name__}"
    key = encoder.cache_key()
    assert isinstance(key, str) and key, f"{name}: cache_key() must be a non-empty string"
    features = encode_subject(encoder, subject_for_tests(), backbone, spec)
    assert features.kind is kind
    fusions = shipped_components().registry("fusions")
    partners = [(n, c) for n, c in ((e.name, e.value) for e in fusions.entries())
                if kind in c.input_kinds(default_config(c))]
    assert partners, f"{name}: no shipped fusion reads {kind.value} features"
    for fusion_name, fusion_cls in partners:
        fusion = fusion_cls.from_config(default_config(fusion_cls), backbone, encoder=encoder)
        where = f"{name} under {fusion_name}"
        _check_generation_call(fusion, features, backbone, where)
        if kind is not FeatureKind.REFERENCE and fusion.trainable_parameters():
            _check_training_step(fusion, encoder, spec, backbone, where)


def _unet_call(backbone: Any, batch: int = 2) -> tuple[Any, Any]:
    import torch

    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(backbone.latent_shape(batch), generator=generator)
    embeds = backbone.encode_prompt(["a photo"] * batch, None, cfg=False).cond
    return sample, embeds


def _check_generation_call(fusion: Any, features: Any, backbone: Any, where: str) -> None:
    import torch

    from ezigen.defaults import prepare_step

    sample, embeds = _unet_call(backbone)
    timestep = torch.tensor(500)
    with torch.no_grad():
        plain = backbone.predict_noise(sample, timestep, embeds)
        attachment = fusion.attach(backbone.unet)
        try:
            # CFG rows as the sampler gives them: unconditional first ("no subject" tokens), then conditional
            attachment.set_subject(features, uncond=torch.tensor([True, False]))
            prepare_step(attachment, timestep, 2)
            out = backbone.predict_noise(sample, timestep, embeds)
        finally:
            attachment.detach()
    assert out.shape == plain.shape and bool(torch.isfinite(out).all()), f"{where}: non-finite UNet output"
    assert not torch.equal(out, plain), f"{where}: the subject path changes nothing"


def _check_training_step(fusion: Any, encoder: Any, spec: Any, backbone: Any, where: str) -> None:
    import torch

    from ezigen.subject_encoding import encode_training_batch

    first, second = subject_for_tests(), subject_for_tests((40, 40, 200))
    images = [list(first.images), list(first.images) + list(second.images)]
    features = encode_training_batch(encoder, images, [["a red square"], ["a red square", "a blue square"]], 2,
                                     backbone, torch.Generator().manual_seed(0), spec=spec)
    assert features.slot_mask is not None and features.slot_mask.tolist() == [[True, False], [True, True]], \
        f"{where}: batched features need slot_mask (B, slots) marking the real images"
    sample, embeds = _unet_call(backbone)
    parameters = fusion.trainable_parameters()
    attachment = fusion.attach(backbone.unet)
    try:
        attachment.set_subject(features)
        loss = backbone.predict_noise(sample, torch.tensor([500, 500]), embeds).float().pow(2).mean()
        grads = torch.autograd.grad(loss, parameters, allow_unused=True)
    finally:
        attachment.detach()
    used = [g for g in grads if g is not None]
    assert used and all(bool(torch.isfinite(g).all()) for g in used), f"{where}: no finite gradient in a training step"


def check_fusion(name: str, cls: Any, backbone: Any) -> None:
    """Run with its default config (sizes from the partner encoder), else its ``example_config``."""
    import torch

    from ezigen.interfaces import Attachment, Fusion

    config = default_config(cls)
    for kind in sorted(cls.input_kinds(config), key=lambda k: k.value):
        encoder = reference_encoder(kind, backbone)
        features = encoder.encode(subject_for_tests(), backbone)
        fusion = cls.from_config(config, backbone, encoder=encoder)
        assert isinstance(fusion, Fusion), f"{name}: the built fusion does not satisfy ezigen.Fusion"
        unet = backbone.unet
        sample, embeds = _unet_call(backbone)

        def run() -> torch.Tensor:
            with torch.no_grad():
                return backbone.predict_noise(sample, torch.tensor(500), embeds)

        keys = list(unet.state_dict().keys())
        processors = dict(unet.attn_processors)
        hooks = _hook_counts(unet)
        plain = run()
        attachment = fusion.attach(unet)
        try:
            assert isinstance(attachment, Attachment), f"{name}: attach() must return an ezigen.Attachment"
            attachment.set_subject(None)
            assert torch.equal(run(), plain), f"{name}: with the subject off the UNet is not bit-identical"
            attachment.set_subject(features)
            from ezigen.defaults import prepare_step

            prepare_step(attachment, torch.tensor(500), 2)
            assert not torch.equal(run(), plain), f"{name}: the subject path changes nothing ({kind.value})"
        finally:
            attachment.detach()
        assert list(unet.state_dict().keys()) == keys, f"{name}: detach did not restore state_dict keys"
        assert dict(unet.attn_processors) == processors, f"{name}: detach did not restore processors"
        assert _hook_counts(unet) == hooks, f"{name}: detach left hooks behind"
        assert torch.equal(run(), plain), f"{name}: the UNet output changed after detach"


def _hook_counts(module: Any) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())
