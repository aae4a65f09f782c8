"""Writing a generation's outputs: image(s), resolved recipe, trace, all atomically."""

from __future__ import annotations

import os
from typing import Any

from ezigen.images import save_image_atomic
from ezigen.io import write_json_atomic, write_text_atomic
from ezigen.recipe.yaml_loader import dump_yaml


def write_generation(out: str, result: Any, recipe: Any, extra: dict[str, Any] | None = None) -> list[str]:
    """Write ``recipe.yaml`` and ``trace.json``, then the images (``image.png``, ``image-1.png``, ...).

    Images come last, so an ``image.png`` always sits beside the recipe and trace of its own run.
    """
    os.makedirs(out, exist_ok=True)
    write_text_atomic(os.path.join(out, "recipe.yaml"), dump_yaml(recipe.to_data()))
    trace = result.trace.to_json()
    trace["seed"] = result.seed
    trace["prompts"] = result.prompts
    if extra:
        trace.update(extra)
    write_json_atomic(os.path.join(out, "trace.json"), trace)
    paths = []
    for i, image in enumerate(result.images):
        path = os.path.join(out, "image.png" if i == 0 else f"image-{i}.png")
        save_image_atomic(image, path)
        paths.append(path)
    return paths
