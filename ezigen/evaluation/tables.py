"""Writing ``results.csv``, ``results.json`` and ``results.md`` (all atomically), and the tables both
``results.md`` and ``report.html`` show.

- ``results.csv``: every row of every scope (``scope`` column: image, recipe, subject,
  prompt_kind, class_type, paired, paired_prompt_kind, paired_class_type), the fields of :func:`ezigen.evaluation.aggregate.fields`;
  empty = not applicable.
- ``results.json``: ``{"ezigen_version", "bench", "protocol", "metrics", "recipes", "run",
  "statistics", "provenance", "columns", "per_recipe", "paired", "paired_per_kind", "per_subject",
  "per_prompt_kind", "per_class_type", "per_image"}``; the rows are the CSV's, with null for
  not applicable; ``metrics`` records each column's backbone, embedding and preprocessing.
- ``results.md``: the per-recipe table with CIs (the real-vs-real row last), the paired
  differences (overall, then within each class type and prompt kind), per class type, per prompt kind, per subject, then the protocol and metrics.

A table here is ``(head, rows)`` of plain strings; :func:`markdown_table` renders it for
results.md and the CLI, ``report_html`` for the page. A recipe is labelled by its exact name
(``toy/ezigen`` stays ``toy/ezigen``); the real-vs-real row is "real images" everywhere.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ezigen.evaluation.aggregate import Results, fields
from ezigen.evaluation.plan import REAL_IMAGES
from ezigen.io import write_json_atomic, write_text_atomic

TITLES = {"dino": "DINO", "clip-i": "CLIP-I", "clip-t": "CLIP-T", "dino-cond": "DINO (cond.)",
          "clip-i-cond": "CLIP-I (cond.)"}
REAL_LABEL = "real images"
CI_NOTE = ("[low, high] is the 95 % confidence interval of the mean: a bootstrap over subjects (2000 draws, "
           "seeded), each drawn subject's prompts and seeds resampled within it.")
PAIRED_NOTE = ("A − B is the mean of score(A) − score(B) over the (subject, prompt, seed) jobs both recipes ran, "
               "with the same bootstrap on the differences; * marks an interval that excludes 0.")
Table = tuple[list[str], list[list[str]]]


def title(column: str) -> str:
    return TITLES.get(column, column)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def score_text(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def recipe_label(name: str) -> str:
    """The row label: the recipe's exact name, or "real images" for the real-vs-real row."""
    return REAL_LABEL if name == REAL_IMAGES else name


def class_type_label(live: Any) -> str:
    return "live" if live else "object"


def with_ci(row: dict[str, Any], column: str, signed: bool = False) -> str:
    """'0.512 [0.480, 0.545]' (the mean and its CI), or the mean alone when there is no CI."""
    value, low, high = row.get(column), row.get(f"{column}-ci-low"), row.get(f"{column}-ci-high")
    if value is None:
        return "–"
    spec = "+.3f" if signed else ".3f"
    if low is None or high is None:
        return format(value, spec)
    mark = "*" if signed and (low > 0 or high < 0) else ""
    return f"{value:{spec}} [{low:{spec}}, {high:{spec}}]{mark}"


def cost_text(row: dict[str, Any]) -> tuple[str, str]:
    evals = "–" if row.get("unet_evals") is None else f"{row['unet_evals']:.1f}"
    seconds = "–" if row.get("seconds") is None else f"{row['seconds']:.2f}"
    return evals, seconds


def recipe_rows_table(results: Results) -> Table:
    """Per recipe: images, each score with its CI, cost per image (real vs real last)."""
    head = ["recipe", "images", *map(title, results.columns), "UNet evals / image", "s / image"]
    rows = [[recipe_label(r["recipe"]), str(r["images"]), *(with_ci(r, c) for c in results.columns), *cost_text(r)]
            for r in sorted(results.per_recipe, key=lambda r: r["recipe"] == REAL_IMAGES)]
    return head, rows


def paired_table(results: Results) -> Table:
    head = ["A − B", "pairs", *map(title, results.columns)]
    rows = [[f"{r['recipe']} − {r['versus']}", str(r["images"] or 0), *(with_ci(r, c, signed=True)
                                                                          for c in results.columns)]
            for r in results.paired]
    return head, rows


def paired_kind_table(results: Results) -> Table:
    """The paired differences within each class type, then within each prompt kind."""
    head = ["A − B", "within", "pairs", *map(title, results.columns)]
    ordered = results.paired_per_kind  # per class type, then per prompt kind (aggregate's order)
    rows = [[f"{r['recipe']} − {r['versus']}",
             class_type_label(r["live"]) if r["scope"] == "paired_class_type" else r["prompt_kind"],
             str(r["images"] or 0), *(with_ci(r, c, signed=True) for c in results.columns)]
            for r in ordered]
    return head, rows


def kind_table(results: Results, scope: str) -> Table:
    """Per class type (``class_type``) or per prompt kind (``prompt_kind``), each score with its CI."""
    source = results.per_class_type if scope == "class_type" else results.per_prompt_kind
    name = "class type" if scope == "class_type" else "prompt kind"
    rows = []
    for r in source:
        kind = class_type_label(r["live"]) if scope == "class_type" else r["prompt_kind"]
        rows.append([recipe_label(r["recipe"]), kind, str(r["images"]), *(with_ci(r, c) for c in results.columns)])
    return ["recipe", name, "images", *map(title, results.columns)], rows


def subject_table(results: Results) -> Table:
    head = ["recipe", "subject", "class", "images", *map(title, results.columns)]
    rows = [[recipe_label(r["recipe"]), r["subject"], r["class"], str(r["images"]),
             *(score_text(r[c]) for c in results.columns)] for r in results.per_subject]
    return head, rows


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def markdown_table(table: Table) -> list[str]:
    head, rows = table
    lines = ["| " + " | ".join(map(_md_cell, head)) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows]
    return lines


def recipe_table(results: Results) -> list[str]:
    """The per-recipe table as markdown lines (results.md and the CLI's output)."""
    return markdown_table(recipe_rows_table(results))


def write_csv(path: str, results: Results) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields(results.columns), lineterminator="\n")
    writer.writeheader()
    for row in results.all_rows():
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    write_text_atomic(path, buffer.getvalue())


def results_document(results: Results, header: dict[str, Any]) -> dict[str, Any]:
    return {**header, "columns": list(results.columns), "per_recipe": results.per_recipe,
            "paired": results.paired, "paired_per_kind": results.paired_per_kind, "per_subject": results.per_subject,
            "per_prompt_kind": results.per_prompt_kind, "per_class_type": results.per_class_type,
            "per_image": results.per_image}


def write_json(path: str, results: Results, header: dict[str, Any]) -> None:
    write_json_atomic(path, results_document(results, header))


def summary_line(header: dict[str, Any]) -> str:
    protocol = header["protocol"]
    return (f"{plural(len(protocol['subjects']), 'subject')} x {plural(protocol['prompts_per_subject'], 'prompt')} x "
            f"{plural(len(protocol['seeds']), 'seed')} ({', '.join(map(str, protocol['seeds']))}); "
            f"{header['run']['generated']} images generated by this run, {header['run']['reused']} reused. "
            "Scores are cosine similarities (0-1 scale).")


def protocol_lines(header: dict[str, Any]) -> list[str]:
    """The protocol as plain sentences (results.md's and the report's protocol section)."""
    protocol = header["protocol"]
    versions = (header.get("provenance") or {}).get("versions") or {"ezigen": header.get("ezigen_version")}
    return [
        f"data: {protocol['data']}; subjects: {', '.join(protocol['subjects'])}; live subjects: classes "
        f"{', '.join(protocol['live_classes'])}",
        f"prompts: {prompt_selection(protocol)}; seeds: "
        f"{', '.join(map(str, protocol['seeds']))} (one image each, Generator('cpu').manual_seed(seed))",
        f"conditioning image: index {protocol['reference_index']} of each subject's images in sorted order",
        f"generation prompt: the DreamBench prompt with unique token {protocol['unique_token']!r} "
        "(empty: no token); subject prompt: 'a CLASS'",
        "CLIP-T prompt: the DreamBench prompt without the unique token",
        "-cond columns: against the conditioning image only; the others: mean over all real images; "
        f"'{REAL_LABEL}': each real image against the subject's other real images",
        "library versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
    ]


def prompt_selection(protocol: dict[str, Any]) -> str:
    if protocol.get("limit") is None:
        return f"the first {protocol['prompts_per_subject']} of each subject's DreamBench list"
    indices = protocol.get("prompt_indices") or {}
    chosen = "; ".join(f"{name} {', '.join(f'p{i:02d}' for i in found)}" for name, found in indices.items())
    return f"--limit {protocol['limit']}: prompt kinds in turn ({chosen})"


def metric_line(metric: dict[str, Any]) -> str:
    """One metric column as text; ``describe()`` is optional, so any of its keys may be missing."""
    parts = [f"metric {metric.get('metric', metric['column'])}"]
    if metric.get("backbone"):
        model_class = f" ({metric['model_class']})" if metric.get("model_class") else ""
        parts.append(f"backbone {metric['backbone']}{model_class}")
    for key in ("embedding", "score", "references"):
        if metric.get(key):
            parts.append(f"{key} {metric[key]}")
    if metric.get("preprocessing"):
        parts.append(f"preprocessing {prep_text(metric['preprocessing'])}")
    if len(parts) == 1:  # nothing described: show what was configured
        config = metric.get("config") or {}
        parts.append("config " + (", ".join(f"{k}={v}" for k, v in config.items()) or "default")
                     + " (the metric describes no backbone or preprocessing)")
    return f"{metric['column']}: " + "; ".join(parts)


def prep_text(prep: Any) -> str:
    """'CLIPImageProcessor: resize shortest_edge=224 bicubic, centre crop 224x224, normalise ...'."""
    if not isinstance(prep, dict):
        return str(prep)
    parts = []
    if prep.get("do_resize"):
        size = prep.get("size")
        size = ", ".join(f"{k}={v}" for k, v in size.items()) if isinstance(size, dict) else str(size or "")
        parts.append(" ".join(p for p in ("resize", size, str(prep.get("resample") or "")) if p))
    if prep.get("do_center_crop"):
        crop = prep.get("crop_size")
        crop = f"{crop.get('height')}x{crop.get('width')}" if isinstance(crop, dict) else str(crop or "")
        parts.append(f"centre crop {crop}".strip())
    if prep.get("do_normalize"):
        parts.append(f"normalise mean {prep.get('image_mean')} std {prep.get('image_std')}")
    if not parts:
        return ", ".join(f"{k}={v}" for k, v in prep.items()) or "not recorded"
    return (f"{prep['class']}: " if prep.get("class") else "") + ", ".join(parts)


def comparability_lines(header: dict[str, Any]) -> list[str]:
    from ezigen.evaluation.comparability import describe

    return [describe(d) for d in header.get("comparability") or ()]


def render_markdown(results: Results, header: dict[str, Any]) -> str:
    lines = ["# DreamBench results", "", summary_line(header) + " " + CI_NOTE, ""]
    lines += [f"**Warning:** {line}." for line in comparability_lines(header)]
    lines += [""] if header.get("comparability") else []
    lines += recipe_table(results)
    if results.paired:
        lines += ["", "## Paired differences", "", PAIRED_NOTE, ""] + markdown_table(paired_table(results))
    if results.paired_per_kind:
        lines += ["", "## Paired differences per class type and prompt kind", ""]
        lines += markdown_table(paired_kind_table(results))
    lines += ["", "## Per class type", ""] + markdown_table(kind_table(results, "class_type"))
    lines += ["", "## Per prompt kind", ""] + markdown_table(kind_table(results, "prompt_kind"))
    lines += ["", "## Per subject", ""] + markdown_table(subject_table(results))
    lines += ["", "## Protocol", ""] + [f"- {line}" for line in protocol_lines(header)]
    lines += ["", "## Metrics", ""] + [f"- {metric_line(m)}" for m in header["metrics"]]
    return "\n".join(lines) + "\n"


def write_markdown(path: str, results: Results, header: dict[str, Any]) -> None:
    write_text_atomic(path, render_markdown(results, header))
