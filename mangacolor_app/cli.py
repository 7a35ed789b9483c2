"""The ``mangacolor`` command.

``mangacolor [PAGE] [--screenshot OUT.png]`` opens the editor. Subcommands:

* ``colorize INPUT... -o OUT [--hints HINTS] [--model NAME|PATH] [--device auto|cpu|cuda]
  [--tile N] [--overlap N] [--batch-size N] [--no-ink] [--quiet]`` (stable contract used by the
  quality harness: ``mangacolor colorize {input} -o {output} --hints {hints}``). INPUT may be image
  files, folders of pages or ``.cbz`` archives; OUT a file (its extension picks the format, ``.psd``
  gives a layered document), a folder or a ``.cbz``. Also ``--format``, ``--bit-depth``,
  ``--quality``, ``--force`` (redo pages whose output exists) and ``--flats-only`` (no model).
  The chapter logic lives in :mod:`mangacolor_app.batch`. ``--reference REF [REF...]`` colours each
  page's regions from coloured reference pages (``.mcproj`` or colour images; no hints needed),
  carrying the last ``--carry N`` pages of the run as references too (:mod:`mangacolor_app.colour_memory`).
* ``models`` lists installed models and unusable model files
* ``install MODEL.onnx [--name NAME]`` copies a model into the user models folder
* ``measure-rf MODEL [--write]`` measures the receptive radius / recommended overlap

Exit status: 0 success; 1 some inputs failed (each reported in one line); 2 bad usage or setup
(no model, unusable model, output folder cannot be created). onnxruntime and Qt are imported lazily.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mangacolor_app import __version__
from mangacolor_app.core.errors import MangaColorError

if TYPE_CHECKING:
    from mangacolor_app.batch import BatchOptions, OutputPlan, Processor
    from mangacolor_app.core.chapter import PageSource

__all__ = ["IMAGE_SUFFIXES", "build_parser", "main"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
SUBCOMMANDS = ("colorize", "models", "install", "measure-rf", "doctor", "install-desktop")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2



def _unit_float(text: str) -> float:
    """argparse type: a float in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value

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
    col.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files, folders or .cbz archives")
    col.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                     help="output file (one input page; its extension picks the format), .cbz, or folder (created)")
    col.add_argument("--hints", type=Path, help="RGBA hint image (or a folder of <input stem>.png hints); "
                     "default: <page>.hints.png or a <page>.mcproj project beside each page")
    col.add_argument("--model", help="installed model name or path to a .onnx file")
    col.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    col.add_argument("--tile", type=int, help="tile size in pixels (default: the model's)")
    col.add_argument("--overlap", type=int, help="tile overlap in pixels (default: the model's)")
    col.add_argument("--batch-size", type=int, help="tiles per model call")
    col.add_argument("--no-ink", action="store_true", help="do not multiply the line art over the colour "
                     "(PSD: Ink layer hidden; --flats-only: bare RGBA flats layer)")
    col.add_argument("--unhinted", type=_unit_float, metavar="A",
                     help="0..1: how much of the model's own colour to keep where no hint or flat reaches: "
                     "A near the hinted areas, A*A far from them, none on a page without hints "
                     "(0 = clean paper white; 1 = all of it everywhere; default: the model's own setting)")
    col.add_argument("--auto", action="store_true",
                     help="automatic colour: the model colours the whole page, hints (if any) steer it "
                     "(the same as --unhinted 1)")
    col.add_argument("--format", choices=("png", "tiff", "jpeg", "webp", "psd"),
                     help="output format for a folder or .cbz (default png; a file output uses its extension)")
    col.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="8, or 16 for PNG, TIFF and PSD")
    col.add_argument("--quality", type=int, default=95, metavar="N", help="JPEG/WebP quality 1..100 (default 95)")
    col.add_argument("--force", action="store_true", help="redo pages whose output already exists")
    col.add_argument("--flats-only", action="store_true",
                     help="write flats PNGs from each page's hints (no model)")
    col.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-file lines")
    _add_reference_options(col)
    sub.add_parser("models", help="list installed models")
    ins = sub.add_parser("install", help="install a .onnx model into the user models folder")
    ins.add_argument("model", type=Path)
    ins.add_argument("--name", help="install under this model name")
    rf = sub.add_parser("measure-rf", help="measure a model's receptive radius and tile overlap")
    rf.add_argument("model", help="model name or .onnx path")
    rf.add_argument("--write", action="store_true", help="store the result in the model's sidecar <model>.json")
    sub.add_parser("doctor", help="check the display, GPU, models and folders; print what is missing")
    desk = sub.add_parser("install-desktop", help="add MangaColor to the desktop's menus, file types and icons (Linux)")
    desk.add_argument("--uninstall", action="store_true", help="remove what install-desktop added")
    return parser


def _add_reference_options(col: argparse.ArgumentParser) -> None:
    """Colour memory: ``--reference``, ``--carry``, ``--min-confidence`` (see colour_memory)."""
    col.add_argument("--reference", nargs="+", type=Path, metavar="REF",
                     help="coloured reference pages (.mcproj projects or colour images): each page's regions get "
                     "the colours of the matching regions in them, as hints (the page's own hints win)")
    col.add_argument("--carry", type=int, default=2, metavar="N",
                     help="with --reference: also use the last N pages coloured in this run as references (default 2)")
    col.add_argument("--min-confidence", type=_unit_float, default=0.5, metavar="P",
                     help="with --reference: leave regions whose best colour is less likely than P (default 0.5)")


def _reference_bank(args: argparse.Namespace) -> Any:
    """The run's ReferenceBank, or None without --reference (raises MangaColorError naming a bad file)."""
    if not getattr(args, "reference", None):
        return None
    from mangacolor_app.colour_memory import ReferenceBank

    return ReferenceBank.load(args.reference, carry=args.carry, min_confidence=args.min_confidence)


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


def _quiet_on_closed_pipe(fn: Callable[..., int]) -> Callable[..., int]:
    """Exit quietly (status 141, as after SIGPIPE) when stdout is closed early (``mangacolor models | head``)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            # Python would also fail flushing stdout at exit: point it at /dev/null first.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            return 141

    return wrapper


@_quiet_on_closed_pipe
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
    handlers = {"colorize": _cmd_colorize, "models": _cmd_models, "install": _cmd_install, "measure-rf": _cmd_measure,
                "doctor": _cmd_doctor, "install-desktop": _cmd_install_desktop}
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


def _make_colorizer(args: argparse.Namespace, cache: Any) -> Any:
    """Resolve the model and create its Colorizer in ``cache`` (raises ModelError with a plain message)."""
    from mangacolor_app.inference.registry import ModelRegistry

    registry = ModelRegistry()
    model = registry.get(args.model) if args.model else registry.default()
    colorizer = cache.get(model, args.device, args.tile, args.overlap, args.batch_size)
    notice = colorizer.device_report.notice
    if notice and not args.quiet and args.device != "auto":
        print(f"mangacolor: note: {notice}", file=sys.stderr)
    elif notice:
        logger.info(notice)
    logger.info("model %s on %s", colorizer.manifest.name, colorizer.device_report.provider)
    return model


def _progress_of(page_name: str) -> Any:
    """Per-tile progress, only logged (the chapter bar counts pages)."""

    def progress(done: int, total: int) -> None:
        logger.debug("%s: tile %d/%d", page_name, done, total)

    return progress


def _page_parts(page: PageSource, hints_arg: Path | None) -> tuple[Any, Any, Any]:
    """Load a page: (line (H, W) float32, or uint8 for an opaque 8-bit grey page, hints (H, W, 4) uint8/uint16 or None, dpi or None); the page
    is decoded as integers and its line converted a row block at a time (``core.pagefile.line_of_page``)."""
    from mangacolor_app.batch import load_page_hints
    from mangacolor_app.core.pagefile import line_of_page

    loaded = page.load(as_int=True)
    line = line_of_page(loaded)
    dpi = loaded.dpi
    del loaded
    return line, load_page_hints(page, hints_arg, line.shape), dpi


def _remembered_hints(memory: Any, line: Any, hints: Any, dpi: Any) -> Any:
    """The page's hints with the reference suggestions merged in (None: no hint pixel at all)."""
    from mangacolor_app.core.composite import has_alpha

    from mangacolor_app.core.color import to_float32

    if memory is None:
        return hints
    merged = memory.hints_for(to_float32(line), None if hints is None else to_float32(hints), dpi)
    return merged if has_alpha(merged) else None


def _colorize_processor(args: argparse.Namespace, opts: BatchOptions, fmt: str, memory: Any = None,
                        outputs: Any = ()) -> Processor:
    """``process(page, output)``: one page's job (``app.page_job``), exported (PSD: Hints/Flats/Color/Ink)."""
    import numpy as np

    from mangacolor_app.app.page_job import ColorizerCache, PageRequest, run_page
    from mangacolor_app.core.color import to_float32
    from mangacolor_app.core.export import ExportLayers, export_page

    cache = ColorizerCache()
    model = _make_colorizer(args, cache)  # once per run, before the first page: a bad model stops the run
    psd = fmt == "psd"

    def process(page: PageSource, output: Path) -> None:
        line, hints, dpi = _page_parts(page, opts.hints)
        if memory is not None:
            memory.catch_up(outputs, output)
        hints = _remembered_hints(memory, line, hints, dpi)
        request = PageRequest(line, hints, dpi, model=model, device=args.device, unhinted=opts.unhinted,
                              with_flats=psd, tile=args.tile, overlap=args.overlap, batch_size=args.batch_size,
                              color_dtype=np.uint8 if opts.bit_depth == 8 else np.uint16)
        layers = run_page(request, cache=cache, progress=_progress_of(page.name))
        flats = layers.flats if psd else None  # uint8 (4 B/px); exact in an 8- or 16-bit PSD
        parts = ExportLayers(ink=line, color=layers.color, flats=flats, hints=hints if psd else None, dpi=dpi)
        remembered = (line, hints) if memory is not None and hints is not None else None
        # parts holds the only references: export releases each layer once stored (peak memory)
        del request, layers, hints, flats, line
        export_page(output, parts, format=fmt, bit_depth=opts.bit_depth, quality=opts.quality,
                    preserve_ink=opts.preserve_ink, release=True)
        if memory is not None and remembered is not None:
            memory.remember(page.display_name, to_float32(remembered[0]), remembered[1], dpi)

    return process


def _flats_processor(opts: BatchOptions, memory: Any = None) -> Processor:
    """``process(page, output)``: flats-only PNG (no model); empty flats for a page without hints."""
    from mangacolor_app.app.page_job import PageRequest, run_page
    from mangacolor_app.core.export import export_flats_png

    def process(page: PageSource, output: Path) -> None:
        line, hints, dpi = _page_parts(page, opts.hints)
        hints = _remembered_hints(memory, line, hints, dpi)
        if hints is None:
            logger.warning("%s has no hints: its flats are empty", page.display_name)
        flats = run_page(PageRequest(line, hints, dpi, flats_only=True)).flats
        export_flats_png(output, flats, line if opts.preserve_ink else None, dpi=dpi)
        if memory is not None and hints is not None:
            memory.remember(page.display_name, line, hints, dpi)

    return process


def _batch_options(args: argparse.Namespace) -> BatchOptions:
    from mangacolor_app.batch import BatchOptions

    return BatchOptions(output=args.output, hints=args.hints, format=args.format, bit_depth=args.bit_depth,
                        quality=args.quality, preserve_ink=not args.no_ink, flats_only=args.flats_only,
                        force=args.force, quiet=args.quiet, unhinted=1.0 if args.auto else args.unhinted)


def _cmd_colorize(args: argparse.Namespace) -> int:
    from mangacolor_app.batch import UsageError, run_batch

    if args.auto and (args.unhinted is not None or args.flats_only):
        _err("--auto cannot be combined with --unhinted or --flats-only (it runs the model with --unhinted 1)")
        return EXIT_USAGE
    opts = _batch_options(args)

    def make_processor(plan: OutputPlan) -> tuple[Processor, tuple[type[BaseException], ...]]:
        memory = _reference_bank(args)
        if opts.flats_only:
            return _flats_processor(opts, memory), ()
        from mangacolor_app.inference.session import ORT_ERRORS

        return _colorize_processor(args, opts, plan.fmt, memory, plan.outputs), tuple(ORT_ERRORS)

    try:
        return run_batch(args.inputs, opts, make_processor)
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE

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
        print(f"{'ignored' if problem.shadowed_by else 'unusable'}: {problem.path}: {problem.message}")
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


def _cmd_doctor(args: argparse.Namespace) -> int:
    from mangacolor_app.doctor import run_doctor

    return run_doctor()


def _cmd_install_desktop(args: argparse.Namespace) -> int:
    from mangacolor_app.desktop_install import data_home, install_desktop, uninstall_desktop

    if args.uninstall:
        removed = uninstall_desktop()
        print(f"removed {len(removed)} desktop integration file(s) from {data_home()}")
    else:
        written = install_desktop()
        print(f"installed {len(written)} desktop integration file(s) under {data_home()}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
