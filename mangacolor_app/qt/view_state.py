"""The editor's view state as one signalling model (as napari's layer events): views subscribe, nobody
writes another widget's attributes.

:class:`ViewState` holds the layers' visibility and opacity, the before/after compare split, the ink
over the result, and the flats mode (flats only, no model). Setting a field (``view.hints_visible =
False`` or ``view.set("hints_visible", False)``) stores it and emits ``changed(name, value)`` once,
only when the value changed; the canvas repaints, the Layers and Colorize panels show it, and the
render controller follows the flats fields (:meth:`RenderController.follow`). Panels write the model,
never the canvas or the controller.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

__all__ = ["ViewState", "VIEW_DEFAULTS", "LAYER_FIELDS"]

#: Every field with its default value (its type is the default's type).
VIEW_DEFAULTS: dict[str, bool | float] = {
    "hints_visible": True,
    "hints_opacity": 0.8,
    "result_visible": True,
    "compare": 1.0,  # 0 = all before (the sketch), 1 = all after (the result)
    "preserve_ink": True,
    "flats_visible": False,
    "flats_opacity": 0.7,
    "flats_only": False,  # the flats mode: flats over paper, no model
}
#: The fields saved with a project as ``layers.<name>`` (the flats mode is saved as ``flats_only``).
LAYER_FIELDS = tuple(name for name in VIEW_DEFAULTS if name != "flats_only")
_UNIT_FIELDS = frozenset({"hints_opacity", "flats_opacity", "compare"})


class _Field:
    """A :class:`ViewState` attribute that reads the model's value and writes through :meth:`ViewState.set`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: ViewState | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.get(self.name)

    def __set__(self, obj: ViewState, value: Any) -> None:
        obj.set(self.name, value)


class ViewState(QObject):
    """Layer visibility/opacity, compare split, ink and flats mode, with change signals.

    Signals:
        changed(str, object): a field's name and new value (emitted only on a real change).
        flats_mode_changed(bool): ``flats_only`` changed (the Colorize panel and the render follow it).
    """

    changed = Signal(str, object)
    flats_mode_changed = Signal(bool)

    hints_visible = _Field()
    hints_opacity = _Field()
    result_visible = _Field()
    compare = _Field()
    preserve_ink = _Field()
    flats_visible = _Field()
    flats_opacity = _Field()
    flats_only = _Field()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._values: dict[str, bool | float] = dict(VIEW_DEFAULTS)

    def get(self, name: str) -> bool | float:
        """The value of field ``name``. Raises KeyError for an unknown field."""
        return self._values[name]

    def set(self, name: str, value: Any) -> bool:
        """Store ``value`` (coerced to the field's type; opacities and the compare split clipped to
        [0, 1]) and emit :attr:`changed` when it differs. Returns True when it changed.

        Raises:
            KeyError: unknown field. TypeError/ValueError: a value of another kind (a bool field takes
                only a bool, a number field only a real number).
        """
        current = self._values[name]
        if isinstance(current, bool) != isinstance(value, bool) or not isinstance(value, (bool, int, float)):
            raise TypeError(f"view field {name} takes a {type(current).__name__}, not {value!r}")
        new: bool | float = bool(value) if isinstance(current, bool) else float(value)
        if name in _UNIT_FIELDS:
            new = min(1.0, max(0.0, float(new)))
        if new == current:
            return False
        self._values[name] = new
        self.changed.emit(name, new)
        if name == "flats_only":
            self.flats_mode_changed.emit(bool(new))
        return True

    def update(self, **values: Any) -> None:
        """Set several fields (each emits its own change)."""
        for name, value in values.items():
            self.set(name, value)

    def as_dict(self) -> dict[str, bool | float]:
        """A copy of every field."""
        return dict(self._values)
