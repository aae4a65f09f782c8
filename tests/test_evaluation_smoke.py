"""The issue's smoke path on the shared DreamBench: two recipes, --limit 2, --tiny, then a rerun.

``ezigen eval text-only-sd21-base ezigen-sd21-base --tiny --bench dreambench --data
../shared/data/dreambench --out DIR --limit 2`` must write every output offline, and a rerun must
regenerate nothing. The numbers in the outputs are checked against direct computations.
"""

from __future__ import annotations

import csv
import html.parser
import json
import os
import shutil
import subprocess
import time

import pytest
import torch

from ezigen.evaluation.aggregate import fields
from tests.conftest import DREAMBENCH, needs_dreambench
from tests.test_evaluation_support import load_results, one_torch_thread

pytestmark = needs_dreambench

RECIPES = ("text-only-sd21-base", "ezigen-sd21-base")
COLUMNS = ["dino", "clip-i", "clip-t", "dino-cond", "clip-i-cond"]
OUTPUTS = ("results.csv", "results.json", "results.md", "fidelity_vs_text.png", "report.html")


def image_mtimes(out):
    stamps = {}
    for root, _dirs, files in os.walk(os.path.join(out, "images")):
        for name in files:
            stamps[os.path.join(root, name)] = os.stat(os.path.join(root, name)).st_mtime_ns
    return stamps


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke command run twice: {"out", "first", "rerun"}, each run (stdout, seconds, image-folder mtimes).

    The seconds are kept for a look with --durations; speed goals are not asserted in tests (CONTRIBUTING)."""
    out = str(tmp_path_factory.mktemp("smoke") / "eval")
    args = ["eval", *RECIPES, "--tiny", "--bench", "dreambench", "--data", DREAMBENCH, "--out", out, "--limit", "2"]
    runs = []
    with one_torch_thread():
        for _ in range(2):
            started = time.perf_counter()
            code, stdout, stderr = _run_captured(args)
            assert code == 0, stderr
            runs.append((stdout, time.perf_counter() - started, image_mtimes(out)))
    return {"out": out, "first": runs[0], "rerun": runs[1]}


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _run_captured(args):
    """(status, stdout, stderr) of an in-process CLI call (capsys is function-scoped; this fixture is not)."""
    import contextlib
    import io

    from ezigen.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, stdout.getvalue(), stderr.getvalue()


def test_smoke_writes_every_output_with_one_folder_per_image(smoke):
    out = smoke["out"]
    for name in OUTPUTS:
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    data = load_results(out)
    jobs = [(r["recipe"], r["subject"], r["prompt_index"], r["seed"])
            for r in data["per_image"] if r["recipe"] in RECIPES]
    # --limit 2: an object and a live subject, prompts of two kinds each, two seeds
    assert sorted(jobs) == sorted((r, s, p, seed) for r in RECIPES for s, prompts in (("backpack", (0, 20)), ("cat", (0, 10)))
                                  for p in prompts for seed in (0, 1))
    for row in data["per_image"]:
        if row["recipe"] in RECIPES:
            folder = os.path.join(out, os.path.dirname(row["image"]))
            assert sorted(os.listdir(folder)) == ["image.png", "recipe.yaml", "trace.json"]
    assert data["run"] == {"jobs": 16, "generated": 0, "reused": 16, "processes": 1}  # the rerun's record
    assert "16 images generated, 0 reused" in smoke["first"][0]


def test_rerun_regenerates_nothing(smoke):
    first_stdout, _, before = smoke["first"]
    rerun_stdout, _, after = smoke["rerun"]
    assert "0 images generated, 16 reused" in rerun_stdout
    # no image, trace, recipe or encoding record rewritten (one encoding.json per subject of ezigen)
    assert before == after and len(before) == 16 * 3 + 2


def test_protocol_and_metric_backbones_are_recorded(smoke):
    data = load_results(smoke["out"])
    protocol = data["protocol"]
    assert protocol["subjects"] == ["backpack", "cat"] and protocol["seeds"] == [0, 1]
    assert protocol["conditioning_images"] == {"backpack": "backpack/00.jpg", "cat": "cat/00.jpg"}
    assert protocol["prompt_indices"] == {"backpack": [0, 20], "cat": [0, 10]}
    assert protocol["tiny"] is True and protocol["unique_token"] == ""
    assert [m["column"] for m in data["metrics"]] == COLUMNS
    dino = data["metrics"][0]
    assert dino["backbone"] == "tiny:dino" and dino["config"]["references"] == "all" and dino["revision"] is None
    models = data["provenance"]["models"]
    assert models["metric:dino"] == {"kind": "builtin", "name": "tiny:dino"}
    assert models["ezigen-sd21-base:backbone"] == {"kind": "builtin", "name": "tiny:sd21"}
    assert dino["preprocessing"]["do_center_crop"] is True and dino["preprocessing"]["resample"] == "bicubic"
    assert [r["name"] for r in data["recipes"]] == list(RECIPES)
    assert [d["key"] for d in data["comparability"]] == ["guidance.negative_prompt"]  # the shipped pair's confound
    assert data["recipes"][1]["recipe"]["backbone"]["pretrained"] == "tiny:sd21"
    markdown = open(os.path.join(smoke["out"], "results.md"), encoding="utf-8").read()
    assert "| real images | 11 |" in markdown and "tiny:dino (Dinov2Model)" in markdown
    assert "real-images" not in markdown  # one label for the real-vs-real row


def test_csv_and_json_hold_the_same_rows(smoke):
    data = load_results(smoke["out"])
    with open(os.path.join(smoke["out"], "results.csv"), encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == fields(COLUMNS)
        rows = list(reader)
    json_rows = [row for scope in ("per_image", "per_recipe", "per_subject", "per_prompt_kind", "per_class_type",
                                   "paired", "paired_per_kind") for row in data[scope]]
    assert len(rows) == len(json_rows)
    for text_row, row in zip(rows, json_rows):
        for key, value in row.items():
            assert text_row[key] == ("" if value is None else str(value)), key
    assert {r["scope"] for r in json_rows} == {"image", "recipe", "subject", "prompt_kind", "class_type", "paired",
                                               "paired_prompt_kind", "paired_class_type"}


def test_aggregates_are_means_of_image_rows_and_traces(smoke):
    data = load_results(smoke["out"])
    for recipe in RECIPES:
        images = [r for r in data["per_image"] if r["recipe"] == recipe]
        row = next(r for r in data["per_recipe"] if r["recipe"] == recipe)
        for column in COLUMNS:
            assert row[column] == pytest.approx(sum(r[column] for r in images) / len(images), abs=2e-6)
        traces = [read_json(os.path.join(smoke["out"], os.path.dirname(r["image"]), "trace.json")) for r in images]
        encodings = [read_json(path) for s in ("backpack", "cat")
                     if os.path.isfile(path := os.path.join(smoke["out"], "images", recipe, s, "encoding.json"))]
        assert len(encodings) == (2 if recipe == "ezigen-sd21-base" else 0)
        for key in ("unet_evals", "seconds"):  # the traces plus each subject's encoding, once
            total = sum(t["totals"][key] for t in traces) + sum(e[key] for e in encodings)
            assert row[key] == pytest.approx(total / len(traces), abs=1e-5), key
        kinds = [r for r in data["per_prompt_kind"] if r["recipe"] == recipe]
        assert [(k["prompt_kind"], k["images"]) for k in kinds] == [
            ("recontextualization", 4), ("property", 2), ("accessorization", 2)]
        types = [(r["live"], r["images"]) for r in data["per_class_type"] if r["recipe"] == recipe]
        assert types == [(False, 4), (True, 4)]
    text_only = next(r for r in data["per_recipe"] if r["recipe"] == "text-only-sd21-base")
    assert text_only["unet_evals"] == 100  # 50 steps x CFG batch of 2


def test_every_recipe_and_metric_has_a_ci_and_the_pair_a_paired_difference(smoke):
    data = load_results(smoke["out"])
    assert data["statistics"]["level"] == 0.95 and data["statistics"]["samples"] == 2000
    for row in data["per_recipe"]:
        for column in COLUMNS:
            if row[column] is None:  # CLIP-T of the real images
                continue
            low, high = row[f"{column}-ci-low"], row[f"{column}-ci-high"]
            assert low <= row[column] <= high and high - low > 0, (row["recipe"], column)
    [pair] = data["paired"]
    assert (pair["recipe"], pair["versus"]) == RECIPES
    images = {(r["recipe"], r["subject"], r["prompt_index"], r["seed"]): r for r in data["per_image"]}
    jobs = [key[1:] for key in images if key[0] == RECIPES[0]]
    assert pair["images"] == len(jobs)
    for column in COLUMNS[:3]:
        differences = [images[(RECIPES[0], *job)][column] - images[(RECIPES[1], *job)][column] for job in jobs]
        assert pair[column] == pytest.approx(sum(differences) / len(differences), abs=2e-6)
        assert pair[f"{column}-ci-low"] <= pair[column] <= pair[f"{column}-ci-high"]
    markdown = open(os.path.join(smoke["out"], "results.md"), encoding="utf-8").read()
    assert f"| {RECIPES[0]} − {RECIPES[1]} | {len(jobs)} |" in markdown


def test_real_vs_real_row_matches_a_direct_computation(smoke):
    from ezigen.builtins.backbones.tiny import tiny_dino_model
    from ezigen.images import load_image
    from tests.test_evaluation_metrics import by_hand_dino, dino_eval_processor

    data = load_results(smoke["out"])
    real = next(r for r in data["per_recipe"] if r["recipe"] == "real-images")
    assert real["images"] == 11 and real["clip-t"] is None  # backpack 6 + cat 5 real images
    assert 0 < real["dino"] <= 1 and 0 < real["clip-i"] <= 1
    paths = sorted(os.path.join(DREAMBENCH, "backpack", f) for f in os.listdir(os.path.join(DREAMBENCH, "backpack")))
    rows = by_hand_dino(tiny_dino_model(), dino_eval_processor(32), [load_image(p) for p in paths])  # (6, D)
    by_image = {r["image"]: r for r in data["per_image"] if r["recipe"] == "real-images"}
    for i in (0, 3):
        others = [j for j in range(len(paths)) if j != i]
        expected = float((rows[others] @ rows[i]).mean())
        assert by_image[f"backpack/{i:02d}.jpg"]["dino"] == pytest.approx(expected, abs=2e-6)
    assert by_image["backpack/00.jpg"]["dino-cond"] is None  # the conditioning image is not scored against itself
    assert by_image["backpack/03.jpg"]["dino-cond"] == pytest.approx(float(rows[0] @ rows[3]), abs=2e-6)


@pytest.mark.smoke
def test_generated_scores_match_a_direct_computation_from_the_files(smoke):
    from ezigen.builtins.backbones.tiny import tiny_clip_model, tiny_clip_processor, tiny_dino_model
    from ezigen.images import load_image
    from tests.test_evaluation_metrics import by_hand_clip_images, by_hand_dino, dino_eval_processor, unit

    data = load_results(smoke["out"])
    row = next(r for r in data["per_image"] if r["recipe"] == "ezigen-sd21-base" and r["subject"] == "cat")
    generated = load_image(os.path.join(smoke["out"], row["image"]))
    folder = os.path.join(DREAMBENCH, "cat")
    real = [load_image(os.path.join(folder, f)) for f in sorted(os.listdir(folder))]
    processor = dino_eval_processor(32)
    dino_model = tiny_dino_model()
    g, r = by_hand_dino(dino_model, processor, [generated]), by_hand_dino(dino_model, processor, real)
    assert row["dino"] == pytest.approx(float((g @ r.T).mean()), abs=2e-6)
    assert row["dino-cond"] == pytest.approx(float((g @ r[:1].T).mean()), abs=2e-6)
    clip, clip_processor = tiny_clip_model(), tiny_clip_processor()
    image = by_hand_clip_images(clip, clip_processor, [generated])
    with torch.no_grad():
        text = unit(clip.get_text_features(**clip_processor.tokenizer([row["clip_prompt"]], return_tensors="pt")))
    assert row["clip_prompt"] == row["prompt"] == "a cat in the jungle"
    assert row["clip-t"] == pytest.approx(float((image * text).sum()), abs=2e-6)


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.links, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.sources.append(attrs["src"])
        if tag == "a" and not attrs.get("href", "").startswith("#"):
            self.links.append(attrs["href"])


def test_report_is_self_contained_and_every_image_resolves(smoke):
    from urllib.parse import unquote

    text = open(os.path.join(smoke["out"], "report.html"), encoding="utf-8").read()
    parser = _Links()
    parser.feed(text)
    assert "script" not in parser.tags and "link" not in parser.tags and "http" not in text
    for src in parser.sources + parser.links:
        assert os.path.isfile(os.path.join(smoke["out"], unquote(src))), src
    thumbnails = [s for s in parser.sources if s.startswith("thumbnails/images/")]
    assert len(thumbnails) == 16 and len([s for s in parser.sources if s.startswith("references/")]) == 11
    # each grid thumbnail is a small JPEG copy linked to its full image
    assert sorted(link.removesuffix("/image.png") for link in parser.links if link.startswith("images/")) == sorted(
        s.removeprefix("thumbnails/").removesuffix(".jpg") for s in thumbnails)
    assert all(open(os.path.join(smoke["out"], s), "rb").read(2) == b"\xff\xd8" for s in thumbnails)
    for section in ("Paired differences", "Per class type", "Per prompt kind", "Protocol"):
        assert f"<h2>{section}</h2>" in text, section
    assert "95 % confidence interval" in text and "library versions: " in text
    assert "fidelity_vs_text.png" in parser.sources
    # recipes side by side: each subject's grid has one column per recipe, in command-line order
    assert text.count("<th>prompt</th><th>text-only-sd21-base</th><th>ezigen-sd21-base</th>") == 2


CHROMIUM = "/usr/bin/chromium"
# installed by .ci/run (Debian's chromium) where apt and root are available; see docs/evaluation.md
PROBE = """<script>
const problems = [];
window.addEventListener('error', e => problems.push(e.target && e.target.src ? 'failed: ' + e.target.src
                                                                              : 'error: ' + e.message), true);
for (const level of ['error', 'warn']) {
  const original = console[level];
  console[level] = (...args) => { problems.push(level + ': ' + args.join(' ')); original(...args); };
}
window.addEventListener('load', () => {
  const all = [...document.images];
  all.forEach(i => i.loading = 'eager');
  setTimeout(() => {
    document.body.dataset.loaded = all.filter(i => i.complete && i.naturalWidth > 0).length + '/' + all.length;
    document.body.dataset.problems = JSON.stringify(problems);
  }, 500);
});
</script>"""


def open_in_chromium(page, profile):
    """(DOM after load, stderr) of ``page`` in headless Chromium (the flags of docs/evaluation.md)."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
               "--dump-dom", f"file://{page}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return result.stdout, result.stderr


def probed_copy(out, text, name="_probe.html"):
    """A copy of a page in OUT with the probe first in <head> (the report itself has no script)."""
    path = os.path.join(out, name)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.replace("<head>", "<head>" + PROBE, 1))
    return path


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no /usr/bin/chromium (.ci/run installs it as root)")
def test_report_renders_in_headless_chromium_with_every_image_loaded_and_no_console_errors(smoke, tmp_path):
    text = open(os.path.join(smoke["out"], "report.html"), encoding="utf-8").read()
    broken = probed_copy(smoke["out"], text.replace("</body>", '<img src="missing.png"></body>'), "_broken.html")
    probe = probed_copy(smoke["out"], text)
    try:
        dom, stderr = open_in_chromium(probe, tmp_path / "a")
        bad_dom, _ = open_in_chromium(broken, tmp_path / "b")
    finally:
        os.unlink(probe)
        os.unlink(broken)
    # the probe sees a broken image (so a pass below means something)
    assert 'data-loaded="28/29"' in bad_dom and "missing.png" in bad_dom, bad_dom[-2000:]
    # 11 real thumbnails + 16 generated thumbnails + the plot, all decoded; nothing on the console
    assert 'data-loaded="28/28"' in dom, stderr[-2000:]
    assert 'data-problems="[]"' in dom, dom[-2000:]
    assert ":CONSOLE" not in stderr, stderr[-2000:]


def test_copying_the_output_folder_keeps_the_report_working(smoke, tmp_path):
    copy = shutil.copytree(smoke["out"], tmp_path / "moved")
    parser = _Links()
    parser.feed(open(os.path.join(copy, "report.html"), encoding="utf-8").read())
    assert all(os.path.isfile(os.path.join(copy, s)) for s in parser.sources)
