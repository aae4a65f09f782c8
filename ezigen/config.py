"""Component configs: frozen attrs classes, strict structuring from recipe data, and back.

Every component declares ``config_class``, a ``@attrs.frozen`` class whose fields are its
recipe keys. :func:`structure` turns a recipe section into that class, collecting *every*
problem (unknown key with a suggestion, wrong type, out-of-range value) with its dotted path,
instead of stopping at the first. cattrs can structure attrs classes too, but it reports
problems as nested exception groups without suggestions; recipes need one flat, readable list,
so this small structurer is written here.

Supported field types: ``int``, ``float``, ``bool``, ``str``, enums (by value), ``X | None``,
``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[str, X]`` and ``typing.Any`` (plain data).
"""

from __future__ import annotations

import enum
import math
import types
import typing
from typing import Any

import attrs

from ezigen.errors import Problem
from ezigen.registry import did_you_mean

DOC = "ezigen.doc"
TINY = "ezigen.tiny"


def setting(
    default: Any = attrs.NOTHING, doc: str = "", validator: Any = None, *, tiny: str | None = None, **kwargs: Any
) -> Any:
    """An attrs field with a documentation string (rendered in docs/recipes.md).

    ``tiny`` marks a field that names a model: under ``--tiny`` a hub id there is replaced by
    the tiny model of that kind (``"backbone"``: tiny:sd21 or tiny:sdxl; ``"clip"``;
    ``"dino"``), or dropped to null (``"drop"``: weights made for a real model).
    """
    metadata = {DOC: doc}
    if tiny is not None:
        metadata[TINY] = tiny
    return attrs.field(default=default, validator=validator, metadata=metadata, **kwargs)


def field_doc(field: attrs.Attribute) -> str:
    return field.metadata.get(DOC, "")


def field_tiny(field: attrs.Attribute) -> str | None:
    return field.metadata.get(TINY)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0]).removeprefix('an ').removeprefix('a ')}s"
        if len(set(args)) == 1:
            return f"a list of {len(args)} {_type_name(args[0]).removeprefix('an ').removeprefix('a ')}s"
        return f"a list of {len(args)} values"
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "a boolean (true/false)", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, int) and abs(value) >= 10**30:  # repr of a huge int is unreadable (or refused)
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


class _Mismatch(Exception):
    def __init__(self, expected: str, value: Any, hint: str | None = None):
        self.expected, self.value, self.hint = expected, value, hint


def convert(tp: Any, value: Any) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples and strings to enums."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(arg, value)
            except _Mismatch:
                continue
        raise _Mismatch(_type_name(tp), value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(_type_name(tp), value)
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(args[0], v) for v in value)
        if len(value) != len(args):
            raise _Mismatch(_type_name(tp), value)
        return tuple(convert(a, v) for a, v in zip(args, value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch("a mapping", value)
        key_type, value_type = typing.get_args(tp)
        return {convert(key_type, k): convert(value_type, v) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        if isinstance(value, tp):
            return value
        if isinstance(value, str) and value in values:
            return tp(value)
        guess = did_you_mean(str(value), [str(v) for v in values])
        raise _Mismatch(_type_name(tp), value, f"did you mean {guess!r}?" if guess else None)
    if tp is bool:
        if isinstance(value, bool):
            return value
        hint = "write true or false" if isinstance(value, str) else None
        raise _Mismatch("a boolean (true/false)", value, hint)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            raise _Mismatch("an integer", value, f"write {int(value)}")
        raise _Mismatch("an integer", value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and math.isnan(value):
                raise _Mismatch("a number", value, "nan is not allowed")
            try:
                return float(value)
            except OverflowError:  # an integer beyond ~1.8e308
                raise _Mismatch("a number within the range of a float (about 1.8e308)", value) from None
        hint = None
        if isinstance(value, str):
            hint = "quoted numbers are strings; write it unquoted, e.g. 1.0e-4"
        raise _Mismatch("a number", value, hint)
    if tp is str:
        if isinstance(value, str):
            return value
        hint = f"quote it: '{value}'" if isinstance(value, (bool, int, float)) else None
        raise _Mismatch("a string", value, hint)
    raise TypeError(f"unsupported config field type {tp!r}")


def structure(cls: type, data: Any, path: str, location: Any = None) -> tuple[Any, list[Problem]]:
    """Build ``cls`` from ``data``; return (instance or None, problems).

    ``location(path, key) -> "file:line" | None`` lets messages point into the recipe file.
    """
    where = location or (lambda p, k: None)
    problems: list[Problem] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [Problem(path, f"expected a mapping, got {_describe(data)}")]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in attrs.fields(cls)}
    for key in data:
        if key not in fields:
            guess = did_you_mean(str(key), list(fields))
            suggestion = f"did you mean {guess!r}?" if guess else f"known keys: {', '.join(fields) or '(none)'}"
            problems.append(Problem(_join(path, key), "unknown key", suggestion, where(path, key)))
    values: dict[str, Any] = {}
    for name, field in fields.items():
        key_path = _join(path, name)
        if name not in data:
            if field.default is attrs.NOTHING:
                problems.append(Problem(key_path, f"missing; expected {_type_name(hints[name])}"))
            continue
        try:
            value = convert(hints[name], data[name])
        except _Mismatch as exc:
            message = f"expected {exc.expected}, got {_describe(exc.value)}"
            problems.append(Problem(key_path, message, exc.hint, where(path, name)))
            continue
        if field.validator is not None:
            try:
                field.validator(None, field, value)
            except (ValueError, TypeError) as exc:
                problems.append(Problem(key_path, str(exc), None, where(path, name)))
                continue
        values[name] = value
    if problems:
        return None, problems
    try:
        return cls(**values), []
    except (ValueError, TypeError) as exc:  # cross-field checks in __attrs_post_init__
        return None, [Problem(path, str(exc))]


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def unstructure(instance: Any) -> dict[str, Any]:
    """The recipe form of a config: enums as their values, tuples as lists."""
    out: dict[str, Any] = {}
    for field in attrs.fields(type(instance)):
        out[field.name] = to_plain(getattr(instance, field.name))
    return out


def to_plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if attrs.has(type(value)):
        return unstructure(value)
    return value


# Validators used across configs, with messages that read well after a dotted path.


def in_range(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False):
    """Validator: ``low <= value <= high`` (bounds optional, either side open)."""

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is None:
            return
        bad = (
            (low is not None and (value <= low if low_open else value < low))
            or (high is not None and (value >= high if high_open else value > high))
        )
        if bad:
            lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
            hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
            shown = _describe(value) if isinstance(value, int) and abs(value) >= 10**30 else value
            raise ValueError(f"must be {' and '.join(x for x in (lo, hi) if x)}, got {shown}")

    lo = "" if low is None else f"{low} {'<' if low_open else '<='} "
    hi = "" if high is None else f" {'<' if high_open else '<='} {high}"
    check.describes = f"{lo}x{hi}"  # shown by docgen and `ezigen recipes show --docs`
    return check


def validator_text(field: attrs.Attribute) -> str:
    """What a field's validator allows, in words ("0 <= x <= 1"), or "" when it has none we can describe."""
    validator = field.validator
    parts = getattr(validator, "_validators", None) or ([validator] if validator is not None else [])
    return "; ".join(getattr(v, "describes", "") for v in parts if getattr(v, "describes", ""))
