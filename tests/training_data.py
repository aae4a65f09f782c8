"""A small synthetic training set in the manifest format (coloured discs on plain backgrounds)."""

from __future__ import annotations

import os
import random


def write_dataset(folder: str, count: int = 12, seed: int = 0) -> str:
    from PIL import Image, ImageDraw

    from ezigen.data.manifest import Sample, write_manifest

    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    rng = random.Random(seed)
    colours = [(220, 30, 30), (30, 160, 40), (30, 60, 210), (230, 200, 20), (150, 40, 180)]
    samples = []
    for i in range(count):
        colour, background = colours[i % 5], colours[(i + 2) % 5]
        subject = Image.new("RGB", (48, 48), "white")
        ImageDraw.Draw(subject).ellipse((8, 8, 40, 40), fill=colour)
        target = Image.new("RGB", (64, 64), background)
        x = rng.randint(0, 24)
        ImageDraw.Draw(target).ellipse((x, x, x + 36, x + 36), fill=colour)
        subject_path = os.path.join(folder, "images", f"subject-{i:03d}.png")
        target_path = os.path.join(folder, "images", f"target-{i:03d}.png")
        subject.save(subject_path)
        target.save(target_path)
        samples.append(Sample((subject_path,), ("a photo of a disc.",), target_path, "a disc on a plain background"))
    return write_manifest(folder, samples)
