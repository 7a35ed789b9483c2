"""Peak memory per page pixel of one page through ``mangacolor colorize`` (issue 13: at most 20 B/px at 100 MP).

For each page size a fresh Python process runs ``mangacolor_app.cli.main`` on a generated line-art page
with a hint layer (``<page>.hints.png``) and reports its peak RSS (``ru_maxrss``) and its RSS after the
imports and the model session (the fixed cost). Two outputs are measured: a PNG (``--format png``: the
colour with the ink multiplied) and a layered PSD (Hints, Flats, Color, Ink: the export with every layer).
Per size: ``bytes_per_pixel`` = peak RSS / pixels and ``page_bytes_per_pixel`` = (peak - fixed) / pixels;
between the two largest sizes ``marginal_bytes_per_pixel`` = d(peak) / d(pixels) (what each further page
pixel costs, independent of the fixed cost).

The model is the small generated conv net of ``benchmarks/chapter.py`` (memory behaviour is the pipeline's)
unless ``--model PATH`` is given. Usage: python benchmarks/memory.py [--mp 4 16 100] [--formats png psd]
[--model PATH]. Prints one JSON object.

Measured (2026-12-04, 2 shared CPU cores, ``--mp 16 100``; a page with two hint boxes):

* PNG, 100 MP: peak 1.33 GB = 13.9 B/px (fixed cost 75 MB; marginal 12.1 B/px); 17 s.
  The page and its hint PNG are decoded as integers (``load_image(as_int=True)``); an opaque 8-bit grey
  page's line stays its uint8 plane (``core.pagefile.line_of_page``), the hint layer uint8 (4 B/px)
  through ``fit_hints``, ``ModelInputBuilder`` and the gate (float32 only per tile window), and the
  colour of an 8-bit export comes out of the tiles as uint8 (``PageRequest.color_dtype``; the same values
  as rounding the uint16 colour). Before issue 13: 60 B/px; session 4: 19.1 B/px.
* PSD (every layer), 100 MP: peak 1.68 GB = 17.6 B/px (marginal 15.5 B/px); 25 s. The flats are uint8
  RGBA made from the integer layers (``page_flats(..., out_dtype=np.uint8)``; fill map int16, seed index
  uint16, the propagation into the ink in row strips), the PSD is made at 1 x 1 and resized (no
  placeholder merged image), and its layers are stored hints, flats, colour, ink, each let go once stored
  (``export_page(..., release=True)``). Before issue 13: 106 B/px; session 4: 48.3 B/px.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.chapter import build_model  # noqa: E402

Image.MAX_IMAGE_PIXELS = None  # the pages made here are ours (the app's own decode checks still apply)

CHILD = """
import json, resource, sys, time
def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
from mangacolor_app.app.page_job import ColorizerCache
from mangacolor_app.inference.pipeline import Colorizer
Colorizer(sys.argv[1], device="cpu")  # imports + session: the fixed cost
fixed = rss_mb()
from mangacolor_app.cli import main
start = time.perf_counter()
rc = main(sys.argv[2:])
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - start, "fixed_rss_mb": fixed,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_page(folder: Path, mp: float) -> Path:
    """A square-ish line-art page of ``mp`` megapixels (ruled panels) with a hint layer beside it."""
    w = int(round((mp * 1e6 * 0.75) ** 0.5))
    h = int(round(mp * 1e6 / w))
    rng = np.random.default_rng(3)
    page = np.full((h, w), 255, np.uint8)
    page[rng.integers(0, h, max(8, h // 60)), :] = 0
    page[:, rng.integers(0, w, max(6, w // 80))] = 0
    path = folder / f"page{mp:g}.png"
    Image.fromarray(page, "L").save(path, compress_level=1)
    hints = np.zeros((h, w, 4), np.uint8)
    hints[h // 5: h // 4, w // 5: w // 3] = [220, 80, 60, 255]
    hints[h // 2: h // 2 + h // 40, w // 2: w // 2 + w // 10] = [40, 120, 220, 255]
    Image.fromarray(hints, "RGBA").save(folder / f"page{mp:g}.hints.png", compress_level=1)
    return path


def run(page: Path, out: Path, model: Path, home: Path) -> dict[str, float]:
    """Colorize ``page`` to ``out`` in a fresh process; its rc, seconds, fixed and peak RSS (MB)."""
    env = {**os.environ, "MANGACOLOR_HOME": str(home), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", CHILD, str(model), "colorize", str(page), "-o", str(out), "--model", str(model),
           "--quiet", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure every size and format; print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, nargs="+", default=[4.0, 16.0])
    parser.add_argument("--formats", nargs="+", default=["png", "psd"], choices=("png", "psd", "tiff"))
    parser.add_argument("--model", type=Path, help="ONNX model (default: a small generated conv net)")
    args = parser.parse_args()
    result: dict[str, object] = {"benchmark": "memory", "target_bytes_per_pixel": 20,
                                 "model": str(args.model) if args.model else "generated small conv net"}
    with tempfile.TemporaryDirectory(prefix="mangacolor-bench-memory-") as tmp:
        work = Path(tmp)
        model = args.model or build_model(work / "bench.onnx")
        for fmt in args.formats:
            runs = {}
            for mp in sorted(args.mp):
                page = make_page(work, mp)
                pixels = Image.open(page).size
                n = pixels[0] * pixels[1]
                r = run(page, work / f"out{mp:g}.{fmt}", model, work / "home")
                r.update(pixels=n, bytes_per_pixel=round(r["peak_rss_mb"] * 2**20 / n, 2),
                         page_bytes_per_pixel=round((r["peak_rss_mb"] - r["fixed_rss_mb"]) * 2**20 / n, 2))
                runs[f"{mp:g}mp"] = r
                (work / f"out{mp:g}.{fmt}").unlink(missing_ok=True)
            sizes = sorted(runs.values(), key=lambda r: r["pixels"])
            entry: dict[str, object] = {"runs": runs}
            if len(sizes) >= 2:
                a, b = sizes[-2], sizes[-1]
                entry["marginal_bytes_per_pixel"] = round(
                    (b["peak_rss_mb"] - a["peak_rss_mb"]) * 2**20 / (b["pixels"] - a["pixels"]), 2)
            result[fmt] = entry
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
