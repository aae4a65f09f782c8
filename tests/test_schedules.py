"""Guidance schedules and re-noising plans: properties for any (f, T)."""

import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from ezigen.builtins.guidance import ConstantSchedule, ConstantScheduleConfig, DecoupledSchedule, DecoupledScheduleConfig
from ezigen.sampling.stages import SwitchArithmetic, restart_index, subject_off_steps

EXACT, RELEASED = SwitchArithmetic.EXACT, SwitchArithmetic.RELEASED
from ezigen.sampling.refinement import RenoiseMode, restart_plan

fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
steps = st.integers(min_value=1, max_value=200)


@given(fractions, steps)
def test_decoupled_is_off_then_on_with_floor_of_one_minus_f_times_t_off_steps(f, total):
    schedule = DecoupledSchedule(DecoupledScheduleConfig(appearance_fraction=f, switch_arithmetic=EXACT))
    active = [schedule.at(i, total).subject_active for i in range(total)]
    off = active.count(False)
    assert active == [False] * off + [True] * (total - off)  # monotone: once on, stays on
    exact = (1 - Fraction(repr(f))) * total
    assert off == min(total, math.floor(exact))
    # the released gate, in exact arithmetic: on iff (1 - f) T < i + 1
    assert all(active[i] == (exact < i + 1) for i in range(total))
    assert off == subject_off_steps(f, total, EXACT) == restart_index(f, total, EXACT)


@given(fractions, steps)
def test_released_arithmetic_is_the_released_float_gate(f, total):
    schedule = DecoupledSchedule(DecoupledScheduleConfig(appearance_fraction=f))  # released by default
    active = [schedule.at(i, total).subject_active for i in range(total)]
    assert active == [(1 - f) * total < i + 1 for i in range(total)]  # spec §4.2, in floats
    assert active.count(False) == subject_off_steps(f, total, RELEASED)
    assert restart_index(f, total, RELEASED) == int(total - f * total)  # spec §4.3: timesteps[int(T - f T):]


def test_the_two_arithmetics_by_hand():
    # fl(1 - 0.8) * 50 = 9.999999999999998 < 10: the release switches on at step 9, exactly it is step 10
    assert (subject_off_steps(0.8, 50, RELEASED), subject_off_steps(0.8, 50, EXACT)) == (9, 10)
    assert (subject_off_steps(0.9, 50, RELEASED), subject_off_steps(0.9, 50, EXACT)) == (4, 5)
    assert (subject_off_steps(0.55, 100, RELEASED), subject_off_steps(0.55, 100, EXACT)) == (44, 45)
    # the release's restart slices timesteps[int(50 - 40.0)] = [10:]: not the gate's 9
    assert restart_index(0.8, 50, RELEASED) == 10
    # fl(50 - 0.56 * 50) = 21.999999999999996 -> 21; exactly 22
    assert (restart_index(0.56, 50, RELEASED), restart_index(0.56, 50, EXACT)) == (21, 22)
    for arithmetic in (RELEASED, EXACT):  # the released settings agree either way
        assert subject_off_steps(0.4, 50, arithmetic) == restart_index(0.4, 50, arithmetic) == 30
        assert subject_off_steps(0.7, 20, arithmetic) == restart_index(0.7, 20, arithmetic) == 6


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
    start, t_noise = restart_plan(f, total, RenoiseMode.OFFICIAL, arithmetic=EXACT)
    assert start == subject_off_steps(f, total, EXACT)
    assert 0 <= t_noise <= 999 and t_noise == min(999, math.floor(Fraction(repr(f)) * 1000))
    assert restart_plan(f, total, RenoiseMode.SNAP, arithmetic=EXACT) == (start, None)
    released_start, released_t = restart_plan(f, total, RenoiseMode.OFFICIAL)
    assert (released_start, released_t) == (int(total - f * total), min(999, int(f * 1000)))


@given(st.floats(min_value=0, max_value=20, allow_nan=False), st.floats(min_value=0, max_value=5, allow_nan=False),
       steps)
def test_constant_schedule_is_constant(text_scale, subject_scale, total):
    schedule = ConstantSchedule(ConstantScheduleConfig(text_scale=text_scale, subject_scale=subject_scale))
    values = {schedule.at(i, total) for i in range(total)}
    assert len(values) == 1 and next(iter(values)).text_scale == text_scale
