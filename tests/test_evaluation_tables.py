"""Rendering results without generating anything: labels, optional describe(), CIs, plot axes.

Issue 12: a metric's ``describe()`` is optional and may lack any key, and recipe names with a
``/`` (plugin or toy recipes) keep their exact name as labels in every table (only the folder
under OUT/images is sanitised).
"""

from __future__ import annotations

import csv
import io
import json

import attrs
import pytest

from ezigen.evaluation.aggregate import aggregate, fields
from ezigen.evaluation.metric_set import MetricColumn, describe_columns
from ezigen.evaluation.plan import REAL_IMAGES, recipe_folder
from ezigen.evaluation.plot import axis_range, recipe_points
from ezigen.evaluation.report_html import render_report
from ezigen.evaluation.tables import render_markdown, results_document, write_csv

RECIPES = ("colorstats/ezigen-x", "toy/ezigen")
COLUMNS = ("dino", "colorstats")


@attrs.frozen
class _Subject:
    name: str
    class_name: str
    live: bool
    images: tuple[str, ...]


def image_rows():
    rows = []
    for r, recipe in enumerate(RECIPES):
        for s, (subject, live) in enumerate((("dog", True), ("can", False))):
            for prompt in range(2):
                for seed in range(2):
                    base = {k: None for k in fields(COLUMNS)}
                    base.update(scope="image", recipe=recipe, subject=subject, live=live, prompt_index=prompt,
                                prompt_kind="property" if prompt else "recontextualization", seed=seed, images=1,
                                prompt=f"a {subject} {prompt}", image=f"images/{recipe_folder(recipe)}/{subject}/"
                                f"p{prompt:02d}-s{seed}/image.png", dino=0.5 + 0.1 * r + 0.02 * s + 0.01 * seed,
                                colorstats=0.3 + 0.05 * prompt, unet_evals=100, seconds=0.1, iterations=1,
                                **{"class": "dog" if live else "can"})
                    rows.append(base)
    real = [{**{k: None for k in fields(COLUMNS)}, "scope": "image", "recipe": REAL_IMAGES, "subject": "dog",
             "class": "dog", "live": True, "image": f"dog/0{i}.jpg", "reference": "dog/00.jpg", "images": 1,
             "dino": 0.8 + 0.01 * i} for i in range(3)]
    return rows, real


def header(metrics):
    protocol = {"data": "/data", "subjects": ["dog", "can"], "live_classes": ["cat", "dog"], "prompts_per_subject": 2,
                "seeds": [0, 1], "reference_index": 0, "unique_token": ""}
    return {"ezigen_version": "0", "protocol": protocol, "metrics": metrics,
            "run": {"generated": 16, "reused": 0}}


class _NoDescribe:
    """A plugin metric with only the required members: no describe()."""


class _Partial:
    def describe(self):
        return {"backbone": "my/model"}  # no model_class, embedding or preprocessing


def described(built):
    from ezigen.builtins.metrics import DinoMetricConfig

    config = DinoMetricConfig(pretrained="tiny:dino")
    columns = [MetricColumn(name, name, object, config) for name in built]
    return describe_columns(columns, built)


def test_recipe_names_with_a_slash_are_the_labels_everywhere(tmp_path):
    results = aggregate(*image_rows(), COLUMNS)
    metrics = described({"dino": _Partial(), "colorstats": _NoDescribe()})
    markdown = render_markdown(results, header(metrics))
    subjects = [_Subject("dog", "dog", True, ()), _Subject("can", "can", False, ())]
    page = render_report(results, header(metrics), subjects, list(RECIPES), {}, "/data", None)
    for name in RECIPES:
        assert f"| {name} | 8 |" in markdown
        assert f"<td>{name}</td>" in page and f"<th>{name}</th>" in page
        assert recipe_folder(name) not in markdown  # the folder name never stands in for the label
    assert f"| {RECIPES[0]} − {RECIPES[1]} | 8 |" in markdown
    write_csv(str(tmp_path / "results.csv"), results)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text())))
    assert {r["recipe"] for r in rows if r["scope"] in ("image", "recipe")} == {*RECIPES, REAL_IMAGES}
    document = json.loads(json.dumps(results_document(results, header(metrics))))
    assert [r["recipe"] for r in document["per_recipe"]] == [*RECIPES, REAL_IMAGES]


def test_results_render_when_describe_is_absent_or_partial():
    results = aggregate(*image_rows(), COLUMNS)
    metrics = described({"dino": _Partial(), "colorstats": _NoDescribe()})
    assert metrics[1] == {"column": "colorstats", "metric": "colorstats", "config": metrics[1]["config"]}
    markdown = render_markdown(results, header(metrics))
    lines = [line for line in markdown.splitlines() if line.startswith(("- dino:", "- colorstats:"))]
    assert lines[0] == "- dino: metric dino; backbone my/model"
    assert lines[1].startswith("- colorstats: metric colorstats; config pretrained=tiny:dino")
    assert "describes no backbone" in lines[1]
    for text in (markdown, render_report(results, header(metrics), [], list(RECIPES), {}, "/data", None)):
        assert "(?)" not in text and "; ;" not in text and "None" not in text


def test_class_type_and_prompt_kind_tables_have_cis():
    results = aggregate(*image_rows(), COLUMNS)
    kinds = {(r["recipe"], r["live"]): r for r in results.per_class_type}
    assert kinds[(RECIPES[0], True)]["images"] == 4 and kinds[(REAL_IMAGES, True)]["images"] == 3
    assert kinds[(RECIPES[0], True)]["dino"] == pytest.approx(0.505)
    assert kinds[(RECIPES[0], True)]["dino-ci-low"] <= 0.505 <= kinds[(RECIPES[0], True)]["dino-ci-high"]
    markdown = render_markdown(results, header([]))
    assert "| colorstats/ezigen-x | live | 4 |" in markdown and "| toy/ezigen | property | 4 |" in markdown
    [pair] = results.paired
    assert pair["dino"] == pytest.approx(-0.1) and pair["colorstats"] == pytest.approx(0.0)
    assert pair["dino-ci-low"] == pytest.approx(-0.1) and pair["dino-ci-high"] == pytest.approx(-0.1)


@pytest.mark.parametrize("values", [[0.70, 0.71], [0.95, 0.99, 0.999], [0.01, 0.02], [0.2, 0.9], [-0.1, 0.05]])
def test_plot_axes_span_every_value_and_never_less_than_a_fifth(values):
    low, high = axis_range(values)
    assert low <= min(values) and high >= max(values)
    assert high - low >= 0.2 - 1e-12
    if min(values) >= 0 and max(values) <= 1:
        assert 0 <= low and high <= 1


def test_plot_points_carry_cis_and_image_counts():
    generated, real = image_rows()
    for row in generated + real:
        row["clip-t"] = 0.2 if row["recipe"] != REAL_IMAGES else None
    results = aggregate(generated, real, ("dino", "clip-t"))
    points = recipe_points(results.per_recipe)
    assert [p.label for p in points] == list(RECIPES) and all(p.images == 8 for p in points)
    assert all(p.y_ci[0] <= p.y <= p.y_ci[1] for p in points) and points[0].x_ci == (0.2, 0.2)


def test_compared_recipes_that_differ_outside_the_subject_path_are_reported():
    import ezigen
    from ezigen.evaluation.comparability import describe, differences

    names = ("text-only-sd21-base", "ezigen-sd21-base")
    shipped = differences([ezigen.load_recipe(n, tiny=True) for n in names])
    assert [d["key"] for d in shipped] == ["guidance.negative_prompt"]
    assert shipped[0]["values"]["text-only-sd21-base"] is None
    assert "--set guidance.negative_prompt=VALUE" in describe(shipped[0])
    same = ["guidance.negative_prompt=dark, blur, defoucus, lack of content, dizzy."]
    assert differences([ezigen.load_recipe(n, same, tiny=True) for n in names]) == []
    results = aggregate(*image_rows(), COLUMNS)
    markdown = render_markdown(results, {**header([]), "comparability": shipped})
    assert "**Warning:** the compared recipes differ in guidance.negative_prompt" in markdown


def test_paired_differences_within_each_class_type_and_prompt_kind():
    generated, real = image_rows()
    for row in generated:
        if row["recipe"] == RECIPES[1] and row["live"]:
            row["dino"] += 0.2  # B is better on live subjects only
    results = aggregate(generated, real, COLUMNS)
    [overall] = results.paired
    assert overall["dino"] == pytest.approx(-0.2) and overall["images"] == 8
    within = {(r["scope"], r["live"] if r["scope"] == "paired_class_type" else r["prompt_kind"]): r
              for r in results.paired_per_kind}
    assert set(within) == {("paired_class_type", True), ("paired_class_type", False),
                           ("paired_prompt_kind", "recontextualization"), ("paired_prompt_kind", "property")}
    assert within[("paired_class_type", True)]["dino"] == pytest.approx(-0.3)
    assert within[("paired_class_type", False)]["dino"] == pytest.approx(-0.1)
    assert within[("paired_prompt_kind", "property")]["dino"] == pytest.approx(-0.2)
    assert all(r["images"] == 4 and (r["recipe"], r["versus"]) == RECIPES[:2] for r in within.values())
    assert [r["scope"] for r in results.paired_per_kind] == ["paired_class_type"] * 2 + ["paired_prompt_kind"] * 2
    # one subject per class type here: a mean, no interval (and so no star); two subjects per prompt kind
    assert within[("paired_class_type", True)]["dino-ci-low"] is None
    assert within[("paired_prompt_kind", "property")]["dino-ci-low"] is not None
    markdown = render_markdown(results, header([]))
    section = markdown[markdown.index("## Paired differences per class type and prompt kind"):]
    assert f"| {RECIPES[0]} − {RECIPES[1]} | live | 4 | -0.300 |" in section
    assert f"| {RECIPES[0]} − {RECIPES[1]} | property | 4 | -0.200" in section
    page = render_report(results, header([]), [], list(RECIPES), {}, "/data", None)
    assert "Paired differences per class type and prompt kind" in page
    document = json.loads(json.dumps(results_document(results, header([]))))
    assert len(document["paired_per_kind"]) == 4
