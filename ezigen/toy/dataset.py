"""``ezigen toy data``: the toy world written in the training manifest format.

    DATA/train/manifest.jsonl   scenes of the training subjects, each with its subject crop and
                                class prompt (adapter training), plus crop-only samples (the crop
                                as target, its class prompt as caption: ``crop_fraction`` of all)
                                so the base learns to draw subjects on white
    DATA/world.json             the seed, the training and held-out subjects

Held-out subjects never appear in DATA/train; evaluation renders their scenes from the seed.
"""

from __future__ import annotations

import os
import random

import attrs

from ezigen.data.manifest import Sample, write_manifest
from ezigen.io import write_json_atomic
from ezigen.toy.world import WORLD_VERSION, random_scene, render_crop, render_scene, split_subjects


@attrs.frozen
class WorldSpec:
    seed: int = 0
    train_subjects: int = 400
    heldout_subjects: int = 60
    scenes: int = 24000
    crop_fraction: float = 0.15


def write_world(out: str, spec: WorldSpec = WorldSpec(), log=print) -> str:
    train, heldout = split_subjects(spec.seed, spec.train_subjects, spec.heldout_subjects)
    folder = os.path.join(out, "train")
    os.makedirs(os.path.join(folder, "crops"), exist_ok=True)
    os.makedirs(os.path.join(folder, "scenes"), exist_ok=True)
    crops = {}
    for index, subject in enumerate(train):
        path = os.path.join(folder, "crops", f"{index:04d}.png")
        render_crop(subject).save(path)
        crops[subject] = path
    rng = random.Random(f"scenes:{spec.seed}")
    samples = []
    for index in range(spec.scenes):
        subject = rng.choice(train)
        if rng.random() < spec.crop_fraction:
            samples.append(Sample((crops[subject],), (subject.class_prompt,), crops[subject], subject.class_prompt,
                                  source=f"toy:crop:{subject.name}"))
            continue
        scene = random_scene(subject, rng)
        path = os.path.join(folder, "scenes", f"{index:06d}.png")
        render_scene(scene).save(path)
        samples.append(Sample((crops[subject],), (subject.class_prompt,), path, scene.caption,
                              source=f"toy:scene:{subject.name}"))
        if index and index % 5000 == 0:
            log(f"{index}/{spec.scenes} scenes")
    manifest = write_manifest(folder, samples)
    world = {"version": WORLD_VERSION, "seed": spec.seed, "spec": attrs.asdict(spec), "train": [attrs.asdict(s) for s in train],
             "heldout": [attrs.asdict(s) for s in heldout]}
    write_json_atomic(os.path.join(out, "world.json"), world)
    return manifest
