"""A strict, safe YAML loader for recipes and ``--set`` values.

Differences from ``yaml.safe_load``, each closing a trap:

- **Duplicate keys** are an error naming the key and both lines (PyYAML keeps the last one silently).
- **YAML 1.2 core scalars**: ``1e-4`` is a float (PyYAML's 1.1 resolver reads it as a string),
  only ``true``/``false`` are booleans (``no``, ``off``, ``y`` stay strings, so a bool field given
  ``no`` fails validation with a message instead of silently turning false), no sexagesimal
  integers (``1:30``) and no timestamps.
- Only plain data: mappings, sequences, strings, numbers, booleans, null. Python tags are rejected
  (that is what ``SafeLoader`` already guarantees; recipes can never run code).
- Every mapping remembers the line of each of its keys, for messages that point into the file.

PyYAML has no switch for the 1.2 core schema, so the resolver table is set here by hand.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ezigen.errors import Problem, RecipeError


class LocatedDict(dict):
    """A dict that also knows where each key was written: key -> "file:line"."""

    locations: dict[str, str]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.locations = {}


class _Core12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit resolvers and duplicate-key detection."""

    yaml_implicit_resolvers: dict = {}


_Core12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Core12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Core12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Core12Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    value = loader.construct_scalar(node)
    text = str(value)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith("inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text.endswith("nan"):
        return float("nan")
    return float(text)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    result = LocatedDict()
    source = getattr(loader, "source_name", "<string>")
    first_lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise _LoadProblem(f"keys must be strings, got {key!r}", line)
        if key in result:
            raise _LoadProblem(f"duplicate key {key!r} (first on line {first_lines[key]})", line)
        result[key] = loader.construct_object(value_node, deep=True)
        first_lines[key] = line
        result.locations[key] = f"{source}:{line}"
    return result


def _reject_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    raise _LoadProblem(f"tag {node.tag!r} is not allowed: recipes hold plain data only", node.start_mark.line + 1)


_Core12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Core12Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Core12Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Core12Loader.add_constructor("tag:yaml.org,2002:timestamp", None)  # never resolved implicitly now
_Core12Loader.add_multi_constructor("", _reject_tag)


class _LoadProblem(Exception):
    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.message = message
        self.line = line


def load_yaml_text(text: str, source: str = "<string>") -> Any:
    """Parse ``text`` strictly; raise :class:`RecipeError` with the line of the problem."""
    if "\x00" in text:
        raise RecipeError([Problem("", "not a YAML text file (it contains NUL bytes)")], source)
    loader = _Core12Loader(text)
    loader.source_name = source  # type: ignore[attr-defined]
    try:
        return loader.get_single_data()
    except _LoadProblem as exc:
        where = f"{source}:{exc.line}" if exc.line else source
        raise RecipeError([Problem("", exc.message, location=where)], source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        what = exc.problem or exc.context or "malformed YAML"
        raise RecipeError([Problem("", f"YAML syntax error: {what}", location=where)], source) from None
    except yaml.YAMLError as exc:
        raise RecipeError([Problem("", f"YAML error: {exc}")], source) from None
    finally:
        loader.dispose()


def load_yaml_file(path: str) -> Any:
    """Read and parse a YAML file; undecodable bytes are a recipe error, not a crash."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise RecipeError([Problem("", f"cannot read file: {exc.strerror or exc}")], path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(
            [Problem("", f"not a UTF-8 text file (undecodable byte at offset {exc.start})")], path
        ) from None
    return load_yaml_text(text, source=path)


def parse_scalar(text: str, source: str = "--set") -> Any:
    """Parse one ``--set`` value with the same rules as recipe files (``1e-4`` -> 0.0001, ``null`` -> None)."""
    return load_yaml_text(text, source=source)


def dump_yaml(data: Any) -> str:
    """Dump plain data as YAML that :func:`load_yaml_text` reads back to the same values."""

    class _Dumper(yaml.SafeDumper):
        pass

    def _repr_dict(dumper: yaml.SafeDumper, value: dict) -> yaml.Node:
        return dumper.represent_dict(dict(value))

    def _repr_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        # Quote strings that the 1.2 loader would read back as something else ("no" is fine, "1e-4" is not).
        needs_quotes = False
        if value and "\n" not in value:
            try:
                needs_quotes = load_yaml_text(value) != value
            except RecipeError:  # e.g. ">=0.1" or "a: b": not a plain scalar
                needs_quotes = True
        style = '"' if needs_quotes or value == "" else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(LocatedDict, _repr_dict)
    _Dumper.add_representer(str, _repr_str)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100000)
