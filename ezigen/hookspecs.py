"""The plugin contract: every hook a plugin can implement.

Plugins are modules or objects with functions decorated by :data:`ezigen.hookimpl`, found
through the ``ezigen`` entry-point group (or registered directly). The builtins are registered
through exactly these hooks.

Registration hooks receive a ``register`` callback; call it once per component::

    @ezigen.hookimpl
    def ezigen_register_guidance_schedules(register):
        register("linear-ramp", LinearRampSchedule)

A registered component is a class with a ``config_class`` attribute (a frozen attrs class whose
fields are its recipe keys) and a ``from_config(config)`` classmethod; see
``ezigen.interfaces`` for what each kind must provide, and ``ezigen.testing`` for the
conformance checks that every registered component passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("ezigen")

Register = Callable[[str, Any], None]


@hookspec
def ezigen_register_backbones(register: Register) -> None:
    """Register backbone types (``backbone.type``), e.g. ``register("stable-diffusion", StableDiffusionBackbone)``."""


@hookspec
def ezigen_register_subject_encoders(register: Register) -> None:
    """Register subject encoders (``subject_encoder.type``): subject image(s) + class prompt -> SubjectFeatures."""


@hookspec
def ezigen_register_fusions(register: Register) -> None:
    """Register fusions (``fusion.type``): trainable modules that attach to a UNet and read SubjectFeatures."""


@hookspec
def ezigen_register_guidance_schedules(register: Register) -> None:
    """Register guidance schedules (``guidance.type``): ``at(step, num_steps) -> StepGuidance``."""


@hookspec
def ezigen_register_stop_criteria(register: Register) -> None:
    """Register stop rules for iterative appearance transfer (``refinement.stop.type``)."""


@hookspec
def ezigen_register_metrics(register: Register) -> None:
    """Register evaluation metrics (``ezigen eval --metrics``)."""


@hookspec
def ezigen_register_recipe_dirs(register: Callable[[str], None]) -> None:
    """Register folders of YAML recipes: ``register(path)``. Recipes are named by their path
    relative to the folder, without ``.yaml`` (``baselines/clip-ipadapter-sd21-base``)."""


@hookspec
def ezigen_register_commands(cli: Any) -> None:
    """Add click commands to the ``ezigen`` command group: ``cli.add_command(my_command)``."""


@hookspec(firstresult=True)
def ezigen_resolve_weights(uri: str) -> str | None:
    """Resolve a weights URI (``fusion.weights``) to a local file path, or return None to pass.

    The first plugin that returns a path wins. The builtin resolver handles local paths and
    ``hf://OWNER/REPO[@REVISION]/FILE`` (through huggingface_hub, which respects ``HF_HUB_OFFLINE``).
    """
