"""The layering is checked: the import contracts in ``.importlinter`` hold, and they break when core imports
something above it, when training imports Qt, or when anything but inference imports onnxruntime."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the dev extra (make test installs it)")

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache", "--config", str(root / ".importlinter")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.onnx", "*.safetensors", "*.png", "*.svg")
    for name in ("mangacolor_app", "training"):
        shutil.copytree(ROOT / name, root / name, ignore=ignore)
    shutil.copy(ROOT / ".importlinter", root / ".importlinter")
    return root


def test_import_contracts_hold() -> None:
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("mangacolor_app/core/color.py", "import onnxruntime", "core imports nothing above it"),
    ("mangacolor_app/core/tiling.py", "from mangacolor_app.inference import session", "core imports nothing above it"),
    ("mangacolor_app/core/resize.py", "import PySide6.QtCore", "core imports nothing above it"),
    ("training/metrics.py", "from mangacolor_app.qt import canvas", "training imports no Qt"),
    ("mangacolor_app/qt/theme.py", "import onnxruntime", "only inference imports onnxruntime"),
    ("mangacolor_app/cli.py", "import onnxruntime", "only inference imports onnxruntime"),
    ("mangacolor_app/inference/gpu.py", "from mangacolor_app.inference import pipeline", "no import cycles"),
])
def test_contracts_break_on_a_violation(tmp_path: Path, module: str, line: str, contract: str) -> None:
    root = _copy_tree(tmp_path)
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # injected by the test\n", encoding="utf-8")
    out = _lint(root)
    assert out.returncode != 0
    summary = " ".join(out.stdout.split())  # long contract names wrap in the report
    assert re.search(re.escape(contract) + r"(?:(?!KEPT)[^:]){0,160}? BROKEN", summary), out.stdout[-3000:]
