"""A trained system as a folder: ``pipe.save_pretrained(DIR)`` / ``ezigen export RUN DIR``.

    DIR/recipe.yaml          the resolved recipe, ``fusion.weights: fusion.safetensors``
    DIR/fusion.safetensors   the fusion's weights (when it has any)
    DIR/README.md            a model card: what it is, base model, recipe, training data, eval summary

``ezigen generate DIR``, ``ezigen.load_recipe(DIR)`` and ``EZIGenPipeline.from_pretrained(DIR)``
load it: a relative ``fusion.weights`` is read next to the recipe file. The base model is not
copied: the recipe names it (``backbone.pretrained``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

from ezigen.errors import EzigenError, OutputError
from ezigen.io import default_folder_mode

RECIPE_FILE = "recipe.yaml"
WEIGHTS_FILE = "fusion.safetensors"


def export_folder(recipe: Any, weights: str | None, out: str, overwrite: bool = False,
                  training: dict | None = None, evaluation: dict | None = None) -> str:
    """Write ``out`` (staged beside it, published by rename) from a loaded recipe and a weights file."""
    import attrs

    from ezigen.recipe.yaml_loader import dump_yaml

    if os.path.lexists(out) and (not os.path.isdir(out) or (os.listdir(out) and not overwrite)):
        raise OutputError(f"export: {out!r} exists and is not an empty folder; pass --overwrite or choose another")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(out))}.tmp-", dir=parent)
    os.chmod(staging, default_folder_mode())  # mkdtemp makes 0700; the published folder follows the umask
    try:
        data = recipe.to_data()
        if weights is not None:
            shutil.copyfile(weights, os.path.join(staging, WEIGHTS_FILE))
            data["fusion"]["weights"] = WEIGHTS_FILE
        elif data.get("fusion") and attrs.has(type(recipe.fusion.config)) and data["fusion"].get("weights"):
            raise EzigenError(f"export: the recipe's fusion.weights {data['fusion']['weights']!r} is not part of the "
                              "export; give the weights file")
        with open(os.path.join(staging, RECIPE_FILE), "w", encoding="utf-8") as fh:
            fh.write(dump_yaml(data))
        with open(os.path.join(staging, "README.md"), "w", encoding="utf-8") as fh:
            fh.write(model_card(recipe, data, training, evaluation))
        if os.path.isdir(out):
            old = staging + ".old"
            os.rename(out, old)
            os.rename(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def export_run(run: str, out: str, overwrite: bool = False) -> str:
    """A training run folder (``recipe.yaml`` + ``adapter.safetensors``, from ``ezigen train``) -> an export."""
    from ezigen.recipe.loader import load_recipe

    recipe_path, weights = os.path.join(run, RECIPE_FILE), os.path.join(run, "adapter.safetensors")
    missing = [p for p in (recipe_path, weights) if not os.path.isfile(p)]
    if missing:
        raise EzigenError(f"export: {run!r} is not a finished training run (missing {', '.join(missing)}); "
                          "expected the folder `ezigen train --out` wrote")
    recipe = load_recipe(recipe_path)
    training = _read_json(os.path.join(run, "summary.json")) or {}
    if recipe.training is not None:
        training.setdefault("max_steps", recipe.training.max_steps)
    evaluation = _read_json(os.path.join(run, "eval", "results.json"))
    return export_folder(recipe, weights, out, overwrite, training=training, evaluation=evaluation)


def _read_json(path: str) -> dict | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def model_card(recipe: Any, data: dict, training: dict | None, evaluation: dict | None) -> str:
    """README.md of an export: enough for a reader to know what they load and how."""
    from ezigen._version import __version__
    from ezigen.recipe.yaml_loader import dump_yaml

    backbone = data["backbone"]
    lines = [
        "---", "library_name: ezigen", "tags: [ezigen, subject-driven-generation, stable-diffusion]",
        f"base_model: {backbone.get('pretrained')}", "---", "",
        f"# {recipe.name}", "", (recipe.description or "").strip(), "",
        f"- base model: `{backbone.get('pretrained')}`" + (f" @ `{backbone['revision']}`" if backbone.get("revision") else ""),
        f"- subject encoder: `{(data.get('subject_encoder') or {}).get('type')}`; fusion: `{(data.get('fusion') or {}).get('type')}`",
        f"- made with ezigen {__version__}", "",
        "```python", "from ezigen import EZIGenPipeline", "",
        'pipe = EZIGenPipeline.from_pretrained("THIS_FOLDER")',
        'image = pipe("a dog on the beach", subject_image="dog.jpg", subject_prompt="a dog").images[0]', "```", "",
        "or `ezigen generate THIS_FOLDER --subject dog.jpg --subject-prompt 'a dog' -p 'a dog on the beach'`.", "",
    ]
    if recipe.training is not None or training:
        lines += ["## Training", ""]
        if recipe.training is not None:
            lines.append(f"- data: `{getattr(recipe.training, 'data', None) or 'see the run that made it'}`")
        for key, value in sorted((training or {}).items()):
            if isinstance(value, (int, float, str)):
                lines.append(f"- {key}: {value}")
        lines.append("")
    if evaluation:
        lines += ["## Evaluation", "", "```json", json.dumps(evaluation.get("per_recipe", evaluation), indent=1)[:4000],
                  "```", ""]
    lines += ["## Recipe", "", "```yaml", dump_yaml(data).rstrip(), "```", ""]
    return "\n".join(lines)
