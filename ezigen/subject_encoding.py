"""Calling a subject encoder: its output checked at the boundary, and the library's defaults filled in.

An encoder needs only ``encode`` (and ``output_dim`` for TOKENS, see ``ezigen.interfaces``). This
module supplies what it may leave out:

- ``info["tokens_per_image"]`` T = ``tokens.shape[1] // N`` for N subject images;
- ``extras["null_tokens"]``: the "no subject" tokens, zeros (1, T, D);
- ``encode_batch`` for training: a loop over ``encode``, one call per sample, each sample's
  (1, n * T, D) tokens (or per-layer (1, n * HW, C) features) zero-padded to ``slots`` images and
  stacked to (B, slots * T, D), with ``slot_mask`` (B, slots) True on the real images.

A wrong result (not SubjectFeatures, another kind than ``output_kind``, a token size other than
``output_dim``, a shape that does not split into images) is an :class:`~ezigen.errors.PluginError`
naming the component and the plugin that registered it.
"""

from __future__ import annotations

from typing import Any

import attrs

from ezigen.errors import EzigenError, PluginError
from ezigen.values import FeatureKind, SubjectFeatures, SubjectInput


def component_label(spec: Any) -> str:
    """``subject_encoder 'colorstats' (plugin 'colorstats', distribution ezigen-colorstats 0.1.0)``."""
    from ezigen.plugins import describe_plugin

    if spec is None:
        return "the subject encoder"
    return f"{spec.section} {spec.type!r} ({describe_plugin(spec.plugin)})"


def is_builtin(spec: Any) -> bool:
    return spec is None or str(spec.plugin).startswith("ezigen.builtins.")


def call_plugin(spec: Any, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a component's method; a plugin's non-ezigen exception becomes one PluginError naming it."""
    if is_builtin(spec):
        return function(*args, **kwargs)
    try:
        return function(*args, **kwargs)
    except EzigenError:
        raise
    except Exception as exc:  # a plugin's bug must say whose it is, not look like ours
        raise PluginError(f"{component_label(spec)}: {what} failed: {type(exc).__name__}: {exc}") from exc


def encode_subject(encoder: Any, subject: SubjectInput, backbone: Any, spec: Any = None) -> SubjectFeatures:
    """``encoder.encode(subject, backbone)``, checked, with the defaults above filled in."""
    features = call_plugin(spec, "encode()", encoder.encode, subject, backbone)
    return complete(features, encoder, len(subject.images), spec)


def complete(features: Any, encoder: Any, images: int, spec: Any = None) -> SubjectFeatures:
    """Check ``encode``'s result against the contract and fill ``tokens_per_image`` and ``null_tokens``."""
    label = component_label(spec)
    if not isinstance(features, SubjectFeatures):
        raise PluginError(f"{label}: encode() returned {type(features).__name__}, expected ezigen.SubjectFeatures")
    expected = type(encoder).output_kind(spec.config) if spec is not None else features.kind
    if features.kind is not expected:
        raise PluginError(f"{label}: encode() returned {features.kind.value} features, but output_kind() "
                          f"says {expected.value}")
    if features.kind is FeatureKind.SPATIAL and not features.layers:
        raise PluginError(f"{label}: SPATIAL features need `layers` (block name -> (1, N*HW, C)), got none")
    if features.kind is FeatureKind.REFERENCE and not (features.reference and "latents" in features.reference):
        raise PluginError(f"{label}: REFERENCE features need `reference` with 'latents' (N, 4, h, w)")
    if features.kind is not FeatureKind.TOKENS:
        return features
    tokens = features.tokens
    shape = tuple(getattr(tokens, "shape", ()))
    if len(shape) != 3 or shape[0] < 1:
        raise PluginError(f"{label}: TOKENS features need `tokens` of shape (1, N*T, D), got "
                          f"{shape if shape else type(tokens).__name__}")
    dim = token_size(encoder, spec)
    if shape[-1] != dim:
        raise PluginError(f"{label}: encode() gave tokens of size {shape[-1]}, but output_dim is {dim}")
    per_image = features.info.get("tokens_per_image")
    if per_image is None:
        if shape[1] % max(images, 1):
            raise PluginError(f"{label}: {shape[1]} tokens do not split into {images} subject images; give "
                              "info['tokens_per_image'] or N*T tokens")
        per_image = shape[1] // max(images, 1)
    info = {**features.info, "tokens_per_image": int(per_image)}
    extras = dict(features.extras)
    if "null_tokens" not in extras:
        extras["null_tokens"] = tokens.new_zeros(1, int(per_image), shape[-1])  # (1, T, D): "no subject"
    return attrs.evolve(features, info=info, extras=extras)


def token_size(encoder: Any, spec: Any = None) -> int:
    """A TOKENS encoder's ``output_dim`` (required), as an int; a clear error when absent."""
    dim = getattr(encoder, "output_dim", None)
    if dim is None:
        raise PluginError(f"{component_label(spec)}: a TOKENS encoder must have `output_dim` (the token size D), "
                          "which token fusions size their projection by")
    return int(dim)


def encode_training_batch(encoder: Any, images: list[list[Any]], prompts: list[list[str]], slots: int,
                          backbone: Any, generator: Any, spec: Any = None) -> SubjectFeatures:
    """Training features for B samples of up to ``slots`` images each: the encoder's own
    ``encode_batch`` when it has one, else the loop over ``encode`` described above."""
    own = getattr(encoder, "encode_batch", None)
    if own is not None:
        return call_plugin(spec, "encode_batch()", own, images, prompts, slots, backbone, generator)
    return _loop_over_encode(encoder, images, prompts, slots, backbone, spec)


def _loop_over_encode(encoder: Any, images: list[list[Any]], prompts: list[list[str]], slots: int, backbone: Any,
                      spec: Any) -> SubjectFeatures:
    import torch

    samples = []
    for subject_images, subject_prompts in zip(images, prompts):
        used = list(subject_images)[:slots]
        if not used:
            raise EzigenError("training: a sample without subject images (every sample needs at least one)")
        prompt = subject_prompts[0] if subject_prompts else ""
        samples.append((len(used), encode_subject(encoder, SubjectInput.from_images(used, prompt), backbone, spec)))
    first = samples[0][1]
    if first.kind is FeatureKind.REFERENCE:
        raise PluginError(f"{component_label(spec)}: REFERENCE features cannot be batched for training "
                          "(give the encoder an encode_batch, or train with another encoder)")
    slot_mask = torch.zeros(len(samples), slots, dtype=torch.bool)
    for b, (count, _) in enumerate(samples):
        slot_mask[b, :count] = True

    def padded(parts: list[tuple[int, Any]]) -> Any:  # each (1, n*L, C) -> (B, slots*L, C)
        rows = []
        for count, tensor in parts:
            per_image = tensor.shape[1] // count
            pad = tensor.new_zeros(1, (slots - count) * per_image, tensor.shape[2])
            rows.append(torch.cat([tensor, pad], dim=1))
        return torch.cat(rows, dim=0)

    info = {**first.info, "slots": slots}
    info.pop("images", None)
    if first.kind is FeatureKind.TOKENS:
        tokens = padded([(count, f.tokens) for count, f in samples])
        return SubjectFeatures(FeatureKind.TOKENS, tokens=tokens, slot_mask=slot_mask.to(tokens.device),
                               extras={"null_tokens": first.extras["null_tokens"]}, info=info)
    layers = {name: padded([(count, f.layers[name]) for count, f in samples]) for name in first.layers}
    device = next(iter(layers.values())).device
    return SubjectFeatures(FeatureKind.SPATIAL, layers=layers, slot_mask=slot_mask.to(device), info=info)
