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
- **Bounded input**: a recipe is small, so anything huge is hostile or a mistake, and is refused
  before it can cost memory or time (an alias bomb of a few hundred bytes expands to gigabytes
  when dumped; a 1,000-level nesting overflows the recursive composer). The limits, each a
  :class:`RecipeError` naming the line:

  ============================  ==========================================================
  ``MAX_TEXT_CHARS``            1,000,000 characters of recipe text (a file or a ``--set`` value)
  ``MAX_SCALAR_CHARS``          100,000 characters in one string
  ``MAX_INT_DIGITS``            100 digits in one integer (Python refuses > 4,300; any recipe
                                number fits in far fewer); floats must be finite unless
                                written ``.inf`` (``1e400`` is an error, not infinity)
  ``MAX_DEPTH``                 32 levels of nested mappings/lists, aliases expanded
  ``MAX_ALIASES``               1,000 aliases (``*name``); an alias inside its own anchor is an error
  ``MAX_NODES``                 100,000 values once every alias is expanded
  ============================  ==========================================================

- Control characters (other than tab and newline) are a recipe error naming the line, like any
  other malformed text: the loader is built inside the error handling, since PyYAML checks the
  characters when the loader is created.

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


MAX_TEXT_CHARS = 1_000_000
MAX_SCALAR_CHARS = 100_000
MAX_INT_DIGITS = 100
MAX_DEPTH = 32
MAX_ALIASES = 1000
MAX_NODES = 100_000


class _Core12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit resolvers, duplicate-key detection and the limits above."""

    yaml_implicit_resolvers: dict = {}
    _depth = 0
    _aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # The composer recurses once per nesting level: stop at the limit, before Python's stack does.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LoadProblem(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark.line + 1)
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    raise _LoadProblem(f"more than {MAX_ALIASES} aliases", self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


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
    text = str(loader.construct_scalar(node))
    line = node.start_mark.line + 1
    digits = text.lstrip("+-").removeprefix("0o").removeprefix("0x")
    if len(digits) > MAX_INT_DIGITS:
        raise _LoadProblem(f"an integer of {len(digits)} digits is too long (at most {MAX_INT_DIGITS})", line)
    try:
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text)
    except ValueError:  # an explicit !!int tag on something else
        raise _LoadProblem(f"{text[:40]!r} is not an integer", line) from None


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    line = node.start_mark.line + 1
    if text.endswith("inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text.endswith("nan"):
        return float("nan")
    try:
        value = float(text)
    except ValueError:  # an explicit !!float tag on something else
        raise _LoadProblem(f"{text[:40]!r} is not a number", line) from None
    if value in (float("inf"), float("-inf")):
        raise _LoadProblem(f"{text[:40]} is beyond the range of a float (about 1.8e308); write .inf for infinity",
                           line)
    return value


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
for _tag in ("timestamp", "binary", "set", "omap", "pairs"):  # SafeLoader's non-plain types, explicit tags only
    _Core12Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", lambda loader, node: _reject_tag(loader, "", node))
_Core12Loader.add_multi_constructor("", _reject_tag)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_graph(root: yaml.Node) -> None:
    """Refuse a node graph that is cyclic, too deep or too large once aliases are expanded.

    An iterative post-order walk, memoised per node, so a shared (aliased) subtree is measured
    once: the cost is linear in the text, whatever the expansion would be.
    """
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, depth)
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key, line = id(node), node.start_mark.line + 1
        if finished:
            on_path.discard(key)
            sizes = [measured[id(child)] for child in _children(node)]
            count, depth = 1 + sum(c for c, _ in sizes), 1 + max((d for _, d in sizes), default=0)
            if count > MAX_NODES:
                raise _LoadProblem(f"more than {MAX_NODES} values once aliases are expanded", line)
            if depth > MAX_DEPTH:
                raise _LoadProblem(f"nested deeper than {MAX_DEPTH} levels once aliases are expanded", line)
            measured[key] = (count, depth)
            continue
        if key in measured:
            continue
        if isinstance(node, yaml.ScalarNode) and len(node.value) > MAX_SCALAR_CHARS:
            raise _LoadProblem(f"a value of {len(node.value)} characters is too long (at most {MAX_SCALAR_CHARS})",
                               line)
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise _LoadProblem("an alias refers to a node that contains it (a cycle)", child.start_mark.line + 1)
            if id(child) not in measured:
                stack.append((child, False))


class _LoadProblem(Exception):
    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.message = message
        self.line = line


def load_yaml_text(text: str, source: str = "<string>") -> Any:
    """Parse ``text`` strictly; raise :class:`RecipeError` with the line of the problem."""
    if "\x00" in text:
        raise RecipeError([Problem("", "not a YAML text file (it contains NUL bytes)")], source)
    if len(text) > MAX_TEXT_CHARS:
        raise RecipeError([Problem("", f"{len(text)} characters is too long for a recipe (at most {MAX_TEXT_CHARS})")],
                          source)
    loader = None
    try:
        loader = _Core12Loader(text)  # inside the try: the reader checks for control characters right here
        loader.source_name = source  # type: ignore[attr-defined]
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        return loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise RecipeError([Problem("", f"control character {char} is not allowed in recipe text",
                                   "remove it; inside double quotes an escape such as \"\\x01\" is allowed",
                                   location=f"{source}:{line}")], source) from None
    except RecursionError:
        raise RecipeError([Problem("", f"nested too deeply (at most {MAX_DEPTH} levels)")], source) from None
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
        if loader is not None:
            loader.dispose()


def load_yaml_file(path: str) -> Any:
    """Read and parse a YAML file; undecodable bytes are a recipe error, not a crash."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(4 * MAX_TEXT_CHARS + 1)  # a UTF-8 character is at most 4 bytes
    except OSError as exc:
        raise RecipeError([Problem("", f"cannot read file: {exc.strerror or exc}")], path) from None
    if len(raw) > 4 * MAX_TEXT_CHARS:
        raise RecipeError([Problem("", f"the file is too large for a recipe (at most {MAX_TEXT_CHARS} characters)")],
                          path)
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
