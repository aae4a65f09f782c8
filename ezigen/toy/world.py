"""The toy world: textured subjects at captioned positions on captioned backgrounds.

Deterministic from a seed. A subject is (shape, texture, colour a, colour b): 6 shapes x 5 bold
textures x 10 x 9 ordered colour pairs. A scene places a subject at one of 5 positions, at 40-50%
of the side, on one of 8 background colours chosen far from the subject's colours, and is
captioned "a <shape> on a <background> background at the <position>": the subject's colours and
texture are NOT in the caption, so only the subject path can supply them. A subject's crop is the
subject at 80% of the side, centred on white, with the class prompt
"a <shape> on a white background at the center" (EZIGen expects subjects on white).
Images are 32 x 32, rendered at 4x and box-downsampled.
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

SIZE = 32
SUPERSAMPLE = 4
SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
TEXTURES = ("stripes", "bands", "checker", "dots", "halves")
SUBJECT_COLOURS = {
    "red": (220, 30, 30), "orange": (245, 140, 20), "yellow": (245, 220, 30), "green": (40, 170, 50),
    "cyan": (30, 200, 210), "blue": (30, 60, 220), "purple": (130, 40, 190), "magenta": (230, 40, 170),
    "black": (20, 20, 20), "brown": (120, 70, 30),
}
BACKGROUNDS = {
    "grey": (128, 128, 128), "navy": (20, 30, 90), "olive": (110, 120, 40), "teal": (20, 110, 110),
    "pink": (250, 180, 200), "beige": (230, 215, 170), "maroon": (110, 20, 40), "lime": (170, 240, 120),
}
WORLD_VERSION = 2  # v1: subjects at 55-65 % of the side, anchors at 1/3 and 2/3 (positions barely learnable)
SUBJECT_SIZE = (0.40, 0.50)  # subject side as a fraction of the image side, drawn uniformly
POSITIONS = {  # subject centre as a fraction of the side: corners 7 px from the centre at 32 px
    "top left": (0.28, 0.28), "top right": (0.72, 0.28), "bottom left": (0.28, 0.72),
    "bottom right": (0.72, 0.72), "center": (0.5, 0.5),
}
MIN_BACKGROUND_DISTANCE = 90.0  # RGB distance between a background and either subject colour


@attrs.frozen
class Subject:
    shape: str
    texture: str
    colour_a: str
    colour_b: str

    @property
    def name(self) -> str:
        return f"{self.colour_a}-{self.colour_b}-{self.texture}-{self.shape}"

    @property
    def class_prompt(self) -> str:
        return f"a {self.shape} on a white background at the center"

    @property
    def colours(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        return SUBJECT_COLOURS[self.colour_a], SUBJECT_COLOURS[self.colour_b]


@attrs.frozen
class Scene:
    subject: Subject
    background: str
    position: str
    size: float  # subject side as a fraction of the image side

    @property
    def caption(self) -> str:
        return f"a {self.subject.shape} on a {self.background} background at the {self.position}"


def all_subjects() -> list[Subject]:
    names = list(SUBJECT_COLOURS)
    return [Subject(shape, texture, a, b) for shape in SHAPES for texture in TEXTURES for a in names for b in names
            if a != b]


def split_subjects(seed: int, train: int, heldout: int) -> tuple[list[Subject], list[Subject]]:
    """Disjoint training and held-out subjects (the held-out ones never appear in training)."""
    subjects = all_subjects()
    random.Random(f"subjects:{seed}").shuffle(subjects)
    return subjects[:train], subjects[train:train + heldout]


def backgrounds_for(subject: Subject) -> list[str]:
    return [name for name, rgb in BACKGROUNDS.items()
            if min(_distance(rgb, c) for c in subject.colours) >= MIN_BACKGROUND_DISTANCE]


def random_scene(subject: Subject, rng: random.Random) -> Scene:
    return Scene(subject, rng.choice(backgrounds_for(subject)), rng.choice(list(POSITIONS)), rng.uniform(*SUBJECT_SIZE))


def vocabulary() -> list[str]:
    words = {"a", "on", "background", "at", "the", "white", *SHAPES}
    for name in list(BACKGROUNDS) + list(POSITIONS):
        words.update(name.split())
    return sorted(words)


# --- rendering -------------------------------------------------------------------------------


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def shape_mask(shape: str, side: int) -> Any:
    """An L-mode mask of ``shape`` filling a ``side`` x ``side`` box."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    s = side - 1
    if shape == "circle":
        draw.ellipse((0, 0, s, s), fill=255)
    elif shape == "square":
        draw.rectangle((s * 0.08, s * 0.08, s * 0.92, s * 0.92), fill=255)
    elif shape == "triangle":
        draw.polygon([(s / 2, 0), (s, s), (0, s)], fill=255)
    elif shape == "diamond":
        draw.polygon([(s / 2, 0), (s, s / 2), (s / 2, s), (0, s / 2)], fill=255)
    elif shape == "cross":
        draw.rectangle((s * 0.3, 0, s * 0.7, s), fill=255)
        draw.rectangle((0, s * 0.3, s, s * 0.7), fill=255)
    elif shape == "star":
        points = []
        for k in range(10):
            radius = s / 2 if k % 2 == 0 else s / 4.5
            angle = math.pi / 2 + k * math.pi / 5
            points.append((s / 2 + radius * math.cos(angle), s / 2 - radius * math.sin(angle)))
        draw.polygon(points, fill=255)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return mask


def texture_image(texture: str, side: int, a: tuple[int, int, int], b: tuple[int, int, int]) -> Any:
    """A ``side`` x ``side`` RGB pattern in colours a and b (bold: 3-4 elements across the subject)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (side, side), a)
    draw = ImageDraw.Draw(image)
    if texture == "stripes":  # vertical
        width = side / 4
        for k in range(1, 4, 2):
            draw.rectangle((k * width, 0, (k + 1) * width - 1, side), fill=b)
    elif texture == "bands":  # horizontal
        width = side / 4
        for k in range(1, 4, 2):
            draw.rectangle((0, k * width, side, (k + 1) * width - 1), fill=b)
    elif texture == "checker":
        cell = side / 3
        for i in range(3):
            for j in range(3):
                if (i + j) % 2:
                    draw.rectangle((i * cell, j * cell, (i + 1) * cell - 1, (j + 1) * cell - 1), fill=b)
    elif texture == "dots":
        cell = side / 3
        for i in range(3):
            for j in range(3):
                cx, cy, r = (i + 0.5) * cell, (j + 0.5) * cell, cell * 0.3
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=b)
    elif texture == "halves":  # diagonal split
        draw.polygon([(side, 0), (side, side), (0, side)], fill=b)
    else:
        raise ValueError(f"unknown texture {texture!r}")
    return image


def _render(subject: Subject, background: tuple[int, int, int], centre: tuple[float, float], size: float) -> Any:
    from PIL import Image

    big = SIZE * SUPERSAMPLE
    canvas = Image.new("RGB", (big, big), background)
    side = max(4, int(round(size * big)))
    pattern = texture_image(subject.texture, side, *subject.colours)
    left = int(round(centre[0] * big - side / 2))
    top = int(round(centre[1] * big - side / 2))
    canvas.paste(pattern, (left, top), shape_mask(subject.shape, side))
    return canvas.resize((SIZE, SIZE), Image.Resampling.BOX)


def render_scene(scene: Scene) -> Any:
    return _render(scene.subject, BACKGROUNDS[scene.background], POSITIONS[scene.position], scene.size)


def render_crop(subject: Subject) -> Any:
    """The subject at 80% of the side, centred on white."""
    return _render(subject, (255, 255, 255), (0.5, 0.5), 0.8)
