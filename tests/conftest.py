"""Shared pytest fixtures: isolated user folders and REAL small ONNX models.

Fixtures for everyone (Qt editor, training, inference tests):

``mangacolor_home`` (autouse)
    Path of a fresh per-test folder set as ``MANGACOLOR_HOME`` (user models, settings, autosaves
    live under it); ``MANGACOLOR_BUNDLED_MODELS`` points at ``<home>/bundled-models`` (initially
    missing, so no real bundled model leaks into tests); ``QT_QPA_PLATFORM=offscreen``.

``tiny_onnx_model`` (session)
    Path to a fully convolutional ONNX model built with the ``onnx`` helper API: channels
    ``line, hint_rgb, hint_mask`` (5 planes) -> RGB, two 3x3 convs around a stride-2 conv and a
    nearest 2x Resize (``size_multiple`` 2), sigmoid output, manifest (name ``tiny-test``) in
    metadata with its measured ``receptive_radius``/``overlap``. Runs in a few ms.

``unet_onnx_model`` (session)
    Path to a small torch U-Net (3 downsamplings -> ``size_multiple`` 8, ~50k params) exported with
    ``torch.onnx.export`` (dynamic N/H/W), manifest (name ``unet-test``) in metadata with the
    overlap from ``core.receptive.measure_receptive_radius`` on the real onnxruntime session.

``bad_onnx_model`` (session)
    Path to a valid ONNX file that is NOT a colorization model: a MatMul on a 2-D (N, 5) input,
    even carrying a plausible manifest (so the graph check, not a missing manifest, rejects it).

``garbage_onnx_file`` / ``empty_onnx_file``
    A ``.onnx`` file of random bytes / of 0 bytes (per test).

Session-scoped model files live in a shared temporary folder: copy them before modifying.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

TINY_CHANNELS = ["line", "hint_rgb", "hint_mask"]


@pytest.fixture(autouse=True)
def mangacolor_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Per-test user folder (``MANGACOLOR_HOME``) and empty bundled-models folder; Qt offscreen."""
    home = tmp_path_factory.mktemp("mangacolor-home")
    monkeypatch.setenv("MANGACOLOR_HOME", str(home))
    monkeypatch.setenv("MANGACOLOR_BUNDLED_MODELS", str(home / "bundled-models"))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return home


def _base_manifest(name: str, multiple: int, tile: int) -> dict:
    return {
        "format": 1, "name": name, "version": "0.1", "description": f"{name} (test fixture)",
        "input_name": "input", "output_name": "output", "channels": TINY_CHANNELS,
        "input_range": [0.0, 1.0], "output_space": "rgb", "output_range": [0.0, 1.0],
        "size_multiple": multiple, "receptive_radius": None, "overlap": 0, "preferred_tile": tile,
        "trained_with_hints": True, "hint_blur_sigma": 0.05, "fp16": False, "gflop_per_mp": None,
    }


def _embed_measured_manifest(path: Path, manifest: dict) -> Path:
    """Embed ``manifest``, measure the model's receptive field on onnxruntime, re-embed with it."""
    from mangacolor_app.inference.manifest import ModelManifest, write_manifest_metadata
    from mangacolor_app.inference.pipeline import measure_model_overlap

    write_manifest_metadata(path, ModelManifest.from_dict(manifest))
    radius, overlap = measure_model_overlap(path)
    tile = max(manifest["preferred_tile"], overlap + 4 * manifest["size_multiple"])
    final = {**manifest, "receptive_radius": radius, "overlap": overlap, "preferred_tile": tile}
    write_manifest_metadata(path, ModelManifest.from_dict(final))
    from mangacolor_app.inference.session import clear_session_cache

    clear_session_cache()
    return path


def _build_tiny(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1234)

    def init(name: str, shape: tuple[int, ...], scale: float) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [
        init("w1", (8, 5, 3, 3), 0.3), init("b1", (8,), 0.1),
        init("w2", (8, 8, 3, 3), 0.2), init("b2", (8,), 0.1),
        init("w3", (3, 8, 3, 3), 0.2), init("b3", (3,), 0.1),
        numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Resize", ["r2", "", "scales"], ["up"], mode="nearest"),
        helper.make_node("Add", ["up", "r1"], ["skip"]),
        helper.make_node("Conv", ["skip", "w3", "b3"], ["c3"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c3"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_colorizer",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 5, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="mangacolor-tests")
    model.ir_version = 8  # onnxruntime 1.31 reads IR <= 13; onnx's default may be newer
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny conv model (size_multiple 2), manifest in ONNX metadata. See module docstring."""
    path = _build_tiny(tmp_path_factory.mktemp("models") / "tiny.onnx")
    return _embed_measured_manifest(path, _base_manifest("tiny-test", 2, 64))


def build_test_unet(in_ch: int = 5, base: int = 8, depth: int = 3, seed: int = 0):  # noqa: ANN201 - torch type
    """A small torch U-Net (strided-conv down, transposed-conv up, skip concat, sigmoid RGB out)."""
    import torch
    from torch import nn

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inc = nn.Sequential(nn.Conv2d(in_ch, base, 3, padding=1), nn.ReLU())
            self.down = nn.ModuleList()
            self.up = nn.ModuleList()
            self.merge = nn.ModuleList()
            ch = base
            for _ in range(depth):
                self.down.append(nn.Sequential(
                    nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), nn.ReLU(),
                    nn.Conv2d(ch * 2, ch * 2, 3, padding=1), nn.ReLU()))
                ch *= 2
            for _ in range(depth):
                self.up.append(nn.ConvTranspose2d(ch, ch // 2, 2, stride=2))
                self.merge.append(nn.Sequential(nn.Conv2d(ch, ch // 2, 3, padding=1), nn.ReLU()))
                ch //= 2
            self.out = nn.Conv2d(base, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.inc(x)
            skips = [h]
            for down in self.down:
                h = down(h)
                skips.append(h)
            skips.pop()
            for up, merge in zip(self.up, self.merge):
                h = merge(torch.cat([up(h), skips.pop()], dim=1))
            return torch.sigmoid(self.out(h))

    torch.manual_seed(seed)
    net = UNet().eval()
    with torch.no_grad():  # He init, so the deep path really reaches far (default init decays)
        for mod in net.modules():
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
                nn.init.uniform_(mod.bias, -0.05, 0.05)
    return net


def export_torch_model(model, path: Path, in_ch: int, size: int = 64) -> Path:  # noqa: ANN001 - torch type
    """Export ``model`` to ONNX with dynamic N/H/W (legacy exporter first, dynamo as fallback)."""
    import torch

    dummy = torch.rand(1, in_ch, size, size)
    kwargs = {"input_names": ["input"], "output_names": ["output"], "opset_version": 17,
              "dynamic_axes": {"input": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H", 3: "W"}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (dummy,), str(path), dynamo=False, **kwargs)
        except (TypeError, RuntimeError):
            h, w = torch.export.Dim("H", min=16, max=4096), torch.export.Dim("W", min=16, max=4096)
            torch.onnx.export(model, (dummy,), str(path), dynamo=True, input_names=["input"],
                              output_names=["output"], dynamic_shapes=({2: 8 * h, 3: 8 * w},))
    return path


@pytest.fixture(scope="session")
def unet_onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Torch-exported U-Net (size_multiple 8), measured overlap in its manifest. See module docstring."""
    path = export_torch_model(build_test_unet(), tmp_path_factory.mktemp("models") / "unet.onnx", 5)
    return _embed_measured_manifest(path, _base_manifest("unet-test", 8, 128))


@pytest.fixture(scope="session")
def bad_onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid ONNX MatMul on a 2-D input (not a colorization model), with a plausible manifest."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((5, 3), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], ["output"])], "not_a_colorizer",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 5])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = "mangacolor_manifest", json.dumps(_base_manifest("matmul", 1, 64))
    path = tmp_path_factory.mktemp("models") / "matmul.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture
def garbage_onnx_file(tmp_path: Path) -> Path:
    """A ``.onnx`` file made of random bytes."""
    path = tmp_path / "garbage.onnx"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


@pytest.fixture
def empty_onnx_file(tmp_path: Path) -> Path:
    """A zero-byte ``.onnx`` file."""
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    return path
