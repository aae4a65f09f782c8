"""Errors a user can cause, each with one clear message.

The CLI turns every :class:`EzigenError` into its message on stderr and exit status 2, with no
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import attrs


class EzigenError(Exception):
    """Base class of every error caused by input (recipes, images, names, paths)."""


@attrs.frozen
class Problem:
    """One thing wrong with a recipe: where (dotted path), what, and how to fix it."""

    path: str
    message: str
    suggestion: str | None = None
    location: str | None = None  # "file:line" where known

    def __str__(self) -> str:
        where = self.path or "<top level>"
        text = f"{where}: {self.message}"
        if self.suggestion:
            text += f" ({self.suggestion})"
        if self.location:
            text += f"  [{self.location}]"
        return text


class RecipeError(EzigenError):
    """A recipe is invalid. Lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        head = f"invalid recipe {source}" if source else "invalid recipe"
        count = len(self.problems)
        lines = [f"{head}: {count} problem{'s' if count != 1 else ''}"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class UnknownNameError(EzigenError):
    """A registry name, recipe name or plugin name that does not exist."""


class DuplicateNameError(EzigenError):
    """Two plugins registered the same name for the same component kind."""


class PairingError(EzigenError):
    """Components that cannot work together (an encoder's features a fusion cannot read)."""


class SubjectImageError(EzigenError):
    """A subject image that is missing, empty, truncated or not an image."""


class WeightsError(EzigenError):
    """A weights file that does not fit the model it is loaded into."""


class OutputError(EzigenError):
    """An output location that cannot be written."""


class DataError(EzigenError):
    """A dataset manifest line or file that cannot be used."""


class PluginError(EzigenError):
    """A plugin that failed to import, lacks a required member, or returned something the contract
    does not allow. The message names the plugin (entry point and distribution) and the component."""
