"""The toy table's plots, drawn with Pillow as the evaluation plot is (no plotting dependency).

- ``scatter.png``: fidelity (y) against alignment (x), one point per method, bars 95 % (+- 1.96 SE),
  the ground-truth renders' fidelity as the dashed reference line (:func:`ezigen.evaluation.plot.plot_points`);
- ``efficiency.png``: fidelity gain over text-only (y, bars +- 1.96 SE) against training steps (x),
  one line per method with a ``--curve``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ezigen.evaluation.plot import HEIGHT, LEFT, PALETTE, RIGHT, TOP, WIDTH, Point, _font, axis_range, draw_frame, plot_points
from ezigen.images import save_image_atomic

Z95 = 1.96


def _bar(mean: float, se: float) -> tuple[float, float] | None:
    return None if se != se else (mean - Z95 * se, mean + Z95 * se)


def write_scatter(path: str, rows: Sequence[dict[str, Any]], truth: dict[str, float]) -> None:
    points = [Point(r["variant"], r["alignment"], r["fidelity"], _bar(r["alignment"], r["alignment_se"]),
                    _bar(r["fidelity"], r["fidelity_se"]), r["n"]) for r in rows]
    image = plot_points(points, truth.get("fidelity"), x_title="alignment (background and position correct)",
                        y_title="fidelity (subject colours)", caption="one point per method; bars: 95 % (1.96 SE)",
                        reference_label="ground-truth renders")
    save_image_atomic(image, path)


def efficiency_image(points: Sequence[dict[str, Any]]) -> Any:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(12)
    steps = [p["steps"] for p in points]
    ys = [v for p in points for v in (p["fidelity_gain"] + Z95 * p["fidelity_gain_se"],
                                       p["fidelity_gain"] - Z95 * p["fidelity_gain_se"]) if v == v] + [0.0]
    x0, x1 = 0.0, max(steps) * 1.05
    y0, y1 = axis_range(ys, 0.1)
    plot_w = WIDTH - LEFT - RIGHT
    to_px = draw_frame(draw, (x0, x1), (y0, y1), small, x_format="{:.0f}", y_format="{:+.3f}")
    _, zero = to_px(x0, 0.0)
    draw.line((LEFT, zero, LEFT + plot_w, zero), fill=(120, 120, 120), width=1)
    draw.text((LEFT + plot_w / 2, HEIGHT - 22), "training steps", fill="black", font=font, anchor="ms")
    draw.text((12, TOP - 18), "fidelity gain over text-only", fill="black", font=font, anchor="ls")
    draw.text((WIDTH - RIGHT, TOP - 18), "one line per method; bars: 95 % (1.96 SE), paired", fill=(90, 90, 90),
              font=small, anchor="rs")
    methods = list(dict.fromkeys(p["method"] for p in points))
    for k, method in enumerate(methods):
        colour = PALETTE[k % len(PALETTE)]
        line = sorted((p for p in points if p["method"] == method), key=lambda p: p["steps"])
        xy = [to_px(p["steps"], p["fidelity_gain"]) for p in line]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for p, (px, py) in zip(line, xy):
            bar = _bar(p["fidelity_gain"], p["fidelity_gain_se"])
            if bar is not None:
                (_, top), (_, bottom) = to_px(p["steps"], bar[1]), to_px(p["steps"], bar[0])
                draw.line((px, top, px, bottom), fill=colour, width=2)
            draw.ellipse((px - 4, py - 4, px + 4, py + 4), fill=colour, outline="black")
        draw.text((LEFT + 10, TOP + 10 + 16 * k), f"{method} (n = {line[0]['n']})", fill=colour, font=small,
                  anchor="la")
    return image


def write_efficiency(path: str, points: Sequence[dict[str, Any]]) -> None:
    if points:
        save_image_atomic(efficiency_image(points), path)
