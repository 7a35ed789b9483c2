"""Does onnxruntime's CUDA provider really run here? Prints ONE JSON object on stdout.

Self-contained (onnxruntime and numpy; torch only for its device facts, imported last so that its
CUDA libraries cannot stand in for missing ones). Steps: ``onnxruntime.preload_dlls()`` (the CUDA and
cuDNN runtime of the ``gpu`` extra), a session with ``[CUDA, CPU]`` on the bundled model (or
``--model``), which provider it really got, one 512x512 run compared with the CPU provider (max abs
difference) and best-of-5 times for both.

``ok`` is true only when the CUDA provider ran the model and agreed with the CPU within 1e-2.

Usage: python benchmarks/gpu_check.py [--model MODEL.onnx] [--size 512]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def _best(fn, repeats: int = 5) -> float:  # noqa: ANN001 - a callable
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _preload(ort) -> str:  # noqa: ANN001 - the onnxruntime module
    if not hasattr(ort, "preload_dlls"):
        return "onnxruntime has no preload_dlls"
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            ort.preload_dlls()
    except (OSError, RuntimeError, ValueError) as exc:
        out.write(f"failed: {exc}")
    return out.getvalue().strip() or "ok"


def _torch_facts() -> dict:
    try:
        import torch
    except ImportError:
        return {"torch": "not installed"}
    facts = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        facts["device"] = torch.cuda.get_device_name(0)
    return facts


def check(model: Path, size: int) -> dict:
    """The report (see the module docstring)."""
    import onnxruntime as ort

    sys.path.insert(0, str(ROOT))
    from mangacolor_app.inference.gpu import nvidia_gpu_name

    report: dict = {"python": platform.python_version(), "onnxruntime": ort.__version__, "model": str(model),
                    "nvidia_gpu": nvidia_gpu_name(), "preload_dlls": _preload(ort),
                    "available_providers": ort.get_available_providers(), "ok": False}
    cpu = ort.InferenceSession(str(model), providers=[CPU])
    inp = cpu.get_inputs()[0]
    x = np.random.default_rng(0).random((1, int(inp.shape[1]), size, size), dtype=np.float32)
    feed = {inp.name: x}
    y_cpu = cpu.run(None, feed)[0]
    report["cpu_s"] = _best(lambda: cpu.run(None, feed))
    if CUDA not in report["available_providers"]:
        report["cuda"] = "this onnxruntime build has no CUDAExecutionProvider (install onnxruntime-gpu)"
    else:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            gpu = ort.InferenceSession(str(model), opts, providers=[CUDA, CPU])
        except Exception as exc:  # noqa: BLE001 - any ORT failure is the finding
            report["cuda"] = f"session failed: {exc}"
        else:
            report["session_providers"] = gpu.get_providers()
            if gpu.get_providers()[0] != CUDA:
                report["cuda"] = "the CUDA provider did not start (libraries or driver missing); fell back to CPU"
            else:
                y_gpu = gpu.run(None, feed)[0]
                report["max_abs_diff_vs_cpu"] = float(np.abs(y_gpu - y_cpu).max())
                report["cuda_s"] = _best(lambda: gpu.run(None, feed))
                report["cuda"] = "runs"
                report["ok"] = report["max_abs_diff_vs_cpu"] <= 1e-2
    report.update(_torch_facts())
    report["input"] = f"1x{x.shape[1]}x{size}x{size}"
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "resources" / "models" / "mangacolor-default.onnx")
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args(argv)
    report = check(args.model, args.size)
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
