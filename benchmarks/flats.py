"""Speed/memory benchmark of core.flats.compute_flats on generated pages; prints ONE JSON object.

The page: a grid of shapes (circles, rectangles, polygons; some nested) outlined in anti-aliased ink
1-4 px wide, with dot screentone in a quarter of the cells, gaps cut in some outlines, hint strokes in
about half of the regions and a few regions holding two hint colours (which exercises the split);
shapes whose outline has a gap join the page background, so the background rule runs too. Target:
16 MP in at most 2 s (best of N on a shared CPU).

Usage: python benchmarks/flats.py [--runs 3] [--cell 80]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import time

import cv2
import numpy as np

from mangacolor_app.core.flats import compute_flats

log = logging.getLogger("benchmarks.flats")


def make_page(size: int, cell: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """A (size, size) line page, (size, size, 4) hints and the number of shapes drawn."""
    rng = np.random.default_rng(seed)
    ink = np.full((size, size), 255, np.uint8)
    hints = np.zeros((size, size, 4), np.float32)
    dots = np.full((5, 5), 255, np.uint8)
    cv2.circle(dots, (2, 2), 1, 30, -1, cv2.LINE_AA)
    tone = np.tile(dots, (size // 5 + 1, size // 5 + 1))[:size, :size]
    shapes = 0
    for cy in range(cell // 2, size - cell // 2, cell):
        for cx in range(cell // 2, size - cell // 2, cell):
            for radius in (cell * 0.42, cell * 0.18) if rng.random() < 0.4 else (cell * 0.42,):
                pts = _shape(rng, cx, cy, radius)
                thick = int(rng.integers(1, 5))
                if rng.random() < 0.25 and radius > cell * 0.3:
                    y0, x0 = int(cy - radius * 0.5), int(cx - radius * 0.5)
                    sl = np.s_[y0 : y0 + int(radius * 0.5), x0 : x0 + int(radius * 0.5)]
                    ink[sl] = np.minimum(ink[sl], tone[sl])
                cv2.polylines(ink, [pts], True, 0, thick, cv2.LINE_AA)
                if rng.random() < 0.3:  # a gap of 1-3 px
                    p = pts[0]
                    g = int(rng.integers(1, 4))
                    ink[p[1] - 3 : p[1] + 4, p[0] : p[0] + g] = 255
                shapes += 1
                if rng.random() < 0.5:
                    colour = (*(rng.integers(0, 256, 3) / 255.0), 1.0)
                    a = (int(cx + radius * 0.6), int(cy))
                    cv2.line(hints, a, (a[0] + 3, a[1] + 4), colour, 6, cv2.LINE_AA)
                    if rng.random() < 0.1:  # second colour in the same region
                        b = (int(cx - radius * 0.6), int(cy))
                        cv2.line(hints, b, (b[0] + 3, b[1] + 4), (0.0, 0.5, 1.0, 1.0), 6, cv2.LINE_AA)
    return ink.astype(np.float32) / 255.0, hints, shapes


def _shape(rng: np.random.Generator, cx: float, cy: float, radius: float) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:
        return cv2.ellipse2Poly((int(cx), int(cy)), (int(radius), int(radius)), 0, 0, 360, 6)
    if kind == 1:
        r = radius * 0.8
        return np.array([[cx - r, cy - r], [cx + r, cy - r], [cx + r, cy + r], [cx - r, cy + r]], np.int32)
    n = int(rng.integers(5, 9))
    ang = (np.arange(n) + rng.uniform(-0.3, 0.3, n)) * (2 * np.pi / n)
    rad = radius * rng.uniform(0.8, 1.0, n)
    return np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], axis=1).astype(np.int32)


def time_flats(size: int, cell: int, runs: int) -> tuple[float, float, float, int, float]:
    """Median wall, best (minimum) wall and median CPU seconds of compute_flats on a generated page,
    its shape count and filled fraction. The best run is the figure for a shared CPU."""
    line, hints, shapes = make_page(size, cell)
    walls, cpus = [], []
    flats = None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        flats = compute_flats(line, hints, dpi=300)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        log.info("%dx%d: %.3f s wall, %.3f s cpu", size, size, walls[-1], cpus[-1])
    filled = float((flats[..., 3] > 0).mean()) if flats is not None else 0.0
    return statistics.median(walls), min(walls), statistics.median(cpus), shapes, filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cell", type=int, default=80, help="grid cell size in pixels (smaller = more regions)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result: dict[str, object] = {"flats_seconds": {}, "flats_best_seconds": {}, "flats_cpu_seconds": {}, "shapes": {},
                                 "filled_fraction": {}}
    for name, size in (("4mp", 2000), ("16mp", 4000)):
        seconds, best, cpu, shapes, filled = time_flats(size, args.cell, args.runs)
        result["flats_seconds"][name] = round(seconds, 3)  # type: ignore[index]
        result["flats_best_seconds"][name] = round(best, 3)  # type: ignore[index]
        result["flats_cpu_seconds"][name] = round(cpu, 3)  # type: ignore[index]
        result["shapes"][name] = shapes  # type: ignore[index]
        result["filled_fraction"][name] = round(filled, 3)  # type: ignore[index]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    result.update(
        runs=args.runs,
        cell_px=args.cell,
        cv2_threads=cv2.getNumThreads(),
        cpu_count=os.cpu_count(),
        load_average_1min=round(os.getloadavg()[0], 2),
        cpu=platform.processor() or platform.machine(),
        numpy=np.__version__,
        opencv=cv2.__version__,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
