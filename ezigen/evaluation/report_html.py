"""``report.html``: the scores, then per subject its real images and a grid with one row per
prompt and one column per recipe (every seed's image, with its scores).

Viewable offline and self-contained in OUT: no script, no external style sheet or font; images
are relative links (``images/...``, ``references/...``, ``fidelity_vs_text.png``) loaded lazily,
so a full run (thousands of images) opens quickly. The real images are copied into
``OUT/references/<subject>/`` as thumbnails (longer side <= 256 px), so the report does not
depend on where --data lives.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from ezigen.evaluation.aggregate import Results
from ezigen.evaluation.dreambench import Subject
from ezigen.evaluation.plan import REAL_IMAGES
from ezigen.evaluation.tables import plural, recipe_table, score_text, title
from ezigen.io import atomic_path, write_text_atomic

THUMBNAIL = 256
STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
figure { display: inline-block; margin: 2px; text-align: center; }
figure img { width: 160px; height: auto; display: block; }
figure.real img { width: 120px; }
figure.conditioning img { outline: 3px solid #d62728; }
figcaption { font-size: 11px; color: #444; max-width: 160px; }
nav a { margin-right: 0.6em; }
.kind { color: #777; font-size: 11px; }
"""


def write_reference_thumbnails(out: str, subjects: Sequence[Subject]) -> dict[str, str]:
    """Thumbnails of every real image: {absolute source path: path relative to OUT}."""
    from PIL import Image

    from ezigen.images import load_image

    links = {}
    for subject in subjects:
        folder = os.path.join(out, "references", subject.name)
        os.makedirs(folder, exist_ok=True)
        for source in subject.images:
            name = os.path.splitext(os.path.basename(source))[0] + ".jpg"
            image = load_image(source, what="reference image")  # rewritten every time: never stale
            image.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
            with atomic_path(os.path.join(folder, name)) as tmp:
                image.save(tmp, format="JPEG", quality=90)
            links[source] = f"references/{subject.name}/{name}"
    return links


def _src(path: str) -> str:
    return html.escape(quote(path), quote=True)


def _scores_line(row: dict[str, Any], columns: Sequence[str]) -> str:
    return " · ".join(f"{html.escape(title(c))} {score_text(row[c])}" for c in columns if row.get(c) is not None)


def _markdown_table_to_html(lines: Sequence[str]) -> str:
    """The per-recipe markdown table (tables.recipe_table) as an HTML table."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in lines if not line.startswith("|---")]
    head, body = rows[0], rows[1:]
    out = ["<table><thead><tr>", *(f"<th>{html.escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in body:
        out.append("<tr>" + "".join(f"<td>{html.escape(c.strip('`'))}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_report(results: Results, header: dict[str, Any], subjects: Sequence[Subject], recipes: Sequence[str],
                  references: dict[str, str], data_root: str, plot: str | None) -> str:
    columns = results.columns
    protocol = header["protocol"]
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>DreamBench report</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>DreamBench report</h1>",
             f"<p>{plural(len(subjects), 'subject')} × {plural(protocol['prompts_per_subject'], 'prompt')} × "
             f"{plural(len(protocol['seeds']), 'seed')}; recipes: {html.escape(', '.join(recipes))}. "
             "Scores are cosine similarities; "
             "<em>cond.</em> columns compare with the conditioning image only (outlined in red).</p>",
             "<h2>Scores per recipe</h2>", _markdown_table_to_html(recipe_table(results))]
    if plot:
        parts.append(f'<p><img src="{_src(plot)}" alt="DINO against CLIP-T, one point per recipe" width="800"></p>')
    parts.append("<nav>" + "".join(f'<a href="#subject-{html.escape(s.name)}">{html.escape(s.name)}</a>'
                                   for s in subjects) + "</nav>")
    generated = [r for r in results.per_image if r["recipe"] != REAL_IMAGES]
    real = {r["image"]: r for r in results.per_image if r["recipe"] == REAL_IMAGES}
    by_subject = {(r["recipe"], r["subject"]): r for r in results.per_subject}
    for subject in subjects:
        parts.append(_subject_section(subject, recipes, generated, real, by_subject, columns, references, data_root))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _subject_section(subject: Subject, recipes: Sequence[str], generated: Sequence[dict[str, Any]],
                     real: dict[str, dict[str, Any]], by_subject: dict[tuple[str, str], dict[str, Any]],
                     columns: Sequence[str], references: dict[str, str], data_root: str) -> str:
    kind = "live" if subject.live else "object"
    parts = [f'<section id="subject-{html.escape(subject.name)}">',
             f"<h2>{html.escape(subject.name)} "
             f"<span class='kind'>({html.escape(subject.class_name)}, {kind})</span></h2>",
             "<div>"]
    for source in subject.images:
        row = real.get(os.path.relpath(source, data_root).replace(os.sep, "/"), {})
        conditioning = row.get("reference") == row.get("image")
        label = os.path.basename(source) + (" · conditioning" if conditioning else "")
        css = "real conditioning" if conditioning else "real"
        parts.append(f'<figure class="{css}"><img src="{_src(references[source])}" alt="{html.escape(label)}">'
                     f"<figcaption>{html.escape(label)}<br>{_scores_line(row, columns) if row else ''}</figcaption>"
                     "</figure>")
    parts.append("</div>")
    summary = [[name, by_subject.get((name, subject.name))] for name in [*recipes, REAL_IMAGES]]
    parts.append("<table><thead><tr><th>recipe</th><th>images</th>"
                 + "".join(f"<th>{html.escape(title(c))}</th>" for c in columns) + "</tr></thead><tbody>")
    for name, row in summary:
        if row is not None:
            parts.append(f"<tr><td>{html.escape(name)}</td><td>{row['images']}</td>"
                         + "".join(f"<td>{score_text(row[c])}</td>" for c in columns) + "</tr>")
    parts.append("</tbody></table>")
    mine = [r for r in generated if r["subject"] == subject.name]
    prompts = list(dict.fromkeys((r["prompt_index"], r["prompt"], r["prompt_kind"]) for r in mine))
    parts.append('<table class="grid"><thead><tr><th>prompt</th>'
                 + "".join(f"<th>{html.escape(name)}</th>" for name in recipes) + "</tr></thead><tbody>")
    for index, prompt, prompt_kind in sorted(prompts):
        parts.append(f"<tr><th>{html.escape(prompt)}<br><span class='kind'>{html.escape(prompt_kind)}</span></th>")
        for name in recipes:
            cells = [r for r in mine if r["recipe"] == name and r["prompt_index"] == index]
            parts.append("<td>" + "".join(
                f'<figure><a href="{_src(r["image"])}"><img loading="lazy" src="{_src(r["image"])}" '
                f'alt="{html.escape(name)}, seed {r["seed"]}"></a><figcaption>seed {r["seed"]}<br>'
                f"{_scores_line(r, columns)}</figcaption></figure>" for r in cells) + "</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></section>")
    return "\n".join(parts)


def write_report(path: str, out: str, results: Results, header: dict[str, Any], subjects: Sequence[Subject],
                 recipes: Sequence[str], data_root: str, plot: str | None) -> None:
    references = write_reference_thumbnails(out, subjects)
    write_text_atomic(path, render_report(results, header, subjects, recipes, references, data_root, plot))
