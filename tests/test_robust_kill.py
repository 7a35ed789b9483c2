"""kill -9 during project saves (issue #12 item 8 and the kill acceptance test).

A child process saves the same project over and over, printing the number of each save once it has
returned; it is killed with SIGKILL at a random moment. Each time: the project must load, hold the
last reported save or the one in progress (no save lost), and the next save must leave no
temporary file behind. ``MANGACOLOR_KILL_N`` sets the number of kills (default 4; the issue's: 30).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mangacolor_app.core.project import load_project, save_project

REPO = Path(__file__).resolve().parents[1]

_SAVER = """
import sys
import numpy as np
from mangacolor_app.core.project import Project, save_project
target, start = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(start)
page = rng.random((700, 900, 3)).astype(np.float32)  # 16-bit page: each save takes a while
project = Project.new(page)
for n in range(start, start + 100000):
    project.settings = {"kill_n": n}
    project.hints[n % 700, :, 3] = 255
    save_project(target, project)
    print(n, flush=True)
"""


def _wait_for_temp(folder: Path, timeout: float) -> None:
    """Return as soon as a temporary file appears in ``folder`` (or after ``timeout`` seconds)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(name.endswith(".tmp") for name in os.listdir(folder)):
            return


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_kill_during_save_loses_nothing_and_leaves_no_temp(tmp_path: Path) -> None:
    kills = int(os.environ.get("MANGACOLOR_KILL_N", "4"))
    target = tmp_path / "work.mcproj"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(8)
    start, mid_write, lost = 0, 0, 0
    for _ in range(kills):
        child = subprocess.Popen([sys.executable, "-c", _SAVER, str(target), str(start)], stdout=subprocess.PIPE,
                                 text=True, env=env)
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.strip(), "the saver did not save"
        time.sleep(rng.uniform(0.0, 0.2))
        _wait_for_temp(tmp_path, 2.0)  # aim the kill at the moment the archive is being written
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        done = [int(line) for line in [first, *child.stdout.read().split()] if str(line).strip()]
        last = max(done)
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        mid_write += bool(temps)
        saved = load_project(target).settings["kill_n"]
        lost += not (last <= saved <= last + 1)
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "opening left the temp files"
        temps_left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        save_project(target, load_project(target))
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], temps_left
        start = saved + 1
    print(f"KILLS {kills} lost {lost} killed-mid-write {mid_write}")
    assert lost == 0
    assert mid_write >= kills // 2, "the kills should land while a save is being written"
