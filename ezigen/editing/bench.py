"""Editing on a DreamEditBench-style folder: a loader for the layout and a runner (docs/editing.md).

Layout (one folder per case; DreamEditBench's source / mask / subject / prompt, one case each)::

    DATA/<case>/source.png            the image to edit (any image format PIL reads: source.*)
    DATA/<case>/mask.png              white = the region to edit (mask.*)
    DATA/<case>/subject/*.png         the subject image(s) (or one subject.* file)
    DATA/<case>/prompt.txt            the target prompt, e.g. "a dog on the grass"
    DATA/<case>/subject_prompt.txt    optional: the subject's class text, e.g. "a dog"

``python -m ezigen.editing.bench RECIPE --data DATA --out OUT [--tiny] [--limit N] [--set K=V]``
edits every case (sorted by name) with ``System.edit`` and writes ``OUT/<case>/image.png`` and
``trace.json``, ``OUT/recipe.yaml``, and ``OUT/results.jsonl`` (one line per case: background
error = mean |edit - source| in 0..255 outside the mask dilated by ``--border`` px, the fraction
of exact pixels there, and the UNet evaluations), then ``OUT/summary.json`` (means). The images
can be scored for subject fidelity and prompt alignment with the DreamBench metrics
(``ezigen.evaluation``) as any generated image.
"""

from __future__ import annotations

import glob
import os
from typing import Any

import attrs

from ezigen.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@attrs.frozen
class EditCase:
    name: str
    source: str
    mask: str
    subjects: tuple[str, ...]
    prompt: str
    subject_prompt: str | None


def _image(folder: str, stem: str) -> str | None:
    found = sorted(p for p in glob.glob(os.path.join(glob.escape(folder), stem + ".*"))
                   if p.lower().endswith(IMAGE_SUFFIXES))
    return found[0] if found else None


def read_cases(data: str) -> list[EditCase]:
    """Every case folder of ``data`` (module docstring), sorted by name; a :class:`DataError` names what is missing."""
    if not os.path.isdir(data):
        raise DataError(f"--data {data!r} is not a folder")
    cases = []
    for name in sorted(os.listdir(data)):
        folder = os.path.join(data, name)
        if not os.path.isdir(folder) or name.startswith("."):
            continue
        source, mask = _image(folder, "source"), _image(folder, "mask")
        subject_dir = os.path.join(folder, "subject")
        subjects = sorted(p for p in glob.glob(os.path.join(glob.escape(subject_dir), "*"))
                          if p.lower().endswith(IMAGE_SUFFIXES)) if os.path.isdir(subject_dir) else []
        single = _image(folder, "subject")
        subjects = subjects or ([single] if single else [])
        prompt_file = os.path.join(folder, "prompt.txt")
        missing = [what for what, found in (("source.*", source), ("mask.*", mask), ("subject/ or subject.*", subjects),
                                            ("prompt.txt", os.path.isfile(prompt_file))) if not found]
        if missing:
            raise DataError(f"case {folder!r} lacks {', '.join(missing)} (layout: docs/editing.md)")
        with open(prompt_file, encoding="utf-8") as handle:
            prompt = handle.read().strip()
        class_file = os.path.join(folder, "subject_prompt.txt")
        subject_prompt = None
        if os.path.isfile(class_file):
            with open(class_file, encoding="utf-8") as handle:
                subject_prompt = handle.read().strip() or None
        cases.append(EditCase(name, source, mask, tuple(subjects), prompt, subject_prompt))
    if not cases:
        raise DataError(f"--data {data!r} holds no case folders (layout: docs/editing.md)")
    return cases


def background_scores(edited: Any, source: Any, mask: Any, border: int) -> tuple[float, float]:
    """(mean |edit - source| in 0..255, fraction of exact pixels) outside ``mask`` dilated by ``border`` px,
    all at the edit's size."""
    import numpy as np
    from PIL import Image, ImageFilter

    size = edited.size
    gray = mask.convert("L").resize(size, Image.Resampling.BILINEAR)
    if border > 0:
        gray = gray.filter(ImageFilter.MaxFilter(2 * border + 1))
    outside = ~(np.asarray(gray) > 0)
    a = np.asarray(edited.convert("RGB"), dtype=np.float64)
    b = np.asarray(source.convert("RGB").resize(size, Image.Resampling.BICUBIC), dtype=np.float64)
    difference = np.abs(a - b)[outside]  # (N, 3)
    if not difference.size:
        return 0.0, 1.0
    return float(difference.mean()), float((difference.max(axis=-1) == 0).mean())


def run_bench(recipe: Any, data: str, out: str, limit: int | None = None, border: int = 8, log=print) -> dict:
    """Edit every case of ``data`` with ``recipe`` (a loaded Recipe); write OUT (module docstring)."""
    import json

    from ezigen.build import build_system
    from ezigen.images import load_image, save_image_atomic
    from ezigen.io import write_json_atomic, write_text_atomic
    from ezigen.recipe.yaml_loader import dump_yaml

    cases = read_cases(data)[:limit]
    for case in cases:  # every image readable before any model loads
        for path in (case.source, case.mask, *case.subjects):
            load_image(path, f"case {case.name!r}: {os.path.basename(path)}")
    system = build_system(recipe)
    os.makedirs(out, exist_ok=True)
    write_text_atomic(os.path.join(out, "recipe.yaml"), dump_yaml(recipe.to_data()))
    lines = []
    for case in cases:
        result = system.edit(case.source, case.mask, case.prompt, subject=list(case.subjects) or None,
                             subject_prompt=case.subject_prompt)
        folder = os.path.join(out, case.name)
        os.makedirs(folder, exist_ok=True)
        write_json_atomic(os.path.join(folder, "trace.json"), result.trace.to_json())
        save_image_atomic(result.image, os.path.join(folder, "image.png"))
        error, exact = background_scores(result.image, load_image(case.source), load_image(case.mask), border)
        lines.append({"case": case.name, "prompt": case.prompt, "background_error": round(error, 4),
                      "background_exact": round(exact, 4), "unet_evals": int(result.trace.totals["unet_evals"])})
        log(f"{case.name}: background error {error:.2f}")
    write_text_atomic(os.path.join(out, "results.jsonl"), "".join(json.dumps(line) + "\n" for line in lines))
    summary = {"cases": len(lines), "border": border,
               **{key: round(sum(line[key] for line in lines) / len(lines), 4)
                  for key in ("background_error", "background_exact", "unet_evals")}}
    write_json_atomic(os.path.join(out, "summary.json"), summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json
    import sys

    from ezigen.errors import EzigenError
    from ezigen.recipe.loader import load_recipe

    parser = argparse.ArgumentParser(prog="python -m ezigen.editing.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--border", type=int, default=8, help="Dilation of the mask (px) for background scores.")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        recipe = load_recipe(args.recipe, args.overrides, tiny=args.tiny)
        summary = run_bench(recipe, args.data, args.out, args.limit, args.border,
                            log=lambda m: print(m, file=sys.stderr))
    except EzigenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(summary))


if __name__ == "__main__":  # pragma: no cover
    main()
