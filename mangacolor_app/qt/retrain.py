"""Retrain dialog: fine-tune a model on a folder of the artist's coloured pages, in the background.

Runs ``training.finetune.finetune`` in a worker with progress, ETA, loss, sample previews and
cancel; the new model is then added to the picker. Without torch, it explains how to install it.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from mangacolor_app.core.color import to_uint8
from mangacolor_app.qt.canvas import numpy_to_qimage
from mangacolor_app.qt.render import RenderController
from mangacolor_app.qt.workers import CancelFn, Job, ProgressFn, start_job

__all__ = ["RetrainDialog", "torch_available", "TORCH_MISSING"]

logger = logging.getLogger(__name__)

TORCH_MISSING = ("Retraining needs PyTorch, which is not installed.\n\n"
                 "Install it with:  pip install 'mangacolor[train]'\n"
                 "(in a source checkout:  make install-test)")


def torch_available() -> bool:
    """Whether torch can be imported (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def _format_eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class RetrainDialog(QDialog):
    """Choose a style folder and steps, run the fine-tune, watch it, cancel it.

    Signals:
        model_ready(str): name of the newly installed model.
    """

    model_ready = Signal(str)

    def __init__(self, render: RenderController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Retrain on your style")
        self.render = render
        self.job: Job | None = None
        layout = QVBoxLayout(self)
        if not torch_available():
            message = QLabel(TORCH_MISSING)
            message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(message)
            close = QPushButton("Close")
            close.clicked.connect(self.reject)
            layout.addWidget(close)
            self.start = None
            return
        layout.addLayout(self._form())
        self.progress = QProgressBar()
        self.status = QLabel("Pick a folder of coloured pages in your style.")
        self.sample = QLabel()
        self.sample.setMinimumSize(256, 256)
        self.sample.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for widget in (self.progress, self.status, self.sample):
            layout.addWidget(widget)
        row = QHBoxLayout()
        self.start = QPushButton("Start")
        self.start.clicked.connect(self.start_training)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.cancel_or_close)
        row.addStretch(1)
        row.addWidget(self.start)
        row.addWidget(self.cancel)
        layout.addLayout(row)

    def _form(self) -> QFormLayout:
        form = QFormLayout()
        self.folder = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.name = QLineEdit()
        self.name.setPlaceholderText("my-style")
        self.steps = QSpinBox()
        self.steps.setRange(10, 100000)
        self.steps.setValue(500)
        form.addRow("Style folder", row)
        form.addRow("Model name", self.name)
        form.addRow("Steps", self.steps)
        return form

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of coloured pages")
        if folder:
            self.folder.setText(folder)

    def start_training(self) -> None:
        """Start the fine-tune in the thread pool."""
        folder = Path(self.folder.text()).expanduser()
        name = self.name.text().strip() or None
        steps = self.steps.value()
        base = self.render.model_name or "default"
        self.job = Job(lambda p, c: _finetune(folder, base, name, steps, p, c), name="finetune")
        self.job.signals.progress.connect(self._on_progress)
        self.job.signals.finished.connect(self._on_finished)
        self.job.signals.failed.connect(self._on_failed)
        self.job.signals.cancelled.connect(lambda: self._ended("Cancelled."))
        self.start.setEnabled(False)
        self.cancel.setText("Cancel")
        self.status.setText("Starting…")
        start_job(self.job)

    def _on_progress(self, values: tuple[Any, ...]) -> None:
        if values and values[0] == "sample":
            self._show_sample(values[1])
            return
        step, total, loss, eta = (list(values) + [0, 0, 0.0, 0.0])[:4]
        self.progress.setRange(0, max(1, int(total)))
        self.progress.setValue(int(step))
        self.status.setText(f"step {int(step)}/{int(total)}   loss {float(loss):.4f}   ETA {_format_eta(float(eta))}")

    def _show_sample(self, image: np.ndarray) -> None:
        arr = np.ascontiguousarray(to_uint8(image[..., :3]))
        pixmap = QPixmap.fromImage(numpy_to_qimage(arr).copy())
        self.sample.setPixmap(pixmap.scaled(256, 256, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))

    def _on_finished(self, result: Any) -> None:
        name = getattr(result, "name", None) or Path(str(result)).stem
        self.render.refresh_models()
        self.model_ready.emit(name)
        self._ended(f"Done: model {name} added to the model picker.")

    def _on_failed(self, message: str) -> None:
        self._ended(message)

    def _ended(self, text: str) -> None:
        self.status.setText(text)
        self.start.setEnabled(True)
        self.cancel.setText("Close")
        self.job = None

    def cancel_or_close(self) -> None:
        """Cancel a running fine-tune, else close the dialog."""
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")
        else:
            self.reject()


def _finetune(folder: Path, base: str, name: str | None, steps: int, progress: ProgressFn, cancel: CancelFn) -> Any:
    """Worker body: import the training package lazily and run the fine-tune.

    Raises:
        MangaColorError: torch missing (with the install command) or a training failure.
    """
    from mangacolor_app.core.errors import MangaColorError

    try:
        try:  # installed wheel: the training package is mangacolor_training
            from mangacolor_training.finetune import finetune
        except ModuleNotFoundError as exc:
            if exc.name != "mangacolor_training":
                raise
            from training.finetune import finetune  # a source checkout without an install
    except ImportError as exc:
        logger.debug("training import failed", exc_info=True)
        raise MangaColorError(TORCH_MISSING.replace("\n\n", " ")) from exc

    def on_sample(*args: Any) -> None:
        images = [a for a in args if isinstance(a, np.ndarray)]
        if images:
            progress("sample", images[-1])

    return finetune(folder, base=base, name=name, steps=steps,
                    progress=lambda *v: progress(*v), cancel=cancel, sample_cb=on_sample)
