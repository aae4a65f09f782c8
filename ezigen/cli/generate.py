"""``ezigen generate RECIPE --prompt P [--subject IMAGE ...] ... --out DIR``."""

from __future__ import annotations

import os
import re

import click

from ezigen.cli.options import device_option, prepare_output_dir, resolve_device, set_option, tiny_option


def default_out(recipe_name: str) -> str:
    return os.path.join("out", re.sub(r"[^A-Za-z0-9._-]+", "_", recipe_name))


@click.command("generate")
@click.argument("recipe")
@click.option("--prompt", "-p", required=True, help="The target prompt.")
@click.option("--subject", "-s", "subjects", multiple=True, type=click.Path(dir_okay=True),
              help="Subject image (repeat for several views of one subject).")
@click.option("--subject-prompt", default=None, help="The subject's class text, e.g. 'a dog'.")
@click.option("--seed", type=int, default=None, help="Seed (default: the recipe's sampling.seed).")
@click.option("--num-images", type=click.IntRange(1, 64), default=None, help="Images for the prompt.")
@set_option
@tiny_option
@device_option
@click.option("--out", "out", default=None, help="Output folder (default: out/RECIPE-NAME).")
def command(recipe, prompt, subjects, subject_prompt, seed, num_images, overrides, tiny, device, out) -> None:
    """Generate an image; write OUT/image.png, OUT/recipe.yaml (resolved) and OUT/trace.json.

    Prints the image's path. Nothing is written unless generation succeeds; image.png is
    written last, so its presence means the run completed.
    """
    from ezigen.recipe.loader import load_recipe

    loaded = load_recipe(recipe, overrides, tiny=tiny)
    out = prepare_output_dir(out or default_out(loaded.name))
    from ezigen.locking import output_lock

    click.get_current_context().with_resource(output_lock(out))  # one run per --out, held until the end
    if subjects:  # fail on a bad image before loading any model
        from ezigen.images import load_image

        for path in subjects:
            load_image(path)
    from ezigen.build import build_system
    from ezigen.outputs import write_generation

    system = build_system(loaded)
    system.to(resolve_device(device))
    result = system.generate(
        prompt=prompt, subject=list(subjects) or None, subject_prompt=subject_prompt, seed=seed, num_images=num_images
    )
    paths = write_generation(out, result, loaded)
    click.echo(paths[0])
