"""Guidance schedules and re-noising plans: properties for any (f, T)."""

import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from ezigen.builtins.guidance import (
    ConstantSchedule, ConstantScheduleConfig, DecoupledSchedule, DecoupledScheduleConfig, subject_off_steps,
)
from ezigen.sampling.refinement import RenoiseMode, restart_plan

fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
steps = st.integers(min_value=1, max_value=200)


@given(fractions, steps)
def test_decoupled_is_off_then_on_with_floor_of_one_minus_f_times_t_off_steps(f, total):
    schedule = DecoupledSchedule(DecoupledScheduleConfig(appearance_fraction=f))
    active = [schedule.at(i, total).subject_active for i in range(total)]
    off = active.count(False)
    assert active == [False] * off + [True] * (total - off)  # monotone: once on, stays on
    exact = (1 - Fraction(repr(f))) * total
    assert off == min(total, math.floor(exact))
    # the released gate, in exact arithmetic: on iff (1 - f) T < i + 1
    assert all(active[i] == (exact < i + 1) for i in range(total))


@given(steps)
def test_decoupled_extremes(total):
    assert all(DecoupledSchedule(DecoupledScheduleConfig(appearance_fraction=1.0)).at(i, total).subject_active
               for i in range(total))
    assert not any(DecoupledSchedule(DecoupledScheduleConfig(appearance_fraction=0.0)).at(i, total).subject_active
                   for i in range(total))


def test_released_defaults():
    assert subject_off_steps(0.4, 50) == 30
    assert subject_off_steps(0.7, 20) == 6  # the SDXL script: 6 off, 14 on
    assert restart_plan(0.4, 50, RenoiseMode.OFFICIAL) == (30, 400)
    assert restart_plan(0.4, 50, RenoiseMode.SNAP) == (30, None)


@given(st.floats(min_value=0.001, max_value=1.0, allow_nan=False), steps)
def test_restart_plan_properties(f, total):
    start, t_noise = restart_plan(f, total, RenoiseMode.OFFICIAL)
    assert start == subject_off_steps(f, total)
    assert 0 <= t_noise <= 999 and t_noise == min(999, math.floor(Fraction(repr(f)) * 1000))
    assert restart_plan(f, total, RenoiseMode.SNAP) == (start, None)


@given(st.floats(min_value=0, max_value=20, allow_nan=False), st.floats(min_value=0, max_value=5, allow_nan=False),
       steps)
def test_constant_schedule_is_constant(text_scale, subject_scale, total):
    schedule = ConstantSchedule(ConstantScheduleConfig(text_scale=text_scale, subject_scale=subject_scale))
    values = {schedule.at(i, total) for i in range(total)}
    assert len(values) == 1 and next(iter(values)).text_scale == text_scale
