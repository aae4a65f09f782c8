"""The strict recipe YAML loader: duplicate keys, YAML 1.1 traps, tags, garbage."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ezigen.errors import RecipeError
from ezigen.recipe.yaml_loader import dump_yaml, load_yaml_file, load_yaml_text


def test_duplicate_key_names_the_key_and_both_lines():
    with pytest.raises(RecipeError) as info:
        load_yaml_text("a: 1\nb:\n  c: 2\n  c: 3\n", "r.yaml")
    text = str(info.value)
    assert "duplicate key 'c'" in text and "first on line 3" in text and "r.yaml:4" in text


def test_yaml_1_1_traps_are_closed():
    data = load_yaml_text("lr: 1e-4\nflag: no\nother: off\ntime: 1:30\nday: 2024-01-01\nok: true\n")
    assert data == {"lr": 0.0001, "flag": "no", "other": "off", "time": "1:30", "day": "2024-01-01", "ok": True}
    assert isinstance(data["lr"], float)


def test_python_tags_are_rejected():
    with pytest.raises(RecipeError, match="not allowed"):
        load_yaml_text("a: !!python/object/apply:os.system ['echo hi']\n")


def test_syntax_error_has_a_line():
    with pytest.raises(RecipeError, match=r"r.yaml:2"):
        load_yaml_text("a: [1,\n", "r.yaml")


def test_binary_garbage_is_a_recipe_error(tmp_path):
    path = tmp_path / "garbage.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(RecipeError, match="not a"):
        load_yaml_file(str(path))


def test_locations_point_into_the_file():
    data = load_yaml_text("a: 1\nsection:\n  key: 2\n", "f.yaml")
    assert data.locations["a"] == "f.yaml:1"
    assert data["section"].locations["key"] == "f.yaml:3"


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**9, 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20),
)
plain = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text("abcdefgh_", min_size=1, max_size=6), inner, max_size=4)
), max_leaves=12)


@given(st.dictionaries(st.text("abcdefgh_", min_size=1, max_size=6), plain, max_size=5))
def test_dump_then_load_round_trips(data):
    assert load_yaml_text(dump_yaml(data)) == data
