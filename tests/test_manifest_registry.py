"""Manifest validation, sidecar precedence, model registry, paths and model-input assembly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mangacolor_app.core import paths
from mangacolor_app.core.blending import blend_margin
from mangacolor_app.core.errors import HintError, ModelError
from mangacolor_app.core.model_inputs import (
    CHANNEL_WIDTHS,
    ModelInputBuilder,
    build_model_input,
    channel_count,
)
from mangacolor_app.inference.manifest import (
    ModelManifest,
    read_manifest,
    sidecar_path,
    write_sidecar,
)
from mangacolor_app.inference.registry import ModelRegistry

GOOD = {"name": "m", "channels": ["line", "hint_rgb", "hint_mask"], "size_multiple": 8, "overlap": 32,
        "preferred_tile": 256}


def test_manifest_roundtrip_and_defaults() -> None:
    m = ModelManifest.from_dict(GOOD)
    assert m.in_channels == 5 and m.output_space == "rgb" and m.input_range == (0.0, 1.0)
    again = ModelManifest.from_dict(json.loads(m.to_json()))
    assert again == m


@pytest.mark.parametrize(
    "change, words",
    [
        ({"channels": ["line", "sparkles"]}, "sparkles"),
        ({"channels": ["line", "line"]}, "repeated"),
        ({"size_multiple": 12}, "power of two"),
        ({"input_range": [1.0, 0.0]}, "low < high"),
        ({"output_range": [0.0]}, "pair"),
        ({"output_space": "hsv"}, "output_space"),
        ({"preferred_tile": 100}, "multiple"),
        ({"overlap": 256}, "larger than overlap"),
        ({"overlap": -8}, ">= 0"),
        ({"fp16": "yes"}, "true or false"),
        ({"format": 9}, "newer"),
        ({"name": ""}, "name"),
    ],
)
def test_manifest_validation_names_file_and_problem(change: dict, words: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        ModelManifest.from_dict({**GOOD, **change}, tmp_path / "x.json")
    assert words in str(info.value) and "x.json" in str(info.value)


def test_missing_required_field() -> None:
    with pytest.raises(ModelError, match="channels"):
        ModelManifest.from_dict({"name": "m"})


def test_metadata_manifest_read(tiny_onnx_model: Path) -> None:
    m = read_manifest(tiny_onnx_model)
    assert m.name == "tiny-test" and m.size_multiple == 2
    assert m.receptive_radius is not None and blend_margin(m.overlap) >= m.receptive_radius


def test_sidecar_wins_and_bad_sidecar_is_reported(tiny_onnx_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "copy.onnx"
    shutil.copyfile(tiny_onnx_model, model)
    write_sidecar(model, read_manifest(model).replace(name="from-sidecar", description="side"))
    assert read_manifest(model).name == "from-sidecar"
    sidecar_path(model).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="copy.json.*not valid JSON"):
        read_manifest(model)
    sidecar_path(model).write_text(json.dumps({**GOOD, "channels": ["line"]}), encoding="utf-8")
    with pytest.raises(ModelError, match="input channels"):
        read_manifest(model)


def test_not_a_colorization_model(bad_onnx_model: Path, garbage_onnx_file: Path, empty_onnx_file: Path,
                                  unet_onnx_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="matmul.onnx.*rank 2"):
        read_manifest(bad_onnx_model)
    with pytest.raises(ModelError, match="garbage.onnx.*not a valid ONNX"):
        read_manifest(garbage_onnx_file)
    with pytest.raises(ModelError, match="empty.onnx.*empty"):
        read_manifest(empty_onnx_file)
    with pytest.raises(ModelError, match="not found"):
        read_manifest(tmp_path / "missing.onnx")
    import onnx

    plain = onnx.load(str(unet_onnx_model))
    del plain.metadata_props[:]
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    with pytest.raises(ModelError, match="plain.onnx.*no manifest"):
        read_manifest(tmp_path / "plain.onnx")


def test_paths_follow_mangacolor_home(mangacolor_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert paths.user_models_dir() == mangacolor_home / "models"
    assert paths.autosave_dir().is_dir() and paths.autosave_dir().parent == mangacolor_home
    assert paths.settings_path().parent == mangacolor_home / "settings"
    monkeypatch.delenv(paths.ENV_BUNDLED_MODELS)
    assert paths.bundled_models_dir().name == "models" and paths.bundled_models_dir().parent.name == "resources"
    monkeypatch.setattr("sys._MEIPASS", "/frozen", raising=False)
    assert paths.bundled_models_dir() == Path("/frozen/resources/models")


def test_registry_bundled_user_problems_and_install(
    tiny_onnx_model: Path, unet_onnx_model: Path, garbage_onnx_file: Path, mangacolor_home: Path
) -> None:
    bundled = paths.bundled_models_dir()
    bundled.mkdir(parents=True)
    shutil.copyfile(unet_onnx_model, bundled / "unet.onnx")
    shutil.copyfile(garbage_onnx_file, bundled / "broken.onnx")
    user = paths.user_models_dir()
    shutil.copyfile(tiny_onnx_model, user / "tiny.onnx")
    reg = ModelRegistry()
    assert [(m.name, m.source) for m in reg.list()] == [("unet-test", "bundled"), ("tiny-test", "user")]
    assert len(reg.problems) == 1 and reg.problems[0].path.name == "broken.onnx"
    assert reg.default().name == "unet-test"
    assert reg.get("tiny-test").path == user / "tiny.onnx"
    assert reg.get(str(tiny_onnx_model)).source in ("file", "user")
    with pytest.raises(ModelError, match="no model named"):
        reg.get("nope")
    installed = reg.install(tiny_onnx_model, name="renamed")
    assert installed.name == "renamed" and installed.path.parent == user
    assert "renamed" in [m.name for m in reg.list()]


def test_registry_default_without_models_says_so() -> None:
    with pytest.raises(ModelError, match="no colorization model is installed"):
        ModelRegistry().default()


def test_build_model_input_channels_and_crops() -> None:
    rng = np.random.default_rng(0)
    line = rng.random((40, 52), dtype=np.float32)
    hints = np.zeros((40, 52, 4), np.float32)
    hints[5:15, 10:20] = [1.0, 0.5, 0.0, 1.0]
    tokens = list(CHANNEL_WIDTHS)
    full = build_model_input(line, hints, tokens)
    assert full.shape == (40, 52, channel_count(tokens)) and full.dtype == np.float32
    assert np.array_equal(full[..., 0], line)
    assert np.allclose(full[7, 12, 1:5], [1.0, 0.5, 0.0, 1.0]) and full[30, 40, 4] == 0
    builder = ModelInputBuilder(line, hints, tokens)
    assert np.array_equal(builder.crop(3, 30, 7, 50), full[3:30, 7:50])
    no_hints = build_model_input(line, None, ["line", "hint_rgb", "hint_mask", "flats_rgb"])
    assert not no_hints[..., 1:].any()
    with pytest.raises(HintError):
        build_model_input(line, hints[:10], tokens)
    with pytest.raises(ModelError, match="unknown"):
        channel_count(["line", "depth"])
