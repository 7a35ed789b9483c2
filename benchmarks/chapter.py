"""Chapter memory benchmark: peak RSS of ``mangacolor colorize`` on a 3-page vs a 30-page chapter.

Each chapter runs in a fresh Python process (``mangacolor_app.cli.main`` on a generated folder of
``--width`` x ``--height`` line-art pages, every third page with a ``<page>.hints.png``); the child
reports its own peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and wall time. Target:
``rss_ratio`` (30 pages / 3 pages) <= 1.2, i.e. memory does not grow with the chapter.

The model is a small fully convolutional ONNX network built here with the ``onnx`` helper API
(memory behaviour is the pipeline's, not the model's), unless ``--model PATH`` is given.

Usage: python benchmarks/chapter.py [--pages-small 3] [--pages-large 30] [--width 1500] [--height 2100]
       [--format png|psd|...] [--model PATH]. Prints one JSON object.
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

CHILD = """
import json, resource, sys, time
from mangacolor_app.cli import main
start = time.perf_counter()
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build_model(path: Path) -> Path:
    """A small conv net (5 -> 16 -> 16 (stride 2) -> up -> 3 channels), manifest embedded."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from mangacolor_app.inference.manifest import ModelManifest, write_manifest_metadata

    rng = np.random.default_rng(0)

    def init(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.2).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Resize", ["r2", "", "scales"], ["up"], mode="nearest"),
        helper.make_node("Add", ["up", "r1"], ["skip"]),
        helper.make_node("Conv", ["skip", "w3", "b3"], ["c3"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c3"], ["output"]),
    ]
    inits = [init("w1", (16, 5, 3, 3)), init("b1", (16,)), init("w2", (16, 16, 3, 3)), init("b2", (16,)),
             init("w3", (3, 16, 3, 3)), init("b3", (3,)),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    graph = helper.make_graph(
        nodes, "bench", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 5, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, "H", "W"])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    manifest = {
        "format": 1, "name": "bench", "version": "0", "input_name": "input", "output_name": "output",
        "channels": ["line", "hint_rgb", "hint_mask"], "size_multiple": 2, "receptive_radius": 6,
        "overlap": 32, "preferred_tile": 512,
    }
    write_manifest_metadata(path, ModelManifest.from_dict(manifest))
    return path


def make_chapter(folder: Path, pages: int, width: int, height: int) -> Path:
    """``pages`` line-art pages (PNG), every third with a hint layer beside it."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    for i in range(1, pages + 1):
        page = np.full((height, width), 255, np.uint8)
        page[rng.integers(0, height, 60), :] = 0
        page[:, rng.integers(0, width, 40)] = 0
        Image.fromarray(page, "L").save(folder / f"p{i}.png", compress_level=1)
        if i % 3 == 1:
            hints = np.zeros((height, width, 4), np.uint8)
            hints[height // 4: height // 3, width // 4: width // 2] = [220, 80, 60, 255]
            Image.fromarray(hints, "RGBA").save(folder / f"p{i}.hints.png", compress_level=1)
    return folder


def run_chapter(folder: Path, out: Path, model: Path, fmt: str, home: Path) -> dict[str, float]:
    """Colorize ``folder`` in a fresh process; returns its rc, seconds and peak RSS (MB)."""
    env = {**os.environ, "MANGACOLOR_HOME": str(home), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", CHILD, "colorize", str(folder), "-o", str(out), "--model", str(model),
           "--format", fmt, "--quiet", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"chapter run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run both chapters and print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages-small", type=int, default=3)
    parser.add_argument("--pages-large", type=int, default=30)
    parser.add_argument("--width", type=int, default=1500)
    parser.add_argument("--height", type=int, default=2100)
    parser.add_argument("--format", default="png", choices=("png", "tiff", "jpeg", "webp", "psd"))
    parser.add_argument("--model", type=Path, help="ONNX model (default: a small generated conv net)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mangacolor-bench-chapter-") as tmp:
        work = Path(tmp)
        model = args.model or build_model(work / "bench.onnx")
        runs = {}
        for label, count in (("small", args.pages_small), ("large", args.pages_large)):
            folder = make_chapter(work / f"in-{label}", count, args.width, args.height)
            runs[label] = {"pages": count, **run_chapter(folder, work / f"out-{label}", model, args.format, work / "home")}
    small, large = runs["small"], runs["large"]
    result = {
        "benchmark": "chapter", "page_size": [args.width, args.height], "format": args.format,
        "model": str(args.model) if args.model else "generated small conv net",
        "small": small, "large": large,
        "rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
        "seconds_per_page": round(large["seconds"] / large["pages"], 3),
        "target_rss_ratio": 1.2,
    }
    result["meets_target"] = result["rss_ratio"] <= 1.2
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
