"""``myplugin-late``: a guidance schedule, the documented minimum (docs/plugins.md#guidance-schedules).

    s(i) = 0 for i < floor(start * T), else subject_scale;   g_t = text_scale at every step
"""

from __future__ import annotations

import math

import attrs

import ezigen


@attrs.frozen
class LateScheduleConfig(ezigen.GuidanceConfig):
    start: float = ezigen.setting(0.5, doc="Fraction of the steps before the subject comes in.",
                                  validator=ezigen.in_range(0.0, 1.0))
    subject_scale: float = ezigen.setting(1.0, doc="Subject strength once on.", validator=ezigen.in_range(0.0, 10.0))


class LateSchedule:
    config_class = LateScheduleConfig

    def __init__(self, config: LateScheduleConfig):
        self.config = config

    @classmethod
    def from_config(cls, config: LateScheduleConfig) -> LateSchedule:
        return cls(config)

    def at(self, step: int, num_steps: int) -> ezigen.StepGuidance:
        on = step >= math.floor(self.config.start * num_steps)
        return ezigen.StepGuidance(text_scale=self.config.text_scale,
                                   subject_scale=self.config.subject_scale if on else 0.0)
