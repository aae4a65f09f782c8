"""The metric columns of an evaluation: registered metrics, their configs, ``--tiny``, variants.

``--metrics dino,clip-i,clip-t`` names registered metrics (plugins' included);
``--metric-set NAME.KEY=VALUE`` sets a config field (VALUE read by the recipe YAML loader);
``--tiny`` replaces each hub model id by the tiny model of its kind (fields marked ``tiny=``).
A metric whose config has ``references: all`` gets a second column, ``<name>-cond``, with
``references: conditioning``: the same metric against the conditioning image alone (these
variant columns come after the others: dino, clip-i, clip-t, dino-cond, clip-i-cond).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import attrs

from ezigen.config import field_tiny, structure, unstructure
from ezigen.errors import Problem, RecipeError

DEFAULT_METRICS = ("dino", "clip-i", "clip-t")
CONDITIONING_SUFFIX = "-cond"


@attrs.frozen
class MetricColumn:
    """One score column: its name in the outputs, the registry name, the metric class and its config."""

    column: str
    metric: str
    cls: Any
    config: Any

    @property
    def conditioning_only(self) -> bool:
        return getattr(getattr(self.config, "references", None), "value", None) == "conditioning"

    @property
    def uses_references(self) -> bool:
        return bool(getattr(self.cls, "uses_references", False))

    def build(self) -> Any:
        return self.cls.from_config(self.config)


def metric_columns(names: Sequence[str] = DEFAULT_METRICS, settings: Sequence[str] = (), tiny: bool = False,
                   components: Any = None) -> list[MetricColumn]:
    """Resolve metric names and ``NAME.KEY=VALUE`` settings into columns; every problem in one error."""
    from ezigen.plugins import components as default_components
    from ezigen.recipe.loader import parse_override

    components = components or default_components()
    registry = components.registry("metrics")
    names = list(dict.fromkeys(names))
    classes = {name: registry.get(name, "--metrics") for name in names}
    data: dict[str, dict[str, Any]] = {name: {} for name in names}
    problems: list[Problem] = []
    for expression in settings:
        parts, value = parse_override(expression)
        if len(parts) != 2 or parts[0] not in data:
            problems.append(Problem(f"--metric-set {expression}", "expected NAME.KEY=VALUE with NAME one of "
                                    f"the evaluated metrics ({', '.join(names)})"))
            continue
        data[parts[0]][parts[1]] = value
    columns: list[MetricColumn] = []
    variants: list[MetricColumn] = []
    for name in names:
        config, found = structure(classes[name].config_class, data[name], f"metrics.{name}")
        problems += found
        if config is None:
            continue
        if tiny:
            config = tiny_config(config)
        references = getattr(getattr(config, "references", None), "value", None)
        if references == "conditioning":  # asked for explicitly: the column says so
            columns.append(MetricColumn(name + CONDITIONING_SUFFIX, name, classes[name], config))
            continue
        columns.append(MetricColumn(name, name, classes[name], config))
        if references == "all":
            variant = attrs.evolve(config, references=type(config.references)("conditioning"))
            variants.append(MetricColumn(name + CONDITIONING_SUFFIX, name, classes[name], variant))
    if problems:
        raise RecipeError(problems, "metric settings")
    return columns + [v for v in variants if v.column not in {c.column for c in columns}]


def tiny_config(config: Any) -> Any:
    """``--tiny`` for a metric config: hub ids in fields marked ``tiny=KIND`` -> ``tiny:KIND``
    (local folders and names with a scheme such as ``tiny:dino`` are kept), as recipes do."""
    changes = {}
    for field in attrs.fields(type(config)):
        kind = field_tiny(field)
        value = getattr(config, field.name)
        if kind in (None, "drop", "backbone") or not isinstance(value, str) or ":" in value or os.path.exists(value):
            continue
        changes[field.name] = f"tiny:{kind}"
        if field.name == "pretrained" and "revision" in attrs.fields_dict(type(config)):
            changes["revision"] = None  # the hub model's commit means nothing for its tiny stand-in
    return attrs.evolve(config, **changes) if changes else config


def describe_columns(columns: Sequence[MetricColumn], built: dict[str, Any]) -> list[dict[str, Any]]:
    """What each column measured: config as data plus the metric's own ``describe()`` (backbone, preprocessing)."""
    out = []
    for column in columns:
        metric = built[column.column]
        described = metric.describe() if hasattr(metric, "describe") else {}
        out.append({"column": column.column, "metric": column.metric, "config": unstructure(column.config),
                    **{k: v for k, v in described.items() if k != "metric"}})
    return out
