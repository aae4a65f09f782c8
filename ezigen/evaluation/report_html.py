"""``report.html``: the scores with their CIs, the paired differences, the per class type and per
prompt kind tables, the plot and the protocol; then per subject its real images and a grid with
one row per prompt and one column per recipe (every seed's image, with its scores).

Viewable offline and self-contained in OUT: no script, no external style sheet or font; images
are relative links loaded lazily, so a full run (thousands of images) opens quickly. The page
shows small JPEG copies, each a link to its full image:

- ``OUT/references/<subject>/NN.jpg``: the real images (longer side <= 256 px), so the report
  does not depend on where --data lives (rewritten every run: never stale);
- ``OUT/thumbnails/images/<recipe>/<subject>/pNN-sSEED.jpg``: the generated images (longer
  side <= 256 px; rewritten when older than the image).

Labels are the tables' (``ezigen.evaluation.tables``): the recipe's exact name, "real images"
for the real-vs-real row.
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
from ezigen.evaluation.tables import (
    CI_NOTE,
    PAIRED_NOTE,
    Table,
    comparability_lines,
    kind_table,
    metric_line,
    paired_kind_table,
    paired_table,
    plural,
    protocol_lines,
    recipe_label,
    recipe_rows_table,
    score_text,
    title,
)
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
.kind, .note { color: #666; font-size: 12px; }
"""


def _thumbnail(source: str, target: str) -> None:
    """A JPEG copy of ``source`` at ``target`` with the longer side at most THUMBNAIL px."""
    from PIL import Image

    from ezigen.images import load_image

    image = load_image(source, what="image")
    image.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with atomic_path(target) as tmp:
        image.save(tmp, format="JPEG", quality=90)


def write_reference_thumbnails(out: str, subjects: Sequence[Subject]) -> dict[str, str]:
    """Thumbnails of every real image: {absolute source path: path relative to OUT}."""
    links = {}
    for subject in subjects:
        for source in subject.images:
            link = f"references/{subject.name}/{os.path.splitext(os.path.basename(source))[0]}.jpg"
            _thumbnail(source, os.path.join(out, link))
            links[source] = link
    return links


def write_generated_thumbnails(out: str, images: Sequence[str]) -> dict[str, str]:
    """Thumbnails of generated images (paths relative to OUT): {image: thumbnail}, both relative to OUT."""
    links = {}
    for image in images:
        link = "thumbnails/" + os.path.dirname(image) + ".jpg"  # images/R/S/p00-s0/image.png -> .../p00-s0.jpg
        source, target = os.path.join(out, image), os.path.join(out, link)
        if not os.path.isfile(target) or os.path.getmtime(target) < os.path.getmtime(source):
            _thumbnail(source, target)
        links[image] = link
    return links


def _src(path: str) -> str:
    return html.escape(quote(path), quote=True)


def _scores_line(row: dict[str, Any], columns: Sequence[str]) -> str:
    return " · ".join(f"{html.escape(title(c))} {score_text(row[c])}" for c in columns if row.get(c) is not None)


def html_table(table: Table, css: str = "") -> str:
    head, rows = table
    out = [f'<table{f" class={css!r}" if css else ""}><thead><tr>', *(f"<th>{html.escape(h)}</th>" for h in head),
           "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows]
    out.append("</tbody></table>")
    return "".join(out)


def _figure(image: str | None, thumbnail: str, alt: str, caption: str, css: str = "") -> str:
    """A thumbnail, linked to the full ``image`` when there is one, with its caption."""
    img = f'<img loading="lazy" src="{_src(thumbnail)}" alt="{html.escape(alt)}">'
    if image is not None:
        img = f'<a href="{_src(image)}">{img}</a>'
    return f'<figure{f" class={css!r}" if css else ""}>{img}<figcaption>{caption}</figcaption></figure>'


def render_report(results: Results, header: dict[str, Any], subjects: Sequence[Subject], recipes: Sequence[str],
                  references: dict[str, str], data_root: str, plot: str | None,
                  thumbnails: dict[str, str] | None = None) -> str:
    """The page; ``recipes`` are recipe names in command-line order, ``references`` {real image: thumbnail},
    ``thumbnails`` {generated image: thumbnail} (default: the full images)."""
    protocol = header["protocol"]
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>DreamBench report</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>DreamBench report</h1>",
             f"<p>{plural(len(subjects), 'subject')} × {plural(protocol['prompts_per_subject'], 'prompt')} × "
             f"{plural(len(protocol['seeds']), 'seed')}; recipes: {html.escape(', '.join(recipes))}. "
             "Scores are cosine similarities (0–1); <em>cond.</em> columns compare with the conditioning image only "
             "(outlined in red); the real images row scores each real image against the subject's other real "
             "images (the ceiling).</p>",
             *(f"<p><strong>Warning:</strong> {html.escape(line)}.</p>" for line in comparability_lines(header)),
             "<h2>Scores per recipe</h2>", f"<p class='note'>{html.escape(CI_NOTE)}</p>",
             html_table(recipe_rows_table(results))]
    if results.paired:
        parts += ["<h2>Paired differences</h2>", f"<p class='note'>{html.escape(PAIRED_NOTE)}</p>",
                  html_table(paired_table(results))]
    if results.paired_per_kind:
        parts += ["<h2>Paired differences per class type and prompt kind</h2>", html_table(paired_kind_table(results))]
    if plot:
        parts.append(f'<p><img src="{_src(plot)}" alt="DINO against CLIP-T, one point per recipe, with 95 % CIs" '
                     'width="800"></p>')
    parts += ["<h2>Per class type</h2>", html_table(kind_table(results, "class_type")),
              "<h2>Per prompt kind</h2>", html_table(kind_table(results, "prompt_kind")),
              "<h2>Protocol</h2><ul>", *(f"<li>{html.escape(line)}</li>" for line in protocol_lines(header)),
              *(f"<li>{html.escape(metric_line(m))}</li>" for m in header["metrics"]), "</ul>"]
    parts.append("<nav>" + "".join(f'<a href="#subject-{html.escape(s.name)}">{html.escape(s.name)}</a>'
                                   for s in subjects) + "</nav>")
    generated = [r for r in results.per_image if r["recipe"] != REAL_IMAGES]
    thumbnails = thumbnails or {r["image"]: r["image"] for r in generated}
    real = {r["image"]: r for r in results.per_image if r["recipe"] == REAL_IMAGES}
    by_subject = {(r["recipe"], r["subject"]): r for r in results.per_subject}
    for subject in subjects:
        parts.append(_subject_section(subject, recipes, generated, real, by_subject, results.columns, references,
                                      thumbnails, data_root))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _subject_section(subject: Subject, recipes: Sequence[str], generated: Sequence[dict[str, Any]],
                     real: dict[str, dict[str, Any]], by_subject: dict[tuple[str, str], dict[str, Any]],
                     columns: Sequence[str], references: dict[str, str], thumbnails: dict[str, str],
                     data_root: str) -> str:
    kind = "live" if subject.live else "object"
    parts = [f'<section id="subject-{html.escape(subject.name)}">',
             f"<h2>{html.escape(subject.name)} "
             f"<span class='kind'>({html.escape(subject.class_name)}, {kind})</span></h2>",
             "<div>"]
    for source in subject.images:
        relative = os.path.relpath(source, data_root).replace(os.sep, "/")
        row = real.get(relative, {})
        conditioning = row.get("reference") == row.get("image")
        label = os.path.basename(source) + (" · conditioning" if conditioning else "")
        caption = f"{html.escape(label)}<br>{_scores_line(row, columns) if row else ''}"
        # no link: OUT holds only the thumbnail of a real image (the full one lives under --data)
        parts.append(_figure(None, references[source], label, caption, "real conditioning" if conditioning else "real"))
    parts.append("</div>")
    head = ["recipe", "images", *map(title, columns)]
    rows = [[recipe_label(name), str(row["images"]), *(score_text(row[c]) for c in columns)]
            for name in [*recipes, REAL_IMAGES] if (row := by_subject.get((name, subject.name))) is not None]
    parts.append(html_table((head, rows)))
    mine = [r for r in generated if r["subject"] == subject.name]
    prompts = list(dict.fromkeys((r["prompt_index"], r["prompt"], r["prompt_kind"]) for r in mine))
    parts.append('<table class="grid"><thead><tr><th>prompt</th>'
                 + "".join(f"<th>{html.escape(name)}</th>" for name in recipes) + "</tr></thead><tbody>")
    for index, prompt, prompt_kind in sorted(prompts):
        parts.append(f"<tr><th>{html.escape(prompt)}<br><span class='kind'>{html.escape(prompt_kind)}</span></th>")
        for name in recipes:
            cells = [r for r in mine if r["recipe"] == name and r["prompt_index"] == index]
            parts.append("<td>" + "".join(
                _figure(r["image"], thumbnails.get(r["image"], r["image"]), f"{name}, seed {r['seed']}",
                        f"seed {r['seed']}<br>{_scores_line(r, columns)}") for r in cells) + "</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></section>")
    return "\n".join(parts)


def write_report(path: str, out: str, results: Results, header: dict[str, Any], subjects: Sequence[Subject],
                 recipes: Sequence[str], data_root: str, plot: str | None) -> None:
    references = write_reference_thumbnails(out, subjects)
    thumbnails = write_generated_thumbnails(out, [r["image"] for r in results.per_image if r["recipe"] != REAL_IMAGES])
    write_text_atomic(path, render_report(results, header, subjects, recipes, references, data_root, plot,
                                          thumbnails))
