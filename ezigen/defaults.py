"""The library's defaults for the optional members of each contract (``ezigen.interfaces.CONTRACTS``).

The core reads an optional member only through these functions, so what a plugin may leave
out, and what happens then, is written down once (and shown in docs/plugins.md).
"""

from __future__ import annotations

from typing import Any

DEFAULT_TEXT_SCALE = 7.5
DEFAULT_APPEARANCE_FRACTION = 0.4


# --- guidance schedule configs (ezigen.GuidanceConfig's fields) -------------------------------------

def text_scale(guidance_config: Any) -> float:
    """``config.text_scale``: the CFG scale g_t used where a step's own value does not apply (refinement)."""
    return float(getattr(guidance_config, "text_scale", DEFAULT_TEXT_SCALE))


def negative_prompt(guidance_config: Any) -> str | None:
    """``config.negative_prompt``: None = the backbone's default unconditional prompt."""
    return getattr(guidance_config, "negative_prompt", None)


def subject_guidance(guidance_config: Any) -> float | None:
    """``config.subject_guidance``: None = no separate subject guidance branch."""
    return getattr(guidance_config, "subject_guidance", None)


def appearance_fraction(guidance_config: Any) -> float:
    """``config.appearance_fraction``: the late fraction f that refinement restarts from (0.4 as released)."""
    value = getattr(guidance_config, "appearance_fraction", None)
    return DEFAULT_APPEARANCE_FRACTION if value is None else float(value)


def switch_arithmetic(guidance_config: Any) -> Any:
    """``config.switch_arithmetic``: how refinement computes its restart from f and T (released floats by default)."""
    from ezigen.sampling.stages import SwitchArithmetic

    return getattr(guidance_config, "switch_arithmetic", SwitchArithmetic.RELEASED)


def subject_image_loader(encoder: Any) -> Any:
    """``load_image(source, what)`` (encoder): how the encoder wants subject files decoded (the ``unet``
    encoder's ``preprocess: stretch`` decodes as released); ``ezigen.images.load_image`` otherwise."""
    from ezigen.images import load_image

    return getattr(encoder, "load_image", None) or load_image


# --- fusions and attachments ----------------------------------------------------------------------

def fusion_scale(fusion_config: Any) -> float:
    """``config.scale``: the fusion's strength s (1.0 when the config has none)."""
    return float(getattr(fusion_config, "scale", 1.0))


def fusion_weights(fusion_config: Any) -> str | None:
    """``config.weights``: a weights URI to load after building (None: the fusion's initial weights)."""
    return getattr(fusion_config, "weights", None)


def prepare_step(attachment: Any, timestep: Any, batch: int, **context: Any) -> int:
    """``Attachment.prepare_step(timestep, batch, **context)``: per-step work before a UNet call with the
    subject on (reference fusions run their reference pass here); returns the extra UNet rows it
    evaluated. ``context`` (``embeds``: the step's prompt embeddings, ``generator``, ``branches``: the
    CFG branch count) is passed as the keywords the method accepts; 0 without the method."""
    import inspect

    prepare = getattr(attachment, "prepare_step", None)
    if prepare is None:
        return 0
    params = inspect.signature(prepare).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        context = {key: value for key, value in context.items() if key in params}
    return int(prepare(timestep, batch, **context) or 0)


def extra_unet_rows(fusion_class: Any, config: Any, subject_images: int, rows: int) -> int:
    """``extra_unet_rows(config, N, rows)`` (fusion classmethod): UNet rows a fusion adds on a subject-on
    step of ``rows`` CFG branches (reference attention's reference pass); 0 when absent. Read by the cost model."""
    method = getattr(fusion_class, "extra_unet_rows", None)
    return int(method(config, subject_images, rows)) if method is not None else 0


def encoder_unet_evals(encoder_class: Any, config: Any, subject_images: int) -> int:
    """``unet_evals(config, N)`` (encoder classmethod): UNet evaluations of one subject encoding (the
    frozen-UNet encoder: N); 0 when absent. Read by the cost model."""
    method = getattr(encoder_class, "unet_evals", None)
    return int(method(config, subject_images)) if method is not None else 0


# --- stop rules, metrics, any model-holding component ---------------------------------------------------

def needs_images(stop: Any) -> bool:
    """``needs_images``: whether the stop rule reads decoded images (True when not said: always correct)."""
    return bool(getattr(stop, "needs_images", True))


def uses_references(metric_class: Any) -> bool:
    """``uses_references``: whether a metric reads the subject's real images (False when not said)."""
    return bool(getattr(metric_class, "uses_references", False))


def describe(metric: Any) -> dict[str, Any]:
    """``describe()``: what the report says the metric measured with; {} when absent or not a mapping."""
    method = getattr(metric, "describe", None)
    described = method() if callable(method) else None
    return dict(described) if isinstance(described, dict) else {}


def move(component: Any, device: Any = None, dtype: Any = None) -> Any:
    """``to(device[, dtype])``: move a component's models; components without ``to`` stay where they are."""
    to = getattr(component, "to", None)
    if to is None:
        return component
    return to(device, dtype) if dtype is not None else to(device)


def set_mask_padding(attachment: Any, mask: bool) -> None:
    """``Attachment.state.mask_padding``: training asks the fusion to mask padded subject slots out of
    attention (``training.mask_padding``); a fusion without that state ignores it."""
    state = getattr(attachment, "state", None)
    if state is not None and hasattr(state, "mask_padding"):
        state.mask_padding = mask
