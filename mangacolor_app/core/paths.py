"""Where MangaColor keeps its files: user folders (models, autosaves, settings) and bundled resources.

User folders come from ``platformdirs`` unless the environment variable ``MANGACOLOR_HOME`` is set,
in which case everything lives under that single folder (tests isolate themselves this way):

=================  ======================================  ===============================
folder             default (platformdirs)                  with ``MANGACOLOR_HOME=H``
=================  ======================================  ===============================
models             ``user_data_dir/models``                ``H/models``
autosave           ``user_data_dir/autosave``              ``H/autosave``
settings           ``user_config_dir``                     ``H/settings``
cache              ``user_cache_dir``                      ``H/cache``
=================  ======================================  ===============================

Bundled resources (``resources/`` next to the ``mangacolor_app`` package in a source checkout, the
``mangacolor_app.resources`` package of an installed wheel, or ``sys._MEIPASS/resources`` inside a
PyInstaller bundle) are read-only. ``MANGACOLOR_RESOURCES`` and
``MANGACOLOR_BUNDLED_MODELS`` override their location (used by tests and packaging checks).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mangacolor_app.core.errors import MangaColorError

__all__ = [
    "APP_NAME",
    "APP_ID",
    "ENV_HOME",
    "ENV_RESOURCES",
    "ENV_BUNDLED_MODELS",
    "app_home",
    "user_models_dir",
    "autosave_dir",
    "settings_dir",
    "settings_path",
    "cache_dir",
    "resources_dir",
    "bundled_models_dir",
    "desktop_files_dir",
]

APP_NAME = "MangaColor"
#: Reverse-DNS application id: desktop entry, AppStream metainfo, icon name, Wayland app id.
APP_ID = "org.mangacolor.MangaColor"
ENV_HOME = "MANGACOLOR_HOME"
ENV_RESOURCES = "MANGACOLOR_RESOURCES"
ENV_BUNDLED_MODELS = "MANGACOLOR_BUNDLED_MODELS"


def _env_path(name: str) -> Path | None:
    """Return the path in environment variable ``name`` (``~`` expanded), or None when unset/empty."""
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def _ensure(folder: Path, create: bool) -> Path:
    """Create ``folder`` (with parents) when ``create``; return it.

    Raises:
        MangaColorError: the folder cannot be created (permissions, a file in the way, ...).
    """
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MangaColorError(f"cannot create the folder ({exc.strerror or exc})", folder) from exc
    return folder


def app_home() -> Path | None:
    """The ``MANGACOLOR_HOME`` override folder, or None when the platform defaults are used."""
    return _env_path(ENV_HOME)


def _data_root() -> Path:
    """Root of user data (models, autosaves): ``MANGACOLOR_HOME`` or platformdirs' user data dir."""
    home = app_home()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_models_dir(create: bool = True) -> Path:
    """Folder of models installed by the user (``*.onnx`` + optional sidecar ``*.json``).

    Args:
        create: make the folder if it does not exist.

    Raises:
        MangaColorError: ``create`` and the folder cannot be created.
    """
    return _ensure(_data_root() / "models", create)


def autosave_dir(create: bool = True) -> Path:
    """Folder for editor autosaves and crash recovery files.

    Raises:
        MangaColorError: ``create`` and the folder cannot be created.
    """
    return _ensure(_data_root() / "autosave", create)


def settings_dir(create: bool = True) -> Path:
    """Folder holding the settings file(s).

    Raises:
        MangaColorError: ``create`` and the folder cannot be created.
    """
    home = app_home()
    if home is not None:
        return _ensure(home / "settings", create)
    import platformdirs

    return _ensure(Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)), create)


def settings_path(create_dir: bool = True) -> Path:
    """Path of the JSON settings file (``settings_dir()/settings.json``; the file may not exist yet)."""
    return settings_dir(create_dir) / "settings.json"


def cache_dir(create: bool = True) -> Path:
    """Folder for disposable caches (thumbnails, measured model data).

    Raises:
        MangaColorError: ``create`` and the folder cannot be created.
    """
    home = app_home()
    if home is not None:
        return _ensure(home / "cache", create)
    import platformdirs

    return _ensure(Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)), create)


def _source_tree_resources() -> Path | None:
    """``resources/`` of a source checkout (the folder next to ``mangacolor_app`` in a tree that
    has a ``pyproject.toml``), or None when running from an installed wheel."""
    root = Path(__file__).resolve().parent.parent.parent
    if (root / "pyproject.toml").is_file() and (root / "resources").is_dir():
        return root / "resources"
    return None


def _package_resources() -> Path | None:
    """``mangacolor_app.resources`` of an installed wheel (through ``importlib.resources``), or None."""
    from importlib import resources  # noqa: PLC0415

    try:
        found = resources.files("mangacolor_app.resources")
    except (ModuleNotFoundError, TypeError):
        return None
    path = Path(str(found))
    return path if path.is_dir() else None


def resources_dir() -> Path:
    """Read-only bundled resources folder (``models/``, ``icons/``, ``samples/``).

    Order: ``MANGACOLOR_RESOURCES``; a PyInstaller bundle's ``sys._MEIPASS/resources``; the
    ``resources`` folder of a source checkout (``make run``, ``make test``, editable installs);
    the ``mangacolor_app.resources`` package of an installed wheel (``importlib.resources``).
    The returned folder may not exist.
    """
    override = _env_path(ENV_RESOURCES)
    if override is not None:
        return override
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        return Path(meipass) / "resources"
    for found in (_source_tree_resources(), _package_resources()):
        if found is not None:
            return found
    return Path(__file__).resolve().parent.parent / "resources"


def bundled_models_dir() -> Path:
    """Folder of the models shipped with the app (``resources/models``; may not exist).

    ``MANGACOLOR_BUNDLED_MODELS`` overrides it (tests point it at a temporary folder).
    """
    override = _env_path(ENV_BUNDLED_MODELS)
    if override is not None:
        return override
    return resources_dir() / "models"


def desktop_files_dir() -> Path:
    """Folder of the Linux desktop integration files (desktop entry, metainfo, MIME type, icons).

    ``packaging/linux`` in a source checkout, the ``mangacolor_app.xdg`` package of an installed
    wheel, ``sys._MEIPASS/xdg`` in a PyInstaller bundle. The returned folder may not exist.
    """
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        return Path(meipass) / "xdg"
    source = _source_tree_resources()
    if source is not None:
        return source.parent / "packaging" / "linux"
    from importlib import resources  # noqa: PLC0415

    try:
        return Path(str(resources.files("mangacolor_app.xdg")))
    except (ModuleNotFoundError, TypeError):
        return Path(__file__).resolve().parent.parent / "xdg"
