"""Menus, toolbar and keyboard shortcuts of the main window.

:func:`build_actions` builds them into a :class:`WindowActions` struct (actions by name, the menus the
window fills later, the toolbar) for any :class:`ActionHost`: the window's interface as the actions see
it. Nothing here imports ``qt.main_window`` and nothing is written onto the window, so the two modules
have no import cycle (checked by the import contracts in ``.importlinter``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QToolBar

from mangacolor_app.qt.canvas import Canvas
from mangacolor_app.qt.chapter import ChapterController
from mangacolor_app.qt.document import Document
from mangacolor_app.qt.files import FileController
from mangacolor_app.qt.render import RenderController
from mangacolor_app.qt.settings import EditorSettings
from mangacolor_app.qt.theme import THEMES, icon
from mangacolor_app.qt.tools import TOOL_NAMES, ToolController

__all__ = ["ActionHost", "WindowActions", "build_actions", "fill_recent_menu"]


class ActionHost(Protocol):
    """What the actions need of the main window: its parts and the slots they trigger."""

    doc: Document
    tools: ToolController
    render: RenderController
    canvas: Canvas
    files: FileController
    settings: EditorSettings
    chapter: ChapterController

    def export_dialog(self) -> None: ...  # noqa: D102
    def toggle_panels(self) -> None: ...  # noqa: D102
    def set_theme(self, name: str) -> None: ...  # noqa: D102
    def colorize_full(self) -> None: ...  # noqa: D102
    def retrain_dialog(self) -> None: ...  # noqa: D102
    def open_chapter_dialog(self) -> None: ...  # noqa: D102
    def export_chapter_dialog(self) -> None: ...  # noqa: D102
    def colour_from_references(self) -> None: ...  # noqa: D102
    def close(self) -> bool: ...  # noqa: D102
    # the QMainWindow side: where menus, toolbars and shortcuts go
    def menuBar(self) -> QMenuBar: ...  # noqa: D102, N802
    def addAction(self, action: QAction) -> None: ...  # noqa: D102, N802
    def addToolBar(self, toolbar: QToolBar) -> None: ...  # noqa: D102, N802


@dataclass
class WindowActions:
    """Everything :func:`build_actions` made: actions by name, the menus the window fills, the toolbar."""

    by_name: dict[str, QAction]
    recent_menu: QMenu
    docks_menu: QMenu
    toolbar: QToolBar
    menus: dict[str, QMenu] = field(default_factory=dict)



_TOOL_KEYS = {"brush": "B", "eraser": "E", "paper": "P", "eyedropper": "I", "fill": "G"}


def _action(win: ActionHost, text: str, slot: Callable[..., object], keys: str | list[str] | None = None,
            icon_name: str | None = None) -> QAction:
    action = QAction(text, win)
    if keys:
        action.setShortcuts([QKeySequence(k) for k in ([keys] if isinstance(keys, str) else keys)])
    if icon_name:
        action.setIcon(icon(icon_name))
    action.triggered.connect(lambda _checked=False: slot())
    win.addAction(action)
    return action


def _file_menu(win: ActionHost, menus: dict[str, QMenu]) -> dict[str, QAction]:
    a = {
        "open": _action(win, "&Open…", win.files.ask_open, "Ctrl+O", "open"),
        "save": _action(win, "&Save project", win.files.save, "Ctrl+S", "save"),
        "save_as": _action(win, "Save project &as…", win.files.save_as, "Ctrl+Shift+S"),
        "export": _action(win, "&Export…", win.export_dialog, "Ctrl+E", "export"),
        "open_chapter": _action(win, "Open c&hapter folder…", win.open_chapter_dialog, "Ctrl+Shift+O"),
        "export_chapter": _action(win, "Export the whole chapter…", win.export_chapter_dialog, "Ctrl+Shift+E"),
        "next_page": _action(win, "Next page", lambda: win.chapter.step(1), "PgDown"),
        "previous_page": _action(win, "Previous page", lambda: win.chapter.step(-1), "PgUp"),
        "sample": _action(win, "Open the sample sketch", win.files.open_sample),
        "quit": _action(win, "&Quit", win.close, "Ctrl+Q"),
    }
    menu = menus["file"] = win.menuBar().addMenu("&File")
    menu.addActions([a["open"], a["open_chapter"]])
    menus["recent"] = menu.addMenu("Open &recent")
    menu.addActions([a["sample"], a["save"], a["save_as"], a["export"], a["export_chapter"]])
    menu.addSeparator()
    menu.addActions([a["previous_page"], a["next_page"]])
    menu.addSeparator()
    menu.addAction(a["quit"])
    return a


def _edit_menu(win: ActionHost, menus: dict[str, QMenu]) -> dict[str, QAction]:
    undo = win.doc.undo_stack.createUndoAction(win, "&Undo")
    undo.setShortcut(QKeySequence("Ctrl+Z"))
    undo.setIcon(icon("undo"))
    redo = win.doc.undo_stack.createRedoAction(win, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    redo.setIcon(icon("redo"))
    menu = menus["edit"] = win.menuBar().addMenu("&Edit")
    menu.addActions([undo, redo])
    menu.addSeparator()
    smaller = _action(win, "Smaller brush", lambda: win.tools.adjust_size(1 / 1.2), "[")
    larger = _action(win, "Larger brush", lambda: win.tools.adjust_size(1.2), "]")
    menu.addActions([smaller, larger])
    return {"undo": undo, "redo": redo, "smaller": smaller, "larger": larger}


def _tool_actions(win: ActionHost, menus: dict[str, QMenu]) -> dict[str, QAction]:
    group = QActionGroup(win)
    out: dict[str, QAction] = {}
    menu = menus["tools"] = win.menuBar().addMenu("&Tools")
    for name in TOOL_NAMES:
        action = _action(win, name.capitalize(), lambda n=name: win.tools.set_tool(n), _TOOL_KEYS[name], name)
        action.setCheckable(True)
        action.setChecked(win.tools.current.name == name)
        action.setToolTip(f"{name.capitalize()} ({_TOOL_KEYS[name]})")
        group.addAction(action)
        menu.addAction(action)
        out[f"tool_{name}"] = action
    win.tools.tool_changed.connect(lambda n: out[f"tool_{n}"].setChecked(True))
    return out


def _view_menu(win: ActionHost, menus: dict[str, QMenu]) -> dict[str, QAction]:
    a = {
        "fit": _action(win, "&Fit page", win.canvas.fit, "Ctrl+0", "fit"),
        "actual": _action(win, "&100 %", win.canvas.actual_size, "Ctrl+1"),
        "zoom_in": _action(win, "Zoom in", lambda: win.canvas.set_zoom(win.canvas.zoom * 1.25), "Ctrl++"),
        "zoom_out": _action(win, "Zoom out", lambda: win.canvas.set_zoom(win.canvas.zoom / 1.25), "Ctrl+-"),
        "panels": _action(win, "Hide/show &panels", win.toggle_panels, "Tab"),
    }
    menu = menus["view"] = win.menuBar().addMenu("&View")
    menu.addActions(list(a.values()))
    theme_menu = menu.addMenu("Theme")
    group = QActionGroup(win)
    for name in THEMES:
        action = theme_menu.addAction(name.capitalize())
        action.setCheckable(True)
        action.setChecked(win.settings.theme == name)
        action.triggered.connect(lambda _c=False, n=name: win.set_theme(n))
        group.addAction(action)
    menus["docks"] = menu.addMenu("Panels")
    return a


def _colorize_menu(win: ActionHost, menus: dict[str, QMenu]) -> dict[str, QAction]:
    a = {
        "colorize": _action(win, "&Colorize full resolution", win.colorize_full, ["Ctrl+Return", "Ctrl+Enter"],
                            "colorize"),
        "cancel": _action(win, "Cancel render", win.render.cancel_full, "Esc"),
        "from_references": _action(win, "Colour from &reference pages…", win.colour_from_references, "Ctrl+R"),
        "refresh_models": _action(win, "Rescan models", win.render.refresh_models),
        "retrain": _action(win, "&Retrain on my style…", win.retrain_dialog, None, "retrain"),
    }
    auto = _action(win, "&Auto colour", lambda: win.render.set_auto(not win.render.auto_color), "Ctrl+Shift+A")
    auto.setCheckable(True)
    auto.setChecked(win.render.auto_color)
    auto.setToolTip("The model colours the whole page; hints steer it")
    win.render.auto_changed.connect(auto.setChecked)
    a["auto"] = auto
    menu = menus["colorize"] = win.menuBar().addMenu("&Colorize")
    menu.addActions(list(a.values()))
    device_menu = menu.addMenu("Device")
    group = QActionGroup(win)
    for device in ("auto", "cpu", "cuda"):
        action = device_menu.addAction(device.upper() if device != "auto" else "Auto")
        action.setCheckable(True)
        action.setChecked(win.render.device == device)
        action.triggered.connect(lambda _c=False, d=device: win.render.set_device(d))
        group.addAction(action)
    return a


def build_actions(win: ActionHost) -> WindowActions:
    """Create every action, the menu bar and the main toolbar of ``win``; return them as a struct."""
    actions: dict[str, QAction] = {}
    menus: dict[str, QMenu] = {}
    for part in (_file_menu, _edit_menu, _tool_actions, _view_menu, _colorize_menu):
        actions.update(part(win, menus))
    toolbar = QToolBar("Tools", win)
    toolbar.setObjectName("MainToolbar")
    for key in ("open", "save", "undo", "redo", None, "tool_brush", "tool_eraser", "tool_paper", "tool_eyedropper", "tool_fill",
                None, "fit", "colorize", "export"):
        if key is None:
            toolbar.addSeparator()
        else:
            toolbar.addAction(actions[key])
    win.addToolBar(toolbar)
    return WindowActions(actions, menus["recent"], menus["docks"], toolbar, menus)


def fill_recent_menu(menu: QMenu, files: list[str], open_path: Callable[[str], None]) -> None:
    """Rebuild the "Open recent" menu."""
    menu.clear()
    for path in files:
        menu.addAction(path).triggered.connect(lambda _c=False, p=path: open_path(p))
    menu.setEnabled(bool(files))
