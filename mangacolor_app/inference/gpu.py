"""NVIDIA GPU facts for honest device reports: the GPU's name (through the driver's NVML) and the
CUDA/cuDNN runtime preload of onnxruntime-gpu.

onnxruntime-gpu 1.31 is built for CUDA 13 and cuDNN 9. Their libraries come either from the system
or from the registry wheels of the ``gpu`` extra (``pip install 'mangacolor[gpu]'``: nvidia-cu13
runtime, cuBLAS, cuDNN); ``onnxruntime.preload_dlls()`` loads the latter before the first CUDA session,
so a machine with only the NVIDIA driver runs on CUDA. Nothing here needs CUDA to be present.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import sys
import threading

__all__ = ["GPU_EXTRA_HINT", "FP16_ENV", "nvidia_gpu_name", "preload_cuda_libraries"]

logger = logging.getLogger(__name__)

#: Environment variable: "0" keeps the float32 model on the GPU even when an fp16 variant exists.
FP16_ENV = "MANGACOLOR_FP16"
GPU_EXTRA_HINT = "pip install 'mangacolor[gpu]' brings the CUDA 13 and cuDNN 9 runtime libraries"

_preload_lock = threading.Lock()
_preload_result: list[str] = []


def _nvml() -> ctypes.CDLL | None:
    """The driver's NVML library, or None when no NVIDIA driver is installed."""
    names = ("nvml.dll",) if sys.platform == "win32" else ("libnvidia-ml.so.1", "libnvidia-ml.so")
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def nvidia_gpu_name(index: int = 0) -> str | None:
    """Name of NVIDIA GPU ``index`` as the driver reports it (e.g. "NVIDIA GeForce RTX 4070").

    Returns None when there is no NVIDIA driver, no such GPU, or NVML fails; never raises.
    """
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        if nvml.nvmlInit_v2() != 0:
            return None
    except AttributeError:
        return None
    try:
        handle = ctypes.c_void_p()
        if nvml.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != 0:
            return None
        name = ctypes.create_string_buffer(96)
        if nvml.nvmlDeviceGetName(handle, name, ctypes.c_uint(len(name))) != 0:
            return None
        return name.value.decode("utf-8", "replace").strip() or None
    except AttributeError:
        return None
    finally:
        with contextlib.suppress(AttributeError):
            nvml.nvmlShutdown()


def preload_cuda_libraries() -> str:
    """Run ``onnxruntime.preload_dlls()`` once (Linux/Windows, when it exists); returns its report.

    The function prints what it could not load; that text is captured, logged at INFO and
    returned ("" when nothing was printed or there is nothing to preload). Never raises.
    """
    with _preload_lock:
        if _preload_result:
            return _preload_result[0]
        text = ""
        import onnxruntime as ort  # noqa: PLC0415

        preload = getattr(ort, "preload_dlls", None)
        if preload is not None and sys.platform in ("linux", "win32"):
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                    preload()
            except (OSError, RuntimeError, ValueError) as exc:
                out.write(f"preload_dlls failed: {exc}")
            text = out.getvalue().strip()
            if text:
                logger.info("onnxruntime.preload_dlls: %s", text.replace("\n", "; "))
        _preload_result.append(text)
        return text
