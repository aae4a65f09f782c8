"""Fuzzing recipe text and `--set` values: every input gives success or exit 2 with one message,
never a traceback (an uncaught exception fails the test) and never a hang (the loader's limits)."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli

FUZZ = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = ["sampling.steps", "sampling.seed", "sampling.feature_cache", "guidance.text_scale", "guidance.negative_prompt",
        "guidance.type", "training.lr", "training.betas", "training.max_steps", "refinement", "refinement.renoise",
        "refinement.stop.type", "fusion.scale", "fusion.weights", "subject_encoder.type", "backbone.resolution",
        "name", "description", "requires", "extends"]

numbers = st.one_of(st.integers(-10**120, 10**120).map(str), st.floats().map(repr),
                    st.sampled_from(["1e400", "-1e400", ".inf", ".nan", "0x" + "f" * 120, "9" * 4400, "1_000"]))
nasty_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
yamlish = st.one_of(
    numbers, nasty_text,
    st.sampled_from(["null", "~", "[]", "{}", "[1, 2]", "[2, -1]", "{a: 1}", "&a [*a]", "*nowhere", "!!binary aGk=",
                     "!!python/object:os.system", "'unterminated", "[" * 200 + "]" * 200, "- - - -", "? x", "|\n  x",
                     "true", "no", "1:30", "2024-01-01", "\x00", "\x1b[31m", "\ufeffbom", "é" * 50]),
)


def _deep(depth):
    return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v\n"


section_text = st.one_of(
    st.builds(lambda key, value: f"{key.split('.')[0]}:\n  {key.split('.')[-1]}: {value}\n",
              st.sampled_from(KEYS), yamlish),
    st.builds(lambda key, value: f"{key}: {value}\n", st.sampled_from(["sampling", "refinement", "fusion", "name",
                                                                       "training", "guidance"]), yamlish),
    st.integers(1, 80).map(_deep),
    st.just("a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n"),
    st.text(alphabet=string.printable + "\x01\x7f\u2028", max_size=60),
)


def check(code, err):
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("error: ") and err.strip()


@FUZZ
@given(parts=st.lists(section_text, min_size=1, max_size=3),
       parent=st.sampled_from(["text-only-sd21-base", "ezigen-sd21-base", "ablations/ezigen-sd21-single-pass"]))
def test_recipe_text(tmp_path, capsys, parts, parent):
    path = tmp_path / "fuzz.yaml"
    path.write_text(f"extends: {parent}\n" + "".join(parts), encoding="utf-8", errors="surrogatepass")
    code, _, err = run_cli(["recipes", "validate", str(path)], capsys)
    check(code, err)
    shown, _, err = run_cli(["recipes", "show", "--resolved", str(path)], capsys)
    check(shown, err)
    assert shown == 0 or code == 2  # whatever validates also resolves


@FUZZ
@given(sets=st.lists(st.tuples(st.sampled_from(KEYS), yamlish), min_size=1, max_size=3),
       recipe=st.sampled_from(["text-only-sd21-base", "ezigen-sd21-base", "ablations/ezigen-sd21-single-pass"]))
def test_set_values(capsys, sets, recipe):
    args = [a for key, value in sets for a in ("--set", f"{key}={value}")]
    code, _, err = run_cli(["recipes", "validate", recipe, *args], capsys)
    check(code, err)
    shown, _, err = run_cli(["recipes", "show", "--resolved", recipe, *args], capsys)
    check(shown, err)
    assert shown == 0 or code == 2
