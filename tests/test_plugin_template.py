"""A third-party plugin, as its author makes it: copied from plugins/template by scripts/new_plugin.py,
built and installed (pip, into a temp folder put on sys.path) as a separate distribution, then used
by every part of ezigen: generate under both token fusions, train, eval with its metric and schedule,
conformance of exactly its components, and error boundaries for broken copies.

The plugin is named ``aaa`` so its components sort before every builtin: a conformance check that
borrowed "the first registered encoder" would pick it.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, run_cli

sys.path.insert(0, os.path.join(REPO, "scripts"))
from new_plugin import new_plugin  # noqa: E402

FAST = ["--tiny", "--set", "sampling.steps=2"]


def install(tmp_path_factory, name: str, edit=None) -> str:
    """Make plugin ``name`` from the template (``edit(package_dir)`` may break it), pip-install it into a
    fresh folder and return that folder (a site dir: put it on sys.path to "install" the plugin)."""
    root = tmp_path_factory.mktemp(f"plugin-{name}")
    source = new_plugin(name, str(root / "src"))
    if edit is not None:
        edit(os.path.join(source, "src", f"ezigen_{name.replace('-', '_')}"))
    site = str(root / "site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", site, source], check=True, capture_output=True)
    return site


@pytest.fixture
def using(monkeypatch):
    """Put an installed plugin's site folder on sys.path and rebuild the registries; undone afterwards."""
    from ezigen.plugins import components, use_components

    def use(site: str):
        monkeypatch.syspath_prepend(site)
        importlib.invalidate_caches()
        return components(refresh=True)

    yield use
    for module in [m for m in sys.modules if m.startswith(("ezigen_aaa", "ezigen_bbb", "ezigen_ccc"))]:
        del sys.modules[module]
    use_components(None)


@pytest.fixture(scope="module")
def aaa_site(tmp_path_factory):
    return install(tmp_path_factory, "aaa")


def test_the_template_plugin_works_in_generate_train_and_eval(aaa_site, using, tmp_path, capsys, subject_path):
    from tests.test_evaluation_support import make_dreambench
    from tests.training_data import write_dataset

    comps = using(aaa_site)
    assert comps.registry("subject_encoders").entry("aaa-grid").plugin == "aaa"
    code, out, err = run_cli(["plugins", "--json"], capsys)
    row = next(r for r in json.loads(out) if r["name"] == "aaa")
    assert row["distribution"] == "ezigen-aaa" and row["version"] == "0.1.0"

    # token-adapter-attention with the plugin's late schedule; decoupled-cross-attention with the subject always on
    for recipe, subject_steps in (("aaa/grid-token-adapter", 1), ("aaa/grid-ipadapter", 2)):
        target = tmp_path / recipe.replace("/", "-")
        code, out, err = run_cli(["generate", recipe, *FAST, "--set", "refinement=null", "-p", "a dog",
                                  "--subject", subject_path, "--subject-prompt", "a dog", "--out", str(target)], capsys)
        assert code == 0, err
        trace = json.loads((target / "trace.json").read_text())
        assert sum(step["subject"] for step in trace["steps"]) == subject_steps

    data = write_dataset(tmp_path / "data", count=4)
    run = tmp_path / "run"
    code, out, err = run_cli(["train", "aaa/grid-token-adapter", "--tiny", "--no-progress", "--data", str(data),
                              "--out", str(run), "--set", "training.max_steps=2", "--set", "training.batch_size=2",
                              "--set", "training.num_sub_img=2"], capsys)
    assert code == 0, err
    assert any(name.endswith(".safetensors") for name in os.listdir(run))

    bench = make_dreambench(tmp_path / "bench")
    code, out, err = run_cli(["eval", "aaa/grid-token-adapter", *FAST, "--set", "refinement=null", "--data", bench,
                              "--out", str(tmp_path / "eval"), "--limit", "1", "--metrics", "aaa-brightness"], capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert "aaa/grid-token-adapter" in json.dumps(results) and "aaa-brightness" in json.dumps(results)


def test_conformance_of_exactly_the_plugin_and_builtins_unchanged_by_it(aaa_site, using):
    from ezigen.testing import check_component, conformance_cases

    builtin_cases = conformance_cases(plugin="ezigen")
    comps = using(aaa_site)
    assert conformance_cases(plugin="aaa") == [("subject_encoders", "aaa-grid"), ("guidance_schedules", "aaa-late"),
                                               ("metrics", "aaa-brightness")]
    assert conformance_cases(plugin="ezigen-aaa") == conformance_cases(plugin="aaa")  # the distribution name too
    assert conformance_cases(plugin="ezigen") == builtin_cases
    assert set(builtin_cases) | set(conformance_cases(plugin="aaa")) <= set(conformance_cases())
    for kind, name in conformance_cases(plugin="aaa"):
        check_component(kind, name, comps)
    # the builtin token fusions, whose old check borrowed the first registered encoder ("aaa-grid")
    for name in ("token-adapter-attention", "decoupled-cross-attention"):
        check_component("fusions", name, comps)
    with pytest.raises(ValueError, match="no plugin named 'nope'"):
        conformance_cases(plugin="nope")


def _drop_encode(package: str) -> None:
    path = os.path.join(package, "grid_encoder.py")
    text = open(path, encoding="utf-8").read()
    text = text.replace("    def encode(self, subject", "    def not_encode(self, subject")
    open(path, "w", encoding="utf-8").write(text)


def test_an_encoder_without_encode_is_one_clear_error_and_other_commands_work(tmp_path_factory, using, capsys,
                                                                                  subject_path, tmp_path):
    using(install(tmp_path_factory, "bbb", _drop_encode))
    code, out, err = run_cli(["generate", "bbb/grid-token-adapter", *FAST, "-p", "a dog", "--subject", subject_path,
                              "--out", str(tmp_path / "g")], capsys)
    assert code == 2 and "Traceback" not in err
    assert "plugin 'bbb', distribution ezigen-bbb 0.1.0" in err and "encode" in err
    assert err.count("bbb-grid") == 1 or "bbb-grid" in err
    code, out, err = run_cli(["recipes", "list"], capsys)
    assert code == 0 and "bbb/grid-token-adapter" in out and "ezigen-sd21-base" in out
    from ezigen.testing import check_component, conformance_cases

    assert ("subject_encoders", "bbb-grid") in conformance_cases(plugin="bbb")  # fails, does not vanish
    with pytest.raises(AssertionError, match="lacks the required encode"):
        check_component("subject_encoders", "bbb-grid")
    code, out, err = run_cli(["plugins"], capsys)
    assert code == 0 and "broken" in out and "bbb-grid" in out and "encode" in out


def _fail_import(package: str) -> None:
    with open(os.path.join(package, "__init__.py"), "a", encoding="utf-8") as fh:
        fh.write("\nraise ImportError('needs a package that is not installed')\n")


def test_a_plugin_that_fails_to_import_is_listed_as_broken(tmp_path_factory, using, capsys):
    using(install(tmp_path_factory, "ccc", _fail_import))
    code, out, err = run_cli(["recipes", "list"], capsys)
    assert code == 0 and "ezigen-sd21-base" in out
    code, out, err = run_cli(["plugins", "--json"], capsys)
    row = next(r for r in json.loads(out) if r["name"] == "ccc")
    assert row["broken"] and "needs a package that is not installed" in row["broken"]
    code, out, err = run_cli(["recipes", "validate", "ezigen-sd21-base", "--set", "guidance.type=ccc-late"], capsys)
    assert code == 2 and "ccc" in err and "failed" in err
