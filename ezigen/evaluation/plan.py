"""The evaluation plan: recipe x subject x prompt x seed, and disjoint shards of it.

Selection (``ezigen eval`` options):

- ``subjects``: names in file order (default: all 30);
- ``prompts_per_subject`` N: the first N prompts of the subject's list (default: all 25);
- ``seeds``: one image per seed per prompt (default: ``images_per_prompt`` seeds 0, 1, ...;
  DreamBench's protocol is 4 images per prompt, BENCHMARKS §2.1). Every recipe gets the same
  seeds, so with the same sampler and resolution it starts from the same initial noise;
- ``limit`` N (a smoke run that still shows spread and pairs): N subjects x N prompts x
  min(N, 2) seeds, chosen to cover the benchmark's strata. Subjects: the selected ones taken
  alternately by class type in file order (DreamBench, N = 2: the first object ``backpack`` and
  the first live subject ``cat``); prompts: each subject's list taken alternately by prompt
  kind, each kind in list order (objects: recontextualization p00, property p20; live:
  recontextualization p00, accessorization p10); seeds: the first two (0, 1).

Each :class:`Job` is one image: it owns the folder ``OUT/images/<recipe>/<subject>/pNN-sSEED/``
(``image.png``, ``trace.json``, ``recipe.yaml``, as ``ezigen generate`` writes them), where NN
is the prompt's position in the DreamBench list (stable under any selection).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs

from ezigen.errors import EzigenError
from ezigen.evaluation.dreambench import DreamBench, PromptTemplate, Subject

T = TypeVar("T")
DEFAULT_IMAGES_PER_PROMPT = 4
REAL_IMAGES = "real-images"  # the name of the real-vs-real row; no recipe may use it
LIMIT_SEEDS = 2  # --limit N runs min(N, 2) seeds: two are the fewest that give a spread over seeds


@attrs.frozen
class Selection:
    """What to generate, after the command-line options are combined (see the module docstring)."""

    subjects: tuple[str, ...] | None = None
    prompts_per_subject: int | None = None
    seeds: tuple[int, ...] = tuple(range(DEFAULT_IMAGES_PER_PROMPT))
    limit: int | None = None
    reference_index: int = 0
    unique_token: str = ""

    @classmethod
    def from_options(cls, subjects: Sequence[str] = (), prompts_per_subject: int | None = None,
                     images_per_prompt: int | None = None, seeds: Sequence[int] | None = None,
                     limit: int | None = None, reference_index: int = 0, unique_token: str = "") -> Selection:
        if seeds:
            seeds = tuple(int(s) for s in seeds)
            if len(set(seeds)) != len(seeds):
                raise EzigenError(f"--seeds: repeated seed in {','.join(map(str, seeds))}")
            if images_per_prompt is not None and images_per_prompt != len(seeds):
                raise EzigenError(f"--images-per-prompt {images_per_prompt} does not match the {len(seeds)} --seeds "
                                  f"given; give one of them")
        else:
            seeds = tuple(range(images_per_prompt or DEFAULT_IMAGES_PER_PROMPT))
        if limit is not None:
            seeds = seeds[:min(limit, LIMIT_SEEDS)]
        if unique_token and not re.fullmatch(r"\S+", unique_token):
            raise EzigenError(f"--unique-token {unique_token!r}: expected one word without spaces, e.g. sks")
        return cls(tuple(subjects) or None, prompts_per_subject, seeds, limit, reference_index, unique_token)


@attrs.frozen
class Job:
    """One image to generate and score."""

    recipe: str  # the recipe's folder name under OUT/images
    subject: Subject
    prompt: PromptTemplate
    seed: int
    reference: str  # the conditioning image (absolute path)
    generation_prompt: str
    clip_prompt: str

    @property
    def key(self) -> str:
        return f"{self.recipe}/{self.subject.name}/p{self.prompt.index:02d}-s{self.seed}"

    def folder(self, out: str) -> str:
        return os.path.join(out, "images", self.recipe, self.subject.name, f"p{self.prompt.index:02d}-s{self.seed}")

    def image_path(self, out: str) -> str:
        return os.path.join(self.folder(out), "image.png")

    def inputs(self, uses_subject: bool) -> dict[str, object]:
        """What generation read, recorded in the trace; a reused image must match it exactly
        (the conditioning image by name and content, so a moved --data folder still matches)."""
        data: dict[str, object] = {"prompt": self.generation_prompt, "seed": self.seed}
        if uses_subject:
            data["subject_prompt"] = self.subject.subject_prompt
            data["reference"] = f"{self.subject.name}/{os.path.basename(self.reference)}"
            data["reference_sha256"] = file_digest(self.reference)
        return data


@functools.lru_cache(maxsize=256)
def file_digest(path: str) -> str:
    """The first 16 hex digits of the file's SHA-256."""
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:16]


def recipe_folder(name: str) -> str:
    """A recipe's folder name under OUT/images: 'ablations/ezigen-sd21-fixed-3' -> 'ablations_ezigen-sd21-fixed-3'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "recipe"


def selected_subjects(bench: DreamBench, selection: Selection) -> list[Subject]:
    subjects = [bench.subject(name) for name in selection.subjects] if selection.subjects else list(bench.subjects)
    if len({s.name for s in subjects}) != len(subjects):
        raise EzigenError("--subjects: a subject is named twice")
    if selection.limit is not None:
        subjects = alternate(subjects, lambda s: s.live, selection.limit)
    return subjects


def alternate(items: Sequence[T], kind: Callable[[T], object], count: int) -> list[T]:
    """``count`` items taken round-robin over their kinds (kinds in order of first appearance, each kind's
    items in order), returned in their original order: [o1, o2, l1, o3] by live/object, 2 -> [o1, l1]."""
    queues: dict[object, list[T]] = {}
    for item in items:
        queues.setdefault(kind(item), []).append(item)
    chosen: list[T] = []
    while len(chosen) < count and any(queues.values()):
        for queue in queues.values():
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    order = {id(item): i for i, item in enumerate(items)}
    return sorted(chosen, key=lambda item: order[id(item)])


def selected_prompts(bench: DreamBench, subject: Subject, selection: Selection) -> tuple[PromptTemplate, ...]:
    prompts = bench.prompts_for(subject)
    prompts = prompts[:selection.prompts_per_subject or len(prompts)]
    if selection.limit is not None:
        return tuple(alternate(prompts, lambda p: p.kind, selection.limit))
    return prompts


def conditioning_image(subject: Subject, index: int) -> str:
    if index >= len(subject.images):
        raise EzigenError(f"--reference-index {index}: subject {subject.name!r} has only {len(subject.images)} images")
    return subject.images[index]


def plan_jobs(bench: DreamBench, recipes: Sequence[str], selection: Selection) -> list[Job]:
    """Every (recipe, subject, prompt, seed), recipe-major, in a fixed order (the order shards slice)."""
    jobs = []
    for recipe in recipes:
        for subject in selected_subjects(bench, selection):
            reference = conditioning_image(subject, selection.reference_index)
            for prompt in selected_prompts(bench, subject, selection):
                generation = prompt.text(subject.class_name, selection.unique_token)
                clip = prompt.text(subject.class_name)
                for seed in selection.seeds:
                    jobs.append(Job(recipe, subject, prompt, seed, reference, generation, clip))
    return jobs


def shard(jobs: Sequence[Job], rank: int, world: int) -> list[Job]:
    """Process ``rank`` of ``world`` takes every world-th job from its rank: disjoint, together complete."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} outside 0..{world - 1}")
    return list(jobs[rank::world])
