"""``ezigen recipes list | show RECIPE [--resolved] | validate RECIPE ...``."""

from __future__ import annotations

import click

from ezigen.cli.options import set_option, tiny_option


@click.group("recipes")
def command() -> None:
    """List, show and validate recipes."""


@command.command("list")
def list_recipes() -> None:
    """Shipped and plugin recipes, with the first line of each description."""
    from ezigen.plugins import components
    from ezigen.recipe.loader import recipe_index
    from ezigen.recipe.yaml_loader import load_yaml_file

    index = recipe_index(components())
    width = max((len(n) for n in index), default=0)
    for name, path in index.items():
        try:
            data = load_yaml_file(path)
            description = (data.get("description") or "").strip().split("\n")[0] if isinstance(data, dict) else ""
        except Exception:  # a broken plugin recipe must not hide the others
            description = "(unreadable: run `ezigen recipes validate` on it)"
        click.echo(f"{name:<{width}}  {description[:100]}")


@command.command("show")
@click.argument("recipe")
@click.option("--resolved", is_flag=True, help="Show the fully resolved recipe (extends merged, defaults filled).")
@click.option("--docs", is_flag=True, help="Document every key: value, default, allowed values, meaning "
              "(builtin and plugin components alike).")
@set_option
@tiny_option
def show(recipe: str, resolved: bool, docs: bool, overrides: tuple[str, ...], tiny: bool) -> None:
    """Print a recipe: the file as written, --resolved, or --docs."""
    from ezigen.plugins import components
    from ezigen.recipe.loader import find_recipe, load_recipe, resolve_recipe

    if docs:
        from ezigen.docgen import recipe_docs

        click.echo(recipe_docs(load_recipe(recipe, overrides, tiny=tiny)))
        return
    if resolved or overrides or tiny:
        click.echo(resolve_recipe(recipe, overrides, tiny=tiny)[1], nl=False)
        return
    with open(find_recipe(recipe, components()), encoding="utf-8", errors="replace") as fh:
        click.echo(fh.read(), nl=False)


@command.command("validate")
@click.argument("recipes", nargs=-1, required=True)
@set_option
def validate(recipes: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Validate recipes; print every problem; exit 2 if any is invalid."""
    from ezigen.build import check_pairing
    from ezigen.errors import EzigenError
    from ezigen.recipe.loader import resolve_recipe

    failed = 0
    for name in recipes:
        try:
            check_pairing(resolve_recipe(name, overrides)[0])  # the path `show --resolved` takes, plus pairing
            click.echo(f"ok: {name}")
        except EzigenError as exc:
            failed += 1
            click.echo(f"error: {exc}", err=True)
    if failed:
        raise SystemExit(2)
