"""Checks before Qt starts: is there a display, and can Qt's platform plugin load?

Qt aborts the process (``could not load the Qt platform plugin "xcb"``, then SIGABRT and often a core
dump) when there is no display or when a system library of its ``xcb`` plugin is missing. The editor
calls :func:`editor_start_problem` first and, instead of that abort, prints what is missing with the
exact install commands for Debian/Ubuntu and Fedora and exits non-zero. Nothing here imports Qt.

With ``QT_QPA_PLATFORM`` set to a platform that needs no display (``offscreen``, ``minimal``, ``vnc``,
``eglfs``, ``linuxfb``) nothing is checked; the tests run that way.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "XcbLibrary",
    "XCB_LIBRARIES",
    "HEADLESS_PLATFORMS",
    "platform_plugin",
    "display_problem",
    "missing_libraries",
    "install_commands",
    "editor_start_problem",
]

HEADLESS_PLATFORMS = ("offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")


@dataclass(frozen=True)
class XcbLibrary:
    """A shared library Qt's xcb plugin links against, with the packages that provide it."""

    soname: str
    debian: str
    fedora: str


#: Every system library PySide6's ``libqxcb.so`` / ``libQt6XcbQpa.so`` needs (readelf NEEDED), in the
#: order they are checked. libxcb-icccm4 and libxcb-keysyms1 are the ones usually missing.
XCB_LIBRARIES: tuple[XcbLibrary, ...] = (
    XcbLibrary("libxcb.so.1", "libxcb1", "libxcb"),
    XcbLibrary("libX11.so.6", "libx11-6", "libX11"),
    XcbLibrary("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    XcbLibrary("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    XcbLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    XcbLibrary("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    XcbLibrary("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    XcbLibrary("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    XcbLibrary("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    XcbLibrary("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    XcbLibrary("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    XcbLibrary("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    XcbLibrary("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    XcbLibrary("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    XcbLibrary("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    XcbLibrary("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    XcbLibrary("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    XcbLibrary("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    XcbLibrary("libGL.so.1", "libgl1", "libglvnd-glx"),
    XcbLibrary("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
)


def platform_plugin(env: Mapping[str, str] | None = None) -> str:
    """The Qt platform plugin the editor will use: ``QT_QPA_PLATFORM``'s name, else what Qt picks
    (``wayland`` in a Wayland session, ``xcb`` elsewhere on Linux, ``cocoa``/``windows`` elsewhere)."""
    env = os.environ if env is None else env
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(":", 1)[0].split(";", 1)[0]
    if sys.platform == "darwin":
        return "cocoa"
    if sys.platform == "win32":
        return "windows"
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE", "wayland") == "wayland":
        return "wayland"
    return "xcb"


def _x11_reachable(display: str) -> str | None:
    """None when an X server answers on ``display`` (through libxcb), else the reason."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None  # reported by the library check
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    error = xcb.xcb_connection_has_error(conn) if conn else 1
    if conn:
        xcb.xcb_disconnect(conn)
    return None if error == 0 else f"no X server answers on DISPLAY={display!r}"


def _wayland_reachable(env: Mapping[str, str]) -> str | None:
    """None when the Wayland socket of ``WAYLAND_DISPLAY`` exists, else the reason."""
    name = env.get("WAYLAND_DISPLAY", "")
    socket = Path(name) if name.startswith("/") else Path(env.get("XDG_RUNTIME_DIR", "/nonexistent")) / name
    return None if socket.exists() else f"the Wayland socket {socket} does not exist"


def display_problem(env: Mapping[str, str] | None = None) -> str | None:
    """None when the platform plugin has a display to talk to, else a one-line reason.

    Only Linux/BSD xcb and wayland are checked; headless platforms, macOS and Windows return None.
    """
    env = os.environ if env is None else env
    plugin = platform_plugin(env)
    if plugin in HEADLESS_PLATFORMS or sys.platform in ("darwin", "win32"):
        return None
    if plugin == "wayland":
        if not env.get("WAYLAND_DISPLAY"):
            return "no display: QT_QPA_PLATFORM=wayland but WAYLAND_DISPLAY is not set"
        return _wayland_reachable(env)
    if plugin == "xcb":
        display = env.get("DISPLAY", "")
        if not display:
            return "no display: neither DISPLAY nor WAYLAND_DISPLAY is set (not in a desktop session?)"
        return _x11_reachable(display)
    return None


def _loadable(soname: str) -> bool:
    """True when the dynamic loader finds ``soname`` (and what it needs)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(libraries: Sequence[XcbLibrary] = XCB_LIBRARIES) -> list[XcbLibrary]:
    """The entries of ``libraries`` the dynamic loader cannot load (empty when all are there)."""
    return [lib for lib in libraries if not _loadable(lib.soname)]


def install_commands(missing: Sequence[XcbLibrary]) -> list[str]:
    """The Debian/Ubuntu and Fedora commands that install ``missing`` (one line each)."""
    debian = " ".join(dict.fromkeys(lib.debian for lib in missing))
    fedora = " ".join(dict.fromkeys(lib.fedora for lib in missing))
    return [f"Debian/Ubuntu: sudo apt-get install {debian}", f"Fedora:        sudo dnf install {fedora}"]


def editor_start_problem(
    env: Mapping[str, str] | None = None, libraries: Sequence[XcbLibrary] = XCB_LIBRARIES
) -> str | None:
    """None when Qt's GUI platform can start, else the message to print (may span lines).

    Order: a display is named (``DISPLAY``/``WAYLAND_DISPLAY``); for the ``xcb`` plugin the system
    libraries in ``libraries`` load (tests pass a list with a library that does not exist); the
    display answers (``display_problem``).
    """
    env = os.environ if env is None else env
    plugin = platform_plugin(env)
    if plugin in HEADLESS_PLATFORMS or not sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return None
    advice = ("Run it in a desktop session; for batch work use `mangacolor colorize`, and "
              "`mangacolor --screenshot OUT.png PAGE` renders without a display.")
    if plugin == "xcb" and not env.get("DISPLAY"):
        return f"the editor cannot start: {display_problem(env)}. {advice}"
    missing = missing_libraries(libraries) if plugin == "xcb" else []
    if missing:
        names = ", ".join(lib.soname for lib in missing)
        lines = [f"the editor cannot start: Qt's xcb platform plugin needs system libraries that are missing: {names}",
                 "Install them with:", *(f"  {cmd}" for cmd in install_commands(missing))]
        return "\n".join(lines)
    problem = display_problem(env)
    return None if problem is None else f"the editor cannot start: {problem}. {advice}"
