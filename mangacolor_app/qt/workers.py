"""Background jobs: run a function on the global QThreadPool with progress, cancel and results.

The GUI thread never runs heavy work. A :class:`Job` wraps a callable ``fn(progress, cancel)``
that returns a value; its :class:`JobSignals` are delivered to the GUI thread through queued
connections. Cancellation is cooperative: ``cancel()`` sets a flag that ``fn`` polls through its
``cancel`` argument (the pipeline then raises ``CancelledError``).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from mangacolor_app.core.errors import CancelledError, MangaColorError

__all__ = ["Job", "JobSignals", "ProgressFn", "CancelFn", "start_job", "error_text", "wait_for_jobs"]

logger = logging.getLogger(__name__)

ProgressFn = Callable[..., None]
CancelFn = Callable[[], bool]


def error_text(exc: BaseException) -> str:
    """The message shown to the user for ``exc`` (MangaColorError text as is; others prefixed)."""
    if isinstance(exc, MangaColorError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "not enough memory for this operation; try a smaller page or preview size"
    return f"unexpected error: {type(exc).__name__}: {exc}"


class JobSignals(QObject):
    """Signals of one job (emitted from the worker thread, received in the GUI thread).

    ``progress`` carries a tuple of whatever the work reports (e.g. ``(done, total)``).
    """

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()


class Job(QRunnable):
    """A cancellable unit of work for :class:`QThreadPool`.

    Args:
        fn: ``fn(progress, cancel) -> value``; ``progress(*values)`` reports progress, ``cancel()``
            returns True once :meth:`cancel` was called.
        name: for logs.
    """

    def __init__(self, fn: Callable[[ProgressFn, CancelFn], Any], name: str = "job") -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.name = name
        self.signals = JobSignals()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next cancel check."""
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancel.is_set()

    def _progress(self, *values: Any) -> None:
        self.signals.progress.emit(values)

    def run(self) -> None:  # noqa: D102 - QRunnable API
        try:
            self._run()
        except RuntimeError:  # the receivers were deleted while the job ran (application exit)
            logger.debug("%s finished after its receivers were deleted", self.name)

    def _run(self) -> None:
        try:
            value = self.fn(self._progress, self._cancel.is_set)
        except CancelledError:
            logger.debug("%s cancelled", self.name)
            self.signals.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - reported to the GUI, never raised in the pool
            logger.debug("%s failed:\n%s", self.name, traceback.format_exc())
            self.signals.failed.emit(error_text(exc))
        else:
            if self._cancel.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.finished.emit(value)
        finally:
            self.signals.done.emit()


def wait_for_jobs(timeout_ms: int = 30000) -> bool:
    """Wait (bounded) for every job of the global pool; True when all finished."""
    return bool(QThreadPool.globalInstance().waitForDone(timeout_ms))


_live: set[Job] = set()


def start_job(job: Job, pool: QThreadPool | None = None) -> Job:
    """Start ``job`` on ``pool`` (the global pool by default), keeping it alive until it is done."""
    _live.add(job)
    job.signals.done.connect(lambda: _live.discard(job))
    (pool or QThreadPool.globalInstance()).start(job)
    return job
