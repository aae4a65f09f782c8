"""The plugin's own tests: its schedule's behaviour, its registration, and ezigen's conformance checks."""

import pytest

import ezigen
import ezigen.errors
from ezigen.testing import check_component, conformance_cases
from ezigen_linear_ramp import LinearRampConfig, LinearRampSchedule


def test_ramp_values():
    schedule = LinearRampSchedule(LinearRampConfig(start=0.2, end=0.6))
    scales = [schedule.at(i, 10).subject_scale for i in range(10)]
    assert scales[:2] == [0.0, 0.0] and scales[6:] == [1.0] * 4
    assert scales[2:6] == pytest.approx([0.0, 0.25, 0.5, 0.75])


def test_equal_start_and_end_is_the_decoupled_switch():
    from ezigen.builtins.guidance import DecoupledSchedule, DecoupledScheduleConfig

    ramp = LinearRampSchedule(LinearRampConfig(start=0.6, end=0.6))
    decoupled = DecoupledSchedule(DecoupledScheduleConfig(appearance_fraction=0.4))
    assert [ramp.at(i, 50).subject_active for i in range(50)] == [decoupled.at(i, 50).subject_active for i in range(50)]


def test_registered_through_the_entry_point_and_conforms():
    from ezigen.plugins import components

    entry = components().registry("guidance_schedules").entry("linear-ramp")
    assert entry.plugin == "linear-ramp"
    assert conformance_cases(plugin="linear-ramp") == [("guidance_schedules", "linear-ramp")]
    check_component("guidance_schedules", "linear-ramp")


def test_start_after_end_is_a_recipe_error():
    with pytest.raises(ezigen.errors.RecipeError, match="start"):
        ezigen.load_recipe("ramp/ezigen-sd21-linear-ramp", ["guidance.start=0.9", "guidance.end=0.1"])
