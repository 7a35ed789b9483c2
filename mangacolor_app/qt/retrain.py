"""Retrain dialog: fine-tune a model on a folder of the artist's coloured pages, in a child process.

The dialog runs ``mangacolor-train finetune --progress-json`` with :class:`QProcess` (torch loads only in
the child, never in the editor), shows its JSON-line progress (step, loss, ETA, sample grids) and
cancels it by writing ``cancel`` to its stdin (killed if it does not stop in time). The installed model
is then added to the picker. Without torch, it explains how to install it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QProcess, QProcessEnvironment, Qt, QTemporaryDir, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

import mangacolor_app
from mangacolor_app.qt.render import RenderController

__all__ = ["RetrainDialog", "torch_available", "TORCH_MISSING", "finetune_command"]

logger = logging.getLogger(__name__)

TORCH_MISSING = ("Retraining needs PyTorch, which is not installed.\n\n"
                 "Install it with:  pip install 'mangacolor[train]'\n"
                 "(in a source checkout:  make install-test)")
#: Milliseconds a cancelled child gets to stop by itself before it is killed.
CANCEL_GRACE_MS = 15000


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
        progressed(int, int): (step, total) of each progress line of the child.
        finished_text(str): the final status (done, cancelled, failed) once the child has ended.
    """

    model_ready = Signal(str)
    progressed = Signal(int, int)
    finished_text = Signal(str)

    def __init__(self, render: RenderController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Retrain on your style")
        self.render = render
        self.process: QProcess | None = None
        self._samples: QTemporaryDir | None = None
        self._stdout_buf = b""
        self._stderr_tail: list[str] = []
        self._result: str | None = None
        self._cancelling = False
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
        """Start ``mangacolor-train finetune`` as a child process."""
        folder = Path(self.folder.text()).expanduser()
        name = self.name.text().strip() or None
        base = self.render.model_name or "default"
        self._samples = QTemporaryDir()
        program, args, root = finetune_command(folder, base, name, self.steps.value(), Path(self._samples.path()))
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        if root is not None:  # a source checkout: the child imports `training` from it
            extra = env.value("PYTHONPATH")
            env.insert("PYTHONPATH", str(root) + (f"{os.pathsep}{extra}" if extra else ""))
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_exit)
        proc.errorOccurred.connect(self._on_process_error)
        self.process, self._stdout_buf, self._stderr_tail, self._result = proc, b"", [], None
        self._cancelling = False
        self.start.setEnabled(False)
        self.cancel.setText("Cancel")
        self.status.setText("Starting…")
        logger.info("retrain: %s %s", program, " ".join(args))
        proc.start(program, args)

    def _read_stdout(self) -> None:
        if self.process is None:
            return
        self._stdout_buf += bytes(self.process.readAllStandardOutput().data())
        *lines, self._stdout_buf = self._stdout_buf.split(b"\n")
        for raw in lines:
            try:
                event = json.loads(raw.decode("utf-8", "replace"))
            except json.JSONDecodeError:
                logger.debug("retrain child: %s", raw)
                continue
            if isinstance(event, dict):
                self._on_event(event)

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                logger.info("retrain child: %s", line)
                self._stderr_tail = (self._stderr_tail + [line.strip()])[-20:]

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "progress":
            step, total = int(event.get("step", 0)), int(event.get("total", 0))
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(step)
            self.status.setText(f"step {step}/{total}   loss {float(event.get('loss', 0.0)):.4f}   "
                                f"ETA {_format_eta(float(event.get('eta', 0.0)))}")
            self.progressed.emit(step, total)
        elif kind == "sample":
            self._show_sample(str(event.get("path", "")))
        elif kind == "done":
            self._result = str(event.get("name", ""))

    def _show_sample(self, path: str) -> None:
        pixmap = QPixmap(path)
        if pixmap.isNull():
            return
        self.sample.setPixmap(pixmap.scaled(256, 256, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))

    def _on_exit(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        if self._result is not None and code == 0:
            name = self._result
            self.render.refresh_models()
            self._ended(f"Done: model {name} added to the model picker.")
            self.model_ready.emit(name)
        elif self._cancelling or code == 130:
            self._ended("Cancelled.")
        else:
            errors = [t for t in self._stderr_tail if "error" in t.lower()]
            detail = (errors or self._stderr_tail or [f"the training process stopped (exit status {code})"])[-1]
            self._ended(f"Retraining failed: {detail.removeprefix('mangacolor-train: error: ')}")

    def _on_process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._ended("Retraining failed: the training process could not start")

    def _ended(self, text: str) -> None:
        self.status.setText(text)
        self.start.setEnabled(True)
        self.cancel.setText("Close")
        self.process = None
        self.finished_text.emit(text)

    @property
    def running(self) -> bool:
        """Whether a fine-tune child process is running."""
        return self.process is not None

    def cancel_or_close(self) -> None:
        """Cancel a running fine-tune (``cancel`` on its stdin, killed after a grace time), else close."""
        proc = self.process
        if proc is not None:
            self._cancelling = True
            proc.write(b"cancel\n")
            proc.closeWriteChannel()
            QTimer.singleShot(CANCEL_GRACE_MS, lambda: self._kill_if_running(proc))
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def _kill_if_running(self, proc: QProcess) -> None:
        if self.process is proc and proc.state() != QProcess.ProcessState.NotRunning:
            logger.warning("retrain child did not stop after cancel: killing it")
            proc.kill()

    def done(self, result: int) -> None:  # noqa: D102 - QDialog API: closing the dialog stops the child
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(5000)
        super().done(result)


def finetune_command(folder: Path, base: str, name: str | None, steps: int,
                     samples: Path) -> tuple[str, list[str], Path | None]:
    """(program, arguments, source root or None) that run the fine-tune as a child process.

    The child is this Python running the training CLI: from a source checkout (``training/`` beside
    ``mangacolor_app/``) as ``training.cli`` with the checkout on ``PYTHONPATH`` (returned as the root),
    else the installed ``mangacolor_training.cli``.
    """
    root = Path(mangacolor_app.__file__).resolve().parent.parent
    source = (root / "training" / "cli.py").is_file()
    module = "training.cli" if source else "mangacolor_training.cli"
    args = ["-m", module, "finetune", str(folder), "--from", base, "--steps", str(int(steps)),
            "--progress-json", "--samples", str(samples)]
    if name:
        args += ["-o", name]
    return sys.executable, args, root if source else None
