"""ezigen-linear-ramp: a guidance schedule that ramps the subject path in linearly.

    s(i) = start_scale                                   for i <  i0 = floor(start * T)
    s(i) = start_scale + (end_scale - start_scale) * (i - i0) / max(1, i1 - i0)   for i0 <= i < i1
    s(i) = end_scale                                     for i >= i1 = floor(end * T)

With start = end = 1 - f it is EZIGen's decoupled schedule with fraction f.
"""

from __future__ import annotations

import math
import os

import attrs

import ezigen
from ezigen import GuidanceConfig, StepGuidance, in_range, setting

__version__ = "0.1.0"


@attrs.frozen
class LinearRampConfig(GuidanceConfig):
    start: float = setting(0.3, doc="Fraction of the steps where the ramp starts.", validator=in_range(0.0, 1.0))
    end: float = setting(0.7, doc="Fraction of the steps where the ramp reaches end_scale.", validator=in_range(0.0, 1.0))
    start_scale: float = setting(0.0, doc="Subject scale before the ramp.", validator=in_range(0.0, 10.0))
    end_scale: float = setting(1.0, doc="Subject scale after the ramp.", validator=in_range(0.0, 10.0))

    def __attrs_post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"start ({self.start}) must be <= end ({self.end})")


class LinearRampSchedule:
    config_class = LinearRampConfig

    def __init__(self, config: LinearRampConfig):
        self.config = config

    @classmethod
    def from_config(cls, config: LinearRampConfig) -> LinearRampSchedule:
        return cls(config)

    def at(self, step: int, num_steps: int) -> StepGuidance:
        c = self.config
        first, last = math.floor(c.start * num_steps), math.floor(c.end * num_steps)
        if step < first:
            scale = c.start_scale
        elif step >= last:
            scale = c.end_scale
        else:
            scale = c.start_scale + (c.end_scale - c.start_scale) * (step - first) / max(1, last - first)
        return StepGuidance(text_scale=c.text_scale, subject_scale=scale)


@ezigen.hookimpl
def ezigen_register_guidance_schedules(register):
    register("linear-ramp", LinearRampSchedule)


@ezigen.hookimpl
def ezigen_register_recipe_dirs(register):
    register(os.path.join(os.path.dirname(__file__), "recipes"))
