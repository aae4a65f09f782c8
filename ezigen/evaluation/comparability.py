"""Settings outside the subject path on which compared recipes differ (a confound, reported).

A table that compares recipes should differ only in the subject path (encoder, fusion, subject
guidance, refinement). The settings below shape the image with or without a subject, so when
the evaluated recipes disagree on one, part of any score gap is due to it: the shipped
``text-only-sd21-base`` has no negative prompt while ``ezigen-sd21-base`` uses the released one.
``ezigen eval`` does not change recipes; it logs one warning per such setting, records them in
``results.json`` (``comparability``) and shows them in ``results.md`` and ``report.html``. One
``--set KEY=VALUE`` applies to every recipe and removes the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TEXT_SIDE_KEYS = ("backbone.pretrained", "backbone.scheduler", "backbone.resolution", "backbone.dtype",
                  "sampling.steps", "guidance.text_scale", "guidance.negative_prompt")


def _get(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def differences(recipes: Sequence[Any]) -> list[dict[str, Any]]:
    """[{"key", "values": {recipe name: value}}] for each TEXT_SIDE_KEYS setting the recipes disagree on."""
    data = [(recipe.name, recipe.to_data()) for recipe in recipes]
    found = []
    for key in TEXT_SIDE_KEYS:
        values = {name: _get(d, key) for name, d in data}
        if len({repr(v) for v in values.values()}) > 1:
            found.append({"key": key, "values": values})
    return found


def describe(difference: dict[str, Any]) -> str:
    """One line: 'guidance.negative_prompt differs: a: None; b: 'dark, ...'' and how to remove it."""
    values = "; ".join(f"{name}: {value!r}" for name, value in difference["values"].items())
    return (f"the compared recipes differ in {difference['key']} ({values}), so their differences are not "
            f"due to the subject path alone; --set {difference['key']}=VALUE gives them one value")
