"""``ezigen toy table`` v2: methods by name, images reused on a rerun, claims, training curves, plots."""

import json
import os
import shutil

import pytest

from tests.conftest import run_cli

from ezigen.toy.claims import CLAIMS, Claim, evaluate_claims, verdict
from ezigen.toy.metrics import SceneScore, checker_artefact
from ezigen.toy.methods import METHODS, select_methods
from ezigen.toy.world import render_scene

SHIPPED = os.path.isfile(os.path.join(os.path.dirname(__file__), "..", "ezigen", "assets", "toy",
                                      "ezigen-adapter.safetensors"))
needs_shipped = pytest.mark.skipif(not SHIPPED, reason="toy weights not built (scripts/toy-chain.sh)")

BEATS = Claim("a beats b", "paper", "a", "b", "fidelity")
WITHIN = Claim("a near b", "ezigen", "a", "b", "fidelity", within=0.03)


@pytest.mark.parametrize("difference, se, expected", [
    (0.31, 0.10, "established"), (0.29, 0.10, "pointing the same way (within noise)"),
    (0.0, 0.10, "not shown (the other way, within noise)"), (-0.19, 0.10, "not shown (the other way, within noise)"),
    (-0.20, 0.10, "contradicted"),
])
def test_a_directional_claim_needs_three_standard_errors(difference, se, expected):
    assert verdict(BEATS, difference, se) == expected


@pytest.mark.parametrize("difference, se, expected", [
    (0.01, 0.005, "established"), (0.01, 0.0099, "established"), (0.01, 0.01, "within noise"),
    (0.05, 0.01, "contradicted"), (-0.05, 0.01, "contradicted"), (-0.04, 0.01, "within noise"),
])
def test_a_within_claim_needs_its_95_percent_interval_inside_the_margin(difference, se, expected):
    assert verdict(WITHIN, difference, se) == expected


def _scores(fidelities, control=0.5, alignment=1.0):
    return [SceneScore(alignment == 1.0, alignment == 1.0, f, control, 10) for f in fidelities]


def test_claims_pair_samples_and_say_what_is_not_measured():
    scores = {"ezigen-refined": _scores([0.8, 0.9, 0.85, 0.8]), "text-only": _scores([0.7, 0.8, 0.75, 0.7])}
    lines = {line["claim"]: line for line in evaluate_claims(scores)}
    assert len(lines) == len(CLAIMS)
    zero_shot = lines[CLAIMS[0].text]
    # every pair differs by exactly 0.1: SE 0 when paired (unpaired, the spread would be 0.05)
    assert zero_shot["difference"] == pytest.approx(0.1) and zero_shot["se"] == pytest.approx(0.0, abs=1e-12)
    assert zero_shot["verdict"] == "established" and zero_shot["n"] == 4
    single = lines["Iterative appearance transfer improves fidelity over a single pass"]
    assert single["verdict"] == "not measured" and "ezigen-single-pass" in single["needs"]


def test_methods_are_selected_by_name_with_text_only_always_in():
    assert [m.name for m in select_methods(["no-decoupling"])] == ["text-only", "no-decoupling"]
    assert [m.name for m in select_methods(None)] == list(METHODS)
    with pytest.raises(ValueError, match=r"unknown toy method\(s\) 'nope'; expected some of: text-only"):
        select_methods(["nope"])


def test_the_checker_artefact_is_zero_on_a_true_render_and_sees_a_sub_pixel_checker():
    import numpy as np
    from PIL import Image

    from ezigen.toy.table import heldout_scenes

    scene, _ = heldout_scenes(1, 0)[0]
    truth = render_scene(scene)
    assert checker_artefact(truth) == 0.0
    pixels = np.asarray(truth, dtype=np.int16)
    sign = np.indices((32, 32)).sum(axis=0) % 2 * 2 - 1  # +1 / -1 in a 1-pixel checker
    checkered = Image.fromarray(np.clip(pixels + 10 * sign[..., None], 0, 255).astype(np.uint8))
    assert checker_artefact(checkered) == pytest.approx(10.0, abs=0.5)


def test_an_image_store_reuses_images_only_for_the_same_key(tmp_path):
    from PIL import Image

    from ezigen.toy.image_store import ImageStore

    store = ImageStore(str(tmp_path / "m"), {"recipe": 1})
    assert store.load(0) is None
    store.save(0, Image.new("RGB", (32, 32), "red"), {"seconds": 1.5, "unet_evals": 100})
    image, record = ImageStore(str(tmp_path / "m"), {"recipe": 1}).load(0)
    assert image.getpixel((0, 0)) == (255, 0, 0) and record == {"seconds": 1.5, "unet_evals": 100}
    assert ImageStore(str(tmp_path / "m"), {"recipe": 2}).load(0) is None  # another recipe: stale, removed


def _table(args, capsys):
    """(exit status, stdout + stderr, stderr) of ``ezigen toy table ARGS``."""
    code, out, err = run_cli(["toy", "table", *args], capsys)
    return code, out + err, err


@pytest.mark.parametrize("args, message", [
    (["--methods", "text-only,nope"], "unknown toy method(s) 'nope'"),
    (["--curve", "ezigen-single-pass"], "expected METHOD=RUN"),
    (["--curve", "text-only=somewhere"], "expected METHOD=RUN"),
    (["--curve", "ezigen-single-pass=/no/such/run"], "is not a folder"),
])
def test_bad_table_options_exit_2_before_anything_runs(tmp_path, capsys, args, message):
    code, output, _ = _table(["--out", str(tmp_path / "t"), *args], capsys)
    assert code == 2 and message in output, output
    assert not (tmp_path / "t").exists()


@needs_shipped
def test_a_rerun_reuses_the_images_and_reproduces_the_table(tmp_path, capsys):
    out = str(tmp_path / "t")
    args = ["--out", out, "--samples", "2", "--edit-samples", "0", "--methods", "text-only"]
    code, output, err = _table(args, capsys)
    assert code == 0, output
    assert "text-only: 0 images reused, 2 generated" in err
    table = json.loads(open(os.path.join(out, "table.json")).read())
    assert "text-only: 2 images reused, 0 generated" in _table(args, capsys)[2]
    assert json.loads(open(os.path.join(out, "table.json")).read()) == table
    # another recipe: the images are made again
    assert "text-only: 0 images reused, 2 generated" in _table([*args, "--set", "guidance.text_scale=4.0"], capsys)[2]


@needs_shipped
def test_training_curves_score_each_checkpoint_of_a_run(tmp_path, capsys):
    from ezigen.toy.backbone import TOY_ADAPTER

    run = tmp_path / "run"
    (run / "checkpoints" / "step-000005").mkdir(parents=True)
    shutil.copy(TOY_ADAPTER, run / "checkpoints" / "step-000005" / "adapter.safetensors")
    shutil.copy(TOY_ADAPTER, run / "adapter.safetensors")
    (run / "recipe.yaml").write_text("training:\n  max_steps: 10\n")
    out = str(tmp_path / "t")
    code, output, _ = _table(["--out", out, "--samples", "2", "--edit-samples", "0", "--methods",
                              "ezigen-single-pass", "--curve", f"ezigen-single-pass={run}", "--curve-samples", "2"], capsys)
    assert code == 0, output
    table = json.loads(open(os.path.join(out, "table.json")).read())
    points = table["curves"]
    assert [p["steps"] for p in points] == [5, 10] and all(p["n"] == 2 for p in points)
    shipped = next(r for r in table["rows"] if r["variant"] == "ezigen-single-pass")
    # the same weights as the shipped toy:ezigen: the same images, so the same paired gain as the table's row
    assert points[0]["fidelity_gain"] == points[1]["fidelity_gain"] == shipped["fidelity_gain"]
    assert os.path.getsize(os.path.join(out, "efficiency.png")) > 1000
    assert "Training curves" in open(os.path.join(out, "table.md")).read()
