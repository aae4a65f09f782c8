"""Bounded recipe input: alias bombs, deep nesting, huge numbers and control characters are recipe
errors (exit 2, one message naming the place), never a hang, a MemoryError or a traceback."""

import re
import time

import pytest

from ezigen.config import structure
from ezigen.errors import RecipeError
from ezigen.recipe import yaml_loader
from ezigen.recipe.loader import load_recipe
from ezigen.recipe.yaml_loader import MAX_DEPTH, MAX_INT_DIGITS, MAX_NODES, load_yaml_text
from ezigen.training.config import TrainingConfig
from tests.conftest import run_cli

BASE = "extends: text-only-sd21-base\n"


def alias_bomb(levels=9):
    """A billion laughs: 9 levels of 9 aliases, about 4e8 values once expanded, a few hundred bytes."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("command", [["recipes", "validate", "{path}"], ["recipes", "show", "--resolved", "{path}"],
                                     ["generate", "{path}", "--tiny", "--prompt", "x", "--out", "{tmp}/out"]])
def test_an_alias_bomb_is_refused_quickly_by_every_command(tmp_path, capsys, command):
    path = write(tmp_path, alias_bomb() + BASE + "guidance:\n  negative_prompt: *l8\n")
    started = time.perf_counter()
    code, _, err = run_cli([a.format(tmp=tmp_path, path=path) for a in command], capsys)
    assert time.perf_counter() - started < 10
    assert code == 2 and f"more than {MAX_NODES} values once aliases are expanded" in err
    assert "Traceback" not in err and "r.yaml:" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, fragment", [
    ("a: " + "[" * 1000 + "]" * 1000 + "\n", f"nested deeper than {MAX_DEPTH} levels"),
    ("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 60)), f"nested deeper than {MAX_DEPTH} levels"),
    ("a: &x [1, *x]\n", "an alias refers to a node that contains it"),
    ("a: " + "9" * 5000 + "\n", f"an integer of 5000 digits is too long (at most {MAX_INT_DIGITS})"),
    ("a: 1e400\n", "beyond the range of a float"),
    ("a: b\x01c\n", "control character U+0001"),
    ("a: 1\nb: \x1b[31mred\n", "control character U+001B"),
    ("a: !!timestamp 2001-01-01\n", "is not allowed"),
    ("a: !!int abc\n", "'abc' is not an integer"),
    ("a: '" + "x" * 200_001 + "'\n", "too long"),
])
def test_hostile_text_is_one_recipe_error_with_a_line(text, fragment):
    with pytest.raises(RecipeError) as info:
        load_yaml_text(text, "r.yaml")
    assert fragment in str(info.value) and "r.yaml" in str(info.value)


def test_limits_leave_ordinary_recipes_and_aliases_alone():
    data = load_yaml_text("base: &b {steps: 3, seed: 1}\nsampling: *b\nlist: [1, 2, 3]\nbig: 18446744073709551616\n"
                          "inf: .inf\nsmall: 1e-300\n")
    assert data["sampling"] == {"steps": 3, "seed": 1} and data["big"] == 2**64 and data["inf"] == float("inf")


def test_a_huge_file_is_refused_without_being_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml_loader, "MAX_TEXT_CHARS", 1000)
    path = write(tmp_path, "a: 1\n" * 1000)
    with pytest.raises(RecipeError, match="too large for a recipe"):
        yaml_loader.load_yaml_file(path)
    with pytest.raises(RecipeError, match="too long for a recipe"):
        load_yaml_text("a: 1\n" * 1000)


@pytest.mark.parametrize("override, fragment", [
    ("training.lr=" + "1" + "0" * 99, "must be > 0.0 and <= 1.0, got 1e+99"),
    ("training.lr=" + "1" + "0" * 400, f"an integer of 401 digits is too long (at most {MAX_INT_DIGITS})"),
    ("guidance.text_scale=" + "9" * 4400, "too long"),
    ("sampling.steps=" + "1" + "0" * 60, "must be >= 1 and <= 1000, got an integer of about 61 digits"),
    ("guidance.negative_prompt=a\x07b", "control character U+0007"),
    ("guidance.negative_prompt=\x00", "NUL"),
])
def test_numbers_out_of_range_and_control_characters_in_set_exit_2(capsys, override, fragment):
    code, _, err = run_cli(["recipes", "validate", "ezigen-sd21-base", "--set", override], capsys)
    assert code == 2, err
    assert fragment in err and "Traceback" not in err


def test_an_integer_beyond_float_range_from_python_is_a_problem_not_a_crash():
    _config, problems = structure(TrainingConfig, {"lr": 10**400, "max_steps": 10**5000}, "training")
    messages = {p.path: p.message for p in problems}
    assert "within the range of a float" in messages["training.lr"]
    assert "an integer of about 5001 digits" in messages["training.max_steps"]


def test_control_characters_in_a_recipe_file_exit_2_naming_the_line(tmp_path, capsys):
    path = write(tmp_path, BASE + "description: fine\nname: bad\x0bname\n")
    for args in (["recipes", "validate", path], ["recipes", "show", "--resolved", path],
                 ["generate", path, "--tiny", "--prompt", "x", "--out", str(tmp_path / "o")]):
        code, _, err = run_cli(args, capsys)
        assert code == 2 and "control character U+000B" in err and "r.yaml:3" in err, err


def test_validate_and_show_resolved_agree(tmp_path, capsys):
    path = write(tmp_path, BASE + "anchors: &a {steps: 4}\n")
    code_v, _, err_v = run_cli(["recipes", "validate", path], capsys)
    code_s, _, err_s = run_cli(["recipes", "show", "--resolved", path], capsys)
    assert code_v == code_s == 2 and "anchors: unknown section" in err_v and "anchors: unknown section" in err_s
    code_v, out_v, _ = run_cli(["recipes", "validate", "ezigen-sd21-base"], capsys)
    code_s, out_s, _ = run_cli(["recipes", "show", "--resolved", "ezigen-sd21-base"], capsys)
    assert code_v == code_s == 0 and load_recipe("ezigen-sd21-base").to_data() == load_yaml_text(out_s)


@pytest.mark.parametrize("override", ["refinement.stop.type=fixed", "refinement.renoise=snap"])
def test_set_into_a_null_section_names_it_instead_of_turning_it_on(capsys, override):
    code, _, err = run_cli(["recipes", "validate", "ablations/ezigen-sd21-single-pass", "--set", override], capsys)
    assert code == 2 and "Traceback" not in err
    assert "refinement is null in this recipe" in err and "--set refinement={}" in err
    assert "ezigen-sd21-single-pass.yaml:6" in err  # where the recipe says null
    enabled = load_recipe("ablations/ezigen-sd21-single-pass", ["refinement={}", override])
    assert enabled.refinement is not None  # asked for explicitly: refinement on, with that key set
    with pytest.raises(RecipeError, match="subject_encoder is null in this recipe"):
        load_recipe("text-only-sd21-base", ["subject_encoder.type=clip"])


@pytest.mark.parametrize("override, fragment", [
    ("training.betas=[2,-1]", "betas must each satisfy 0 <= beta < 1, got [2.0, -1.0]"),
    ("sampling.feature_cache=/dev/null", "'/dev/null' exists and is not a folder"),
    ("extends=ezigen-sd21-base", "extends cannot be set from the command line"),
])
def test_values_that_used_to_validate_and_then_crash_or_be_ignored_are_refused(capsys, override, fragment):
    code, _, err = run_cli(["recipes", "validate", "ezigen-sd21-base", "--set", override], capsys)
    assert code == 2 and fragment in err and "Traceback" not in err


def test_tiny_never_drops_a_missing_local_weights_file(tmp_path):
    missing = tmp_path / "runs" / "adapter.safetensors"
    path = write(tmp_path, f"extends: ablations/ezigen-sd21-single-pass\nfusion:\n  weights: {missing}\n")
    with pytest.raises(RecipeError, match="fusion.weights: local file .* does not exist"):
        load_recipe(path, tiny=True)
    assert load_recipe("baselines/ipadapter-sd15", tiny=True).fusion.config.weights is None  # a hub file: dropped


@pytest.mark.parametrize("override, fragment", [
    ("fusion.layer_scales=[1,2]", "expected null, a number, or a mapping of down / mid / up"),
    ("fusion.layer_scales=abc", "expected null, a number, or a mapping of down / mid / up"),
    ("fusion.layer_scales={foo: 1}", "unknown part 'foo'"),
    ("fusion.layer_scales={up: {block_0: [1, x]}}", "up.block_0 must be a number or a list of numbers"),
    ("fusion.layer_scales={up: {zero: 1}}", "up: 'zero' is not a block name"),
    ("fusion.layer_scales={mid: [1, 2]}", "mid must be a number or a list of one number"),
    ("fusion.layer_scales=.nan", "expected null, a number"),
])
def test_layer_scales_of_the_wrong_shape_fail_validation(capsys, override, fragment):
    code, _, err = run_cli(["recipes", "validate", "baselines/clip-ipadapter-sd21-base", "--set", override], capsys)
    assert code == 2 and f"fusion.layer_scales: {fragment}" in err and "Traceback" not in err, err


@pytest.mark.parametrize("override, fragment", [
    ("fusion.layer_scales={up: {block_0: [1, 2, 3, 4, 5, 6]}}", "Expected 3 scales for up.block_0, got 6."),
    ("fusion.layer_scales={up: {block_9: 1}}", "up.block_9 is not a block with cross-attention in this UNet"),
])
def test_layer_scales_that_do_not_fit_the_unet_fail_when_built(override, fragment):
    from ezigen.errors import EzigenError
    from tests.conftest import build

    with pytest.raises(EzigenError, match=re.escape(f"fusion.layer_scales: {fragment}")):
        build("baselines/clip-ipadapter-sd21-base", override)
