"""``mangacolor-train finetune --progress-json``: the fine-tune as a child process of the editor.

Progress goes to stdout as one JSON object a line (see ``training.cli``); a line ``cancel`` on stdin
(read by a daemon thread) makes the run stop at the next step with ``CancelledError`` (nothing is
installed). End of input (a closed pipe, ``/dev/null``) does not cancel.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from mangacolor_app.core.imagesave import save_image

__all__ = ["emit", "watch_stdin_for_cancel", "finetune_with_json_progress"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    """Write one JSON line ``{"event": event, **fields}`` to stdout and flush it."""
    with _lock:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()


def watch_stdin_for_cancel() -> threading.Event:
    """An event set when a line ``cancel`` arrives on stdin (daemon reader thread)."""
    cancelled = threading.Event()

    def read() -> None:
        for line in sys.stdin:
            if line.strip().lower() == "cancel":
                cancelled.set()
                return

    threading.Thread(target=read, name="cancel-reader", daemon=True).start()
    return cancelled


def finetune_with_json_progress(args: argparse.Namespace) -> int:
    """Run :func:`training.finetune.finetune` with JSON-line progress, sample PNGs and stdin cancel.

    Returns:
        0 (the model is installed; the last line is the ``done`` event).

    Raises:
        CancelledError: ``cancel`` read on stdin (``training.cli`` exits 130).
        MangaColorError and the errors of ``finetune``.
    """
    from .finetune import finetune

    cancelled = watch_stdin_for_cancel()
    samples: Path | None = args.samples
    if samples is not None:
        samples.mkdir(parents=True, exist_ok=True)

    def progress(step: int, total: int, loss: float, eta: float) -> None:
        emit("progress", step=int(step), total=int(total), loss=float(loss), eta=float(eta))

    def on_sample(step: int, grid: np.ndarray) -> None:
        if samples is None:
            return
        path = save_image(samples / "sample.png", np.asarray(grid))  # atomic: the reader never sees half a file
        emit("sample", step=int(step), path=str(path))

    emit("started", total=int(args.steps))
    model = finetune(args.style_folder, base=args.base, name=args.name, steps=args.steps, progress=progress,
                     cancel=cancelled.is_set, sample_cb=on_sample, freeze_encoder=args.freeze_encoder,
                     batch_size=args.batch_size, size=args.size)
    emit("done", name=model.name, path=str(model.path))
    return 0
