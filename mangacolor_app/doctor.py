"""``mangacolor doctor``: what this installation can do on this machine, in plain lines.

Sections: versions; the editor (Qt platform plugin, display, the xcb plugin's system libraries with
install commands); inference (onnxruntime's providers, the NVIDIA GPU, whether CUDA really runs and
why not); models (found and unusable); folders (user folders and bundled resources). Each check
catches its own failure and reports it as a line, so the report is always complete.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import sys
from collections.abc import Callable

from mangacolor_app import __version__, startup
from mangacolor_app.core import paths
from mangacolor_app.core.errors import MangaColorError

__all__ = ["report_lines", "run_doctor"]

logger = logging.getLogger(__name__)

_PACKAGES = ("onnxruntime", "onnxruntime-gpu", "PySide6-Essentials", "numpy", "opencv-python-headless",
             "pillow", "psd-tools", "torch", "nvidia-cudnn-cu13", "nvidia-cublas")


def _versions() -> list[str]:
    lines = [f"mangacolor {__version__}", f"Python {platform.python_version()} ({sys.executable})",
             f"platform {platform.platform()} {platform.machine()}"]
    for name in _PACKAGES:
        try:
            lines.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            if name in ("onnxruntime", "onnxruntime-gpu", "torch", "nvidia-cudnn-cu13", "nvidia-cublas"):
                continue  # optional or either-or: listed only when installed
            lines.append(f"{name}: NOT INSTALLED")
    return lines


def _editor() -> list[str]:
    plugin = startup.platform_plugin()
    lines = [f"Qt platform plugin: {plugin}"]
    if plugin in startup.HEADLESS_PLATFORMS:
        return [*lines, f"display: not needed ({plugin})"]
    display = startup.display_problem()
    lines.append(f"display: {display}" if display else "display: ok")
    if plugin == "xcb" and sys.platform.startswith("linux"):
        missing = startup.missing_libraries()
        if missing:
            lines.append("xcb libraries MISSING: " + ", ".join(lib.soname for lib in missing))
            lines += [f"  {cmd}" for cmd in startup.install_commands(missing)]
        else:
            lines.append("xcb libraries: all present")
    return lines


def _inference() -> list[str]:
    from mangacolor_app.inference.gpu import nvidia_gpu_name, preload_cuda_libraries  # noqa: PLC0415
    from mangacolor_app.inference.registry import ModelRegistry  # noqa: PLC0415
    from mangacolor_app.inference.session import available_providers, get_session  # noqa: PLC0415

    lines = [f"onnxruntime providers: {', '.join(available_providers())}",
             f"NVIDIA GPU (driver): {nvidia_gpu_name() or 'none found'}"]
    try:
        model = ModelRegistry().default()
    except MangaColorError:
        return [*lines, "device: not tested (no model installed)"]
    _, report = get_session(model.path, "auto")
    preload = preload_cuda_libraries()
    if preload:
        lines.append(f"CUDA runtime preload: {preload.splitlines()[0]}")
    lines.append(f"device: {report.display}")
    lines += [f"  {line}" for line in report.details.splitlines()]
    return lines


def _models() -> list[str]:
    from mangacolor_app.inference.registry import ModelRegistry  # noqa: PLC0415

    registry = ModelRegistry()
    lines = [f"model: {m.name} [{m.source}] {m.path}" for m in registry.list()] or ["models: none installed"]
    lines += [f"model problem: {p.path}: {p.message}" for p in registry.problems]
    return lines


def _folders() -> list[str]:
    return [
        f"bundled resources: {paths.resources_dir()}",
        f"bundled models: {paths.bundled_models_dir()}",
        f"user models: {paths.user_models_dir(create=False)}",
        f"autosave: {paths.autosave_dir(create=False)}",
        f"settings: {paths.settings_path(create_dir=False)}",
        f"cache: {paths.cache_dir(create=False)}",
        f"desktop files: {paths.desktop_files_dir()}",
    ]


def _section(title: str, fn: Callable[[], list[str]]) -> list[str]:
    """``[title] + fn()``, or the error as a line when ``fn`` fails."""
    try:
        body = fn()
    except (MangaColorError, ImportError, OSError, RuntimeError) as exc:
        logger.debug("doctor section %s failed", title, exc_info=True)
        body = [f"FAILED: {exc}"]
    return [f"[{title}]", *(f"  {line}" for line in body)]


def report_lines() -> list[str]:
    """Every section's lines (see the module docstring)."""
    sections = (("versions", _versions), ("editor", _editor), ("inference", _inference),
                ("models", _models), ("folders", _folders))
    lines: list[str] = []
    for title, fn in sections:
        lines += _section(title, fn)
    return lines


def run_doctor() -> int:
    """Print the report; exit status 0 (the report itself says what is missing)."""
    for line in report_lines():
        print(line)
    return 0
