"""Smoke-check a built one-folder app: it starts, colorizes a generated page, exports a PSD, opens the editor.

Usage (from the project root, in the project's virtualenv; ``make package-check`` does this)::

    python packaging/check_package.py --app dist/mangacolor/mangacolor [--model MODEL.onnx]

Without ``--model`` the app must find its bundled default model (``resources/models`` in the
bundle). The built app runs with a fresh ``MANGACOLOR_HOME`` and none of the ``MANGACOLOR_*``
overrides, so only what is inside the bundle is used. Its PNG must match the same colorization
done by this (non-frozen) environment within 1/255. Prints one JSON object; exit status 0 when
every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

TIMEOUT_S = 300


def _make_page(folder: Path) -> tuple[Path, Path]:
    """A 600x424 line-art page with a frame, panel borders and a circle, plus a hint layer."""
    h, w = 600, 424
    yy, xx = np.mgrid[0:h, 0:w]
    page = np.full((h, w), 255, np.uint8)
    page[[4, 5, 300, 301, h - 6, h - 5], :] = 0
    page[:, [4, 5, w - 6, w - 5]] = 0
    page[np.abs(np.hypot(yy - 150, xx - 212) - 90) < 2] = 0
    hints = np.zeros((h, w, 4), np.uint8)
    hints[130:170, 190:235] = [230, 80, 60, 255]
    hints[400:440, 100:200] = [60, 120, 230, 255]
    page_path, hints_path = folder / "page.png", folder / "page.hints.png"
    Image.fromarray(page, "L").save(page_path, dpi=(300, 300))
    Image.fromarray(hints, "RGBA").save(hints_path)
    return page_path, hints_path


def _app_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANGACOLOR_")}
    env.update(MANGACOLOR_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    return env


def _run(cmd: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT_S, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip(), time.perf_counter() - start


def _reference(page: Path, hints: Path, model: Path | None, out: Path, home: Path) -> None:
    """The same colorization in this environment (not frozen)."""
    os.environ["MANGACOLOR_HOME"] = str(home)
    if model is None:
        os.environ["MANGACOLOR_BUNDLED_MODELS"] = str(Path(__file__).resolve().parent.parent / "resources" / "models")
    from mangacolor_app.cli import main

    args = ["colorize", str(page), "-o", str(out), "--hints", str(hints), "--device", "cpu", "--quiet"]
    if main(args + (["--model", str(model)] if model else [])) != 0:
        raise SystemExit("the reference colorization in this environment failed")


def _compare(a: Path, b: Path) -> int:
    with Image.open(a) as x, Image.open(b) as y:
        if x.size != y.size or x.mode != y.mode:
            return 255
        return int(np.abs(np.asarray(x, np.int16) - np.asarray(y, np.int16)).max())


def check(app: Path, model: Path | None, work: Path) -> dict[str, object]:
    """Run every check; returns the results (``ok`` is the overall verdict)."""
    page, hints = _make_page(work)
    env = _app_env(work / "home")
    model_args = ["--model", str(model)] if model else []
    results: dict[str, object] = {"app": str(app), "model": str(model) if model else "bundled default"}
    rc, out, _ = _run([str(app), "--version"], env)
    results["version"] = out if rc == 0 else f"FAILED ({rc}): {out[-500:]}"
    rc, out, secs = _run([str(app), "colorize", str(page), "-o", str(work / "app.png"), "--hints", str(hints),
                          "--device", "cpu", *model_args], env)
    results["colorize_s"] = round(secs, 2)
    results["colorize"] = "ok" if rc == 0 and (work / "app.png").is_file() else f"FAILED ({rc}): {out[-800:]}"
    if results["colorize"] == "ok":
        _reference(page, hints, model, work / "ref.png", work / "home-ref")
        results["max_diff_vs_source_run"] = diff = _compare(work / "app.png", work / "ref.png")
        results["colorize"] = "ok" if diff <= 1 else "FAILED: differs from the non-frozen run"
    rc, out, _ = _run([str(app), "colorize", str(page), "-o", str(work / "app.psd"), "--device", "cpu", *model_args], env)
    results["psd"] = "ok" if rc == 0 and (work / "app.psd").stat().st_size > 0 else f"FAILED ({rc}): {out[-800:]}"
    rc, out, _ = _run([str(app), str(page), "--screenshot", str(work / "editor.png")], env)
    shot = work / "editor.png"
    results["editor_offscreen"] = "ok" if rc == 0 and shot.is_file() and shot.stat().st_size > 1000 else (
        f"FAILED ({rc}): {out[-800:]}")
    results["ok"] = all(results[k] == "ok" for k in ("colorize", "psd", "editor_offscreen")) and not str(
        results["version"]).startswith("FAILED")
    return results


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the checks, print the JSON; 0 when all passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", type=Path, default=Path("dist/mangacolor/mangacolor"))
    parser.add_argument("--model", type=Path, help="model to colorize with (default: the bundled default)")
    args = parser.parse_args(argv)
    if not args.app.is_file():
        print(f"check_package: {args.app} not found: run `make package` first", file=sys.stderr)
        return 1
    if args.model is None and not any((Path("resources") / "models").glob("*.onnx")):
        print("check_package: no bundled model in resources/models: pass MODEL=path/to/model.onnx", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="mangacolor-package-check-") as folder:
        results = check(args.app.resolve(), args.model.resolve() if args.model else None, Path(folder))
    print(json.dumps(results, indent=2))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
