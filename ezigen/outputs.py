"""Writing a generation's outputs: image(s), resolved recipe, trace, all atomically."""

from __future__ import annotations

import os
from typing import Any

from ezigen.images import save_image_atomic
from ezigen.io import write_json_atomic, write_text_atomic
from ezigen.recipe.yaml_loader import dump_yaml


def write_generation(out: str, result: Any, recipe: Any, extra: dict[str, Any] | None = None,
                     names: list[str] | None = None, grid: bool = False,
                     provenance: dict[str, Any] | None = None) -> list[str]:
    """Write ``recipe.yaml`` and ``trace.json``, then the images (``names``, default ``image.png``,
    ``image-1.png``, ...) and, with ``grid``, ``grid.png`` (diffusers' ``make_image_grid``).

    ``trace.json`` gets ``"provenance"`` (versions, device, each model's source and resolved hub
    revision: ezigen.provenance); pass ``provenance`` when it was computed once for many results.

    Images come last, so an image always sits beside the recipe and trace of its own run.
    """
    os.makedirs(out, exist_ok=True)
    write_text_atomic(os.path.join(out, "recipe.yaml"), dump_yaml(recipe.to_data()))
    names = names or ["image.png" if i == 0 else f"image-{i}.png" for i in range(len(result.images))]
    trace = result.trace.to_json()
    trace["seed"] = result.seed
    trace["prompts"] = result.prompts
    trace["images"] = names
    if extra:
        trace.update(extra)
    if provenance is None:
        from ezigen.provenance import run_provenance

        provenance = run_provenance(recipe)
    trace["provenance"] = provenance
    write_json_atomic(os.path.join(out, "trace.json"), trace)
    paths = []
    for name, image in zip(names, result.images):
        path = os.path.join(out, name)
        save_image_atomic(image, path)
        paths.append(path)
    if grid:
        from diffusers.utils import make_image_grid

        rows = len(result.prompts)
        save_image_atomic(make_image_grid(list(result.images), rows=rows, cols=len(result.images) // rows),
                          os.path.join(out, "grid.png"))
    return paths
