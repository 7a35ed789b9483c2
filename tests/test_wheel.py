"""The wheel: built from a clean copy of the repository, installed into a fresh virtualenv outside it.

Slow (a venv plus the dependencies, about 1 GB unpacked, from pip's cache or the registry), so it runs
only with ``MANGACOLOR_TEST_WHEEL=1`` (CI sets it). Checks what a user of ``pip install mangacolor`` gets:
the bundled model is listed, ``colorize`` run from another folder writes the same file as the source
tree, the editor's toolbar has its icons and ``--screenshot`` works, ``mangacolor-train`` without
torch names the extra, and no top-level ``training`` package is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
ENABLED = os.environ.get("MANGACOLOR_TEST_WHEEL", "") == "1"
MAX_WHEEL_MB = 25


def _run(cmd: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None, timeout: int = 900,
         ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if ok:
        assert proc.returncode == 0, f"{cmd}: {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _clean_copy(dest: Path) -> Path:
    """The tracked files of the repository (uncommitted edits included) as a clean checkout would have them."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git to make a clean copy of the repository")
    stash = _run(["git", "stash", "create"], cwd=ROOT).stdout.strip() or "HEAD"
    archive = dest.with_suffix(".tar")
    _run(["git", "archive", "--format=tar", f"--output={archive}", stash], cwd=ROOT)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _build_wheel(src: Path, out: Path) -> Path:
    """``pip wheel`` of ``src`` (this environment's setuptools when new enough, else an isolated build)."""
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    try:
        import setuptools

        if int(setuptools.__version__.split(".")[0]) >= 77:
            cmd.insert(4, "--no-build-isolation")
    except ImportError:
        pass
    _run(cmd, cwd=src)
    wheels = list(out.glob("mangacolor-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _user_env(home: Path) -> dict[str, str]:
    """A user's environment: no MANGACOLOR_* overrides, no PYTHONPATH, no display, fresh home folder."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MANGACOLOR_") and k not in ("PYTHONPATH", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(MANGACOLOR_HOME=str(home), QT_QPA_PLATFORM="offscreen", PYTHONNOUSERSITE="1")
    return env


def _page(folder: Path) -> tuple[Path, Path]:
    """A generated 320x240 line-art page and its hints."""
    h, w = 320, 240
    yy, xx = np.mgrid[0:h, 0:w]
    line = np.full((h, w), 255, np.uint8)
    line[(np.abs(np.hypot(yy - 150, xx - 120) - 80) < 2.5) | (np.abs(xx - 40) < 2) | (np.abs(yy - 280) < 2)] = 20
    page = folder / "page.png"
    Image.fromarray(line).save(page)
    hints = np.zeros((h, w, 4), np.uint8)
    hints[140:160, 110:130] = (230, 60, 50, 255)
    hints[20:40, 150:170] = (60, 120, 230, 255)
    Image.fromarray(hints, "RGBA").save(folder / "page.hints.png")
    return page, folder / "page.hints.png"


_ICON_CHECK = """
from mangacolor_app.qt.app import create_app
from mangacolor_app.qt.main_window import MainWindow
from mangacolor_app.qt.settings import EditorSettings
app = create_app()
win = MainWindow(EditorSettings())
actions = [a for a in win.toolbar.actions() if not a.isSeparator()]
print(len(actions), sum(not a.icon().isNull() for a in actions), app.desktopFileName())
win.close_without_asking()
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(not ENABLED, reason="wheel install is slow: set MANGACOLOR_TEST_WHEEL=1 to run it")
def test_wheel_in_a_fresh_venv(tmp_path: Path) -> None:
    if not (ROOT / "resources" / "models" / "mangacolor-default.onnx").is_file():
        pytest.skip("no bundled default model in resources/models")
    wheel = _build_wheel(_clean_copy(tmp_path / "src"), tmp_path / "dist")
    size_mb = wheel.stat().st_size / 2**20
    print(f"wheel {wheel.name}: {size_mb:.1f} MiB")
    assert size_mb < MAX_WHEEL_MB

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    bindir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    py = bindir / "python"
    env = _user_env(tmp_path / "home")
    # with the user's environment: a PYTHONPATH at a checkout (with its .egg-info) would make pip skip the wheel
    _run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel], cwd=tmp_path, env=env,
         timeout=1500)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # no generic top-level `training`; the app's own packages come from the venv, not from the repo
    probe = _run([py, "-c", "import importlib.util as u, mangacolor_app as m; "
                  "print(u.find_spec('training') is None, u.find_spec('mangacolor_training') is not None, m.__file__)"],
                 cwd=elsewhere, env=env).stdout.split()
    assert probe[:2] == ["True", "True"] and str(env_dir) in probe[2]

    models = _run([bindir / "mangacolor", "models"], cwd=elsewhere, env=env).stdout
    assert "mangacolor-default  [bundled]" in models and str(env_dir) in models

    page, hints = _page(tmp_path)
    from_wheel = elsewhere / "wheel.png"
    _run([bindir / "mangacolor", "colorize", page, "-o", from_wheel, "--hints", hints, "--device", "cpu", "-q"],
         cwd=elsewhere, env=env)
    from_source = tmp_path / "source.png"
    source_env = {**env, "PYTHONPATH": str(ROOT)}
    _run([sys.executable, "-m", "mangacolor_app.cli", "colorize", page, "-o", from_source, "--hints", hints,
          "--device", "cpu", "-q"], cwd=ROOT, env=source_env)
    a = np.asarray(Image.open(from_wheel), np.int16)
    b = np.asarray(Image.open(from_source), np.int16)
    assert a.shape == b.shape == (320, 240, 3)
    assert np.abs(a - b).max() == 0, "the wheel colours the page differently from the source tree"
    assert a.std() > 1 and (a[150, 125] != a[5, 5]).any()  # coloured, not a blank page
    assert from_wheel.read_bytes() == from_source.read_bytes()

    counts = _run([py, "-c", _ICON_CHECK], cwd=elsewhere, env=env).stdout.split()
    assert int(counts[0]) >= 8 and counts[0] == counts[1], f"toolbar actions vs icons: {counts}"
    assert counts[2] == "org.mangacolor.MangaColor"
    shot = elsewhere / "editor.png"
    _run([bindir / "mangacolor", "--screenshot", shot], cwd=elsewhere, env=env, timeout=600)
    with Image.open(shot) as im:
        assert im.size == (1400, 900)

    train = _run([bindir / "mangacolor-train", "export", "x.safetensors", "-o", "x.onnx"], cwd=elsewhere, env=env,
                 ok=False)
    assert train.returncode == 2 and "pip install 'mangacolor[train]'" in train.stderr
    assert len(train.stderr.strip().splitlines()) == 1

    no_display = {k: v for k, v in env.items() if k != "QT_QPA_PLATFORM"}
    proc = _run([bindir / "mangacolor", page], cwd=elsewhere, env=no_display, timeout=10, ok=False)
    assert proc.returncode == 2 and "no display" in proc.stderr
