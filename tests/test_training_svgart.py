"""Training art from SVG drawings: rendering with librsvg, own line art, filters, splits, pairs, training.

The SVGs are written by the tests themselves (no openclipart needed); rendering needs ``rsvg-convert``
(Debian ``librsvg2-bin``, installed by ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch

from training.data.artset import ArtPairDataset, read_art
from training.data.svgart import RenderSettings, line_svg, list_art, render_folder, split_of

if shutil.which("rsvg-convert") is None and os.environ.get("MANGACOLOR_REQUIRE_RSVG"):
    raise RuntimeError("rsvg-convert (Debian librsvg2-bin) is required here (MANGACOLOR_REQUIRE_RSVG is set)")
pytestmark = pytest.mark.skipif(shutil.which("rsvg-convert") is None,
                                reason="rsvg-convert (librsvg2-bin) is not installed")
torch.set_num_threads(2)


def _figure_svg(seed: int, *, outlined: bool = True, text_only: bool = False) -> str:
    """A little cartoon figure: coloured head, hair, body and arms outlined in black (or not)."""
    rng = np.random.default_rng(seed)
    stroke = 'stroke="#111111" stroke-width="3"' if outlined else 'stroke="none"'
    cols = ["#f4c8a8", "#6a3a2a", "#3a6ad0", "#d04040", "#40a060", "#e0c040"]
    rng.shuffle(cols)
    dx, dy = rng.uniform(-10, 10, 2)
    hw, hh, bw, bh, al = rng.uniform(18, 40), rng.uniform(18, 40), rng.uniform(30, 80), rng.uniform(40, 90), rng.uniform(20, 80)
    shapes = [
        f'<ellipse cx="{100 + dx}" cy="{50 + dy}" rx="{hw}" ry="{hh}" fill="{cols[0]}" {stroke}/>',
        f'<rect x="{100 - bw / 2}" y="{95 + dy}" width="{bw}" height="{bh}" fill="{cols[2]}" {stroke}/>',
        f'<rect x="{100 - bw / 2 - 24}" y="{100 + dy}" width="22" height="{al}" fill="{cols[3]}" {stroke}/>',
        f'<polygon points="{rng.uniform(0, 60)},{rng.uniform(150, 200)} {rng.uniform(20, 80)},{rng.uniform(100, 140)} '
        f'{rng.uniform(40, 90)},{rng.uniform(160, 210)}" fill="{cols[5]}" {stroke}/>',
    ]
    shapes += [
        f'<ellipse cx="{100 + dx}" cy="{60 + dy}" rx="30" ry="34" fill="{cols[0]}" {stroke}/>',
        f'<path d="M{70 + dx},{55 + dy} Q{100 + dx},{10 + dy} {130 + dx},{55 + dy} Z" fill="{cols[1]}" {stroke}/>',
        f'<rect x="{70 + dx}" y="{95 + dy}" width="60" height="70" rx="8" fill="{cols[2]}" {stroke}/>',
        f'<rect x="{45 + dx}" y="{100 + dy}" width="22" height="55" fill="{cols[3]}" {stroke}/>',
        f'<rect x="{133 + dx}" y="{100 + dy}" width="22" height="55" fill="{cols[3]}" {stroke}/>',
        f'<rect x="{75 + dx}" y="{165 + dy}" width="20" height="30" fill="{cols[4]}" {stroke}/>',
        f'<rect x="{105 + dx}" y="{165 + dy}" width="20" height="30" fill="{cols[4]}" {stroke}/>',
        f'<circle cx="{88 + dx}" cy="{60 + dy}" r="4" fill="#000000"/>',
        f'<circle cx="{112 + dx}" cy="{60 + dy}" r="4" fill="#000000"/>',
        f'<g style="fill:{cols[5]}"><circle cx="{100 + dx}" cy="{130 + dy}" r="9" {stroke}/></g>',
    ]
    if text_only:
        shapes = ['<text x="10" y="50" font-size="30">Hello</text>', '<rect x="1" y="1" width="5" height="5"/>']
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="210" viewBox="0 0 200 210">'
            + "".join(shapes) + "</svg>")


@pytest.fixture(scope="module")
def svg_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("svgs")
    (root / "people").mkdir()
    (root / "icons").mkdir()
    for i in range(14):
        (root / "people" / f"figure_{i}.svg").write_text(_figure_svg(i))
    (root / "people" / "copy_of_0.svg").write_text(_figure_svg(0))  # same file content: dropped
    (root / "people" / "no_outline.svg").write_text(_figure_svg(99, outlined=False))
    (root / "people" / "text.svg").write_text(_figure_svg(5, text_only=True))
    (root / "people" / "broken.svg").write_text("<svg><path d=")
    (root / "icons" / "icon.svg").write_text(_figure_svg(3))
    return root


@pytest.fixture(scope="module")
def art_dir(svg_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("art")
    render_folder(svg_dir, out, settings=RenderSettings(side=128, val_frac=0.25), workers=2, exclude=("icons",))
    return out


def test_line_svg_keeps_dark_paint_and_whitens_colour() -> None:
    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><g fill="#f4c8a8" stroke="#111111">'
           '<rect width="5" height="5"/><circle r="3" style="fill:#3a6ad0"/><circle r="2" fill="#301010"/></g>'
           '<path d="M0,0 L1,1" style="stroke:rgb(250,0,0)"/><ellipse rx="2" ry="1" fill="url(#g)"/></svg>')
    styles = [el.attrib.get("style", "") for el in line_svg(ET.fromstring(svg)).iter()
              if el.tag.split("}")[-1] in ("rect", "circle", "path", "ellipse")]
    assert styles[0] == "fill:#ffffff;stroke:#111111"  # light fill -> white (still hides what is behind)
    assert styles[1] == "fill:#ffffff;stroke:#111111"  # mid-blue fill -> white
    assert styles[2] == "fill:#1a1a1a;stroke:#111111"  # dark fill -> its grey: ink
    assert styles[3] == "fill:#000000;stroke:#ffffff"  # default black fill, red stroke -> white
    assert styles[4] == "fill:#ffffff;stroke:none"  # gradient fill -> white


def test_render_folder_filters_splits_and_separates_lines(art_dir: Path) -> None:
    meta = json.loads((art_dir / "meta.json").read_text())
    assert meta["svg_files"] == 18  # the excluded folder's file is not even looked at
    assert meta["dropped"].get("unreadable") == 1
    assert meta["dropped"].get("text or too few shapes") == 1
    assert meta["dropped"].get("duplicate file") == 1
    kept = meta["kept"]["train"] + meta["kept"]["val"]
    assert kept >= 10 and meta["kept"]["val"] >= 1
    pairs = list_art(art_dir)
    assert len(pairs) == kept
    with_lines = [(c, ln) for c, ln in pairs if ln is not None]
    assert len(with_lines) >= kept - 2  # the outlined figures have their own line art
    color, line = read_art(*with_lines[0])
    assert color.shape == (128, 128, 3) and line is not None and line.shape == (128, 128)
    ink = line < 0.5
    assert 0.01 < ink.mean() < 0.3
    # the line art is the outline: ink where the colour picture is dark, paper inside the coloured shapes
    sat = color.max(axis=2) - color.min(axis=2)
    assert (line[sat > 0.3] > 0.8).mean() > 0.8
    no_outline = [c for c, ln in pairs if "no_outline" in c.name]
    assert no_outline and all(ln is None for c, ln in pairs if "no_outline" in c.name)


def test_split_is_by_drawing_and_stable() -> None:
    assert split_of(b"abc", 0.5) == split_of(b"abc", 0.5)
    splits = {split_of(bytes([i]), 0.25) for i in range(64)}
    assert splits == {"train", "val"}


def test_art_pairs_are_deterministic_and_mix_procedural(art_dir: Path) -> None:
    ds = ArtPairDataset(art_dir, "train", size=64, seed=1, length=12, procedural_frac=0.5)
    a, b = ds.sample(3), ds.sample(3)
    assert a["input"].shape == (9, 64, 64) and a["target"].shape == (3, 64, 64)
    np.testing.assert_array_equal(a["input"], b["input"])
    with pytest.raises(FileNotFoundError):
        ArtPairDataset(art_dir / "nothing", "train")


def test_training_on_svg_pairs_lowers_the_loss(art_dir: Path, tmp_path: Path) -> None:
    from training.config import load_config
    from training.datasets import build_datasets
    from training.trainer import Trainer

    cfg = load_config("tiny")
    cfg.data.art_dir, cfg.data.size, cfg.data.val_count = str(art_dir), 64, 4
    cfg.data.procedural_frac, cfg.data.train_length = 0.0, 64
    cfg.discriminator.enabled, cfg.data.hflip = False, False
    cfg.train.steps, cfg.train.val_every, cfg.train.ckpt_every = 30, 30, 100
    train, val = build_datasets(cfg)
    fixed = torch.utils.data.Subset(train, range(cfg.data.batch_size))
    tr = Trainer(cfg, tmp_path, datasets=(fixed, val))
    batch = next(iter(torch.utils.data.DataLoader(fixed, batch_size=cfg.data.batch_size)))

    def loss() -> float:
        with torch.no_grad():
            d = tr.g.compose_ink(batch["input"], tr.g(batch["input"])) - batch["target"]
            return float(d.abs().mean() + d.pow(2).mean())

    before = loss()
    tr.fit()
    assert loss() < before * 0.98
    assert (tmp_path / "checkpoints" / "best.safetensors").is_file()
