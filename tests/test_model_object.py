"""The one callable model object (``inference.model.OnnxModel``) on real onnxruntime sessions: ranges,
Lab output, gate and ink as the app's tiled pipeline applies them; the model contract lives in core."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mangacolor_app.core.manifest import ModelManifest, parse_manifest_json, read_sidecar, sidecar_path
from mangacolor_app.core.model_inputs import build_model_input
from mangacolor_app.inference.manifest import read_manifest
from mangacolor_app.inference.model import OnnxModel
from mangacolor_app.inference.pipeline import Colorizer
from mangacolor_app.inference.session import get_session


def _page(h: int = 64, w: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A line page (float32, 1 = paper) with two boxes, and one red hint stroke inside the first."""
    line = np.ones((h, w), np.float32)
    line[8:40, 8] = line[8:40, 40] = line[8, 8:41] = line[40, 8:41] = 0.0
    line[20:56, 60] = line[20:56, 88] = line[20, 60:89] = line[56, 60:89] = 0.0
    hints = np.zeros((h, w, 4), np.float32)
    hints[20:26, 16:30] = (0.9, 0.1, 0.1, 1.0)
    return line, hints


def _copy_with_sidecar(model: Path, tmp_path: Path, **changes: object) -> Path:
    """The model copied to ``tmp_path`` with a sidecar manifest changed by ``changes``."""
    dst = tmp_path / "variant.onnx"
    shutil.copyfile(model, dst)
    data = {**read_manifest(model).to_dict(), **changes}
    sidecar_path(dst).write_text(json.dumps(data), encoding="utf-8")
    return dst


def test_manifest_is_core_and_reexported() -> None:
    import mangacolor_app.inference.manifest as inf

    assert inf.ModelManifest is ModelManifest
    m = parse_manifest_json(json.dumps({"name": "m", "channels": ["line"]}), "m.json")
    assert m.in_channels == 1 and m.output_space == "rgb"


def test_sidecar_read_names_the_file(tmp_path: Path) -> None:
    from mangacolor_app.core.errors import ModelError

    assert read_sidecar(tmp_path / "none.onnx") is None
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="bad.json"):
        read_sidecar(tmp_path / "bad.onnx")


def test_forward_maps_output_range(tiny_onnx_model: Path, tmp_path: Path) -> None:
    variant = _copy_with_sidecar(tiny_onnx_model, tmp_path, output_range=[-1.0, 3.0])
    model = OnnxModel.load(variant, cache=False)
    session, _ = get_session(tiny_onnx_model, "cpu")
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (2, model.in_channels, 32, 48)).astype(np.float32)
    raw = session.run(["output"], {"input": x})[0]
    expected = np.clip((raw + 1.0) / 4.0, 0.0, 1.0)
    np.testing.assert_allclose(model.forward(x), expected, atol=1e-6)


def test_forward_lab_output_is_rgb(tiny_onnx_model: Path, tmp_path: Path) -> None:
    from mangacolor_app.core.color import lab_to_rgb

    variant = _copy_with_sidecar(tiny_onnx_model, tmp_path, output_space="lab")
    model = OnnxModel.load(variant, cache=False)
    session, _ = get_session(tiny_onnx_model, "cpu")
    x = np.random.default_rng(2).uniform(0, 1, (1, model.in_channels, 16, 16)).astype(np.float32)
    raw = session.run(["output"], {"input": x})[0].transpose(0, 2, 3, 1)
    lab = raw * np.array([100.0, 255.0, 255.0], np.float32) - np.array([0.0, 128.0, 128.0], np.float32)
    expected = np.clip(lab_to_rgb(lab), 0.0, 1.0).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(model.forward(x), expected, atol=1e-5)


def test_bad_input_shape_is_refused(tiny_onnx_model: Path) -> None:
    model = OnnxModel.load(tiny_onnx_model)
    with pytest.raises(ValueError, match="model input must be"):
        model.forward(np.zeros((1, model.in_channels + 1, 16, 16), np.float32))
    with pytest.raises(ValueError, match="unhinted"):
        model(np.zeros((1, model.in_channels, 16, 16), np.float32), unhinted=1.5)


@pytest.mark.parametrize("unhinted", [1.0, 0.4, 0.0])
def test_model_object_is_what_the_app_produces(tiny_onnx_model: Path, unhinted: float) -> None:
    """A whole page through the object (gate and ink from the input planes) equals the app's tiled run."""
    line, hints = _page()
    colorizer = Colorizer(tiny_onnx_model, device="cpu", tile=512)
    app = colorizer.colorize(line, hints, unhinted=unhinted, preserve_ink=True)
    m = colorizer.manifest
    x = build_model_input(line, hints, m.channels, blur_sigma=m.hint_blur_sigma).transpose(2, 0, 1)[None]
    got = colorizer.model(np.ascontiguousarray(x), unhinted=unhinted, preserve_ink=True)[0].transpose(1, 2, 0)
    assert got.shape == app.shape
    np.testing.assert_allclose(got, app, atol=2e-5)
    if unhinted < 1.0:  # the gate really acts: far from the hint the colour is (nearly) paper
        ungated = colorizer.model(np.ascontiguousarray(x), unhinted=1.0, preserve_ink=True)[0].transpose(1, 2, 0)
        assert not np.allclose(got, ungated, atol=1e-3)
