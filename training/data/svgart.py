"""Training art from SVG drawings (e.g. Debian's public-domain ``openclipart-svg``): colour + own line art.

:func:`render_folder` turns a folder of ``.svg`` files into a *rendered art folder*::

    OUT/train/<id>__color.webp  the drawing on white, centred on a square canvas (RGB, 8-bit, lossless)
    OUT/train/<id>__line.webp   its own dark outlines alone (grey, 1 = paper) when they could be separated
    OUT/val/...                 the same for the held-out drawings (split by drawing, never by crop)
    OUT/meta.json               counts, what was dropped and why, the settings

Rendering uses librsvg's ``rsvg-convert`` (Debian ``librsvg2-bin``), a real SVG renderer.

Line art: the SVG is rewritten so that every dark fill or stroke (luma below ``DARK_LUMA``) keeps its grey
level and every other fill or stroke becomes white (dark: luma below ``DARK_LUMA`` and no channel
above ``DARK_MAX``), then rendered again. Light fills stay in the drawing
as white, so they still hide the outlines behind them, exactly as in the colour picture. When the
result does not look like line art (almost no ink, or ink covering much of the drawing: a silhouette),
no line file is written and training extracts lines from the colour instead (``training.data.lineart``).

Dropped: unreadable or unrenderable files, drawings with text and few shapes, embedded bitmaps, flat
icons and templates (few colours, too little colour), tiny or empty drawings, near-duplicates (a 64-bit
difference hash of the drawing within ``DUP_BITS`` bits of one kept before).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

__all__ = ["RenderSettings", "render_folder", "render_svg", "line_svg", "split_of", "list_art", "RSVG"]

RSVG = "rsvg-convert"
ART_SUFFIX = ".webp"
#: fills/strokes darker than this (Rec. 601 luma, 0..1) are ink in the line-art rendering
DARK_LUMA = 0.33
#: ... and whose brightest channel is below this (saturated reds and blues are colour, not ink)
DARK_MAX = 0.45
#: near-duplicate distance (bits of a 64-bit dHash)
DUP_BITS = 4
SVG_NS = "{http://www.w3.org/2000/svg}"
_SHAPES = {"path", "rect", "circle", "ellipse", "polygon", "polyline", "line", "text", "tspan", "use"}
_NAMED = {"black": (0, 0, 0), "white": (255, 255, 255), "red": (255, 0, 0), "green": (0, 128, 0),
          "blue": (0, 0, 255), "yellow": (255, 255, 0), "gray": (128, 128, 128), "grey": (128, 128, 128),
          "navy": (0, 0, 128), "maroon": (128, 0, 0), "purple": (128, 0, 128), "darkgray": (169, 169, 169),
          "dimgray": (105, 105, 105), "darkslategray": (47, 79, 79), "darkblue": (0, 0, 139),
          "darkgreen": (0, 100, 0), "brown": (165, 42, 42), "orange": (255, 165, 0), "silver": (192, 192, 192)}


@dataclass(frozen=True)
class RenderSettings:
    """How drawings are rendered and filtered.

    Attributes:
        side: canvas side in px of the written pictures (the drawing's long side is ``side / margin``).
        margin: canvas side / drawing long side (white paper around the drawing).
        val_frac: share of drawings held out for validation (by a hash of the file's content).
        min_color_frac: least share of the drawing's box that is coloured (not white, grey or black).
        min_colors: least number of distinct 5-bit colours with a visible area (drops flat icons).
        min_ink, max_ink: share of the drawing's box that its separated line art may cover.
        min_edge_cover: least share of the colour picture's edges that lie on the separated ink.
    """

    side: int = 384
    margin: float = 1.12
    val_frac: float = 0.06
    min_color_frac: float = 0.04
    min_colors: int = 4
    min_ink: float = 0.004
    max_ink: float = 0.30
    min_edge_cover: float = 0.6


def split_of(data: bytes, val_frac: float) -> str:
    """``"val"`` or ``"train"`` for a drawing, from a hash of its bytes (stable across machines)."""
    h = int.from_bytes(hashlib.sha256(data).digest()[:8], "big") / 2.0 ** 64
    return "val" if h < val_frac else "train"


# ------------------------------------------------------------------------------------------ styles
def _parse_color(value: str | None) -> tuple[int, int, int] | None:
    """An SVG paint as 8-bit RGB; None for none, gradients, currentColor and anything unknown."""
    if value is None:
        return None
    v = value.strip().lower()
    if v.startswith("#"):
        hexs = v[1:]
        if len(hexs) == 3:
            hexs = "".join(c * 2 for c in hexs)
        if len(hexs) == 6 and all(c in "0123456789abcdef" for c in hexs):
            return int(hexs[0:2], 16), int(hexs[2:4], 16), int(hexs[4:6], 16)
        return None
    m = re.match(r"rgb\(\s*([\d.]+)(%?)\s*,\s*([\d.]+)(%?)\s*,\s*([\d.]+)(%?)\s*\)", v)
    if m:
        vals = [float(m.group(i)) * (2.55 if m.group(i + 1) else 1.0) for i in (1, 3, 5)]
        return tuple(int(max(0, min(255, round(c)))) for c in vals)  # type: ignore[return-value]
    return _NAMED.get(v)


def _style_dict(el: ET.Element) -> dict[str, str]:
    """The element's presentation attributes overridden by its ``style`` declarations."""
    out = {k: v for k, v in el.attrib.items() if k in ("fill", "stroke", "opacity", "fill-opacity",
                                                         "stroke-opacity", "filter", "display")}
    for decl in el.attrib.get("style", "").split(";"):
        if ":" in decl:
            k, v = decl.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _luma(rgb: tuple[int, int, int]) -> float:
    return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255.0


def _ink_paint(value: str | None) -> str:
    """Line-art paint for an effective fill/stroke: its grey when dark, white otherwise, none stays none."""
    if value is None or value.strip().lower() == "none":
        return "none"
    rgb = _parse_color(value)
    if rgb is None or _luma(rgb) >= DARK_LUMA or max(rgb) / 255.0 >= DARK_MAX:
        return "#ffffff"
    g = int(round(_luma(rgb) * 255))
    return f"#{g:02x}{g:02x}{g:02x}"


def line_svg(root: ET.Element) -> ET.Element:
    """Rewrite a parsed SVG (in place, returned) into its line-art version (see the module docstring).

    Fill defaults to black and stroke to none, as in SVG; both are inherited from groups.
    """

    def walk(el: ET.Element, fill: str | None, stroke: str | None) -> None:
        st = _style_dict(el)
        fill, stroke = st.get("fill", fill), st.get("stroke", stroke)
        tag = el.tag.replace(SVG_NS, "")
        if tag in ("linearGradient", "radialGradient", "pattern", "mask", "clipPath", "marker", "symbol"):
            return
        if tag in _SHAPES or tag == "g" or tag == "svg":
            kept = [d for d in el.attrib.get("style", "").split(";")
                    if ":" in d and d.split(":", 1)[0].strip() not in ("fill", "stroke", "filter")]
            el.attrib.pop("fill", None)
            el.attrib.pop("stroke", None)
            el.attrib.pop("filter", None)
            if tag in _SHAPES:
                kept += [f"fill:{_ink_paint(fill if fill is not None else '#000000')}",
                         f"stroke:{_ink_paint(stroke)}"]
            el.attrib["style"] = ";".join(kept)
        for child in el:
            walk(child, fill, stroke)

    walk(root, None, None)
    return root


# ------------------------------------------------------------------------------------------ rendering
def _rsvg(svg: bytes, width: int, cwd: Path) -> np.ndarray | None:
    """Render SVG bytes on white at ``width`` px wide: (H, W, 3) uint8 RGB, or None if librsvg fails."""
    try:
        res = subprocess.run([RSVG, "-w", str(width), "-b", "white", "-f", "png"], input=svg,
                             capture_output=True, timeout=60, check=False, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("rsvg-convert failed: %s", exc)
        return None
    if res.returncode != 0 or not res.stdout:
        return None
    img = cv2.imdecode(np.frombuffer(res.stdout, np.uint8), cv2.IMREAD_COLOR)
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (y0, y1, x0, x1) of the non-white pixels, or None."""
    ys, xs = np.nonzero((rgb < 245).any(axis=2))
    if len(ys) == 0:
        return None
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def _on_canvas(rgb: np.ndarray, box: tuple[int, int, int, int], side: int, margin: float) -> np.ndarray:
    """The ``box`` of ``rgb`` area-resized so its long side is ``side / margin``, centred on a white square."""
    y0, y1, x0, x1 = box
    crop = rgb[y0:y1, x0:x1]
    long_side = max(crop.shape[:2])
    k = side / margin / long_side
    h, w = max(1, round(crop.shape[0] * k)), max(1, round(crop.shape[1] * k))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    crop = cv2.resize(crop, (w, h), interpolation=interp)
    out = np.full((side, side) + crop.shape[2:], 255, np.uint8)
    oy, ox = (side - h) // 2, (side - w) // 2
    out[oy:oy + h, ox:ox + w] = crop
    return out


def _dhash(rgb: np.ndarray) -> int:
    """64-bit difference hash of a picture's grey levels."""
    g = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (9, 8), interpolation=cv2.INTER_AREA)
    bits = (g[:, 1:] > g[:, :-1]).flatten()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def _colour_stats(rgb: np.ndarray) -> tuple[float, int]:
    """(share of coloured pixels, number of 5-bit colours each covering >= 0.2 % of the picture)."""
    f = rgb.astype(np.int16)
    sat = f.max(axis=2) - f.min(axis=2)
    coloured = float(np.mean(sat > 24))
    q = (f >> 3)
    packed = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    counts = np.bincount(packed.ravel(), minlength=1 << 15)
    return coloured, int(np.sum(counts >= 0.002 * packed.size))


def render_svg(path: Path, settings: RenderSettings, data: bytes | None = None
               ) -> tuple[np.ndarray, np.ndarray | None] | str:
    """Render one drawing: ``(colour (S,S,3) uint8, line (S,S) uint8 or None)``, or why it was dropped.
    ``data``: the file's bytes when already read (relative references resolve beside ``path``)."""
    try:
        data = path.read_bytes() if data is None else data
        root = ET.fromstring(data)
    except (OSError, ET.ParseError):
        return "unreadable"
    tags = [el.tag.replace(SVG_NS, "") for el in root.iter()]
    if "image" in tags:
        return "bitmap"
    shapes = sum(t in _SHAPES and t not in ("text", "tspan") for t in tags)
    if shapes < 4 or (tags.count("text") > 0 and shapes < 30):
        return "text or too few shapes"
    cwd = path.parent
    probe = _rsvg(data, 256, cwd)
    box = None if probe is None else _box(probe)
    if probe is None or box is None:
        return "unrenderable or empty"
    frac = max(box[1] - box[0], box[3] - box[2]) / max(probe.shape[:2])
    width = int(min(8192, max(64, probe.shape[1] * settings.side / settings.margin / max(frac * max(probe.shape[:2]), 1) * 1.05)))
    full = _rsvg(data, width, cwd)
    box = None if full is None else _box(full)
    if full is None or box is None or min(box[1] - box[0], box[3] - box[2]) < 24:
        return "tiny"
    color = _on_canvas(full, box, settings.side, settings.margin)
    coloured, n_colours = _colour_stats(color)
    if coloured < settings.min_color_frac or n_colours < settings.min_colors:
        return "too little colour"
    line = None
    line_bytes = ET.tostring(line_svg(root))
    lrgb = _rsvg(line_bytes, full.shape[1], cwd)
    if lrgb is not None and lrgb.shape == full.shape:
        lg = cv2.cvtColor(_on_canvas(lrgb, box, settings.side, settings.margin), cv2.COLOR_RGB2GRAY)
        cb = _box(color)
        area = (cb[1] - cb[0]) * (cb[3] - cb[2]) if cb else lg.size
        ink = float(np.sum(lg < 128)) / max(area, 1)
        if settings.min_ink <= ink <= settings.max_ink and _edge_cover(color, lg) >= settings.min_edge_cover:
            line = lg
    return color, line


def _edge_cover(color: np.ndarray, line: np.ndarray) -> float:
    """Share of the colour picture's edges (Canny) within 2 px of the line art's ink: outlines drawn
    around the colour regions give most of them; a traced photo's dark patches give few."""
    edges = cv2.Canny(cv2.cvtColor(color, cv2.COLOR_RGB2GRAY), 40, 120) > 0
    if not edges.any():
        return 0.0
    near_ink = cv2.dilate((line < 160).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return float(np.mean(near_ink[edges]))


# ------------------------------------------------------------------------------------------ folders
def _svgs(folder: Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    """Regular ``.svg`` files under ``folder`` (symbolic links skipped; none under a sub-folder named in
    ``exclude``), sorted."""
    return sorted(p for p in folder.rglob("*.svg") if p.is_file() and not p.is_symlink()
                  and not set(p.relative_to(folder).parts[:-1]) & set(exclude))


def list_art(folder: str | Path, split: str | None = None) -> list[tuple[Path, Path | None]]:
    """(colour, line or None) picture pairs of a rendered art folder (``split``: "train", "val" or both).

    Raises:
        FileNotFoundError: no ``*__color.webp`` (or .png) under the folder.
    """
    root = Path(folder)
    base = root / split if split else root
    colours = sorted(p for p in base.rglob("*__color.*") if p.suffix.lower() in (".png", ".webp"))
    if not colours:
        raise FileNotFoundError(f"{base}: no rendered drawings (*__color.webp); run `mangacolor-train render-svg`")
    out = []
    for c in colours:
        line = c.with_name(c.name.replace("__color", "__line"))
        out.append((c, line if line.is_file() else None))
    return out


def _render_job(args: tuple[Path, RenderSettings]) -> tuple[Path, bytes, tuple[np.ndarray, np.ndarray | None] | str]:
    path, settings = args
    try:
        data = path.read_bytes()
    except OSError:
        return path, b"", "unreadable"
    return path, data, render_svg(path, settings, data)


def _write(path: Path, image: np.ndarray) -> None:
    """Write a picture losslessly (WebP lossless: about 40 % smaller than PNG for flat art).

    Raises:
        OSError: the file could not be written.
    """
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_WEBP_QUALITY, 101]):
        raise OSError(f"{path}: could not be written")


def _iter_rendered(files: list[Path], settings: RenderSettings, workers: int
                   ) -> Iterator[tuple[Path, bytes, tuple[np.ndarray, np.ndarray | None] | str]]:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # the work is in rsvg-convert processes
        yield from pool.map(_render_job, [(f, settings) for f in files])


def render_folder(svg_dir: str | Path, out_dir: str | Path, *, settings: RenderSettings | None = None,
                  workers: int = 2, limit: int | None = None, exclude: tuple[str, ...] = ()) -> dict[str, object]:
    """Render every usable drawing under ``svg_dir`` into a rendered art folder (module docstring).

    Args:
        svg_dir: folder searched recursively for ``.svg`` files.
        out_dir: the art folder (created; existing pictures of the same id are overwritten).
        settings: rendering and filtering settings.
        workers: concurrent ``rsvg-convert`` processes.
        limit: stop after this many kept drawings (tests, trials).
        exclude: sub-folder names to skip (e.g. openclipart's ``computer``, ``shapes``: icons and symbols).

    Returns:
        the meta dict also written to ``out_dir/meta.json``.

    Raises:
        FileNotFoundError: ``svg_dir`` is not a folder or holds no ``.svg``; RuntimeError: no ``rsvg-convert``.
    """
    settings = settings or RenderSettings()
    src, out = Path(svg_dir), Path(out_dir)
    if shutil.which(RSVG) is None:
        raise RuntimeError(f"{RSVG} not found: install librsvg (Debian/Ubuntu: apt-get install librsvg2-bin)")
    files = _svgs(src, tuple(exclude)) if src.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{src}: no .svg files")
    dropped: dict[str, int] = {}
    kept = {"train": 0, "val": 0}
    lines, hashes, seen = 0, [], set()
    for path, data, res in _iter_rendered(files, settings, workers):
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            res = "duplicate file"
        seen.add(digest)
        if not isinstance(res, str):
            h = _dhash(res[0])
            if any(bin(h ^ o).count("1") <= DUP_BITS for o in hashes):
                res = "near-duplicate"
            else:
                hashes.append(h)
        if isinstance(res, str):
            dropped[res] = dropped.get(res, 0) + 1
            continue
        color, line = res
        split = split_of(data, settings.val_frac)
        ident = re.sub(r"[^A-Za-z0-9_-]+", "_", str(path.relative_to(src).with_suffix("")))[-80:] + "_" + digest[:8]
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / f"{ident}__color{ART_SUFFIX}", cv2.cvtColor(color, cv2.COLOR_RGB2BGR))
        if line is not None:
            _write(folder / f"{ident}__line{ART_SUFFIX}", line)
            lines += 1
        kept[split] += 1
        if limit is not None and sum(kept.values()) >= limit:
            break
    meta: dict[str, object] = {"source": str(src), "excluded": list(exclude), "svg_files": len(files), "kept": kept, "own_lines": lines,
                               "dropped": dropped, "settings": settings.__dict__}
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    log.info("rendered %s drawings (%d with their own line art) into %s; dropped %s", kept, lines, out, dropped)
    return meta

