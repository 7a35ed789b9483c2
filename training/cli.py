"""The ``mangacolor-train`` command.

Subcommands::

    mangacolor-train fit --config FILE|NAME [--out DIR] [--resume] [--checkpoint CKPT]
    mangacolor-train export CHECKPOINT -o MODEL.onnx [--fp16] [--name NAME]
    mangacolor-train finetune STYLE_FOLDER [--from default|CKPT] [-o NAME] [--steps N] [--freeze-encoder]
                                           [--progress-json [--samples DIR]]
    mangacolor-train make-pairs OUT_DIR [-n N] [--size S] [--seed K] [--source FOLDER] [--workers W]
    mangacolor-train render-svg SVG_DIR OUT_DIR [--side S] [--exclude NAME ...] [--workers W] [--limit N]
    mangacolor-train eval MODEL.onnx PAIRS_DIR [--limit N]
    mangacolor-train validate MODEL.onnx [MODEL.onnx ...] --art ART_DIR [--strokes N ...] [--unhinted A ...]
    mangacolor-train weights CHECKPOINT -o WEIGHTS.safetensors   (generator-only weights to ship)

``finetune --progress-json`` is the editor's protocol (it runs this command as a child process, so torch
never loads in the editor): one JSON object a line on stdout, ``{"event": "progress", "step", "total",
"loss", "eta"}`` after every step, ``{"event": "sample", "step", "path"}`` when a sample grid was written
to ``--samples DIR``, and ``{"event": "done", "name", "path"}`` at the end; a line ``cancel`` on stdin
stops the run (exit 130, nothing installed). ``fit`` runs under ``torchrun`` unchanged (DDP). Exit status: 0 success, 1 failure (one line on stderr),
2 bad usage, 130 cancelled/interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from mangacolor_app.core.errors import CancelledError, MangaColorError

__all__ = ["main", "build_parser"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser for all subcommands."""
    p = argparse.ArgumentParser(prog="mangacolor-train", description="Train, export and fine-tune MangaColor models.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="train a model from a TOML config")
    fit.add_argument("--config", required=True, help="TOML file, or a name in training/configs (default, tiny)")
    fit.add_argument("--out", type=Path, help="run folder (default runs/<config name>)")
    fit.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    fit.add_argument("--checkpoint", type=Path, help="resume from this checkpoint instead")
    fit.add_argument("--steps", type=int, help="override train.steps")
    fit.add_argument("--threads", type=int, help="override train.threads (CPU threads; e.g. 1 per run for two runs at once)")
    exp = sub.add_parser("export", help="export a checkpoint to ONNX")
    exp.add_argument("checkpoint", type=Path)
    exp.add_argument("-o", "--output", type=Path, required=True)
    exp.add_argument("--fp16", action="store_true", help="half-precision variant for GPUs")
    exp.add_argument("--name", help="manifest model name")
    exp.add_argument("--version", help="manifest model version (default: the config's)")
    exp.add_argument("--unhinted", type=float, help="manifest unhinted_strength in [0, 1] (default: the config's)")
    ft = sub.add_parser("finetune", help="fine-tune on a folder of colour images and install the model")
    ft.add_argument("style_folder", type=Path)
    ft.add_argument("--from", dest="base", default="default", help="'default' (shipped weights) or a checkpoint")
    ft.add_argument("-o", "--name", help="installed model name")
    ft.add_argument("--steps", type=int, default=300)
    ft.add_argument("--freeze-encoder", action="store_true")
    ft.add_argument("--batch-size", type=int)
    ft.add_argument("--size", type=int, help="training crop side")
    ft.add_argument("--progress-json", action="store_true",
                    help="machine-readable progress: JSON lines on stdout; 'cancel' on stdin stops the run")
    ft.add_argument("--samples", type=Path, help="with --progress-json: write sample grids here as PNG")
    mp = sub.add_parser("make-pairs", help="pre-render training pairs (training.data.dataset.render_pairs)")
    mp.add_argument("out_dir", type=Path)
    mp.add_argument("-n", type=int, default=4000)
    mp.add_argument("--size", type=int, default=256)
    mp.add_argument("--seed", type=int, default=0)
    mp.add_argument("--source", type=Path, help="folder of colour images (default: procedural)")
    mp.add_argument("--workers", type=int, default=1)
    rs = sub.add_parser("render-svg", help="render a folder of SVG drawings (e.g. openclipart) into training art")
    rs.add_argument("svg_dir", type=Path)
    rs.add_argument("out_dir", type=Path)
    rs.add_argument("--side", type=int, default=384, help="canvas side of the rendered pictures in px")
    rs.add_argument("--val-frac", type=float, default=0.06, help="share of drawings held out for validation")
    rs.add_argument("--exclude", nargs="*", default=[], metavar="NAME", help="sub-folder names to skip")
    rs.add_argument("--workers", type=int, default=2, help="concurrent rsvg-convert processes")
    rs.add_argument("--limit", type=int, help="stop after this many kept drawings")
    ev = sub.add_parser("eval", help="score an ONNX model on pre-rendered pairs (PSNR, SSIM, CIEDE2000)")
    ev.add_argument("model", type=Path)
    ev.add_argument("pairs_dir", type=Path)
    ev.add_argument("--limit", type=int, default=64)
    va = sub.add_parser("validate", help="score models through the app's pipeline on held-out validation drawings")
    va.add_argument("models", type=Path, nargs="+")
    va.add_argument("--art", type=Path, help="render-svg folder whose val/ drawings are used")
    va.add_argument("--procedural", type=int, default=24, help="procedural validation pictures")
    va.add_argument("--strokes", type=int, nargs="+", default=[0, 8, 32])
    va.add_argument("--unhinted", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    va.add_argument("--limit", type=int, help="at most this many drawings")
    wt = sub.add_parser("weights", help="write generator-only weights (the shipped .safetensors)")
    wt.add_argument("checkpoint", type=Path)
    wt.add_argument("-o", "--output", type=Path, required=True)
    wt.add_argument("--version", help="model version stored with the weights (default: the config's)")
    return p


def _log_to(folder: Path) -> None:
    """Also send the log to ``folder/train.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    handler = logging.FileHandler(folder / "train.log")
    handler.setFormatter(fmt)
    root.addHandler(handler)


def _fit(args: argparse.Namespace) -> int:
    from .config import load_config
    from .ddp import cleanup, init_distributed
    from .trainer import Trainer

    cfg = load_config(args.config)
    if args.steps:
        cfg.train.steps = args.steps
    if args.threads:
        cfg.train.threads = args.threads
    info = init_distributed()
    out = args.out or Path("runs") / cfg.name
    if info.is_main:
        _log_to(out)
    try:
        metrics = Trainer(cfg, out, info=info).fit(resume=args.resume or args.checkpoint is not None,
                                                   checkpoint=args.checkpoint)
    finally:
        cleanup()
    if info.is_main:
        print(json.dumps({"step": cfg.train.steps, **metrics}))
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import export_onnx

    res = export_onnx(args.checkpoint, args.output, fp16=args.fp16, name=args.name, unhinted=args.unhinted,
                      version=args.version)
    print(json.dumps({"path": str(res.path), "max_abs_diff": res.max_abs_diff, "manifest": res.manifest}))
    return 0


def _finetune(args: argparse.Namespace) -> int:
    if args.progress_json:
        from .progress import finetune_with_json_progress

        return finetune_with_json_progress(args)
    from tqdm import tqdm

    from .finetune import finetune

    bar = tqdm(total=args.steps, desc="fine-tune")

    def progress(step: int, total: int, loss: float, eta: float) -> None:
        bar.n = step
        bar.set_postfix(loss=f"{loss:.3f}")

    model = finetune(args.style_folder, base=args.base, name=args.name, steps=args.steps, progress=progress,
                     freeze_encoder=args.freeze_encoder, batch_size=args.batch_size, size=args.size)
    bar.close()
    print(json.dumps({"name": model.name, "path": str(model.path)}))
    return 0


def _make_pairs(args: argparse.Namespace) -> int:
    from .data.dataset import render_pairs

    shards = render_pairs(args.out_dir, args.n, args.size, args.seed, args.source, workers=args.workers)
    print(json.dumps({"out_dir": str(args.out_dir), "pairs": args.n, "shards": len(shards)}))
    return 0


def _render_svg(args: argparse.Namespace) -> int:
    from .data.svgart import RenderSettings, render_folder

    meta = render_folder(args.svg_dir, args.out_dir, settings=RenderSettings(side=args.side, val_frac=args.val_frac),
                         workers=args.workers, limit=args.limit, exclude=tuple(args.exclude))
    print(json.dumps(meta))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_onnx

    print(json.dumps(evaluate_onnx(args.model, args.pairs_dir, limit=args.limit)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .validate_app import score_model, validation_cases

    cases = validation_cases(args.art, procedural=args.procedural, limit=args.limit)
    for model in args.models:
        scores = score_model(model, cases, strokes=args.strokes, unhinted=args.unhinted)
        print(json.dumps({"model": str(model), "cases": len(cases), "scores": scores}))
    return 0


def _weights(args: argparse.Namespace) -> int:
    from .trainer import load_generator, save_weights

    g, cfg, _ = load_generator(args.checkpoint)
    if args.version:
        cfg.version = args.version
    print(json.dumps({"path": str(save_weights(g, cfg, args.output))}))
    return 0


#: Modules of the ``train`` extra; a command that misses one says which extra to install.
TRAIN_EXTRA_MODULES = ("torch", "safetensors", "onnx", "onnxscript", "torchvision")
TRAIN_EXTRA_HINT = "pip install 'mangacolor[train]'"

_COMMANDS = {"fit": _fit, "export": _export, "finetune": _finetune, "make-pairs": _make_pairs, "render-svg": _render_svg,
             "eval": _eval, "validate": _validate,
             "weights": _weights}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mangacolor-train``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _COMMANDS[args.command](args)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in TRAIN_EXTRA_MODULES:
            raise
        print(f"mangacolor-train: error: {args.command} needs {exc.name.split('.')[0]}, which is not installed: "
              f"{TRAIN_EXTRA_HINT}", file=sys.stderr)
        return 2
    except CancelledError:
        print("mangacolor-train: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("mangacolor-train: interrupted", file=sys.stderr)
        return 130
    except (MangaColorError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"mangacolor-train: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
