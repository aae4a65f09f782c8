"""Builtin guidance schedules: ``constant`` and EZIGen's ``decoupled`` (spec §4.2).

A schedule is a pure function of the step: ``at(step, num_steps) -> StepGuidance``. Its config
also carries the text guidance settings every schedule shares (``text_scale``,
``negative_prompt``, ``subject_guidance``), so plugin schedules inherit them by subclassing
:class:`GuidanceConfig`.
"""

from __future__ import annotations

import attrs

from ezigen.config import in_range, setting
from ezigen.markers import hookimpl
from ezigen.sampling.stages import SwitchArithmetic, subject_off_steps
from ezigen.values import StepGuidance

RELEASED_NEGATIVE_PROMPT = "dark, blur, defoucus, lack of content, dizzy."  # sic, as released (spec §4.1)


@attrs.frozen
class GuidanceConfig:
    """Settings every guidance schedule has."""

    text_scale: float = setting(
        7.5, doc="Classifier-free text guidance g_t (<= 1 runs the conditional branch alone). Typical 5-10.",
        validator=in_range(0.0, 100.0),
    )
    negative_prompt: str | None = setting(
        None, doc="Prompt of the unconditional branch; null = the pipeline default (empty for SD2.1, zeros for SDXL).",
    )
    subject_guidance: float | None = setting(
        None,
        doc="Extension, off (null) by default: a separate subject guidance scale g_s with a third, subject-free "
        "branch: eps = eps(∅,-) + g_s (eps(∅,S) - eps(∅,-)) + g_t (eps(c,S) - eps(∅,S)).",
        validator=in_range(0.0, 100.0),
    )


@attrs.frozen
class ConstantScheduleConfig(GuidanceConfig):
    subject_scale: float = setting(
        1.0, doc="Subject path strength at every step (0 = off).", validator=in_range(0.0, 10.0)
    )


class ConstantSchedule:
    """The same text scale and subject scale at every step."""

    config_class = ConstantScheduleConfig

    def __init__(self, config: ConstantScheduleConfig):
        self.config = config

    @classmethod
    def from_config(cls, config: ConstantScheduleConfig) -> ConstantSchedule:
        return cls(config)

    def at(self, step: int, num_steps: int) -> StepGuidance:
        return StepGuidance(self.config.text_scale, self.config.subject_scale)


@attrs.frozen
class DecoupledScheduleConfig(GuidanceConfig):
    appearance_fraction: float = setting(
        0.4, doc="f: the last f of the steps run with the subject on (the released split_ratio; 0.4 for SD2.1, "
        "0.7 in the authors' SDXL script).", validator=in_range(0.0, 1.0),
    )
    subject_scale: float = setting(1.0, doc="Subject path strength on the appearance steps.", validator=in_range(0.0, 10.0))
    switch_arithmetic: SwitchArithmetic = setting(
        SwitchArithmetic.RELEASED, doc="released: the gate (1 - f) * T < i + 1 and the refinement restart "
        "int(T - f * T) in floats, as released (f = 0.8, T = 50: 9 text-only steps); exact: both as floor((1 - f) T) "
        "on the decimal f (10). They agree for the released 0.4/50 and 0.7/20.",
    )


class DecoupledSchedule:
    """EZIGen's decoupled guidance: text alone for the first (1 - f) T steps, the subject on after.

    Step i (0-based) has the subject on iff (1 - f) * T < i + 1 (spec §4.2), evaluated as
    ``switch_arithmetic`` says; with f = 0.4 and T = 50, steps 0-29 are off (t = 981 ... 401)
    and 30-49 on (t = 381 ... 1) either way.
    """

    config_class = DecoupledScheduleConfig

    def __init__(self, config: DecoupledScheduleConfig):
        self.config = config

    @classmethod
    def from_config(cls, config: DecoupledScheduleConfig) -> DecoupledSchedule:
        return cls(config)

    def at(self, step: int, num_steps: int) -> StepGuidance:
        config = self.config
        if config.switch_arithmetic is SwitchArithmetic.RELEASED:
            on = (1 - float(config.appearance_fraction)) * num_steps < step + 1  # the released test, literally
        else:
            on = step >= subject_off_steps(config.appearance_fraction, num_steps, config.switch_arithmetic)
        return StepGuidance(config.text_scale, config.subject_scale if on else 0.0)


@hookimpl
def ezigen_register_guidance_schedules(register):
    register("constant", ConstantSchedule)
    register("decoupled", DecoupledSchedule)
