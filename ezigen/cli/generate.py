"""``ezigen generate RECIPE --prompt P [--subject IMAGE ...] ... --out DIR``."""

from __future__ import annotations

import os
import re
from typing import Any

import click

from ezigen.cli.options import device_option, resolve_device, set_option, tiny_option
from ezigen.errors import EzigenError, OutputError


def check_subject_pairing(loaded: Any, subjects: Any) -> None:
    """--subject given exactly when the recipe has a subject encoder (checked before any model loads)."""
    needs_subject = loaded.subject_encoder is not None
    if needs_subject and not subjects:
        raise EzigenError(f"recipe {loaded.name!r} needs a subject image: pass --subject IMAGE (and "
                          "--subject-prompt, e.g. 'a dog')")
    if subjects and not needs_subject:
        raise EzigenError(f"recipe {loaded.name!r} has no subject_encoder, so it cannot use --subject; "
                          "use a subject-driven recipe (see `ezigen recipes list`) or drop --subject")


def default_out(recipe_name: str) -> str:
    return os.path.join("out", re.sub(r"[^A-Za-z0-9._-]+", "_", recipe_name))


def _seed_list(seeds: tuple[int, ...], seed_csv: str | None) -> list[int] | None:
    values = list(seeds)
    if seed_csv:
        try:
            values += [int(part) for part in seed_csv.split(",") if part.strip()]
        except ValueError:
            raise click.BadParameter(f"expected integers separated by commas, got {seed_csv!r}", param_hint="--seeds")
    return values or None


def _shortcuts(negative_prompt: str | None, steps: int | None, guidance_scale: float | None,
               dtype: str | None = None) -> list[str]:
    """``--negative-prompt`` / ``--steps`` / ``--guidance-scale`` / ``--dtype`` as the ``--set`` keys they stand for."""
    import json

    out = []
    if negative_prompt is not None:
        out.append(f"guidance.negative_prompt={json.dumps(negative_prompt)}")
    if steps is not None:
        out.append(f"sampling.steps={steps}")
    if guidance_scale is not None:
        out.append(f"guidance.text_scale={guidance_scale}")
    if dtype is not None:
        out.append(f"backbone.dtype={dtype}")
    return out


@click.command("generate")
@click.argument("recipe")
@click.option("--prompt", "-p", "prompts", multiple=True, required=True,
              help="A target prompt (repeat for several: each is generated with every seed).")
@click.option("--subject", "-s", "subjects", multiple=True, type=click.Path(dir_okay=True),
              help="Subject image (repeat for several views of one subject).")
@click.option("--subject-prompt", default=None, help="The subject's class text, e.g. 'a dog'.")
@click.option("--seed", "seeds", type=int, multiple=True, help="Seed (repeatable; default: the recipe's sampling.seed).")
@click.option("--seeds", "seed_csv", default=None, metavar="S[,S...]", help="Seeds as a list, e.g. --seeds 0,1,2,3.")
@click.option("--num-images", type=click.IntRange(1, 64), default=None,
              help="Images per prompt from consecutive seeds of the one seed (without --seed lists).")
@click.option("--negative-prompt", default=None, help="Shortcut for --set guidance.negative_prompt=...")
@click.option("--steps", type=click.IntRange(1, 1000), default=None, help="Shortcut for --set sampling.steps=N.")
@click.option("--guidance-scale", type=float, default=None, help="Shortcut for --set guidance.text_scale=G.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default=None,
              help="Shortcut for --set backbone.dtype=D: the weights' dtype (half precision on a GPU; the SDXL VAE still "
              "runs upcast to float32). For the release's autocast over float32 weights: --set sampling.autocast=float16.")
@set_option
@tiny_option
@device_option
@click.option("--out", "out", default=None, help="Output folder (default: out/RECIPE-NAME).")
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty --out (only once the new result is complete).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (there is none when stderr is not a terminal).")
def command(recipe, prompts, subjects, subject_prompt, seeds, seed_csv, num_images, negative_prompt, steps,
            guidance_scale, dtype, overrides, tiny, device, out, overwrite, quiet) -> None:
    """Generate images; write OUT/ with the image(s), recipe.yaml (resolved) and trace.json.

    Every prompt is generated with every seed, in one denoising batch (each image equals the one
    its seed gives alone). One prompt and one seed: OUT/image.png; otherwise
    OUT/image-p{PROMPT}-s{SEED}.png for each and OUT/grid.png. Prints every image path. The
    result is written into a temporary sibling folder and published with one rename, so OUT
    holds a complete result or nothing new; an existing non-empty OUT needs --overwrite.
    """
    from ezigen.recipe.loader import load_recipe

    seed_list = _seed_list(seeds, seed_csv)
    if seed_list is not None and num_images is not None:
        raise click.BadParameter("give either --seed/--seeds or --num-images, not both", param_hint="--num-images")
    loaded = load_recipe(recipe, list(overrides) + _shortcuts(negative_prompt, steps, guidance_scale, dtype),
                         tiny=tiny)
    device = resolve_device(device)  # cheap checks first: no model loads before they pass
    check_subject_pairing(loaded, subjects)
    out = out or default_out(loaded.name)
    from ezigen.locking import output_lock

    click.get_current_context().with_resource(output_lock(out))  # one run per --out, held until the end
    staging = start_output(out, overwrite)
    try:
        if subjects:  # fail on a bad image before loading any model
            from ezigen.images import load_image

            for path in subjects:
                load_image(path)
        from ezigen.build import build_system
        from ezigen.output_dir import writing_into
        from ezigen.outputs import write_generation

        system = build_system(loaded)
        system.to(device)
        if seed_list is None:
            first = loaded.sampling.seed
            seed_list = [first + i for i in range(num_images or loaded.sampling.num_images)]
        all_seeds = [s for _ in prompts for s in seed_list]  # prompt-major, one per image
        with progress(system, quiet) as on_step:
            result = system.generate(prompt=list(prompts), subject=list(subjects) or None,
                                     subject_prompt=subject_prompt, seed=all_seeds, num_images=len(seed_list),
                                     callback=on_step)
        names = image_names(len(prompts), seed_list)
        from ezigen.provenance import system_provenance

        where = system_provenance(system, device)
        with writing_into(out):  # a full disk names --out: write() errors carry no file name
            write_generation(staging, result, loaded, names=names, grid=len(names) > 1, provenance=where)
            publish_output(staging, out)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    for name in names:
        click.echo(os.path.join(out, name))


def image_names(prompts: int, seeds: list[int]) -> list[str]:
    """``image.png`` for one prompt and one seed; else ``image-p{i}-s{seed}.png``, prompt-major."""
    if prompts == 1 and len(seeds) == 1:
        return ["image.png"]
    return [f"image-p{p}-s{s}.png" for p in range(prompts) for s in seeds]


def start_output(out: str, overwrite: bool) -> str:
    """Refuse a non-empty ``out`` without --overwrite; return a fresh staging folder beside it."""
    import tempfile

    from ezigen.io import default_folder_mode
    from ezigen.locking import LOCK_FILE

    if os.path.isdir(out) and [f for f in os.listdir(out) if f != LOCK_FILE] and not overwrite:
        raise EzigenError(f"--out {out!r} already holds files; pass --overwrite to replace them (the old result "
                          "is removed only once the new one is complete) or choose another folder")
    if os.path.lexists(out) and not os.path.isdir(out):
        raise OutputError(f"--out {out!r} exists and is not a folder")
    parent = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(out))}.tmp-", dir=parent)
        os.chmod(staging, default_folder_mode())  # mkdtemp makes 0700; the published folder follows the umask
        return staging
    except OSError as exc:
        raise OutputError(f"--out {out!r} is not writable: {exc.strerror or exc}") from None


def publish_output(staging: str, out: str) -> None:
    """Put the complete ``staging`` folder at ``out`` with renames; the previous result goes only after."""
    import shutil

    if not os.path.lexists(out):
        os.rename(staging, out)
        return
    if not os.path.isdir(out) or os.path.islink(out):
        raise EzigenError(f"--out {out!r} exists and is not a folder")
    old = staging + ".old"
    os.rename(out, old)
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def progress(system, quiet: bool):
    """A tqdm bar over every denoising step (refinement included) on a terminal; silent otherwise."""
    import contextlib
    import sys

    @contextlib.contextmanager
    def bar():
        if quiet or not sys.stderr.isatty():
            yield None
            return
        from tqdm.auto import tqdm

        with tqdm(desc="denoising", unit="step", leave=False) as steps:
            yield lambda index, timestep, latents: steps.update()

    return bar()
