"""Retraining from the editor runs ``mangacolor-train finetune --progress-json`` as a real child process:
JSON-line progress, cancel through stdin, and torch never loads in the editor process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import shutil

import cv2
import numpy as np
import pytest

from mangacolor_app.core.paths import user_models_dir

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "resources" / "models" / "mangacolor-default.safetensors"
pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped weights in resources/models")


@pytest.fixture(autouse=True)
def shipped_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled-models folder (isolated per test by conftest) holds a copy of the shipped weights."""
    bundled = tmp_path / "bundled"
    shutil.copytree(SHIPPED.parent, bundled)
    monkeypatch.setenv("MANGACOLOR_BUNDLED_MODELS", str(bundled))


def _run(args: list[str], tmp_path: Path, **env: str) -> str:
    """Run a child Python with the checkout on PYTHONPATH; its stdout (stderr shown on failure)."""
    out = subprocess.run([sys.executable, *args], input="", capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **env}, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _style_folder(folder: Path) -> Path:
    """Four small coloured pages (flat discs with ink outlines on paper)."""
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(4):
        page = np.full((160, 160, 3), 250, np.uint8)
        for _ in range(5):
            c = tuple(int(v) for v in rng.integers(0, 160, 2))
            colour = tuple(int(v) for v in rng.integers(40, 250, 3))
            cv2.circle(page, c, int(rng.integers(15, 50)), colour, -1, cv2.LINE_AA)
            cv2.circle(page, c, int(rng.integers(15, 50)), (20, 20, 20), 2, cv2.LINE_AA)
        cv2.imwrite(str(folder / f"p{i}.png"), page)
    return folder


def test_finetune_progress_json_protocol(tmp_path: Path) -> None:
    """The child's protocol itself: started, one progress line a step, a sample PNG, done (installed)."""
    stdout = _run(["-m", "training.cli", "finetune", str(_style_folder(tmp_path / "style")), "--steps", "3",
                   "-o", "proto-style", "--progress-json", "--samples", str(tmp_path / "samples")], tmp_path)
    events = [json.loads(line) for line in stdout.splitlines()]
    assert [e["event"] for e in events][0] == "started" and events[-1]["event"] == "done"
    steps = [e["step"] for e in events if e["event"] == "progress"]
    assert steps == [1, 2, 3] and all(e["total"] == 3 for e in events if e["event"] == "progress")
    sample = next(e for e in events if e["event"] == "sample")
    assert cv2.imread(sample["path"]) is not None
    assert Path(events[-1]["path"]) == user_models_dir() / "proto-style.onnx" and Path(events[-1]["path"]).is_file()


def test_retrain_cancel_stops_the_child(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Cancel while the child trains: it stops (exit 130), nothing is installed, the dialog can start again."""
    from mangacolor_app.qt.document import Document
    from mangacolor_app.qt.render import RenderController
    from mangacolor_app.qt.retrain import RetrainDialog

    render = RenderController(Document())
    dialog = RetrainDialog(render)
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(_style_folder(tmp_path / "style")))
    dialog.name.setText("cancelled-style")
    dialog.steps.setValue(5000)
    with qtbot.waitSignal(dialog.progressed, timeout=240000) as first:
        dialog.start.click()
    assert first.args[1] == 5000 and 1 <= first.args[0] < 5000 and dialog.running
    with qtbot.waitSignal(dialog.finished_text, timeout=60000) as ended:
        dialog.cancel.click()
    assert ended.args == ["Cancelled."] and not dialog.running
    assert dialog.progress.value() < 5000 and dialog.start.isEnabled()
    assert not (user_models_dir() / "cancelled-style.onnx").exists()


EDITOR_SCRIPT = r"""
import json, sys
from PySide6.QtWidgets import QApplication
from mangacolor_app.qt.document import Document
from mangacolor_app.qt.render import RenderController
from mangacolor_app.qt.retrain import RetrainDialog
app = QApplication([])
dialog = RetrainDialog(RenderController(Document()))
dialog.folder.setText(sys.argv[1]); dialog.name.setText("child-style"); dialog.steps.setValue(3)
seen = []
dialog.progressed.connect(lambda step, total: seen.append(step))
dialog.finished_text.connect(lambda text: (seen.append(text), app.quit()))
dialog.start.click()
app.exec()
print(json.dumps({"events": seen, "torch": "torch" in sys.modules,
                  "training": sorted(m for m in sys.modules if m.split(".")[0] in ("training", "mangacolor_training"))}))
"""


def test_retrain_never_loads_torch_in_the_editor(tmp_path: Path) -> None:
    """An editor process (a fresh interpreter) runs the dialog to the end; torch was only in the child."""
    stdout = _run(["-c", EDITOR_SCRIPT, str(_style_folder(tmp_path / "style"))], tmp_path,
                  QT_QPA_PLATFORM="offscreen")
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["events"][:3] == [1, 2, 3] and result["events"][-1].startswith("Done: model child-style")
    assert result["torch"] is False and result["training"] == []
    assert (user_models_dir() / "child-style.onnx").is_file()
