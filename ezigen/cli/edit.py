"""``ezigen edit RECIPE --image SRC --mask MASK --subject IMG --subject-prompt S --prompt P --out DIR``."""

from __future__ import annotations

import os

import click

from ezigen.cli.options import device_option, resolve_device, set_option, tiny_option
from ezigen.errors import EzigenError


@click.command("edit")
@click.argument("recipe")
@click.option("--image", "image", required=True, type=click.Path(dir_okay=True), help="The source image to edit.")
@click.option("--mask", "mask", required=True, type=click.Path(dir_okay=True),
              help="The mask: white = the region to edit (resized to the source).")
@click.option("--subject", "-s", "subjects", multiple=True, type=click.Path(dir_okay=True),
              help="Subject image to put in (repeat for several views of one subject).")
@click.option("--subject-prompt", default="", show_default="empty",
              help="The subject's class text, e.g. 'a dog': the subject encoder's text conditioning. Empty: the "
              "encoder is conditioned on the empty prompt '' (works, but the class text extracts the subject better).")
@click.option("--prompt", "-p", required=True, help="The target prompt, e.g. 'a dog'.")
@click.option("--seed", type=int, default=None, help="Seed (default: the recipe's sampling.seed).")
@set_option
@tiny_option
@device_option
@click.option("--out", "out", default=None, help="Output folder (default: out/RECIPE-NAME).")
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty --out (only once the new result is complete).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (there is none when stderr is not a terminal).")
def command(recipe, image, mask, subjects, subject_prompt, prompt, seed, overrides, tiny, device, out, overwrite,
            quiet) -> None:
    """Put a subject into an image inside a mask (EZIGen's editing, spec §4.4; docs/editing.md).

    Writes OUT/ as `ezigen generate` does: image.png (the edit, at the source's working size:
    short side editing.short_side), recipe.yaml (resolved) and trace.json (each iteration's
    inversion steps, then its denoising steps; "provenance" as generate's; "inputs": image,
    mask, subjects, subject_prompt, prompt, seed). Bad input (a RECIPE without an editing:
    section, a source or mask that is not an image, a mask with no pixel >= 128) fails before any model loads and writes nothing; a mask of
    another aspect ratio is stretched to the source, with a warning.
    """
    import warnings

    from ezigen.cli.generate import check_subject_pairing, default_out, progress, publish_output, start_output
    from ezigen.editing.run import edit_plan, require_editing
    from ezigen.editing.source import MaskResizedWarning, check_mask, load_source
    from ezigen.recipe.loader import load_recipe

    loaded = load_recipe(recipe, list(overrides), tiny=tiny)
    require_editing(loaded, recipe)
    device = resolve_device(device)  # cheap checks first: no model loads before they pass
    edit_plan(loaded)
    check_subject_pairing(loaded, subjects)
    source = load_source(image)
    _mask, warning = check_mask(mask, source.size)
    if subjects:
        from ezigen.images import load_image

        for path in subjects:
            load_image(path)
    out = out or default_out(loaded.name)
    from ezigen.locking import output_lock

    click.get_current_context().with_resource(output_lock(out))  # one run per --out, held until the end
    staging = start_output(out, overwrite)
    if warning is not None:
        click.echo(f"warning: {warning}", err=True)
    try:
        from ezigen.build import build_system
        from ezigen.outputs import write_generation

        system = build_system(loaded)
        system.to(device)
        with progress(system, quiet) as on_step, warnings.catch_warnings():
            warnings.simplefilter("ignore", MaskResizedWarning)  # already printed above
            result = system.edit(image=source, mask=mask, prompt=prompt, subject=list(subjects) or None,
                                 subject_prompt=subject_prompt, seed=seed, callback=on_step)
        from ezigen.output_dir import writing_into
        from ezigen.provenance import system_provenance

        where = system_provenance(system, device)  # as `ezigen generate`'s trace: versions, device, models
        inputs = {"image": os.fspath(image), "mask": os.fspath(mask), "subjects": [os.fspath(p) for p in subjects],
                  "subject_prompt": subject_prompt, "prompt": prompt, "seed": result.seed}
        with writing_into(out):  # a full disk names --out: write() errors carry no file name
            write_generation(staging, result, loaded, extra={"inputs": inputs}, provenance=where)
            publish_output(staging, out)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    click.echo(os.path.join(out, "image.png"))
