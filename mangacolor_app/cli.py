"""The ``mangacolor`` command.

``mangacolor [PAGE] [--screenshot OUT.png]`` opens the editor. Subcommands:

* ``colorize INPUT... -o OUT [--hints HINTS] [--model NAME|PATH] [--device auto|cpu|cuda]
  [--tile N] [--overlap N] [--batch-size N] [--no-ink] [--quiet]`` (stable contract used by the
  quality harness: ``mangacolor colorize {input} -o {output} --hints {hints}``)
* ``models`` lists installed models and unusable model files
* ``install MODEL.onnx [--name NAME]`` copies a model into the user models folder
* ``measure-rf MODEL [--write]`` measures the receptive radius / recommended overlap

Exit status: 0 success; 1 some inputs failed (each reported in one line); 2 bad usage or setup
(no model, unusable model, output folder cannot be created). onnxruntime and Qt are imported lazily.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mangacolor_app import __version__
from mangacolor_app.core.errors import ImageSaveError, MangaColorError

__all__ = ["main", "build_parser", "IMAGE_SUFFIXES"]

logger = logging.getLogger(__name__)

SUBCOMMANDS = ("colorize", "models", "install", "measure-rf")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _err(message: str) -> None:
    """One user-facing line on stderr."""
    print(f"mangacolor: error: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    """The subcommand parser (``colorize``, ``models``, ``install``, ``measure-rf``)."""
    parser = argparse.ArgumentParser(prog="mangacolor", description="Hint-guided manga colorization.")
    parser.add_argument("--version", action="version", version=f"mangacolor {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    col = sub.add_parser("colorize", help="colorize image files or folders")
    col.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders")
    col.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                     help="output file (one input file) or folder (created)")
    col.add_argument("--hints", type=Path, help="RGBA hint image (or a folder of <input stem>.png hints)")
    col.add_argument("--model", help="installed model name or path to a .onnx file")
    col.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    col.add_argument("--tile", type=int, help="tile size in pixels (default: the model's)")
    col.add_argument("--overlap", type=int, help="tile overlap in pixels (default: the model's)")
    col.add_argument("--batch-size", type=int, help="tiles per model call")
    col.add_argument("--no-ink", action="store_true", help="do not multiply the line art over the colour")
    col.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-file lines")
    sub.add_parser("models", help="list installed models")
    ins = sub.add_parser("install", help="install a .onnx model into the user models folder")
    ins.add_argument("model", type=Path)
    ins.add_argument("--name", help="install under this model name")
    rf = sub.add_parser("measure-rf", help="measure a model's receptive radius and tile overlap")
    rf.add_argument("model", help="model name or .onnx path")
    rf.add_argument("--write", action="store_true", help="store the result in the model's sidecar <model>.json")
    return parser


def _editor_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mangacolor",
        description=f"Open the MangaColor editor. Subcommands: {', '.join(SUBCOMMANDS)} (mangacolor colorize -h).",
    )
    parser.add_argument("--version", action="version", version=f"mangacolor {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("page", nargs="?", type=Path, metavar="PAGE", help="image or project to open")
    parser.add_argument("--screenshot", type=Path, metavar="OUT.png", help="save a window screenshot and quit")
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """Parse, turning argparse's SystemExit (--help, --version, usage errors) into an exit status."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (user errors never raise)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args_list if not a.startswith("-")), None)
    if first not in SUBCOMMANDS:
        editor_args = _parse(_editor_parser(), args_list)
        return editor_args if isinstance(editor_args, int) else _run_editor(editor_args)
    args = _parse(build_parser(), args_list)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    handlers = {"colorize": _cmd_colorize, "models": _cmd_models, "install": _cmd_install, "measure-rf": _cmd_measure}
    try:
        return handlers[args.command](args)
    except MangaColorError as exc:
        _err(str(exc).replace("\n", " "))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


def _run_editor(args: argparse.Namespace) -> int:
    """Open the editor (lazy import, so the CLI works without a display or PySide6)."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        from mangacolor_app.qt.app import run_editor
    except ImportError as exc:
        _err(f"the editor cannot start: {exc}. Use `mangacolor colorize` for batch work.")
        return EXIT_USAGE
    try:
        return int(run_editor(args) or 0)
    except MangaColorError as exc:
        _err(str(exc))
        return EXIT_USAGE


# ----------------------------------------------------------------------------- colorize


def _collect_inputs(inputs: list[Path]) -> tuple[list[Path], list[str]]:
    """Expand folders (their image files, sorted, not recursive); returns (files, problems)."""
    files: list[Path] = []
    problems: list[str] = []
    for item in inputs:
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(f"{item}: no image files in this folder")
            files.extend(found)
        elif item.exists():
            files.append(item)
        else:
            problems.append(f"{item}: file not found")
    return files, problems


def _output_plan(inputs: list[Path], files: list[Path], out: Path) -> dict[Path, Path]:
    """Map each input file to its output path (OUT is a file only for a single file input).

    Raises:
        ImageSaveError: the output folder cannot be created.
    """
    single_file = len(inputs) == 1 and len(files) == 1 and not inputs[0].is_dir()
    if single_file and not out.is_dir() and out.suffix.lower() in IMAGE_SUFFIXES:
        return {files[0]: out}
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageSaveError(f"cannot create the output folder ({exc.strerror or exc})", out) from exc
    plan: dict[Path, Path] = {}
    for f in files:
        target = out / f"{f.stem}.png"
        n = 2
        while target in plan.values():
            target = out / f"{f.stem}-{n}.png"
            n += 1
        plan[f] = target
    return plan


def _hints_for(hints_arg: Path | None, page_file: Path) -> Path | None:
    """The hint file for ``page_file``: the --hints file, or <stem>.png in a --hints folder."""
    if hints_arg is None:
        return None
    if hints_arg.is_dir():
        for suffix in (".png", ".hints.png", "_hints.png"):
            candidate = hints_arg / f"{page_file.stem}{suffix}"
            if candidate.is_file():
                return candidate
        return None
    return hints_arg


def _make_colorizer(args: argparse.Namespace) -> Any:
    """Resolve the model and create the Colorizer (raises ModelError with a plain message)."""
    from mangacolor_app.inference.pipeline import Colorizer
    from mangacolor_app.inference.registry import ModelRegistry

    registry = ModelRegistry()
    model = registry.get(args.model) if args.model else registry.default()
    colorizer = Colorizer(model, device=args.device, tile=args.tile, overlap=args.overlap, batch_size=args.batch_size)
    notice = colorizer.device_report.notice
    if notice and not args.quiet and args.device != "auto":
        print(f"mangacolor: note: {notice}", file=sys.stderr)
    elif notice:
        logger.info(notice)
    logger.info("model %s on %s", colorizer.manifest.name, colorizer.device_report.provider)
    return colorizer


def _progress_bar(name: str, quiet: bool) -> Any:
    """A tqdm bar on stderr (disabled when quiet or stderr is not a terminal)."""
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=1, desc=name, unit="tile", leave=False, file=sys.stderr, disable=disable)


def _colorize_one(colorizer: Any, src: Path, dst: Path, hints_path: Path | None, args: argparse.Namespace) -> None:
    """Load, colorize and save one page (raises MangaColorError subclasses on user-level failures)."""
    import numpy as np

    from mangacolor_app.core.hints import fit_hints
    from mangacolor_app.core.imageio import load_image, load_rgba, save_image

    page = load_image(src)
    hints = None
    if hints_path is not None:
        hints = fit_hints(load_rgba(hints_path), page.rgb.shape[:2], path=hints_path)
    bar = _progress_bar(src.name, args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        rgb = colorizer.colorize(page.rgb, hints, preserve_ink=not args.no_ink, progress=progress, out_dtype=np.uint8)
    finally:
        bar.close()
    save_image(dst, rgb, dpi=page.dpi)


def _cmd_colorize(args: argparse.Namespace) -> int:
    from mangacolor_app.inference.session import ORT_ERRORS

    files, problems = _collect_inputs(args.inputs)
    for line in problems:
        _err(line)
    if not files:
        return EXIT_USAGE if not problems else EXIT_FAILED
    if args.hints is not None and not args.hints.exists():
        _err(f"{args.hints}: hint file not found")
        return EXIT_USAGE
    plan = _output_plan(args.inputs, files, args.output)
    colorizer = _make_colorizer(args)
    failed = len(problems)
    for src, dst in plan.items():
        try:
            _colorize_one(colorizer, src, dst, _hints_for(args.hints, src), args)
        except (MangaColorError, ValueError, MemoryError, *ORT_ERRORS) as exc:
            logger.debug("failed on %s", src, exc_info=True)
            message = str(exc) if isinstance(exc, MangaColorError) and exc.path else f"{src}: {exc}"
            _err(message.replace("\n", " "))
            failed += 1
            continue
        if not args.quiet:
            print(f"{src} -> {dst}")
    return EXIT_FAILED if failed else EXIT_OK


# ----------------------------------------------------------------------------- other commands


def _cmd_models(args: argparse.Namespace) -> int:
    from mangacolor_app.core import paths
    from mangacolor_app.inference.registry import ModelRegistry

    registry = ModelRegistry()
    models = registry.list()
    if not models:
        print(f"No colorization model installed (user models folder: {paths.user_models_dir(create=False)}).")
    for m in models:
        print(f"{m.name}  [{m.source}]  v{m.manifest.version}")
        if m.manifest.description:
            print(f"    {m.manifest.description}")
        print(f"    {m.path}")
    for problem in registry.problems:
        print(f"unusable: {problem.path}: {problem.message}")
    return EXIT_OK


def _cmd_install(args: argparse.Namespace) -> int:
    from mangacolor_app.inference.registry import ModelRegistry

    model = ModelRegistry().install(args.model, name=args.name)
    print(f"installed {model.name} at {model.path}")
    return EXIT_OK


def _cmd_measure(args: argparse.Namespace) -> int:
    from mangacolor_app.inference.pipeline import measure_model_overlap
    from mangacolor_app.inference.registry import ModelRegistry

    model = ModelRegistry().get(args.model)
    radius, overlap = measure_model_overlap(model.path, write=args.write)
    print(f"{model.name}: receptive radius {radius} px, recommended overlap {overlap} px")
    if args.write:
        print(f"written to {model.path.with_suffix('.json')}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
