"""onnxruntime sessions: execution-provider choice, honest device reports, caching, OOM detection.

onnxruntime-gpu lists ``CUDAExecutionProvider`` even on machines where CUDA cannot load, and then
silently runs on the CPU. :func:`get_session` therefore checks ``session.get_providers()`` after
creation and returns a :class:`DeviceReport` whose ``notice`` tells the user what really happened.
ORT's own stderr messages about the expected accelerator failure are captured and logged at INFO.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import onnxruntime as ort

from mangacolor_app.core.errors import ModelError
from mangacolor_app.inference.gpu import nvidia_gpu_name, preload_cuda_libraries

__all__ = [
    "Device",
    "DEVICES",
    "DeviceReport",
    "ORT_ERRORS",
    "physical_cores",
    "choose_providers",
    "available_providers",
    "get_session",
    "load_inspection_session",
    "clear_session_cache",
    "is_oom",
    "SPIN_ENV",
]

logger = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
#: Accelerators tried by device="auto", in order (TensorRT is not used: long engine builds per shape).
AUTO_ACCELERATORS: tuple[str, ...] = (CUDA, "DmlExecutionProvider", "CoreMLExecutionProvider")

_C = ort.capi.onnxruntime_pybind11_state
#: Exception types raised by onnxruntime (they derive from Exception directly, not RuntimeError).
ORT_ERRORS: tuple[type[BaseException], ...] = tuple(
    getattr(_C, n) for n in (
        "Fail", "InvalidArgument", "NoSuchFile", "NoModel", "EngineError", "RuntimeException",
        "InvalidProtobuf", "ModelLoaded", "NotImplemented", "InvalidGraph", "EPFail",
    ) if hasattr(_C, n)
) + (RuntimeError, OSError)

_OOM_PATTERNS = re.compile(
    r"failed to allocate memory|out of memory|bad_alloc|alloc_failed|cudaErrorMemoryAllocation|"
    r"BFCArena.*(allocate|extend)|E_OUTOFMEMORY|insufficient memory",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DeviceReport:
    """What was asked for and what really runs.

    Attributes:
        requested: "auto", "cpu" or "cuda".
        provider: the execution provider actually running the model (e.g. "CPUExecutionProvider").
        notice: a user-facing sentence when the request could not be honoured (else None).
        gpu_name: the NVIDIA GPU the driver reports (e.g. "NVIDIA GeForce RTX 4070"), or None.
        reason: why an accelerator is not used (ORT's condensed error), or None.
    """

    requested: str
    provider: str
    notice: str | None = None
    gpu_name: str | None = None
    reason: str | None = None

    @property
    def on_gpu(self) -> bool:
        """True when an accelerator (not the CPU provider) runs the model."""
        return self.provider != CPU

    @property
    def label(self) -> str:
        """Short device name for status bars ("CPU", "CUDA", "Dml", ...)."""
        return "CPU" if self.provider == CPU else self.provider.replace("ExecutionProvider", "")

    @property
    def display(self) -> str:
        """The editor's device line: "NVIDIA GeForce RTX 4070 (CUDA)", "CPU", or "CPU: <why not the GPU>"."""
        if self.provider == CUDA:
            return f"{self.gpu_name or 'NVIDIA GPU'} (CUDA)"
        if self.on_gpu:
            return self.label
        if self.requested == "cpu":
            return "CPU"
        if self.gpu_name is None:
            return "CPU: no usable NVIDIA GPU found"
        return f"CPU: {self.gpu_name} found, but CUDA cannot start"

    @property
    def details(self) -> str:
        """Multi-line explanation for a tooltip and the log: provider, GPU, reason, what to do."""
        lines = [f"execution provider: {self.provider} (requested: {self.requested})"]
        if self.requested != "cpu":
            lines.append(f"NVIDIA GPU: {self.gpu_name or 'none found (no NVIDIA driver or GPU)'}")
        if self.reason and not self.on_gpu:
            lines.append(f"why not CUDA: {self.reason}")
        if not self.on_gpu and self.gpu_name is not None:
            from mangacolor_app.inference.gpu import GPU_EXTRA_HINT  # noqa: PLC0415

            lines.append(GPU_EXTRA_HINT)
        return "\n".join(lines)


def physical_cores() -> int:
    """Number of physical CPU cores usable by this process (>= 1).

    Reads distinct (physical id, core id) pairs from /proc/cpuinfo on Linux, bounded by the CPU
    affinity mask; elsewhere falls back to ``os.cpu_count()``. psutil is not required.
    """
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores: set[tuple[str, str]] = set()
    with contextlib.suppress(OSError):
        phys = "0"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "physical id":
                phys = value.strip()
            elif key == "core id":
                cores.add((phys, value.strip()))
    physical = len(cores) if cores else logical
    return max(1, min(physical, logical))


def available_providers() -> list[str]:
    """The execution providers this onnxruntime build offers (e.g. ``["CUDAExecutionProvider", ...]``)."""
    return list(ort.get_available_providers())


def choose_providers(device: str, available: list[str] | None = None) -> tuple[list[str], str | None]:
    """Providers to request for ``device``, plus a notice when the request cannot be met up front.

    Args:
        device: "auto" (first available of CUDA, DirectML, CoreML, then CPU), "cpu" or "cuda".
        available: ``ort.get_available_providers()`` (default: queried).

    Returns:
        (providers in priority order, always ending with CPU; notice or None).

    Raises:
        ValueError: unknown device name.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    available = list(ort.get_available_providers() if available is None else available)
    if device == "cpu":
        return [CPU], None
    if device == "cuda":
        if CUDA in available:
            return [CUDA, CPU], None
        return [CPU], "CUDA requested but this onnxruntime build has no CUDA support; running on CPU"
    accel = [p for p in AUTO_ACCELERATORS if p in available]
    return accel[:1] + [CPU], None


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Redirect file descriptor 2 to a temp file; yields a list that receives the captured text.

    Used only while creating accelerator sessions so that ORT's expected "cannot load CUDA" spam
    does not reach the terminal. Falls back to no capture when fd 2 is unavailable.
    """
    sink: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:
        yield sink
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield sink
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            sink.append(tmp.read().decode("utf-8", "replace"))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _fallback_reason(captured: str) -> str:
    """Condense ORT's captured log text into one short reason."""
    text = _ANSI.sub("", captured)
    m = re.search(r"with error: ([^\n]+)", text) or re.search(r"(Failed to create \w+ExecutionProvider[^.\n]*)", text)
    if m:
        return m.group(1).strip()
    return "the accelerator could not be initialised (no usable GPU or driver)"


#: Environment variable: "1" lets onnxruntime's intra-op threads spin-wait between operators.
SPIN_ENV = "MANGACOLOR_ORT_SPIN"


def _session_options(threads: int | None, severity: int) -> ort.SessionOptions:
    """Session options tuned for large-tile CPU inference.

    All graph optimisations (constant folding, Conv+activation fusion, NCHWc layout), intra-op
    threads = physical cores (``threads`` overrides), one inter-op thread with sequential execution
    (a U-Net is a chain: parallel branches gain nothing), and no spin-waiting between operators
    unless ``MANGACOLOR_ORT_SPIN=1``: with tiles of megapixels each operator is long, so spinning
    gains nothing measurable and burns a core the editor's UI thread (and other programs) need;
    on a loaded machine it measured 15-20 % slower.
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads if threads else physical_cores()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = severity
    spin = "1" if os.environ.get(SPIN_ENV, "0").strip() == "1" else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    so.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return so


def _create(path: Path, providers: list[str], threads: int | None) -> tuple[ort.InferenceSession, str]:
    """Create a session; returns (session, captured ORT log text)."""
    try:
        if providers == [CPU]:
            return ort.InferenceSession(str(path), _session_options(threads, 3), providers=providers), ""
        with _captured_stderr() as captured:
            sess = ort.InferenceSession(str(path), _session_options(threads, 2), providers=providers)
        return sess, "".join(captured)
    except ORT_ERRORS as exc:
        raise ModelError(f"onnxruntime cannot load this model: {_short(exc)}", path) from exc


def _short(exc: BaseException) -> str:
    """Last, most specific part of an ORT error message, on one line."""
    msg = str(exc).replace("\n", " ").strip()
    if "Protobuf parsing failed" in msg or "INVALID_PROTOBUF" in msg:
        return "not a valid ONNX file"
    for marker in ("failed:", "] : "):
        if marker in msg:
            msg = msg.rsplit(marker, 1)[-1].strip()
    return msg[:300]


_gpu_names: list[str | None] = []


def _gpu_name() -> str | None:
    """The first NVIDIA GPU's name, asked once per process."""
    if not _gpu_names:
        _gpu_names.append(nvidia_gpu_name())
    return _gpu_names[0]


_cache: dict[tuple[str, int, int, str, int | None], tuple[ort.InferenceSession, DeviceReport]] = {}
_cache_lock = threading.Lock()


def get_session(
    model_path: str | Path, device: str = "auto", *, threads: int | None = None, cache: bool = True
) -> tuple[ort.InferenceSession, DeviceReport]:
    """A (cached) inference session for ``model_path`` on ``device`` and the honest device report.

    One session is kept per (file, size, mtime, device, threads); repeat calls return it.

    Args:
        model_path: the ``.onnx`` file.
        device: "auto", "cpu" or "cuda".
        threads: intra-op threads (default: physical cores).
        cache: keep and reuse the session (False: a fresh session the caller alone holds, e.g. for a
            temporary file being exported).

    Raises:
        ModelError: the file cannot be loaded by onnxruntime (message names the file).
        ValueError: unknown device.
    """
    path = Path(model_path).resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelError(f"cannot open the model file ({exc.strerror or exc})", path) from exc
    key = (str(path), st.st_size, st.st_mtime_ns, device, threads)
    with _cache_lock:
        hit = _cache.get(key) if cache else None
        if hit is not None:
            return hit
        providers, notice = choose_providers(device)
        reason = notice if device != "cpu" else None
        if CUDA in providers:
            preload_cuda_libraries()
        sess, captured = _create(path, providers, threads)
        actual = sess.get_providers()[0]
        if actual != providers[0]:
            reason = _fallback_reason(captured)
            logger.info("%s could not start for %s: %s", providers[0], path.name, _ANSI.sub("", captured).strip())
            what = "CUDA" if providers[0] == CUDA else providers[0].replace("ExecutionProvider", "")
            notice = f"{what} {'requested' if device == 'cuda' else 'found'} but not usable here: {reason}; running on CPU"
        gpu = _gpu_name() if device != "cpu" else None
        if device == "auto" and actual == CPU and reason is None:
            reason = "this onnxruntime build has no CUDA execution provider"
        report = DeviceReport(requested=device, provider=actual, notice=notice, gpu_name=gpu, reason=reason)
        logger.info("device: %s", report.details.replace("\n", "; "))
        if cache:
            _cache[key] = (sess, report)
        return sess, report


def load_inspection_session(model_path: str | Path) -> ort.InferenceSession:
    """A throw-away CPU session without graph optimisation, to read I/O signature and metadata.

    Raises:
        ModelError: onnxruntime cannot load the file (not ONNX, unsupported IR/opset, corrupt).
    """
    path = Path(model_path)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), so, providers=[CPU])
    except ORT_ERRORS as exc:
        raise ModelError(f"not a usable ONNX model: {_short(exc)}", path) from exc


def clear_session_cache() -> None:
    """Drop every cached session (frees their memory once callers release them)."""
    with _cache_lock:
        _cache.clear()


def is_oom(exc: BaseException) -> bool:
    """True when ``exc`` is an allocation failure (numpy MemoryError or an onnxruntime/CUDA OOM)."""
    if isinstance(exc, MemoryError):
        return True
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, MemoryError) or _OOM_PATTERNS.search(str(cur)):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def run_session(sess: Any, input_name: str, output_name: str, batch: Any) -> Any:
    """Run ``sess`` on one NCHW batch and return the named output (thin wrapper for tests/mocks)."""
    return sess.run([output_name], {input_name: batch})[0]
