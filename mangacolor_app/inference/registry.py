"""Installed models: the bundled ones (``resources/models``) and the user's (``<home>/models``).

Every ``*.onnx`` in those folders with a valid manifest is listed; files that are not usable
colorization models are collected as :attr:`ModelRegistry.problems` (file + reason), never raised.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from mangacolor_app.core import paths
from mangacolor_app.core.atomic import atomic_write
from mangacolor_app.core.errors import ImageSaveError, MangaColorError, ModelError
from mangacolor_app.inference.manifest import ModelManifest, read_manifest, sidecar_path, write_sidecar

__all__ = ["DEFAULT_MODEL_NAME", "InstalledModel", "ModelProblem", "ModelRegistry"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "mangacolor-default"


@dataclass(frozen=True)
class InstalledModel:
    """A usable model file.

    Attributes:
        name: the manifest's name (unique within a registry; the first folder scanned wins).
        path: the ``.onnx`` file.
        manifest: its validated manifest.
        source: "bundled", "user" or "file" (a path given directly).
    """

    name: str
    path: Path
    manifest: ModelManifest
    source: str


@dataclass(frozen=True)
class ModelProblem:
    """A model file that could not be used, with the one-line reason.

    Attributes:
        path: the file.
        message: why it is not used (one line, names the other file for a duplicate name).
        shadowed_by: for a duplicate model name, the file of that name which is used; else None.
    """

    path: Path
    message: str
    shadowed_by: Path | None = None


class ModelRegistry:
    """Scans model folders once (call :meth:`refresh` to rescan).

    Args:
        dirs: (folder, source label) pairs to scan in order; default: bundled models folder
            ("bundled") then the user models folder ("user").
    """

    def __init__(self, dirs: list[tuple[Path, str]] | None = None) -> None:
        self._dirs = dirs
        self._models: list[InstalledModel] = []
        self.problems: list[ModelProblem] = []
        self.refresh()

    def folders(self) -> list[tuple[Path, str]]:
        """The (folder, source) pairs scanned."""
        if self._dirs is not None:
            return [(Path(d), s) for d, s in self._dirs]
        return [(paths.bundled_models_dir(), "bundled"), (paths.user_models_dir(create=False), "user")]

    def refresh(self) -> None:
        """Rescan the folders (invalid models become :attr:`problems`)."""
        models: list[InstalledModel] = []
        problems: list[ModelProblem] = []
        seen: dict[str, Path] = {}
        for folder, source in self.folders():
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.onnx")):
                try:
                    manifest = read_manifest(path)
                except MangaColorError as exc:
                    logger.info("skipping model %s: %s", path, exc)
                    problems.append(ModelProblem(path, str(exc)))
                    continue
                if manifest.name in seen:
                    problems.append(_duplicate(path, manifest.name, seen[manifest.name]))
                    continue
                seen[manifest.name] = path
                models.append(InstalledModel(manifest.name, path, manifest, source))
        self._models, self.problems = models, problems

    def list(self) -> list[InstalledModel]:
        """Usable models, bundled first, each folder sorted by file name."""
        return list(self._models)

    def get(self, name_or_path: str | Path) -> InstalledModel:
        """A model by manifest name, file stem, or path to an ``.onnx`` (inside the folders or not).

        Raises:
            ModelError: no such model, or the path is not a usable colorization model.
        """
        key = str(name_or_path)
        for m in self._models:
            if key in (m.name, m.path.stem):
                return m
        candidate = Path(key).expanduser()
        if candidate.suffix.lower() == ".onnx" or candidate.exists() or "/" in key or "\\" in key:
            resolved = candidate.resolve()
            for m in self._models:
                if m.path.resolve() == resolved:
                    return m
            manifest = read_manifest(candidate)
            return InstalledModel(manifest.name, candidate, manifest, "file")
        names = ", ".join(m.name for m in self._models) or "none installed"
        raise ModelError(f"no model named {key!r} (installed: {names})")

    def default(self) -> InstalledModel:
        """The bundled ``mangacolor-default`` if present, else the first usable model.

        Raises:
            ModelError: no usable model is installed (message says where to put one).
        """
        for m in self._models:
            if m.name == DEFAULT_MODEL_NAME and m.source == "bundled":
                return m
        for m in self._models:
            if m.name == DEFAULT_MODEL_NAME:
                return m
        if self._models:
            return self._models[0]
        hint = f"; {len(self.problems)} model file(s) could not be used" if self.problems else ""
        raise ModelError(
            "no colorization model is installed: put a MangaColor .onnx model in "
            f"{paths.user_models_dir(create=False)} or pass --model PATH{hint}"
        )

    def install(self, onnx_path: str | Path, name: str | None = None) -> InstalledModel:
        """Copy a model (and its sidecar manifest) into the user models folder, atomically.

        Args:
            onnx_path: the model to install (validated first).
            name: optional new manifest name (written to the installed sidecar).

        Returns:
            The installed model (the registry is refreshed).

        Raises:
            ModelError: the file is not a usable colorization model.
            ImageSaveError: the user models folder cannot be written.
        """
        src = Path(onnx_path)
        manifest = read_manifest(src)
        if name is not None:
            manifest = manifest.replace(name=name)
        folder = paths.user_models_dir()
        dst = folder / f"{_safe_stem(manifest.name)}.onnx"
        try:
            with atomic_write(dst) as tmp:
                shutil.copyfile(src, tmp)
        except OSError as exc:
            raise ImageSaveError(f"cannot install the model ({exc.strerror or exc})", dst) from exc
        if name is not None or sidecar_path(src).is_file():
            write_sidecar(dst, manifest)
        else:
            sidecar_path(dst).unlink(missing_ok=True)
        self.refresh()
        logger.info("installed model %s at %s", manifest.name, dst)
        return InstalledModel(manifest.name, dst, read_manifest(dst, check_graph=False), "user")


def _same_bytes(a: Path, b: Path) -> bool:
    """True when the two files have identical contents (sizes compared first)."""
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                chunk = fa.read(1 << 20)
                if chunk != fb.read(1 << 20):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False


def _duplicate(path: Path, name: str, used: Path) -> ModelProblem:
    """The problem entry of a model whose name is already taken by ``used`` (scanned first)."""
    if _same_bytes(path, used):
        message = f"a copy of the model {name!r} at {used}, which is used; this copy can be deleted"
    else:
        message = (f"has the model name {name!r} of {used}, which is used instead; to use this one, "
                   f"install it under another name: mangacolor install {path} --name NEW_NAME")
    logger.info("model %s: %s", path, message)
    return ModelProblem(path, message, shadowed_by=used)


def _safe_stem(name: str) -> str:
    """A file-name-safe version of a model name."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return stem or "model"
