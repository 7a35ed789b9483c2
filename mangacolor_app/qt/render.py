"""Colorization and flats in the background: live previews, full-resolution renders, model choice.

* After each hint edit (debounced) a preview at ``preview_side`` runs in the thread pool; a newer
  edit cancels the stale run (generation counter + cooperative cancel). While a mouse button is held
  (a stroke in progress) the preview waits for the release, so no run is wasted mid-stroke.
* Preview latency budget (issue "The editor": preview within 300 ms of the stroke on a 1 MP page, two
  CPU cores, default model; measured by ``benchmarks/editor_preview.py``): short debounce, reduced
  resolution (``PREVIEW_SIDE`` on the long side), one tile (no overlap recomputed), the page luma the
  document already holds and the hint layer shrunk in uint8 before any float conversion.
* :meth:`RenderController.render_full` renders at full resolution with progress and cancel.
* Flats (``core.flats``) are recomputed in the background after each edit when shown, and the
  "flats only" mode uses them as the result, so it needs no model.

Results are the colour *without* ink (``preserve_ink=False``): the canvas multiplies the sketch
over them when "Preserve ink" is on, and export applies the user's choice through ``core.export``.
All array conversions of page-sized buffers happen in the workers, never in the GUI thread.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication

from mangacolor_app.app.page_job import ColorizerCache, PageRequest, run_page
from mangacolor_app.core.color import to_uint8
from mangacolor_app.core.errors import MangaColorError, ModelError
from mangacolor_app.core.resize import fit_shape
from mangacolor_app.qt.document import Document
from mangacolor_app.qt.workers import CancelFn, Job, ProgressFn, start_job

__all__ = ["RenderController", "ModelInfo"]

logger = logging.getLogger(__name__)

#: long side of the live preview (pixels). 640 (0.41 MP on a square page): the default model costs
#: ~0.36 CPU-s/MP, so ~150 ms even if its two threads get only one core, and the preview stays within
#: 300 ms with flats, encodings and the debounce (768 needs both cores idle: ~300 ms).
PREVIEW_SIDE = 640
#: quiet time after the last hint change before the preview starts. Strokes are already coalesced
#: by waiting for the mouse release, so this only merges bursts of edits (undo/redo, fills).
DEBOUNCE_MS = 40


class ModelInfo:
    """What the model picker shows: name, description, source and the model object."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.name: str = model.name
        self.description: str = getattr(model.manifest, "description", "") or ""
        self.source: str = getattr(model, "source", "")


def _flats_work(line: np.ndarray, hints_u8: np.ndarray, dpi: tuple[float, float] | None,
                with_result: bool) -> tuple[Any, ...]:
    """Worker body: flats (uint8 RGBA) and, in flats-only mode, the result (``app.page_job``, flats only)."""
    layers = run_page(PageRequest(line, hints_u8, dpi, flats_only=True))
    flats_u8 = to_uint8(layers.flats)
    if not with_result:
        return flats_u8, None, None
    return flats_u8, layers.color, to_uint8(layers.color)  # colour only: the canvas/export multiply the ink


class RenderController(QObject):
    """Runs previews, full renders and flats for a :class:`Document`.

    Signals:
        models_changed(): the model list was refreshed.
        device_changed(str): text describing the device really in use (provider + notice).
        preview_busy(bool): a preview is running or not.
        full_started(), full_progress(int, int), full_finished(bool ok): full-resolution render.
        error(str): a user-facing failure message.
        auto_changed(bool): automatic colour was turned on or off.
    """

    models_changed = Signal()
    device_changed = Signal(str)
    preview_busy = Signal(bool)
    full_started = Signal()
    full_progress = Signal(int, int)
    full_finished = Signal(bool)
    error = Signal(str)
    auto_changed = Signal(bool)

    def __init__(self, doc: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.models: list[ModelInfo] = []
        self.model_name: str | None = None
        self.device = "auto"
        self.live_preview = True
        self.flats_only = False
        self.auto_color = False
        self.flats_wanted = False
        self.preview_side = PREVIEW_SIDE
        self.device_text = "device: not started"
        self.device_tooltip = ""  # details of the device line (provider, GPU, why not CUDA)
        self._cache = ColorizerCache()
        self._jobs: dict[str, Job] = {}
        self._flats_after_preview = False
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.refresh_background)
        doc.hints_changed.connect(self.schedule)
        doc.page_changed.connect(self._on_page)

    # ------------------------------------------------------------------ models

    def refresh_models(self) -> None:
        """Rescan installed models (registry); keeps the current choice when still present."""
        from mangacolor_app.inference.registry import ModelRegistry

        try:
            self.models = [ModelInfo(m) for m in ModelRegistry().list()]
        except MangaColorError as exc:
            self.models = []
            self.error.emit(str(exc))
        if self.model_name not in {m.name for m in self.models}:
            self.model_name = self.models[0].name if self.models else None
        self._cache.clear()
        self.models_changed.emit()

    def set_model(self, name: str | None) -> None:
        """Choose the model by name (None: the first available) and refresh the preview."""
        if name != self.model_name:
            self.model_name = name
            if self.doc.project is not None:
                self.doc.project.model_name = name
            self.schedule()

    def set_auto(self, on: bool) -> None:
        """Automatic colour: the model colours the whole page (hints steer it), as ``colorize --auto``."""
        if on != self.auto_color:
            self.auto_color = on
            self.auto_changed.emit(on)
            self.schedule()

    def set_device(self, device: str) -> None:
        """Request "auto", "cpu" or "cuda" for the next runs."""
        self.device = device
        self.schedule()

    def current_model(self) -> Any:
        """The chosen InstalledModel. Raises ModelError when none is installed/chosen."""
        for info in self.models:
            if info.name == self.model_name:
                return info.model
        if self.models:
            return self.models[0].model
        raise ModelError("no colorization model is installed; use flats-only mode or install a model")

    # ------------------------------------------------------------------ scheduling

    def schedule(self, *_: object) -> None:
        """(Re)start the debounce timer: previews and flats run shortly after the last edit."""
        if self.doc.has_page:
            self._debounce.start()

    def _on_page(self) -> None:
        self.cancel_all()
        project = self.doc.project
        if project is not None and project.model_name and project.model_name in {m.name for m in self.models}:
            self.model_name = project.model_name
        self.schedule()

    def cancel_all(self) -> None:
        """Cancel every running job (their results are then ignored)."""
        for job in self._jobs.values():
            job.cancel()

    def busy(self, kind: str) -> bool:
        """Whether a job of ``kind`` ("preview", "full", "flats") is running."""
        return kind in self._jobs

    def follow(self, view: Any) -> None:
        """Follow a :class:`~mangacolor_app.qt.view_state.ViewState`: its flats mode (``flats_only``) and
        the shown Flats layer (``flats_visible``: flats are computed in the background while shown)."""
        self.flats_only = bool(view.flats_only)
        self.flats_wanted = bool(view.flats_visible)
        view.changed.connect(self._on_view_changed)

    def _on_view_changed(self, name: str, value: object) -> None:
        if name == "flats_only":
            self.flats_only = bool(value)
            self.schedule()
        elif name == "flats_visible":
            self.flats_wanted = bool(value)
            if value:
                self.schedule()

    def refresh_background(self) -> None:
        """Start the flats and preview jobs for the current hints (cancelling stale ones)."""
        if not self.doc.has_page or self.busy("full"):
            return
        if QGuiApplication.mouseButtons() != Qt.MouseButton.NoButton:
            self._debounce.start()  # a stroke in progress: wait for the release
            return
        preview = self.live_preview and not self.flats_only and bool(self.models)
        self._flats_after_preview = False
        if self.flats_only or self.flats_wanted:
            if preview:
                self._flats_after_preview = True  # the shown flats layer waits: the preview has the cores
            else:
                self._start_flats()
        if preview:
            self._start_preview()

    def _start_deferred_flats(self) -> None:
        """Start the flats job that waited for the preview (when still wanted)."""
        if self._flats_after_preview:
            self._flats_after_preview = False
            if self.doc.has_page and not self.busy("full") and (self.flats_only or self.flats_wanted):
                self._start_flats()

    def _launch(self, kind: str, fn: Any, on_done: Any) -> Job:
        old = self._jobs.get(kind)
        if old is not None:
            old.cancel()
        job = Job(fn, name=kind)
        job.signals.finished.connect(lambda value, k=kind, j=job: self._finished(k, j, value, on_done))
        job.signals.failed.connect(lambda msg, k=kind, j=job: self._failed(k, j, msg))
        job.signals.cancelled.connect(lambda k=kind, j=job: self._forget(k, j))
        self._jobs[kind] = job
        return start_job(job)

    def _forget(self, kind: str, job: Job) -> bool:
        """Drop ``job`` from the running set; True when it was the current job of its kind."""
        if not self._alive():
            return False
        current = self._jobs.get(kind) is job
        if current:
            del self._jobs[kind]
            if kind == "preview":
                self.preview_busy.emit(False)
                self._start_deferred_flats()
            if kind == "full":
                self.full_finished.emit(False)
        return current

    def _alive(self) -> bool:
        """False once the window (and with it this controller or its document) was destroyed: a worker
        may still finish afterwards, and its result then has nowhere to go."""
        return shiboken6.isValid(self) and shiboken6.isValid(self.doc)

    def _finished(self, kind: str, job: Job, value: Any, on_done: Any) -> None:
        if not self._alive():
            return
        current = self._jobs.get(kind) is job
        if current:
            del self._jobs[kind]
        if current and not job.is_cancelled:
            on_done(value)
        if kind == "preview":
            self.preview_busy.emit(False)
            if current:
                self._start_deferred_flats()

    def _failed(self, kind: str, job: Job, message: str) -> None:
        if self._forget(kind, job):
            self.error.emit(message)

    # ------------------------------------------------------------------ jobs

    def _page_dpi(self) -> tuple[float, float] | None:
        project = self.doc.project
        return project.dpi if project is not None and project.dpi else None

    def _flats_fn(self) -> Any:
        line, hints, dpi = self.doc.line_gray, self.doc.hints.copy(), self._page_dpi()
        with_result = self.flats_only
        return lambda p, c: _flats_work(line, hints, dpi, with_result)

    def _start_flats(self) -> None:
        self._launch("flats", self._flats_fn(), self._flats_done)

    def _flats_done(self, value: tuple[Any, ...]) -> None:
        flats, result16, result8 = value
        self.doc.set_flats(flats)
        if result16 is not None:
            self.doc.set_result(result16, result8)

    def _colorize_fn(self, max_side: int | None) -> Any:
        """Worker body: one page's job (``app.page_job.run_page``) at full resolution (``max_side`` None)
        or as a one-tile preview at ``max_side``, on the document's page luma and uint8 hints.

        Returns (uint16 result or None for a preview, uint8 result, device report, uint8 flats or None:
        the flats a model with flats inputs was given, for the Flats layer and export).
        """
        line, hints = self.doc.line_gray, self.doc.hints
        if max_side is None:
            hints = hints.copy()
        else:  # shrunk here in uint8 (a quarter of the float traffic), never a page-sized copy
            shape = fit_shape(line.shape[0], line.shape[1], max_side)
            hints = hints.copy() if hints.shape[:2] == shape else cv2.resize(
                hints, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        request = PageRequest(line, hints, self._page_dpi(), model=self.current_model(), device=self.device,
                              unhinted=1.0 if self.auto_color else None, preview_side=max_side)
        cache = self._cache

        def work(progress: ProgressFn, cancel: CancelFn) -> tuple[Any, ...]:
            layers = run_page(request, cache=cache, progress=progress, cancel=cancel)
            u16 = layers.color if max_side is None else None
            flats_u8 = to_uint8(layers.flats) if layers.flats is not None else None
            return u16, to_uint8(layers.color), layers.device, flats_u8

        return work

    def _start_preview(self) -> None:
        try:
            fn = self._colorize_fn(self.preview_side)
        except MangaColorError as exc:
            self.error.emit(str(exc))
            return
        self.preview_busy.emit(True)
        self._launch("preview", fn, self._preview_done)

    def _preview_done(self, value: tuple[Any, ...]) -> None:
        display, report = value[1], value[2]
        self._report_device(report)
        if not self.busy("full"):
            self.doc.set_preview(display)

    def render_full(self) -> bool:
        """Start the full-resolution render (or flats-only result); False when impossible."""
        if not self.doc.has_page:
            return False
        self.cancel_all()
        self._jobs.clear()
        self._debounce.stop()
        self._flats_after_preview = False
        try:
            fn = self._flats_fn() if self.flats_only else self._colorize_fn(None)
        except MangaColorError as exc:
            self.error.emit(str(exc))
            return False
        job = self._launch("full", fn, self._flats_full_done if self.flats_only else self._full_done)
        job.signals.progress.connect(self._on_full_progress)
        self.full_started.emit()
        return True

    def _on_full_progress(self, values: tuple[Any, ...]) -> None:
        if len(values) >= 2:
            self.full_progress.emit(int(values[0]), int(values[1]))

    def _full_done(self, value: tuple[Any, ...]) -> None:
        u16, display, report, flats = value
        self._report_device(report)
        if flats is not None:
            self.doc.set_flats(flats)
        self.doc.set_result(u16, display)
        self.full_finished.emit(True)

    def _flats_full_done(self, value: tuple[Any, ...]) -> None:
        self._flats_done(value)
        self._report_text("no model needed (flats only)")
        self.full_finished.emit(True)

    def cancel_full(self) -> None:
        """Cancel the running full-resolution render."""
        job = self._jobs.get("full")
        if job is not None:
            job.cancel()

    def _report_device(self, report: Any) -> None:
        self.device_tooltip = str(getattr(report, "details", ""))
        self._report_text(str(getattr(report, "display", report)))

    def _report_text(self, text: str) -> None:
        if text != self.device_text:
            self.device_text = text
            self.device_changed.emit(text)
