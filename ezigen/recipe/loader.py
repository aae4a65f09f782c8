"""Finding, reading and resolving recipes: names, ``extends``, ``--set`` overrides, ``--tiny``.

Precedence (DESIGN §5): component defaults < ``extends`` parent < the file < ``--set a.b=VALUE``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from typing import Any

import attrs

from ezigen.config import field_tiny
from ezigen.errors import Problem, RecipeError, UnknownNameError
from ezigen.recipe.schema import COMPONENT_SECTIONS, Recipe, validate
from ezigen.recipe.yaml_loader import LocatedDict, load_yaml_file, parse_scalar
from ezigen.registry import did_you_mean

RECIPE_SUFFIX = ".yaml"
MAX_EXTENDS_DEPTH = 8


def recipe_index(components: Any) -> dict[str, str]:
    """Shipped and plugin recipe names -> file paths (first registered folder wins on a clash)."""
    index: dict[str, str] = {}
    for folder, _plugin in components.recipe_dirs:
        for root, _dirs, files in os.walk(folder):
            for file in sorted(files):
                if file.endswith(RECIPE_SUFFIX):
                    path = os.path.join(root, file)
                    name = os.path.relpath(path, folder)[: -len(RECIPE_SUFFIX)].replace(os.sep, "/")
                    index.setdefault(name, path)
    return dict(sorted(index.items()))


def find_recipe(name_or_path: str, components: Any, relative_to: str | None = None) -> str:
    """A recipe name (``ezigen-sd21-base``) or path -> the file path."""
    candidates = [name_or_path]
    if relative_to:
        candidates.insert(0, os.path.join(relative_to, name_or_path))
    for candidate in candidates:
        for path in (candidate, candidate + RECIPE_SUFFIX):
            if os.path.isfile(path):
                return path
            if os.path.isdir(path):
                exported = os.path.join(path, "recipe.yaml")  # an export, a training run (ezigen.export)
                if os.path.isfile(exported):
                    return exported
                raise UnknownNameError(f"recipe {name_or_path!r} is a folder without recipe.yaml; expected a YAML "
                                       "file, a recipe name, or a folder from `ezigen export`")
    index = recipe_index(components)
    if name_or_path in index:
        return index[name_or_path]
    known = list(index)
    guess = did_you_mean(name_or_path, known)
    hint = f"; did you mean {guess!r}?" if guess else ""
    raise UnknownNameError(
        f"unknown recipe {name_or_path!r}: no such file and no shipped recipe of that name{hint} "
        f"(see `ezigen recipes list`)"
    )


def deep_merge(parent: Any, child: Any) -> Any:
    """child over parent: mappings merge recursively; a component section whose ``type`` changes is replaced."""
    if not isinstance(parent, dict) or not isinstance(child, dict):
        return copy.deepcopy(child)
    if "type" in child and "type" in parent and child["type"] != parent["type"]:
        return copy.deepcopy(child)
    merged = LocatedDict()
    merged.locations.update(getattr(parent, "locations", {}))
    for key, value in parent.items():
        merged[key] = copy.deepcopy(value)
    for key, value in child.items():
        merged[key] = deep_merge(merged[key], value) if key in merged else copy.deepcopy(value)
        if key in getattr(child, "locations", {}):
            merged.locations[key] = child.locations[key]
    return merged


def read_recipe_data(path: str, components: Any, _seen: tuple[str, ...] = ()) -> Any:
    """The recipe file's data with its ``extends`` chain merged in (``extends`` removed)."""
    real = os.path.realpath(path)
    if real in _seen:
        chain = " -> ".join(list(_seen) + [real])
        raise RecipeError([Problem("extends", f"circular extends: {chain}")], path)
    if len(_seen) >= MAX_EXTENDS_DEPTH:
        raise RecipeError([Problem("extends", f"extends chain deeper than {MAX_EXTENDS_DEPTH}")], path)
    data = load_yaml_file(path)
    if data is None:
        raise RecipeError([Problem("", "the recipe is empty; expected a mapping with at least a backbone section")], path)
    if not isinstance(data, dict):
        raise RecipeError([Problem("", f"the top level must be a mapping of sections, got {_kind(data)}")], path)
    parent_name = data.pop("extends", None)
    if parent_name is None:
        return data
    if not isinstance(parent_name, str):
        raise RecipeError([Problem("extends", f"expected one recipe name or path, got {parent_name!r}")], path)
    try:
        parent_path = find_recipe(parent_name, components, relative_to=os.path.dirname(path))
    except UnknownNameError as exc:
        raise RecipeError([Problem("extends", str(exc))], path) from None
    parent = read_recipe_data(parent_path, components, _seen + (real,))
    parent.pop("name", None)  # a name belongs to its own file; a child without one is named after its file
    return deep_merge(parent, data)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__)


def parse_override(expression: str) -> tuple[list[str], Any]:
    """``a.b.c=VALUE`` -> (["a", "b", "c"], parsed VALUE); VALUE is read by the recipe YAML loader."""
    if "=" not in expression:
        raise RecipeError([Problem("--set", f"{expression!r} is not KEY=VALUE", "e.g. --set sampling.steps=20")])
    key, value_text = expression.split("=", 1)
    parts = key.strip().split(".")
    if not key.strip() or any(not p or not p.replace("_", "").replace("-", "").isalnum() for p in parts):
        raise RecipeError([Problem("--set", f"{key!r} is not a dotted key", "e.g. --set guidance.text_scale=5")])
    if parts[0] == "extends":  # resolved before overrides apply: it would be accepted and silently ignored
        raise RecipeError([Problem("--set extends", "extends cannot be set from the command line",
                                   "write `extends: PARENT` in a recipe file and pass that file")])
    try:
        value = parse_scalar(value_text, source=f"--set {key}")
    except RecipeError as exc:
        raise RecipeError([Problem(key, f"bad --set value {value_text!r}: {p.message}") for p in exc.problems]) from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set each ``a.b=VALUE``. Changing a section's ``type`` drops that section's other keys from the
    files (they belong to the old component), keeping keys given with ``--set``."""
    data = copy.deepcopy(data)
    given: set[tuple[str, ...]] = set()
    for expression in overrides:
        parts, value = parse_override(expression)
        node = data
        for depth, part in enumerate(parts[:-1]):
            if part in node and node[part] is None:
                _refuse_null_section(".".join(parts[: depth + 1]), ".".join(parts), node)
            if not isinstance(node.get(part), dict):
                node[part] = LocatedDict()
            node = node[part]
        if parts[-1] == "type" and node.get("type") != value:
            for key in [k for k in node if tuple(parts[:-1]) + (k,) not in given and k != "type"]:
                del node[key]
        node[parts[-1]] = value
        given.add(tuple(parts))
        if isinstance(node, LocatedDict):
            node.locations[parts[-1]] = f"--set {'.'.join(parts)}"
    return data


def _refuse_null_section(section: str, key: str, node: Any) -> None:
    """``--set refinement.stop.type=fixed`` on ``refinement: null``: creating the section would silently
    turn it on with every other key at its default, which is not what "change one key" means."""
    example = "refinement.stop.type=..." if section == "refinement" else f"{key}=..."
    where = getattr(node, "locations", {}).get(section.rsplit(".", 1)[-1])
    raise RecipeError([Problem(f"--set {key}", f"{section} is null in this recipe, so {key} cannot be set",
                               f"set `{example}` on a recipe with {section}, or `--set {section}={{}}` to enable "
                               "it with its defaults", where)])


def load_recipe(name_or_path: str, overrides: Iterable[str] = (), *, tiny: bool = False, components: Any = None) -> Recipe:
    """Load, merge, override and validate a recipe; raise :class:`RecipeError` listing every problem."""
    from ezigen.plugins import components as default_components

    components = components or default_components()
    overrides = list(overrides)
    path = find_recipe(name_or_path, components)
    data = weights_beside_recipe(read_recipe_data(path, components), path)
    data = apply_overrides(data, overrides)
    recipe = validate(data, components, source=path)
    check_requires(recipe, components)
    if tiny:
        overridden = {expr.split("=", 1)[0].strip() for expr in overrides}
        recipe = validate(tiny_data(recipe, overridden), components, source=path)
    return recipe


def weights_beside_recipe(data: Any, path: str) -> Any:
    """A relative ``fusion.weights`` that names a file next to the recipe file is read from there (an export's
    ``fusion.safetensors``); anything else (cwd-relative paths, ``hf://``, plugin schemes) is left alone."""
    fusion = data.get("fusion") if isinstance(data, dict) else None
    weights = fusion.get("weights") if isinstance(fusion, dict) else None
    if isinstance(weights, str) and "://" not in weights and not os.path.isabs(weights):
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), weights)
        if os.path.isfile(beside) and not os.path.isfile(weights):
            fusion["weights"] = beside
    return data


def resolve_recipe(name_or_path: str, overrides: Iterable[str] = (), *, tiny: bool = False,
                   components: Any = None) -> tuple[Recipe, str]:
    """(validated recipe, its fully resolved YAML text): the one path behind ``recipes validate`` and
    ``recipes show --resolved``, so that a recipe that validates also resolves and prints."""
    from ezigen.recipe.yaml_loader import dump_yaml

    recipe = load_recipe(name_or_path, overrides, tiny=tiny, components=components)
    return recipe, dump_yaml(recipe.to_data())


def check_requires(recipe: Recipe, components: Any) -> None:
    """``requires: {plugin: spec}`` -> each plugin present at a matching version."""
    if not recipe.requires:
        return
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    from ezigen.plugins import find_plugin, plugin_version

    pm = components.pm
    problems = []
    for name, spec in recipe.requires.items():
        plugin = find_plugin(pm, name)
        if plugin is None:
            problems.append(Problem(f"requires.{name}", "plugin not installed (or disabled)",
                                    "see `ezigen plugins`"))
            continue
        version = plugin_version(pm, plugin)
        try:
            ok = version is None or SpecifierSet(spec).contains(version, prereleases=True)
        except InvalidSpecifier:
            problems.append(Problem(f"requires.{name}", f"invalid version specifier {spec!r}", "e.g. '>=0.1'"))
            continue
        if not ok:
            problems.append(Problem(f"requires.{name}", f"needs {spec}, installed {version}"))
    if problems:
        raise RecipeError(problems, recipe.source)


def is_hub_reference(value: Any) -> bool:
    """A hub id (``owner/name``) or ``hf://`` URI: not a local path, not an embedded name (``tiny:sd21``)."""
    if not isinstance(value, str) or os.path.exists(value):
        return False
    return value.startswith("hf://") or ":" not in value


def _looks_local(value: str) -> bool:
    """A path written as a file (absolute, ./ ../ ~, or a weights-file suffix), which a hub id never is."""
    if value.startswith("hf://"):
        return False
    suffix = os.path.splitext(value)[1].lower()
    return (os.path.isabs(value) or value.startswith((".", "~"))
            or suffix in (".safetensors", ".bin", ".pt", ".pth", ".ckpt"))


def tiny_data(recipe: Recipe, overridden: set[str]) -> dict[str, Any]:
    """The recipe with every hub model id replaced by the tiny model of its kind (DESIGN §6, ``--tiny``).

    Local folders and files are left alone; weights made for a real model (``tiny="drop"``)
    become null; a replaced ``pretrained``'s ``revision`` becomes null (tiny models have none);
    ``backbone.resolution`` becomes 64 unless ``--set`` gave it.
    """
    from ezigen.builtins.backbones.tiny import TINY_RESOLUTION

    data = recipe.to_data()
    sections: list[tuple[str, Any]] = [(s, getattr(recipe, s)) for s in COMPONENT_SECTIONS]
    if recipe.refinement is not None:
        sections.append(("refinement.stop", recipe.refinement.stop))
    for path, spec in sections:
        if spec is None:
            continue
        node = data
        for part in path.split("."):
            node = node[part]
        for field in attrs.fields(type(spec.config)):
            kind = field_tiny(field)
            value = node.get(field.name)
            if kind is None or not is_hub_reference(value):
                continue
            if f"{path}.{field.name}" in overridden and kind == "drop":
                continue
            if kind == "drop":
                if _looks_local(value):  # a missing file of the user's, not a hub model: never drop it silently
                    hint = "--tiny replaces hub models only; give an existing file, or null for untrained weights"
                    raise RecipeError([Problem(f"{path}.{field.name}", f"local file {value!r} does not exist", hint)],
                                      recipe.source)
                node[field.name] = None
            elif kind == "backbone":
                node[field.name] = "tiny:sdxl" if "xl" in value.lower() else "tiny:sd21"
            else:
                node[field.name] = f"tiny:{kind}"
            if field.name == "pretrained" and node.get("revision") is not None:
                node["revision"] = None  # the hub model's commit means nothing for its tiny stand-in
    if "backbone.resolution" not in overridden and str(data["backbone"].get("pretrained", "")).startswith("tiny:"):
        data["backbone"]["resolution"] = TINY_RESOLUTION  # the tiny models' native size (not the toy's)
    return data
