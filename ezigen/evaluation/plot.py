"""``fidelity_vs_text.png``: DINO (subject fidelity, y) against CLIP-T (text alignment, x), one
point per recipe with its 95 % CI as error bars in both directions and its number of images,
the real-vs-real DINO as a dashed line; drawn with Pillow (no plotting dependency). Higher and
further right is better; a recipe that copies the subject ("copy-paste") sits high and left, a
text-only model low and right (BENCHMARKS §2.3).

Axes (:func:`axis_range`): each spans every point, every CI end and (y) the real-vs-real line,
and at least ``MIN_SPAN`` = 0.2 cosine, so a gap of 0.01 looks like 5 % of the axis, never like
its whole height.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ezigen.evaluation.plan import REAL_IMAGES
from ezigen.images import save_image_atomic

WIDTH, HEIGHT = 800, 560
LEFT, RIGHT, TOP, BOTTOM = 80, 30, 50, 70
PALETTE = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


MIN_SPAN = 0.2


def axis_range(values: Sequence[float], min_span: float = MIN_SPAN) -> tuple[float, float]:
    """(low, high): ``values`` with an 8 % margin, at least ``min_span`` wide, kept inside [0, 1] when they are."""
    low, high = min(values), max(values)
    pad = (high - low) * 0.08
    low, high = low - pad, high + pad
    if high - low < min_span:
        centre = (low + high) / 2
        low, high = centre - min_span / 2, centre + min_span / 2
    if 0.0 <= min(values) and max(values) <= 1.0:
        span = min(high - low, 1.0)
        low = min(max(low, 0.0), 1.0 - span)
        high = low + span
    return low, high


def draw_frame(draw: Any, x_range: tuple[float, float], y_range: tuple[float, float], font: Any,
               x_format: str = "{:.3f}", y_format: str = "{:.3f}") -> Any:
    """The plot box with 6 ticks, grid lines and labels per axis; returns ``to_px(x, y) -> (px, py)``."""
    (x0, x1), (y0, y1) = x_range, y_range
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def to_px(x: float, y: float) -> tuple[float, float]:
        return LEFT + (x - x0) / (x1 - x0) * plot_w, TOP + (1 - (y - y0) / (y1 - y0)) * plot_h

    draw.rectangle((LEFT, TOP, LEFT + plot_w, TOP + plot_h), outline="black")
    for i in range(6):
        fx, fy = x0 + (x1 - x0) * i / 5, y0 + (y1 - y0) * i / 5
        px, _ = to_px(fx, y0)
        _, py = to_px(x0, fy)
        draw.line((px, TOP + plot_h, px, TOP + plot_h + 5), fill="black")
        draw.line((LEFT - 5, py, LEFT, py), fill="black")
        draw.line((px, TOP, px, TOP + plot_h), fill=(235, 235, 235))
        draw.line((LEFT, py, LEFT + plot_w, py), fill=(235, 235, 235))
        draw.text((px, TOP + plot_h + 8), x_format.format(fx), fill="black", font=font, anchor="ma")
        draw.text((LEFT - 8, py), y_format.format(fy), fill="black", font=font, anchor="rm")
    return to_px


@attrs.frozen
class Point:
    """One recipe: its mean (x, y), their CIs (None: no bar) and its number of images."""

    label: str
    x: float
    y: float
    x_ci: tuple[float, float] | None = None
    y_ci: tuple[float, float] | None = None
    images: int | None = None


def plot_points(points: Sequence[Point], real_dino: float | None, x_label: str = "CLIP-T",
                y_label: str = "DINO", x_title: str | None = None, y_title: str | None = None,
                caption: str = "one point per recipe; bars: 95 % CI over subjects",
                reference_label: str = "real images (real vs real)") -> Any:
    """A PIL image of ``points`` with CI bars, ``real_dino`` a dashed reference line (or None).

    ``x_title`` / ``y_title`` default to "<label> (text alignment)" / "<label> (subject fidelity)"."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(12)
    xs = [v for p in points for v in (p.x, *(p.x_ci or ()))] or [0.25]
    ys = [v for p in points for v in (p.y, *(p.y_ci or ()))] + ([real_dino] if real_dino is not None else [])
    (x0, x1), (y0, y1) = axis_range(xs), axis_range(ys or [0.5])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    to_px = draw_frame(draw, (x0, x1), (y0, y1), small)
    draw.text((LEFT + plot_w / 2, HEIGHT - 22), x_title or f"{x_label} (text alignment)", fill="black", font=font, anchor="ms")
    draw.text((12, TOP - 18), y_title or f"{y_label} (subject fidelity)", fill="black", font=font, anchor="ls")
    draw.text((WIDTH - RIGHT, TOP - 18), caption, fill=(90, 90, 90),
              font=small, anchor="rs")
    if real_dino is not None:
        _, py = to_px(x0, real_dino)
        for start in range(LEFT, LEFT + plot_w, 12):
            draw.line((start, py, min(start + 6, LEFT + plot_w), py), fill=(120, 120, 120), width=2)
        below = py - TOP < 24  # near the top edge the label goes under the line, clear of the caption
        draw.text((LEFT + plot_w - 4, py + 4 if below else py - 4), f"{reference_label} {real_dino:.3f}",
                  fill=(90, 90, 90), font=small, anchor="ra" if below else "rd")
    for i, point in enumerate(points):
        px, py = to_px(point.x, point.y)
        colour = PALETTE[i % len(PALETTE)]
        if point.y_ci is not None:
            (_, top), (_, bottom) = to_px(point.x, point.y_ci[1]), to_px(point.x, point.y_ci[0])
            draw.line((px, top, px, bottom), fill=colour, width=2)
            draw.line((px - 5, top, px + 5, top), fill=colour, width=2)
            draw.line((px - 5, bottom, px + 5, bottom), fill=colour, width=2)
        if point.x_ci is not None:
            (left, _), (right, _) = to_px(point.x_ci[0], point.y), to_px(point.x_ci[1], point.y)
            draw.line((left, py, right, py), fill=colour, width=2)
            draw.line((left, py - 5, left, py + 5), fill=colour, width=2)
            draw.line((right, py - 5, right, py + 5), fill=colour, width=2)
        draw.ellipse((px - 6, py - 6, px + 6, py + 6), fill=colour, outline="black")
        count = f", {point.images} images" if point.images is not None else ""
        text = f"{point.label} ({point.x:.3f}, {point.y:.3f}{count})"
        right_side = px + 10 + draw.textlength(text, font=small) < WIDTH - RIGHT
        draw.text((px + 10 if right_side else px - 10, py - 10), text, fill=colour, font=small,
                  anchor="lm" if right_side else "rm")
    return image


def _ci(row: dict[str, Any], column: str) -> tuple[float, float] | None:
    low, high = row.get(f"{column}-ci-low"), row.get(f"{column}-ci-high")
    return None if low is None or high is None else (low, high)


def recipe_points(per_recipe: Sequence[dict[str, Any]], x: str = "clip-t", y: str = "dino") -> list[Point]:
    """The plotted points of the per-recipe rows (the real-vs-real row is the line, not a point)."""
    return [Point(row["recipe"], row[x], row[y], _ci(row, x), _ci(row, y), row.get("images"))
            for row in per_recipe
            if row["recipe"] != REAL_IMAGES and row.get(x) is not None and row.get(y) is not None]


def write_plot(path: str, per_recipe: Sequence[dict[str, Any]], x: str = "clip-t", y: str = "dino") -> bool:
    """Write the plot from the per-recipe rows; False (nothing written) when ``x`` or ``y`` was not computed."""
    points = recipe_points(per_recipe, x, y)
    if not points:
        return False
    real = next((row.get(y) for row in per_recipe if row["recipe"] == REAL_IMAGES), None)
    save_image_atomic(plot_points(points, real), path)
    return True
