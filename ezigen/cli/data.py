"""``ezigen data coco|ytvis ... --out DATA``: build a training folder (images + manifest.jsonl)."""

from __future__ import annotations

import time

import click

resolution_option = click.option("--resolution", type=click.IntRange(8), default=512, show_default=True,
                                 help="Side of the square subject and target images.")
format_option = click.option("--target-format", type=click.Choice(["jpg", "png"]), default="jpg", show_default=True,
                             help="Target image files: JPEG (quality 95) or lossless PNG. Subjects are always PNG.")
coco_format_option = click.option(
    "--target-format", type=click.Choice(["jpg", "png", "original"]), default="jpg", show_default=True,
    help="Target image files: resized JPEG (quality 95) or lossless PNG, or original: the source image's own "
         "bytes, not resized (the release reads its targets as loaded). Subjects are always PNG.")
masks_option = click.option("--masks", "write_masks", is_flag=True,
                            help="Also write each subject's mask in the target (manifest 'masks').")
skip_bad_option = click.option("--skip-bad", is_flag=True,
                               help="Skip and count missing/unreadable images and bad masks instead of stopping.")


class ProgressLine:
    """A progress line to stderr at most once a second (the summary line ends the run)."""

    def __init__(self, name: str, unit: str):
        self.name, self.unit, self.last = name, unit, 0.0

    def __call__(self, done: int, total: int, samples: int) -> None:
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            click.echo(f"ezigen data {self.name}: {done}/{total} {self.unit}, {samples} samples", err=True)


def finish(report, progress: ProgressLine) -> None:
    click.echo(f"ezigen data {progress.name}: wrote {report.summary()}", err=True)
    click.echo(report.manifest)


@click.group("data")
def command() -> None:
    """Build training data (a folder with manifest.jsonl and its images, docs/data.md) from real datasets."""


@command.command("coco")
@click.option("--images", "images", multiple=True, required=True, metavar="DIR",
              help="COCO image folder, e.g. train2014/ (repeat with --instances/--captions for val2014).")
@click.option("--instances", "instances", multiple=True, required=True, metavar="FILE",
              help="instances_*.json of the same split (repeatable, paired in order with --images).")
@click.option("--captions", "captions", multiple=True, required=True, metavar="FILE",
              help="captions_*.json of the same split (repeatable, paired in order with --images).")
@click.option("--out", required=True, metavar="DATA", help="Output folder.")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Stop after N samples (images in file order; released: 100000 over train2014 then val2014).")
@resolution_option
@click.option("--num-subjects", type=click.IntRange(1), default=4, show_default=True,
              help="At most this many subjects per image; with more instances only the larger half by area count.")
@click.option("--min-area", type=click.FloatRange(0), default=1000.0, show_default=True,
              help="Skip instances whose COCO 'area' (original pixels) is below this.")
@click.option("--category-names", type=click.Choice(["coco", "released"]), default="coco", show_default=True,
              help="coco: the file's names; released: the released code's 91-entry table "
                   "(trafficlight, tvmonitor, subrigerator, motorbike, sofa, ...).")
@click.option("--larger-half", type=click.Choice(["released", "ceil"]), default="released", show_default=True,
              help="With more instances than --num-subjects: released keeps the floor(n/2) largest areas; "
                   "ceil keeps ceil(n/2).")
@click.option("--keep-empty", is_flag=True,
              help="Keep images without a usable instance as the release did: black 100x100 subjects, "
                   "prompts 'a photo of a .'.")
@click.option("--crowd/--no-crowd", "include_crowd", default=True, show_default=True,
              help="Whether iscrowd=1 (RLE) regions count as instances.")
@coco_format_option
@masks_option
@skip_bad_option
def coco(images, instances, captions, out, limit, resolution, num_subjects, min_area, category_names, larger_half,
         keep_empty, include_crowd, target_format, write_masks, skip_bad) -> None:
    """COCO-2014 instances + captions -> subject crops on white, whole-image targets, longest captions.

    Prints the manifest's path; progress and a summary of skipped images go to stderr.
    """
    from ezigen.cli.options import prepare_output_dir
    from ezigen.output_dir import writing_into
    from ezigen.data.coco import CocoOptions, CocoSplit, build_coco

    if not len(images) == len(instances) == len(captions):
        raise click.UsageError("give --images, --instances and --captions the same number of times (one per split)")
    splits = [CocoSplit(*triple) for triple in zip(images, instances, captions)]
    options = CocoOptions(resolution=resolution, num_subjects=num_subjects, min_area=min_area, limit=limit,
                          category_names=category_names, larger_half=larger_half, keep_empty=keep_empty,
                          include_crowd=include_crowd, target_format=target_format, write_masks=write_masks, skip_bad=skip_bad)
    progress = ProgressLine("coco", "images")
    prepare_output_dir(out)
    with writing_into(out):  # a full disk names --out: write() errors carry no file name
        report = build_coco(splits, out, options, progress=progress)
    finish(report, progress)


@command.command("ytvis")
@click.option("--root", required=True, metavar="DIR", help="YouTube-VIS-2019 train folder (train.json + JPEGImages/).")
@click.option("--annotations", default=None, metavar="FILE",
              help="Annotation file (default: ROOT/train.json, else ROOT/instances.json).")
@click.option("--out", required=True, metavar="DATA", help="Output folder.")
@click.option("--pairs", type=click.IntRange(1), default=100_000, show_default=True,
              help="Pairs to write, each from a random video and object (released: 100000).")
@click.option("--per-video", type=click.IntRange(1), default=None,
              help="Instead of --pairs: this many pairs from every video, each video with its own seeded draws.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@click.option("--max-tries", type=click.IntRange(1), default=50, show_default=True,
              help="Draws allowed per requested pair before giving up on it.")
@click.option("--category-names", type=click.Choice(["clean", "raw"]), default="clean", show_default=True,
              help="clean: underscores become spaces (giant panda); raw: the file's names.")
@resolution_option
@format_option
@masks_option
@skip_bad_option
def ytvis(root, annotations, out, pairs, per_video, seed, max_tries, category_names, resolution, target_format,
          write_masks, skip_bad) -> None:
    """YouTube-VIS-2019 -> cross-frame pairs: a subject crop from one frame, a target crop from a later one.

    Prints the manifest's path; progress and counts of rejected draws go to stderr.
    """
    from ezigen.cli.options import prepare_output_dir
    from ezigen.output_dir import writing_into
    from ezigen.data.ytvis import YtvisOptions, build_ytvis

    options = YtvisOptions(resolution=resolution, pairs=pairs, per_video=per_video, seed=seed, max_tries=max_tries,
                           category_names=category_names, target_format=target_format, write_masks=write_masks,
                           skip_bad=skip_bad)
    progress = ProgressLine("ytvis", "pairs")
    prepare_output_dir(out)
    with writing_into(out):  # a full disk names --out: write() errors carry no file name
        report = build_ytvis(root, out, options, annotations=annotations, progress=progress)
    finish(report, progress)


@command.command("merge")
@click.argument("folders", nargs=-1, required=True)
@click.option("--out", required=True, metavar="DATA",
              help="Folder for the merged manifest.jsonl (usually the parent of FOLDERS); images are not copied.")
def merge(folders, out) -> None:
    """Join built folders into one manifest: COCO + YouTube-VIS as released (spec §3.1 "Mix").

    Every line of every FOLDERS/manifest.jsonl is checked (files present), then written to
    OUT/manifest.jsonl in the given order with paths relative to OUT.
    """
    import os

    from ezigen.cli.options import prepare_output_dir
    from ezigen.output_dir import writing_into
    from ezigen.data.manifest import read_manifest, write_manifest

    samples = [sample for folder in folders for sample in read_manifest(folder)[0]]
    prepare_output_dir(out)
    click.echo(f"ezigen data merge: wrote {len(samples)} samples from {len(folders)} folders", err=True)
    with writing_into(out):
        path = write_manifest(os.path.abspath(out), samples)
    click.echo(path)


def _add_dreambench() -> None:
    """``ezigen data dreambench``: the evaluation benchmark's copy (lives beside ``ezigen eval``)."""
    from ezigen.cli.eval_data import command as dreambench

    command.add_command(dreambench)


_add_dreambench()
