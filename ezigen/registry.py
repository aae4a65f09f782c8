"""One registry per component kind.

Each entry remembers which plugin registered it, so that a duplicate name is an error naming
both plugins, and ``ezigen plugins`` can say what every plugin contributed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

import attrs

from ezigen.errors import DuplicateNameError, UnknownNameError


@attrs.frozen
class Entry:
    """A registered component: its name, the object (usually a class) and who registered it."""

    name: str
    value: Any
    plugin: str


def did_you_mean(name: str, known: list[str]) -> str | None:
    """The closest known name to ``name``, or None when nothing is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


class Registry:
    """Names -> components of one kind (``kind`` is used in messages, e.g. "fusion")."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, value: Any, plugin: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r} from {plugin}")
        if name in self._entries:
            first = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered twice: by plugin {first!r} and by plugin {plugin!r}; "
                f"block one of them with EZIGEN_DISABLE_PLUGINS"
            )
        self._entries[name] = Entry(name, value, plugin)

    def get(self, name: str, where: str | None = None) -> Any:
        return self.entry(name, where).value

    def entry(self, name: str, where: str | None = None) -> Entry:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.unknown_message(name, where)) from None

    def unknown_message(self, name: Any, where: str | None = None) -> str:
        known = sorted(self._entries)
        prefix = f"{where}: " if where else ""
        text = f"{prefix}unknown {self.kind} {name!r}"
        guess = did_you_mean(str(name), known)
        if guess:
            text += f"; did you mean {guess!r}?"
        text += f" Registered {self.kind}s: {', '.join(known) if known else '(none)'}"
        return text

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
