"""Our PSDs in the programs artists use: Krita (and GIMP) flatten them to our PNG's pixels.

Optional: runs where ``krita`` / ``gimp-console`` and ``xvfb-run`` are installed (Debian: krita, gimp,
xvfb, xauth); skipped elsewhere. Krita 5.1 reads a 16-bit PSD without an ICC profile as linear light
(the page comes out washed out); with our embedded sRGB profile it matches.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mangacolor_app.core.export import ExportLayers, composite_layers, export_page

H, W = 300, 220


def _layers() -> ExportLayers:
    yy, xx = np.mgrid[0:H, 0:W]
    ink = np.ones((H, W), np.float32)
    ink[(np.abs(np.hypot(yy - 150, xx - 110) - 70) < 3) | (np.abs(xx - 30) < 2)] = 0.05
    color = np.stack([0.2 + 0.6 * xx / W, 0.3 + 0.5 * yy / H, np.full((H, W), 0.6)], -1).astype(np.float32)
    flats = np.zeros((H, W, 4), np.float32)
    flats[100:200, 60:160] = (0.9, 0.3, 0.2, 1)
    hints = np.zeros((H, W, 4), np.float32)
    hints[140:160, 100:120] = (0.9, 0.2, 0.2, 1)
    return ExportLayers(ink=ink, color=color, flats=flats, hints=hints, dpi=(300, 300))


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return image[..., :3][..., ::-1].astype(np.float64) / scale


@pytest.mark.slow
@pytest.mark.parametrize("bit_depth", [8, 16])
@pytest.mark.skipif(shutil.which("krita") is None or shutil.which("xvfb-run") is None,
                    reason="needs krita and xvfb-run (Krita insists on an X display)")
def test_krita_flattens_our_psd_to_our_png(tmp_path: Path, bit_depth: int) -> None:
    layers = _layers()
    psd = export_page(tmp_path / "page.psd", layers, bit_depth=bit_depth)
    out = tmp_path / "krita.png"
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 640x480x24", "krita", "--nosplash", "--export", "--export-filename",
           str(out), str(psd)]
    for _attempt in range(3):  # xvfb-run -a can race with a server still shutting down on the same number
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False,
                              env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
        if "could not connect to display" not in proc.stderr:
            break
        time.sleep(2)
    assert proc.returncode == 0 and out.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    diff = np.abs(_read(out) - composite_layers(layers)) * 255
    assert diff.max() <= 1.0, f"Krita differs by up to {diff.max():.2f} levels (mean {diff.mean():.3f})"


@pytest.mark.slow
@pytest.mark.parametrize("bit_depth", [8, 16])
@pytest.mark.skipif(shutil.which("gimp-console") is None, reason="needs gimp-console (Debian: gimp)")
def test_gimp_flattens_our_psd_to_our_png(tmp_path: Path, bit_depth: int) -> None:
    layers = _layers()
    psd = export_page(tmp_path / "page.psd", layers, bit_depth=bit_depth)
    out = tmp_path / "gimp.png"
    script = (f'(let* ((image (car (gimp-file-load RUN-NONINTERACTIVE "{psd}" "{psd.name}")))'
              " (layer (car (gimp-image-flatten image))))"
              f' (file-png-save2 RUN-NONINTERACTIVE image layer "{out}" "{out.name}" 0 9 0 0 0 0 0 0 0) (gimp-quit 0))')
    proc = subprocess.run(["gimp-console", "-i", "-d", "-f", "-b", script], capture_output=True, text=True,
                          timeout=300, check=False, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and out.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    diff = np.abs(_read(out) - composite_layers(layers)) * 255
    assert diff.max() <= 1.0, f"GIMP differs by up to {diff.max():.2f} levels (mean {diff.mean():.3f})"
