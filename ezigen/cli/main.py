"""Entry point: builds the command group (builtins + plugin commands) and maps errors to exit codes.

Every :class:`~ezigen.errors.EzigenError` (bad recipe, bad image, unknown name, unwritable
output, ...) prints one message to stderr and exits with status 2, without a traceback; so does
an ``OSError`` of the environment (full disk, read-only or forbidden path, a folder where a file
goes), naming the path. Ctrl-C exits 130.
"""

from __future__ import annotations

import os
import sys

import click

from ezigen._version import __version__
from ezigen.errors import EzigenError
from ezigen.output_dir import ENVIRONMENT_ERRNOS


def quiet_libraries() -> None:
    """Keep library chatter (progress bars, torchvision fallbacks) out of a CLI's output."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ezigen")
def cli() -> None:
    """ezigen: zero-shot subject-driven generation on Stable Diffusion (EZIGen and baselines)."""


COMMAND_MODULES = ("generate", "edit", "recipes", "plugins_cmd", "tiny", "weights", "eval", "train", "export", "data", "toy")


def build_cli() -> click.Group:
    import importlib

    from ezigen.plugins import components

    for name in COMMAND_MODULES:
        cli.add_command(importlib.import_module(f"ezigen.cli.{name}").command)
    loaded = components()
    for impl in loaded.pm.hook.ezigen_register_commands.get_hookimpls():
        if impl.plugin_name.startswith("ezigen.builtins."):
            impl.function(cli=cli)  # a builtin's error is our bug: keep its traceback
            continue
        try:  # one plugin at a time: a plugin's broken command hook must not break every command
            impl.function(cli=cli)
        except Exception as exc:
            loaded.failed[impl.plugin_name] = f"{impl.function.__name__} raised {type(exc).__name__}: {exc}"
    from ezigen.plugins import describe_plugin

    for plugin, why in sorted(loaded.failed.items()):  # disabled, said once, and the command goes on
        click.echo(f"warning: {describe_plugin(plugin)} is disabled: {why}", err=True)
    return cli


def os_error_text(exc: OSError) -> str:
    """'cannot write PATH: No space left on device' from an OSError of the environment (full disk, read-only, ...)."""
    paths = " -> ".join(repr(p) for p in (exc.filename, exc.filename2) if p is not None)
    reason = exc.strerror or str(exc)
    return f"{paths}: {reason}" if paths else reason


def main(argv: list[str] | None = None) -> None:
    quiet_libraries()
    try:
        group = build_cli()
        group.main(args=argv, prog_name="ezigen", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort: keep 130
            click.echo("interrupted", err=True)
            sys.exit(130)
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except EzigenError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in ENVIRONMENT_ERRNOS:
            raise  # anything else is a bug and keeps its traceback
        click.echo(f"error: {os_error_text(exc)}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
