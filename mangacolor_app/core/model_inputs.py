"""Assemble a colorization model's input channels from a page's line art and hint layer.

This is THE single definition of the model input: the training package and the inference pipeline
both call it, so that what a model sees at inference matches what it was trained on.

Channel tokens (see DEVELOPERS.md, "Model contract"), in the order a model's manifest lists them:

==================  =====  ==========================================================================
token               width  content (all float32 in [0, 1])
==================  =====  ==========================================================================
``line``            1      page luma, 1 = white paper, 0 = black ink
``hint_rgb``        3      hint colour where hinted (alpha > 0), else 0 (``core.hints.encode_hint_mask``)
``hint_mask``       1      1 where hinted (alpha > 0), else 0
``hint_blur_rgb``   3      normalised-convolution blurred hint colour (``core.hints.encode_hint_blur``)
``hint_blur_conf``  1      its confidence
``flats_rgb``       3      region-exact flat fill from ``core.flats.page_flats`` (premultiplied)
``flats_mask``      1      1 where a hinted region reaches
==================  =====  ==========================================================================

Page-wide encodings (blur, flats) depend on the whole page, so they are computed once per page by
:class:`ModelInputBuilder` and then cropped tile by tile; per-pixel channels (line, hint) are built
per crop so that a tiled run never holds a page-sized float32 input tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mangacolor_app.core.errors import HintError, ModelError
from mangacolor_app.core.tileplan import reflect_indices

__all__ = [
    "CHANNEL_WIDTHS",
    "PAGE_WIDE_TOKENS",
    "channel_count",
    "token_slices",
    "validate_channels",
    "build_model_input",
    "ModelInputBuilder",
    "take_window",
]

#: Number of input planes each channel token contributes.
CHANNEL_WIDTHS: dict[str, int] = {
    "line": 1,
    "hint_rgb": 3,
    "hint_mask": 1,
    "hint_blur_rgb": 3,
    "hint_blur_conf": 1,
    "flats_rgb": 3,
    "flats_mask": 1,
}

#: Tokens whose value at a pixel depends on the whole page (computed once per page).
PAGE_WIDE_TOKENS: frozenset[str] = frozenset({"hint_blur_rgb", "hint_blur_conf", "flats_rgb", "flats_mask"})

_BLUR_TOKENS = ("hint_blur_rgb", "hint_blur_conf")
#: integer image dtypes and the factor that maps them to [0, 1]
_INT_SCALE: dict[np.dtype, np.float32] = {np.dtype(np.uint8): np.float32(1.0 / 255.0),
                                          np.dtype(np.uint16): np.float32(1.0 / 65535.0)}
_FLATS_TOKENS = ("flats_rgb", "flats_mask")


def validate_channels(channels: Sequence[str]) -> tuple[str, ...]:
    """Check a channel token list and return it as a tuple.

    Raises:
        ModelError: empty list, unknown or repeated token.
    """
    tokens = tuple(channels)
    if not tokens:
        raise ModelError("the model's input channel list is empty")
    unknown = [t for t in tokens if t not in CHANNEL_WIDTHS]
    if unknown:
        raise ModelError(
            f"unknown input channel token(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(CHANNEL_WIDTHS)}"
        )
    if len(set(tokens)) != len(tokens):
        raise ModelError(f"repeated input channel token in {list(tokens)}")
    return tokens


def channel_count(channels: Sequence[str]) -> int:
    """Total number of input planes for ``channels`` (e.g. line,hint_rgb,hint_mask -> 5).

    Raises:
        ModelError: unknown or repeated token.
    """
    return sum(CHANNEL_WIDTHS[t] for t in validate_channels(channels))


def token_slices(channels: Sequence[str]) -> dict[str, slice]:
    """Plane slice of each channel token in the stacked input (e.g. line,hint_rgb ->
    ``{"line": slice(0, 1), "hint_rgb": slice(1, 4)}``).

    Raises:
        ModelError: empty list, unknown or repeated token.
    """
    out: dict[str, slice] = {}
    start = 0
    for tok in validate_channels(channels):
        out[tok] = slice(start, start + CHANNEL_WIDTHS[tok])
        start += CHANNEL_WIDTHS[tok]
    return out


def _as_float01(a: np.ndarray) -> np.ndarray:
    """uint8 -> float32 /255; uint16 -> /65535; anything else -> float32 (no copy if already)."""
    scale = _INT_SCALE.get(a.dtype)
    if scale is not None:
        return a.astype(np.float32) * scale
    return np.asarray(a, dtype=np.float32)


class ModelInputBuilder:
    """Page-level model-input assembler whose :meth:`crop` yields any window of the input tensor.

    Args:
        line_gray: (H, W) page luma, float32 in [0, 1] (uint8/uint16 accepted and scaled; kept as
            given so a uint8 page stays small).
        hints: (H, W, 4) RGBA hint layer (alpha = hinted): uint8 or uint16 (kept as given and
            converted window by window: a page-sized layer stays 4 or 8 bytes a pixel) or float32 in
            [0, 1]; None for no hints. Must already have the page's size (``core.hints.fit_hints``).
        channels: channel tokens in model order (see module docstring).
        flats: optional precomputed (H, W, 4) flats layer; computed with ``core.flats`` when a flats
            token is requested and this is None (and hints are given).
        blur_sigma: blur sigma as a fraction of the page's short side (``hint_blur_sigma``).
        compact: store page-wide encodings as float16 (halves memory for huge pages; error < 5e-4).

    Raises:
        ModelError: bad channel tokens.
        HintError: hints or flats whose shape does not match the page.
    """

    def __init__(
        self,
        line_gray: np.ndarray,
        hints: np.ndarray | None,
        channels: Sequence[str],
        *,
        flats: np.ndarray | None = None,
        blur_sigma: float = 0.05,
        compact: bool = False,
    ) -> None:
        self.channels = validate_channels(channels)
        self.blur_sigma = blur_sigma
        self.n_channels = channel_count(self.channels)
        if line_gray.ndim != 2:
            raise ValueError(f"line_gray must be (H, W), got shape {line_gray.shape}")
        self.line = line_gray
        self.shape: tuple[int, int] = (int(line_gray.shape[0]), int(line_gray.shape[1]))
        self.hints = self._check_layer(hints, "hint layer")
        store = np.float16 if compact else np.float32
        self._blur: np.ndarray | None = None
        self._flats: np.ndarray | None = None
        wanted = set(self.channels)
        if self.hints is not None and wanted & set(_BLUR_TOKENS):
            from mangacolor_app.core.hints import encode_hint_blur

            self._blur = np.asarray(encode_hint_blur(_as_float01(self.hints), sigma_frac=blur_sigma), dtype=store)
        if wanted & set(_FLATS_TOKENS):
            flats = self._check_layer(flats, "flats layer")
            if flats is None and self.hints is not None:
                from mangacolor_app.core.flats import page_flats

                flats = page_flats(self.line, self.hints, None, out_dtype=np.uint8)  # the app's fill
            if flats is not None:  # integer flats stay as they are (4 B/px); windows are converted
                self._flats = flats if flats.dtype in _INT_SCALE else np.asarray(flats, dtype=store)

    @property
    def flats(self) -> np.ndarray | None:
        """The page's (H, W, 4) flats layer when one was given or computed for a flats token, else None."""
        return self._flats

    def _check_layer(self, layer: np.ndarray | None, what: str) -> np.ndarray | None:
        """Validate an (H, W, 4) page layer against the page shape; None passes through."""
        if layer is None:
            return None
        if layer.ndim != 3 or layer.shape[2] != 4 or tuple(layer.shape[:2]) != self.shape:
            raise HintError(
                f"the {what} has shape {tuple(layer.shape)}, expected ({self.shape[0]}, {self.shape[1]}, 4)"
            )
        return layer

    def crop(self, y0: int = 0, y1: int | None = None, x0: int = 0, x1: int | None = None) -> np.ndarray:
        """The model input for the window ``[y0:y1, x0:x1]`` (inside the page) as (h, w, C) float32.

        Values equal the same window of the full-page input exactly (page-wide encodings are cropped,
        per-pixel ones computed on the crop).
        """
        y1 = self.shape[0] if y1 is None else y1
        x1 = self.shape[1] if x1 is None else x1
        return self.read_planes(*_window(self.shape, y0, x0, y1 - y0, x1 - x0)).transpose(1, 2, 0)

    def read_region(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """(h, w, C) float32 window of the input of the page extended by reflection (``np.pad``
        "reflect" semantics) beyond its bottom/right borders: a region reader for ``core.tiling``.

        The result is a channel-last VIEW of a C-contiguous (C, h, w) array, so that a model taking
        NCHW input gets it without a copy (``region.transpose(2, 0, 1)`` is contiguous).
        """
        return self.read_planes(*_window(self.shape, y0, x0, h, w)).transpose(1, 2, 0)

    def window(self, y0: int, x0: int, h: int, w: int) -> tuple[slice | np.ndarray, slice | np.ndarray]:
        """Rows and columns of an (h, w) window at (y0, x0) of the reflect-extended page, for
        :meth:`read_planes`: slices inside the page, reflect index arrays beyond its borders."""
        return _window(self.shape, y0, x0, h, w)

    def read_planes(self, ys: slice | np.ndarray, xs: slice | np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Write the input planes for rows ``ys`` and columns ``xs`` (slices or index arrays).

        Args:
            ys, xs: the window (see :func:`_window`).
            out: optional float32 (>= C, h, w) buffer whose first C planes are written (the caller
                may keep further planes of its own there); allocated when None.

        Returns:
            ``out`` (or the new (C, h, w) float32 array).
        """
        h = _length(ys, self.shape[0])
        w = _length(xs, self.shape[1])
        if out is None:
            out = np.empty((self.n_channels, h, w), dtype=np.float32)
        enc = None
        if self.hints is not None and {"hint_rgb", "hint_mask"} & set(self.channels):
            from mangacolor_app.core.hints import encode_hint_mask

            enc = encode_hint_mask(_as_float01(take_window(self.hints, ys, xs)))
        wanted = set(self.channels)  # page-wide layers: one gather per window (a copy on border tiles)
        blur = take_window(self._blur, ys, xs) if self._blur is not None and wanted & set(_BLUR_TOKENS) else None
        flats = None
        if self._flats is not None and wanted & set(_FLATS_TOKENS):
            flats = _as_float01(take_window(self._flats, ys, xs))
        c = 0
        for token in self.channels:
            width = CHANNEL_WIDTHS[token]
            self._write_token(token, out[c : c + width], ys, xs, enc, blur, flats)
            c += width
        return out

    def _write_token(self, token: str, dst: np.ndarray, ys: slice | np.ndarray, xs: slice | np.ndarray,
                     enc: np.ndarray | None, blur: np.ndarray | None, flats: np.ndarray | None) -> None:
        """Fill the (width, h, w) planes ``dst`` of one channel token (zeros when it has no data);
        ``enc``, ``blur`` and ``flats`` are the window's hint encoding and page-wide layers."""
        if token == "line":
            src = take_window(self.line, ys, xs)
            scale = _INT_SCALE.get(src.dtype)
            if scale is None:
                dst[0] = src
            else:
                np.multiply(src, scale, out=dst[0], casting="unsafe")
        elif token in ("hint_rgb", "hint_mask") and enc is not None:
            sel = enc[:, :, :3] if token == "hint_rgb" else enc[:, :, 3:4]
            dst[...] = sel.transpose(2, 0, 1)
        elif token in _BLUR_TOKENS and blur is not None:
            sel = blur[:, :, :3] if token == "hint_blur_rgb" else blur[:, :, 3:4]
            dst[...] = sel.transpose(2, 0, 1)
        elif token in _FLATS_TOKENS and flats is not None:
            if token == "flats_mask":
                dst[0] = flats[:, :, 3]
            else:
                np.multiply(flats[:, :, :3].transpose(2, 0, 1), flats[None, :, :, 3], out=dst, casting="unsafe")
        else:
            dst[...] = 0.0


def _window(shape: tuple[int, int], y0: int, x0: int, h: int, w: int) -> tuple[slice | np.ndarray, slice | np.ndarray]:
    """Rows and columns of an (h, w) window at (y0, x0): slices inside the page, reflect indices beyond."""
    ph, pw = shape
    if y0 >= 0 and x0 >= 0 and y0 + h <= ph and x0 + w <= pw:
        return slice(y0, y0 + h), slice(x0, x0 + w)
    return reflect_indices(ph, y0, h), reflect_indices(pw, x0, w)


def _length(idx: slice | np.ndarray, size: int) -> int:
    """Number of positions a slice (within ``size``) or an index array selects."""
    return len(range(*idx.indices(size))) if isinstance(idx, slice) else len(idx)


def take_window(arr: np.ndarray, ys: slice | np.ndarray, xs: slice | np.ndarray) -> np.ndarray:
    """``arr[ys, xs]`` for slices (a view), or the outer-product gather for index arrays (a copy):
    a page-sized array's window as :meth:`ModelInputBuilder.window` describes it."""
    if isinstance(ys, slice) and isinstance(xs, slice):
        return arr[ys, xs]
    iy = np.arange(arr.shape[0])[ys] if isinstance(ys, slice) else ys
    ix = np.arange(arr.shape[1])[xs] if isinstance(xs, slice) else xs
    return arr[np.ix_(iy, ix)]


def build_model_input(
    line_gray: np.ndarray,
    hints: np.ndarray | None,
    channels: Sequence[str],
    *,
    flats: np.ndarray | None = None,
    blur_sigma: float = 0.05,
) -> np.ndarray:
    """Build the whole-page model input (HWC, not yet scaled to the model's ``input_range``).

    Args:
        line_gray: (H, W) float32 luma in [0, 1] (1 = paper).
        hints: (H, W, 4) float32 RGBA hints in [0, 1], already fitted to the page, or None.
        channels: channel tokens in model order.
        flats: optional precomputed (H, W, 4) flats layer (computed via ``core.flats`` when needed).
        blur_sigma: ``hint_blur_sigma`` (fraction of the short side).

    Returns:
        (H, W, C) float32 in [0, 1], C = ``channel_count(channels)``.

    Raises:
        ModelError: unknown/repeated channel tokens.
        HintError: hints/flats of the wrong shape.
    """
    builder = ModelInputBuilder(line_gray, hints, channels, flats=flats, blur_sigma=blur_sigma)
    h, w = builder.shape
    out = np.empty((h, w, builder.n_channels), dtype=np.float32)  # written in place: contiguous HWC
    builder.read_planes(slice(0, h), slice(0, w), out=out.transpose(2, 0, 1))
    return out
