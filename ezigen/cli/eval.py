"""``ezigen eval RECIPE [RECIPE ...] --bench dreambench --data DIR --out DIR [--limit N] [--tiny]``."""

from __future__ import annotations

import click

from ezigen.cli.options import device_option, set_option, tiny_option


def _names(values: tuple[str, ...]) -> list[str]:
    """Repeated and/or comma-separated option values -> names."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _seeds(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected comma-separated integers, e.g. 0,1,2,3") from None


@click.command("eval")
@click.argument("recipes", nargs=-1, required=True)
@click.option("--bench", type=click.Choice(["dreambench"]), default="dreambench", show_default=True,
              help="The benchmark.")
@click.option("--data", required=True,
              help="The benchmark folder (DreamBench: prompts_and_classes.txt + subject folders).")
@click.option("--out", required=True, help="Output folder; a rerun with the same folder reuses its images.")
@click.option("--subjects", multiple=True, metavar="NAME[,NAME...]", help="Subjects to evaluate (default: all).")
@click.option("--prompts-per-subject", type=click.IntRange(1), default=None,
              help="The first N prompts of each subject's list (default: all 25).")
@click.option("--images-per-prompt", type=click.IntRange(1, 64), default=None,
              help="Images per prompt, seeds 0..N-1 (default 4, as DreamBench).")
@click.option("--seeds", default=None, metavar="S[,S...]",
              help="Seeds, one image each (instead of --images-per-prompt).")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Smoke run: N subjects (live and object in turn) x N prompts (prompt kinds in turn) x "
                   "min(N, 2) seeds.")
@click.option("--reference-index", type=click.IntRange(0), default=0, show_default=True,
              help="Which real image conditions generation: its index in the subject's sorted images.")
@click.option("--unique-token", default="", help="Token put before the class in generation prompts (default: none).")
@click.option("--metrics", "metric_names", multiple=True, metavar="NAME[,NAME...]",
              help="Registered metrics to compute (default: dino, clip-i, clip-t).")
@click.option("--metric-set", "metric_settings", multiple=True, metavar="NAME.KEY=VALUE",
              help="Set a metric config field, e.g. --metric-set clip-i.pretrained=openai/clip-vit-large-patch14.")
@click.option("--batch-size", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Seeds of one prompt per denoising batch (equal to one-by-one images within 1/255; recipes "
                   "whose stop rule looks at the images always run one at a time).")
@set_option
@tiny_option
@device_option
def command(recipes, bench, data, out, subjects, prompts_per_subject, images_per_prompt, seeds, limit,
            reference_index, unique_token, metric_names, metric_settings, batch_size, overrides, tiny, device) -> None:
    """Generate every (recipe, subject, prompt, seed) once and score it with DINO, CLIP-I and CLIP-T.

    Writes OUT/images/RECIPE/SUBJECT/pNN-sSEED/ (image, trace, recipe), results.csv,
    results.json, results.md, fidelity_vs_text.png and report.html, and prints the
    per-recipe table. To shard generation over N processes (one per GPU, or CPU processes):
    `accelerate launch --multi_gpu --num_processes N -m ezigen.cli.main eval ...`.
    """
    from ezigen.evaluation.harness import EvalRequest, evaluate
    from ezigen.evaluation.metric_set import DEFAULT_METRICS
    from ezigen.evaluation.plan import Selection
    from ezigen.evaluation.tables import recipe_table

    selection = Selection.from_options(_names(subjects), prompts_per_subject, images_per_prompt, _seeds(seeds),
                                       limit, reference_index, unique_token)
    from ezigen.locking import output_lock

    click.get_current_context().with_resource(output_lock(out))  # one run per --out, held until the end
    request = EvalRequest(tuple(recipes), data, out, selection, tuple(overrides), tiny,
                          tuple(_names(metric_names)) or DEFAULT_METRICS, tuple(metric_settings), device, bench,
                          batch_size)
    from ezigen.output_dir import writing_into

    with writing_into(out):  # a full disk names --out: write() errors carry no file name
        outcome = evaluate(request, log=lambda line: click.echo(line, err=True))
    if outcome is None:  # a non-main process of a sharded run: the main one reports
        return
    click.echo("\n".join(recipe_table(outcome.results)))
    stats = outcome.stats
    click.echo(f"{stats.generated} images generated, {stats.reused} reused")
    for path in outcome.paths.values():
        click.echo(path)
