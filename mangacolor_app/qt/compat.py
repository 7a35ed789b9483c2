"""Work-around for a reference-counting bug of PySide6 6.12.0 on CPython < 3.12.

That build returns ``None`` from every void Qt method, and ``True`` from ``Signal.emit()``,
without taking a new reference. From CPython 3.12 on these objects are immortal and nothing
happens; on 3.11 each call drops one reference, and after some tens of thousands of Qt calls
(a few minutes of mouse moves) CPython aborts with "none_dealloc: deallocating None" or
"bool_dealloc: deallocating True or False".

:func:`apply_workarounds` (run when ``mangacolor_app.qt`` is imported) detects the leak with a
few probe calls and, only then, makes ``None``, ``True`` and ``False`` effectively immortal by
adding 2**40 to their reference counts (what CPython 3.12 does by design). The proper fix is a
PySide6 without the bug (``PySide6-Essentials != 6.12.0`` on Python < 3.12) or Python >= 3.12.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QObject, Signal

__all__ = ["apply_workarounds", "leaks_detected"]

logger = logging.getLogger(__name__)

_BOOST = 1 << 40
_PROBES = 16
_applied: dict[str, bool] = {}


class _Probe(QObject):
    ping = Signal()


def _loss(obj: object, call: object) -> int:
    """References to ``obj`` lost over ``_PROBES`` calls of ``call``."""
    before = sys.getrefcount(obj)
    for _ in range(_PROBES):
        call()  # type: ignore[operator]
    return before - sys.getrefcount(obj)


def leaks_detected() -> dict[str, bool]:
    """Which singletons this PySide6 build leaks: {"None": bool, "True": bool}."""
    probe = _Probe()
    return {
        "None": _loss(None, lambda: probe.setObjectName("probe")) >= _PROBES,
        "True": _loss(True, probe.ping.emit) >= _PROBES,
    }


def _boost(obj: object) -> None:
    """Add ``_BOOST`` to ``obj``'s reference count (ob_refcnt is the first field of PyObject)."""
    ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST


def apply_workarounds() -> dict[str, bool]:
    """Detect the leak once and, if present on this interpreter, neutralise it. Returns the findings."""
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return _applied
    _applied.update(leaks_detected())
    if _applied["None"]:
        _boost(None)
    if _applied["True"]:
        _boost(True)
        _boost(False)
    if any(_applied.values()):
        logger.info("PySide6 %s leaks references to %s on Python %s: compensated (see qt/compat.py)",
                       _pyside_version(), [k for k, v in _applied.items() if v], sys.version.split()[0])
    return _applied


def _pyside_version() -> str:
    import PySide6

    return str(PySide6.__version__)
