"""Recipes: shipped ones validate; extends, overrides, --tiny; every problem is reported with its path."""


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ezigen
from ezigen.errors import RecipeError, UnknownNameError
from ezigen.plugins import components
from ezigen.recipe.loader import load_recipe, recipe_index
from ezigen.recipe.yaml_loader import dump_yaml

SHIPPED = list(recipe_index(components()))
CONTRACT_KEYS = [
    "backbone.pretrained", "backbone.scheduler", "backbone.resolution", "backbone.dtype", "sampling.steps",
    "sampling.seed", "guidance.type", "guidance.text_scale", "guidance.negative_prompt",
]


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_recipe_validates_and_round_trips(name, tmp_path):
    recipe = load_recipe(name)
    resolved = recipe.to_data()
    again = load_recipe(write(tmp_path, dump_yaml(resolved)))
    assert again.to_data() == resolved


@pytest.mark.parametrize("key", CONTRACT_KEYS)
def test_contract_keys_exist_in_the_resolved_recipe(key):
    data = load_recipe("text-only-sd21-base").to_data()
    section, field = key.split(".")
    assert field in data[section]


def test_ezigen_contract_keys():
    data = load_recipe("ezigen-sd21-base").to_data()
    for key in ("appearance_fraction",):
        assert key in data["guidance"]
    for key in ("pretrained",):
        assert key in data["subject_encoder"]
    for key in ("weights", "scale"):
        assert key in data["fusion"]
    assert data["refinement"]["stop"]["type"] == "clip-similarity"


def test_unknown_recipe_name_suggests():
    with pytest.raises(UnknownNameError, match="did you mean 'ezigen-sd21-base'"):
        load_recipe("ezigen-sd21-bse")


def test_every_problem_is_listed_with_its_path(tmp_path):
    path = write(tmp_path, """
recipe: 1
backbone:
  pretrained: tiny:sd21
  resoluton: 64
  dtype: float64
sampling:
  steps: 0
  seed: "3"
guidance:
  type: decoupld
""")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    text = str(info.value)
    assert "backbone.resoluton: unknown key (did you mean 'resolution'?)" in text
    assert "backbone.dtype: expected one of" in text
    assert "sampling.steps: must be >= 1 and <= 1000, got 0" in text
    assert "sampling.seed: expected an integer, got string '3'" in text
    assert "guidance.type: unknown guidance schedule 'decoupld'" in text and "did you mean 'decoupled'" in text
    assert len(info.value.problems) == 5
    assert f"{path}:5" in text  # the typo'd key's line


def test_bool_trap_is_reported_not_swallowed(tmp_path):
    path = write(tmp_path, "backbone: {pretrained: tiny:sd21, upcast_vae: no}\n")
    with pytest.raises(RecipeError, match="backbone.upcast_vae: expected a boolean"):
        load_recipe(path)


def test_exponent_floats_are_numbers(tmp_path):
    path = write(tmp_path, "backbone: {pretrained: tiny:sd21}\ntraining: {lr: 1e-4}\n")
    assert load_recipe(path).training.lr == pytest.approx(1e-4)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("just a string\n", "top level must be a mapping"),
    ("backbone: {pretrained: tiny:sd21}\nbackbone: {}\n", "duplicate key 'backbone'"),
])
def test_malformed_files(tmp_path, text, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(write(tmp_path, text))


def test_extends_merges_deeply_and_child_wins(tmp_path):
    write(tmp_path, "name: parent\nbackbone: {pretrained: tiny:sd21, scheduler: ddim}\nsampling: {steps: 10, seed: 1}\n",
          "parent.yaml")
    child = write(tmp_path, "extends: parent.yaml\nsampling: {steps: 20}\n", "child.yaml")
    recipe = load_recipe(child)
    assert recipe.sampling.steps == 20 and recipe.sampling.seed == 1
    assert recipe.backbone.config.scheduler.value == "ddim"
    assert recipe.name == "child"  # names are not inherited


def test_extends_with_a_different_type_replaces_the_section(tmp_path):
    write(tmp_path, "backbone: {pretrained: tiny:sd21}\nguidance: {type: decoupled, appearance_fraction: 0.5}\n",
          "parent.yaml")
    child = write(tmp_path, "extends: parent.yaml\nguidance: {type: constant}\n", "child.yaml")
    assert load_recipe(child).guidance.type == "constant"


def test_circular_extends(tmp_path):
    write(tmp_path, "extends: b.yaml\nbackbone: {pretrained: tiny:sd21}\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(RecipeError, match="circular extends"):
        load_recipe(str(tmp_path / "a.yaml"))


def test_overrides_beat_the_file_and_use_the_same_loader():
    recipe = load_recipe("ezigen-sd21-base", ["sampling.steps=7", "training.lr=3e-4", "refinement=null",
                                              "guidance.negative_prompt=null"])
    assert recipe.sampling.steps == 7
    assert recipe.training.lr == pytest.approx(3e-4)
    assert recipe.refinement is None
    assert recipe.guidance.config.negative_prompt is None


@pytest.mark.parametrize("expression, message", [
    ("sampling.steps", "is not KEY=VALUE"),
    ("=3", "not a dotted key"),
    ("sampling..steps=3", "not a dotted key"),
    ("sampling.steps=[1,", "bad --set value"),
    ("sampling.steps=abc", "sampling.steps: expected an integer"),
    ("sampling.stepz=3", "did you mean 'steps'"),
])
def test_bad_overrides(expression, message):
    with pytest.raises(RecipeError, match=message.replace("[", r"\[")):
        load_recipe("text-only-sd21-base", [expression])


def test_tiny_replaces_hub_ids_and_leaves_local_paths(tmp_path):
    recipe = load_recipe("ezigen-sd21-base", tiny=True)
    assert recipe.backbone.config.pretrained == "tiny:sd21"
    assert recipe.backbone.config.resolution == 64
    assert recipe.refinement.stop.config.pretrained == "tiny:clip"
    assert load_recipe("text-only-sdxl-base", tiny=True).backbone.config.pretrained == "tiny:sdxl"
    local = tmp_path / "model"
    local.mkdir()
    kept = load_recipe("text-only-sd21-base", [f"backbone.pretrained={local}", "backbone.resolution=128"], tiny=True)
    assert kept.backbone.config.pretrained == str(local)
    assert kept.backbone.config.resolution == 128


def test_text_only_recipe_cannot_have_refinement(tmp_path):
    with pytest.raises(RecipeError, match="refinement: iterative appearance transfer needs a subject path"):
        load_recipe("text-only-sd21-base", ["refinement={}", "refinement.renoise=snap"])


def test_public_api_loads_by_name():
    assert ezigen.load_recipe("text-only-sd21-base").name == "text-only-sd21-base"


# --- mutation fuzzing of shipped recipes -------------------------------------------------------

def _paths(data, prefix=()):
    for key, value in data.items():
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from _paths(value, prefix + (key,))


def _mutate(data, path, action, rename_to):
    import copy

    data = copy.deepcopy(data)
    node = data
    for part in path[:-1]:
        node = node[part]
    key = path[-1]
    if action == "delete":
        del node[key]
    elif action == "rename":
        node[rename_to] = node.pop(key)
    else:  # retype
        value = node[key]
        node[key] = {"x": 1} if not isinstance(value, dict) else ["a list"]
    return data


@pytest.mark.parametrize("name", [n for n in SHIPPED if not n.startswith("ramp/")])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_recipes_validate_or_name_the_key(name, data, tmp_path):
    original = load_recipe(name).to_data()
    paths = [p for p in _paths(original) if p[0] not in ("name", "description", "recipe")]
    path = data.draw(st.sampled_from(paths))
    action = data.draw(st.sampled_from(["delete", "rename", "retype"]))
    rename_to = data.draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
    mutated = _mutate(original, path, action, rename_to)
    file = write(tmp_path, dump_yaml(mutated), "mutated.yaml")
    try:
        load_recipe(file)
    except RecipeError as exc:
        named = {p.path for p in exc.problems}
        dotted = ".".join(path)
        parent = ".".join(path[:-1])
        renamed = ".".join(path[:-1] + (rename_to,))
        assert any(n in (dotted, renamed, parent) or n.startswith(dotted + ".") or dotted.startswith(n + ".")
                   or n in ("fusion", "subject_encoder") for n in named) or (
            path[-1] == "type" and f"no {parent}.type given" in str(exc)), (action, dotted, str(exc))
