"""``fidelity_vs_text.png``: DINO (subject fidelity, y) against CLIP-T (text alignment, x), one
point per recipe, the real-vs-real DINO as a dashed line; drawn with Pillow (no plotting
dependency). Higher and further right is better; a recipe that copies the subject ("copy-paste")
sits high and left, a text-only model low and right (BENCHMARKS §2.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def _range(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = max((high - low) * 0.12, 0.02)
    return low - pad, high + pad


def plot_points(points: Sequence[tuple[str, float, float]], real_dino: float | None, x_label: str = "CLIP-T",
                y_label: str = "DINO") -> Any:
    """A PIL image: ``points`` = [(label, x, y)], ``real_dino`` a dashed reference line (or None)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(12)
    xs = [p[1] for p in points] or [0.25]
    ys = [p[2] for p in points] + ([real_dino] if real_dino is not None else []) or [0.5]
    (x0, x1), (y0, y1) = _range(xs), _range(ys)
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
        draw.text((px, TOP + plot_h + 8), f"{fx:.3f}", fill="black", font=small, anchor="ma")
        draw.text((LEFT - 8, py), f"{fy:.3f}", fill="black", font=small, anchor="rm")
    draw.text((LEFT + plot_w / 2, HEIGHT - 22), f"{x_label} (text alignment)", fill="black", font=font, anchor="ms")
    draw.text((12, TOP - 18), f"{y_label} (subject fidelity)", fill="black", font=font, anchor="ls")
    draw.text((WIDTH - RIGHT, TOP - 18), "DreamBench: one point per recipe", fill=(90, 90, 90), font=small,
              anchor="rs")
    if real_dino is not None:
        _, py = to_px(x0, real_dino)
        for start in range(LEFT, LEFT + plot_w, 12):
            draw.line((start, py, min(start + 6, LEFT + plot_w), py), fill=(120, 120, 120), width=2)
        draw.text((LEFT + plot_w - 4, py - 4), f"real vs real {real_dino:.3f}", fill=(90, 90, 90), font=small,
                  anchor="rd")
    for i, (label, x, y) in enumerate(points):
        px, py = to_px(x, y)
        colour = PALETTE[i % len(PALETTE)]
        draw.ellipse((px - 6, py - 6, px + 6, py + 6), fill=colour, outline="black")
        text = f"{label} ({x:.3f}, {y:.3f})"
        right_side = px + 10 + draw.textlength(text, font=small) < WIDTH - RIGHT
        draw.text((px + 10 if right_side else px - 10, py), text, fill=colour, font=small,
                  anchor="lm" if right_side else "rm")
    return image


def write_plot(path: str, per_recipe: Sequence[dict[str, Any]], x: str = "clip-t", y: str = "dino") -> bool:
    """Write the plot from the per-recipe rows; False (nothing written) when ``x`` or ``y`` was not computed."""
    points = [(row["recipe"], row[x], row[y]) for row in per_recipe
              if row["recipe"] != REAL_IMAGES and row.get(x) is not None and row.get(y) is not None]
    if not points:
        return False
    real = next((row.get(y) for row in per_recipe if row["recipe"] == REAL_IMAGES), None)
    save_image_atomic(plot_points(points, real), path)
    return True
