"""The ``gpu`` section of ``benchmarks/tiling.py --device cuda``: one A4 page at 300 dpi with hints.

Times, in seconds per page (best of ``repeats`` after a warm-up):

* ``cpu``: the app's own path (``Colorizer``, onnxruntime CPU provider) on the page with two hint strokes;
* ``ort_cuda_fp32`` / ``ort_cuda_fp16``: the same on onnxruntime's CUDA provider, with the float32 model
  and its fp16 variant (float32 I/O, half compute: what ``mangacolor-train export --fp16`` writes),
  only where this onnxruntime has the CUDA provider (``onnxruntime-gpu``), else ``ort_cuda`` says why;
* ``torch_cuda_model_only``: the same generator in torch on the GPU, fp32 and fp16, the whole page in
  one call, model compute only (no hint preparation, no tiling): the GPU's floor for this architecture
  where onnxruntime-gpu is not installed.

``target_s_per_page`` is the goal of issue #16 (0.3 s per A4 page).
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mangacolor_app.core.errors import ModelError
from mangacolor_app.inference.manifest import ModelManifest, read_manifest, write_manifest_metadata, write_sidecar
from mangacolor_app.inference.pipeline import Colorizer

A4_300DPI = (3508, 2480)  # (H, W)
TARGET_S_PER_PAGE = 0.3
CUDA = "CUDAExecutionProvider"

from gpu_check import _best  # noqa: E402 - the self-contained check's best-of-N timer, one copy

logger = logging.getLogger("benchmarks.gpu")


def ort_page(model: Path, device: str, line: np.ndarray, hints: np.ndarray, repeats: int) -> dict:
    """Seconds per page through the app's Colorizer on ``device``, with what really ran."""
    col = Colorizer(model, device=device)
    seconds = _best(lambda: col.colorize(line, hints, out_dtype=np.uint8), repeats)
    return {"s_per_page": seconds, "provider": col.device_report.provider, "device": col.device_report.display,
            "tile": col.tile, "batch_size": col.batch_size}


def export_fp16(net: Any, model: Path, in_ch: int, multiple: int) -> Path:
    """The fp16 variant of the benchmark model (float32 I/O, half compute) next to ``model``."""
    import torch

    class Half(torch.nn.Module):
        def __init__(self, g: torch.nn.Module) -> None:
            super().__init__()
            self.g = copy.deepcopy(g).half()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.g(x.half()).float()

    out = model.with_name(model.stem + "-half.onnx")  # not the "-fp16" sibling the app would swap in itself
    axes = {0: "N", 2: "H", 3: "W"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Half(net).eval(), (torch.rand(1, in_ch, 4 * multiple, 6 * multiple),), str(out),
                          input_names=["input"], output_names=["output"], opset_version=17, dynamo=False,
                          dynamic_axes={"input": axes, "output": axes})
    store_manifest(out, read_manifest(model).replace(name="bench-unet-fp16", fp16=True))
    return out


def store_manifest(path: Path, manifest: ModelManifest) -> None:
    """Embed the manifest, or write it as the sidecar JSON where the ``onnx`` package is missing."""
    try:
        write_manifest_metadata(path, manifest)
    except ModelError as exc:
        logger.info("manifest as a sidecar for %s: %s", path.name, exc)
        write_sidecar(path, manifest)


def torch_cuda_model_only(net: Any, in_ch: int, multiple: int, repeats: int) -> dict:
    """fp32 and fp16 seconds for the generator on the whole A4 page in torch on the GPU."""
    import torch

    h, w = (-(-s // multiple) * multiple for s in A4_300DPI)
    x = torch.rand(1, in_ch, h, w, device="cuda")
    fp32 = copy.deepcopy(net).cuda().eval()
    fp16 = copy.deepcopy(net).cuda().eval().half()

    def run(model: Any, inp: torch.Tensor) -> Callable[[], Any]:
        def call() -> Any:
            with torch.inference_mode():
                y = model(inp)
            torch.cuda.synchronize()
            return y
        return call

    t32 = _best(run(fp32, x), repeats)
    t16 = _best(run(fp16, x.half()), repeats)
    with torch.inference_mode():
        diff = float((fp32(x) - fp16(x.half()).float()).abs().max())
    return {"gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda, "input": f"1x{in_ch}x{h}x{w}",
            "fp32_s_per_page": t32, "fp16_s_per_page": t16, "fp16_max_abs_diff": diff}


def gpu_section(model: Path, net: Any, in_ch: int, line: np.ndarray, hints: np.ndarray, repeats: int = 3) -> dict:
    """The ``gpu`` JSON section (see the module docstring). ``net`` may be None (a given ``--model``)."""
    import onnxruntime as ort

    from mangacolor_app.inference.gpu import nvidia_gpu_name, preload_cuda_libraries

    preload = preload_cuda_libraries()
    providers = ort.get_available_providers()
    manifest = read_manifest(model)
    result: dict[str, Any] = {
        "page": f"A4 300 dpi {A4_300DPI[1]}x{A4_300DPI[0]}, two hint strokes", "target_s_per_page": TARGET_S_PER_PAGE,
        "nvidia_gpu": nvidia_gpu_name(), "onnxruntime": ort.__version__, "ort_providers": providers,
        "cuda_preload": preload or "ok",
    }
    result["cpu"] = ort_page(model, "cpu", line, hints, max(1, repeats - 2))
    report = Colorizer(model, device="cuda").device_report if CUDA in providers else None
    if report is not None and report.provider == CUDA:
        result["ort_cuda_fp32"] = ort_page(model, "cuda", line, hints, repeats)
        if net is not None:
            variant = export_fp16(net, model, in_ch, manifest.size_multiple)
            result["ort_cuda_fp16"] = ort_page(variant, "cuda", line, hints, repeats)
    elif report is not None:
        result["ort_cuda"] = f"unavailable: {report.display}; {report.details}".replace("\n", "; ")
    else:
        result["ort_cuda"] = "unavailable: this onnxruntime has no CUDAExecutionProvider (onnxruntime-gpu not installed)"
    try:
        import torch

        if net is not None and torch.cuda.is_available():
            result["torch_cuda_model_only"] = torch_cuda_model_only(net, in_ch, manifest.size_multiple, repeats)
        elif net is not None:
            result["torch_cuda_model_only"] = "unavailable: torch sees no CUDA device"
    except ImportError:
        result["torch_cuda_model_only"] = "unavailable: torch is not installed"
    return result
