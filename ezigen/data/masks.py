"""Instance masks from COCO / YouTube-VIS annotations, decoded by hand with numpy (spec §2.4, §3.1).

No pycocotools: everything here is written from the formats' definitions.

**RLE.** A mask of ``size = [height, width]`` is flattened in *column-major* order (down the
first column, then the second, ...) and stored as run lengths that alternate 0-runs and
1-runs, starting with a (possibly empty) 0-run: ``counts = [z0, o0, z1, o1, ...]`` with
``sum(counts) == height * width``. ``counts`` is either that list ("uncompressed", used by
COCO crowd annotations and YouTube-VIS) or a compact ASCII string ("compressed"):

- every count from the third on is first replaced by its difference to the count two places
  before it (``d[i] = c[i] - c[i-2]`` for ``i >= 2``; runs of the same value are similar);
- each value is written as little-endian groups of 5 bits, least significant first, one
  character per group: ``chr(48 + bits | 0x20 * more)``, where ``more`` says another group
  follows; the last group's bit 0x10 is the sign (the value is sign-extended from it).

**Polygons.** ``[[x1, y1, x2, y2, ...], ...]`` in pixel coordinates, where pixel ``(col, row)``
covers ``[col, col+1) x [row, row+1)``. A pixel is inside when its centre
``(col + 0.5, row + 0.5)`` is inside the polygon by the even-odd rule; several polygons of one
instance are OR-ed. So the square ``(0,0)-(10,0)-(10,10)-(0,10)`` covers exactly 100 pixels, its
area. (pycocotools rasterises differently at the boundary; masks may differ by edge pixels.)

**Connected components** (for the YouTube-VIS "> 90% connected" filter): 8-connected, found on
row runs with a union-find, so a 720p mask costs milliseconds without scipy or OpenCV.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------- RLE


def counts_from_string(text: str | bytes) -> list[int]:
    """Compressed COCO RLE string -> run lengths (see the module docstring)."""
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    counts: list[int] = []
    value, shift = 0, 0
    for byte in data:
        group = byte - 48
        if not 0 <= group < 64:
            raise ValueError(f"compressed RLE has a character outside '0'..'o': {chr(byte)!r}")
        value |= (group & 0x1F) << shift
        shift += 5
        if group & 0x20:  # another 5-bit group follows
            continue
        if group & 0x10:  # sign bit of the last group: sign-extend
            value -= 1 << shift
        if len(counts) >= 2:
            value += counts[-2]
        counts.append(value)
        value, shift = 0, 0
    if shift:
        raise ValueError("compressed RLE ends in the middle of a number")
    return counts


def counts_to_string(counts: Sequence[int]) -> str:
    """Run lengths -> compressed COCO RLE string (the inverse of :func:`counts_from_string`)."""
    chars: list[str] = []
    for index, count in enumerate(counts):
        value = int(count) - (int(counts[index - 2]) if index >= 2 else 0)
        while True:
            group = value & 0x1F
            value >>= 5  # arithmetic shift: negative values end at -1
            more = value != -1 if group & 0x10 else value != 0
            chars.append(chr(48 + (group | (0x20 if more else 0))))
            if not more:
                break
    return "".join(chars)


def decode_counts(counts: Sequence[int], height: int, width: int) -> np.ndarray:
    """Uncompressed run lengths -> boolean mask (height, width)."""
    runs = np.asarray(counts, dtype=np.int64)
    if runs.ndim != 1 or (runs < 0).any():
        raise ValueError("RLE counts must be a flat list of non-negative integers")
    if int(runs.sum()) != height * width:
        raise ValueError(f"RLE counts sum to {int(runs.sum())}, expected height*width = {height * width}")
    values = np.arange(len(runs)) % 2 == 1  # runs alternate 0, 1, 0, ...
    flat = np.repeat(values, runs)
    return flat.reshape(width, height).T.copy()  # column-major


def encode_counts(mask: np.ndarray) -> list[int]:
    """Boolean mask (height, width) -> uncompressed run lengths (column-major, 0-run first)."""
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return [int(r) for r in runs]


# ---------------------------------------------------------------------------------------- polygons


def rasterize_polygon(points: Sequence[float], height: int, width: int) -> np.ndarray:
    """One flat polygon ``[x1, y1, x2, y2, ...]`` -> boolean mask by pixel centres, even-odd rule.

    For every row centre ``yc`` and every edge that crosses it (half-open in y, so a vertex is
    counted once) the crossing ``x`` toggles the inside state from the first pixel whose centre
    is right of ``x`` (column ``ceil(x - 0.5)``); a cumulative sum of toggles mod 2 fills spans.
    """
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x0, y0 = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    rows = np.arange(height, dtype=np.float64) + 0.5  # (H,)
    yc = rows[:, None]  # (H, 1) against edges (1, E)
    crosses = (y0[None] <= yc) != (y1[None] <= yc)  # (H, E)
    row_index, edge_index = np.nonzero(crosses)
    ya, yb = y0[edge_index], y1[edge_index]
    xa, xb = x0[edge_index], x1[edge_index]
    x_cross = xa + (rows[row_index] - ya) * (xb - xa) / (yb - ya)
    first = np.clip(np.ceil(x_cross - 0.5), 0, width).astype(np.int64)
    toggles = np.zeros((height, width + 1), dtype=np.int32)
    np.add.at(toggles, (row_index, first), 1)
    return (np.cumsum(toggles[:, :width], axis=1) % 2).astype(bool)


def rasterize_polygons(polygons: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """The union of several polygons (one COCO instance may have several parts)."""
    mask = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        if not isinstance(polygon, (list, tuple)) or not all(isinstance(v, (int, float)) for v in polygon):
            raise ValueError("a polygon must be a flat list of numbers [x1, y1, x2, y2, ...]")
        if len(polygon) >= 6:  # fewer than 3 points has no area
            mask |= rasterize_polygon(polygon, height, width)
    return mask


# ---------------------------------------------------------------------------------------- dispatch


def decode_segmentation(segmentation: Any, height: int, width: int) -> np.ndarray:
    """A COCO / YouTube-VIS ``segmentation`` (polygons, RLE list or RLE string) -> bool (H, W).

    Raises ValueError saying what is wrong (the caller adds the file and annotation id).
    """
    if isinstance(segmentation, list):
        return rasterize_polygons(segmentation, height, width)
    if isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        size = segmentation["size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
            raise ValueError("RLE 'size' must be [height, width]")
        if tuple(size) != (height, width):
            raise ValueError(f"RLE size {size} differs from the image's [height, width] = [{height}, {width}]")
        counts = segmentation["counts"]
        if isinstance(counts, (str, bytes)):
            counts = counts_from_string(counts)
        elif not isinstance(counts, list) or not all(isinstance(v, int) for v in counts):
            raise ValueError("RLE 'counts' must be a list of integers or a compressed string")
        return decode_counts(counts, height, width)
    raise ValueError("expected a list of polygons or an RLE object {'counts': ..., 'size': [h, w]}")


# ---------------------------------------------------------------------------------------- components


def component_sizes(mask: np.ndarray) -> list[int]:
    """Pixel counts of the 8-connected components of a boolean mask, largest first.

    Each row is cut into runs of True; a run joins every run of the previous row whose columns
    touch it diagonally or directly (``start <= other_end`` and ``other_start <= end`` with
    exclusive ends); a union-find over runs gives the components.
    """
    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)  # +1 at a run start, -1 after a run end
    start_rows, starts = np.nonzero(steps == 1)  # row-major order, so runs are sorted by row
    _, ends = np.nonzero(steps == -1)  # exclusive
    if starts.size == 0:
        return []
    parent = list(range(len(starts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(start_rows, np.arange(height + 1))  # runs of row r: [first[r], first[r+1])
    for row in range(1, height):
        above = range(row_first[row - 1], row_first[row])
        here = range(row_first[row], row_first[row + 1])
        i = above.start
        for j in here:
            while i < above.stop and ends[i] < starts[j]:  # runs above that end left of this one
                i += 1
            k = i
            while k < above.stop and starts[k] <= ends[j]:
                parent[root(k)] = root(j)
                k += 1
    lengths = (ends - starts).tolist()
    totals: dict[int, int] = {}
    for index, length in enumerate(lengths):
        key = root(index)
        totals[key] = totals.get(key, 0) + length
    return sorted(totals.values(), reverse=True)


def largest_component_fraction(mask: np.ndarray) -> float:
    """Largest 8-connected component's pixels / all mask pixels (0 for an empty mask)."""
    sizes = component_sizes(mask)
    return sizes[0] / sum(sizes) if sizes else 0.0
