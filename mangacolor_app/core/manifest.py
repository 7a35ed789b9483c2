"""The model contract in pure Python: what a MangaColor ONNX model expects and produces.

DEVELOPERS.md, "Model contract". :class:`ModelManifest` is the validated manifest (channel tokens from
``core.model_inputs``, ranges, output space, tiling figures); it (de)serialises to the JSON stored in a
sidecar ``<model>.json`` next to ``<model>.onnx`` (wins) or in the ONNX metadata under
:data:`MANIFEST_KEY`. Reading a manifest out of an ONNX graph needs onnxruntime and lives in
``inference.manifest.read_manifest``; this module imports nothing above ``core`` (the optional ``onnx``
package, a file-format library, is imported lazily by :func:`write_manifest_metadata` only).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mangacolor_app.core.atomic import atomic_write, atomic_write_bytes
from mangacolor_app.core.errors import ModelError
from mangacolor_app.core.model_inputs import channel_count, validate_channels

__all__ = [
    "MANIFEST_KEY",
    "MANIFEST_FORMAT",
    "OUTPUT_SPACES",
    "ModelManifest",
    "sidecar_path",
    "parse_manifest_json",
    "read_sidecar",
    "write_sidecar",
    "write_manifest_metadata",
]

logger = logging.getLogger(__name__)

MANIFEST_KEY = "mangacolor_manifest"
MANIFEST_FORMAT = 1
OUTPUT_SPACES = ("rgb", "lab")


def _is_pow2(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


@dataclass(frozen=True)
class ModelManifest:
    """Validated model manifest (immutable). Field meanings: DEVELOPERS.md, "Model contract".

    ``channels`` are input channel tokens in model order; ranges are (lo, hi) with lo < hi;
    ``size_multiple`` is a power of two; ``overlap``/``preferred_tile`` are pixels;
    ``receptive_radius`` is None when unknown; ``gflop_per_mp`` is None when unknown.
    ``unhinted_strength`` s in [0, 1] is how much of the model's own colour is kept where no hint
    and no flat reaches: s near the hinted areas, fading to s**2 far from them, nothing on a page
    without hints (1 = all of it everywhere; 0 = clean paper white; see ``planes.gate_plane``).
    """

    name: str
    channels: tuple[str, ...]
    format: int = MANIFEST_FORMAT
    version: str = "0"
    description: str = ""
    input_name: str = "input"
    output_name: str = "output"
    input_range: tuple[float, float] = (0.0, 1.0)
    output_space: str = "rgb"
    output_range: tuple[float, float] = (0.0, 1.0)
    size_multiple: int = 1
    receptive_radius: int | None = None
    overlap: int = 64
    preferred_tile: int = 512
    trained_with_hints: bool = True
    hint_blur_sigma: float = 0.05
    fp16: bool = False
    gflop_per_mp: float | None = None
    unhinted_strength: float = 1.0

    @property
    def in_channels(self) -> int:
        """Number of input planes (sum of the channel tokens' widths)."""
        return channel_count(self.channels)

    @classmethod
    def from_dict(cls, data: Any, source: str | Path | None = None) -> ModelManifest:
        """Build and validate a manifest from parsed JSON.

        Args:
            data: the JSON object (dict). Unknown keys are ignored (logged at debug level).
            source: file the data came from, named in error messages.

        Raises:
            ModelError: not an object, missing/ill-typed field, unknown channel token, bad range,
                size_multiple not a power of two, tile not a multiple of it, newer format.
        """
        if not isinstance(data, dict):
            raise ModelError("the model manifest is not a JSON object", source)
        known = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            logger.debug("%s: ignoring unknown manifest fields %s", source, extra)
        try:
            return cls._parse({k: v for k, v in data.items() if k in known})
        except ModelError as exc:
            raise ModelError(f"invalid model manifest: {exc.reason}", source) from None
        except (TypeError, ValueError) as exc:
            raise ModelError(f"invalid model manifest: {exc}", source) from None

    @classmethod
    def _parse(cls, d: dict[str, Any]) -> ModelManifest:
        """Type-check and validate fields (raises ModelError/TypeError/ValueError)."""
        fmt = _int(d.get("format", MANIFEST_FORMAT), "format")
        if fmt > MANIFEST_FORMAT:
            raise ModelError(f"manifest format {fmt} is newer than this MangaColor understands ({MANIFEST_FORMAT})")
        if fmt < 1:
            raise ModelError(f"manifest format must be >= 1, got {fmt}")
        for key in ("name", "channels"):
            if key not in d:
                raise ModelError(f"missing required field {key!r}")
        channels = d["channels"]
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise ModelError("'channels' must be a list of channel token strings")
        m = cls(
            name=_str(d["name"], "name", nonempty=True),
            channels=validate_channels(channels),
            format=fmt,
            version=_str(d.get("version", "0"), "version"),
            description=_str(d.get("description", ""), "description"),
            input_name=_str(d.get("input_name", "input"), "input_name", nonempty=True),
            output_name=_str(d.get("output_name", "output"), "output_name", nonempty=True),
            input_range=_range(d.get("input_range", [0.0, 1.0]), "input_range"),
            output_space=_str(d.get("output_space", "rgb"), "output_space").lower(),
            output_range=_range(d.get("output_range", [0.0, 1.0]), "output_range"),
            size_multiple=_int(d.get("size_multiple", 1), "size_multiple"),
            receptive_radius=None if d.get("receptive_radius") is None else _int(d["receptive_radius"], "receptive_radius"),
            overlap=_int(d.get("overlap", 64), "overlap"),
            preferred_tile=_int(d.get("preferred_tile", 512), "preferred_tile"),
            trained_with_hints=_bool(d.get("trained_with_hints", True), "trained_with_hints"),
            hint_blur_sigma=_float(d.get("hint_blur_sigma", 0.05), "hint_blur_sigma"),
            fp16=_bool(d.get("fp16", False), "fp16"),
            gflop_per_mp=None if d.get("gflop_per_mp") is None else _float(d["gflop_per_mp"], "gflop_per_mp"),
            unhinted_strength=_float(d.get("unhinted_strength", 1.0), "unhinted_strength"),
        )
        m._check_values()
        return m

    def _check_values(self) -> None:
        """Range checks across fields (raises ModelError)."""
        if self.output_space not in OUTPUT_SPACES:
            raise ModelError(f"output_space must be one of {OUTPUT_SPACES}, got {self.output_space!r}")
        if not _is_pow2(self.size_multiple) or self.size_multiple > 1024:
            raise ModelError(f"size_multiple must be a power of two (1..1024), got {self.size_multiple}")
        if self.receptive_radius is not None and self.receptive_radius < 0:
            raise ModelError(f"receptive_radius must be >= 0, got {self.receptive_radius}")
        if self.overlap < 0:
            raise ModelError(f"overlap must be >= 0, got {self.overlap}")
        if self.preferred_tile <= 0 or self.preferred_tile % self.size_multiple:
            raise ModelError(
                f"preferred_tile must be a positive multiple of size_multiple ({self.size_multiple}), "
                f"got {self.preferred_tile}"
            )
        if self.preferred_tile <= self.overlap:
            raise ModelError(f"preferred_tile ({self.preferred_tile}) must be larger than overlap ({self.overlap})")
        if not (0.0 < self.hint_blur_sigma <= 1.0):
            raise ModelError(f"hint_blur_sigma must be in (0, 1], got {self.hint_blur_sigma}")
        if not 0.0 <= self.unhinted_strength <= 1.0:
            raise ModelError(f"unhinted_strength must be in [0, 1], got {self.unhinted_strength}")
        if self.gflop_per_mp is not None and self.gflop_per_mp < 0:
            raise ModelError(f"gflop_per_mp must be >= 0, got {self.gflop_per_mp}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        for key in ("channels", "input_range", "output_range"):
            d[key] = list(d[key])
        return d

    def to_json(self, indent: int | None = 2) -> str:
        """The manifest as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def replace(self, **changes: Any) -> ModelManifest:
        """A validated copy with some fields changed (e.g. a measured ``overlap``).

        Raises:
            ModelError: the changed manifest is invalid.
        """
        return ModelManifest.from_dict({**self.to_dict(), **changes})


def _int(v: Any, key: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise ModelError(f"{key!r} must be an integer, got {v!r}")
    return int(v)


def _float(v: Any, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ModelError(f"{key!r} must be a finite number, got {v!r}")
    return float(v)


def _str(v: Any, key: str, nonempty: bool = False) -> str:
    if not isinstance(v, str) or (nonempty and not v.strip()):
        raise ModelError(f"{key!r} must be a {'non-empty ' if nonempty else ''}string, got {v!r}")
    return v


def _bool(v: Any, key: str) -> bool:
    if not isinstance(v, bool):
        raise ModelError(f"{key!r} must be true or false, got {v!r}")
    return v


def _range(v: Any, key: str) -> tuple[float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ModelError(f"{key!r} must be a [low, high] pair, got {v!r}")
    lo, hi = _float(v[0], key), _float(v[1], key)
    if not lo < hi:
        raise ModelError(f"{key!r} must have low < high, got {v!r}")
    return (lo, hi)


def sidecar_path(onnx_path: str | Path) -> Path:
    """``<stem>.json`` next to the model file."""
    p = Path(onnx_path)
    return p.with_suffix(".json")


def parse_manifest_json(text: str, source: str | Path | None = None) -> ModelManifest:
    """Parse and validate manifest JSON text (from a sidecar or the ONNX metadata).

    Raises:
        ModelError: not valid JSON, or an invalid manifest (names ``source``).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"the model manifest is not valid JSON ({exc.msg} at line {exc.lineno})", source) from None
    return ModelManifest.from_dict(data, source)


def read_sidecar(onnx_path: str | Path) -> ModelManifest | None:
    """The manifest in the sidecar ``<stem>.json`` of ``onnx_path``, or None when there is no sidecar.

    Raises:
        ModelError: the sidecar cannot be read or holds an invalid manifest (names the sidecar).
    """
    side = sidecar_path(onnx_path)
    if not side.is_file():
        return None
    try:
        text = side.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read the model manifest ({exc})", side) from None
    return parse_manifest_json(text, side)


def write_sidecar(onnx_path: str | Path, manifest: ModelManifest) -> Path:
    """Atomically write ``manifest`` as the sidecar ``<stem>.json`` of ``onnx_path``.

    Raises:
        ImageSaveError: the folder is not writable.
    """
    return atomic_write_bytes(sidecar_path(onnx_path), (manifest.to_json() + "\n").encode("utf-8"))


def write_manifest_metadata(onnx_path: str | Path, manifest: ModelManifest, out_path: str | Path | None = None,
                            *, check: bool = False) -> Path:
    """Embed ``manifest`` in an ONNX file's metadata (key ``mangacolor_manifest``), atomically.

    Needs the ``onnx`` package (training/dev extra), imported lazily.

    Args:
        onnx_path: model to read.
        manifest: manifest to embed (replaces an existing one).
        out_path: where to write (default: overwrite ``onnx_path``).
        check: run ``onnx.checker.check_model`` on the result before writing it.

    Raises:
        ModelError: ``onnx`` is not installed, the file is not a loadable ONNX model, or (with
            ``check``) the written model fails ``onnx.checker``.
        ImageSaveError: the destination cannot be written.
    """
    try:
        import onnx
    except ImportError as exc:
        raise ModelError("writing model metadata needs the 'onnx' package (pip install onnx)") from exc
    src = Path(onnx_path)
    try:
        model = onnx.load(str(src))
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot load the ONNX model ({exc})", src) from exc
    except Exception as exc:  # protobuf DecodeError has no stable import path across versions
        raise ModelError(f"not a valid ONNX model ({type(exc).__name__})", src) from exc
    kept = [p for p in model.metadata_props if p.key != MANIFEST_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = MANIFEST_KEY, manifest.to_json(indent=None)
    if check:
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            raise ModelError(f"the ONNX model does not pass onnx.checker ({exc})", src) from exc
    dst = Path(out_path) if out_path is not None else src
    with atomic_write(dst) as tmp:
        onnx.save(model, str(tmp))
    return dst

