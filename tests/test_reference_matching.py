"""Colour memory (core.regions, core.reference, core.matching) on generated characters.

The acceptance test draws one character (one palette) twice, in different poses, scales and places
(training.data.character_pair); the first drawing, hinted with one dot per part in a real .mcproj
project, is the only reference; the second gets no hint.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mangacolor_app.core import project as proj
from mangacolor_app.core.color import ciede2000, rgb_to_lab
from mangacolor_app.core.errors import ImageLoadError, MangaColorError, ProjectError
from mangacolor_app.core.matching import suggest_hints
from mangacolor_app.core.reference import ReferenceError, load_reference, reference_from_hints
from mangacolor_app.core.regions import adjacency, label_regions
from training.data.character_pair import Drawing, draw_character, random_pose, random_spec

SIZE = (512, 448)


def dot_hints(d: Drawing, palette: dict[str, tuple[int, int, int]]) -> np.ndarray:
    """An artist's hints: one small dot of the right colour deep inside every visible part."""
    hints = np.zeros((*d.labels.shape, 4), np.float32)
    for lab, name in d.parts.items():
        inside = ((d.labels == lab) & (d.line > 0.9)).astype(np.uint8)
        if inside.sum() < 4:
            continue
        dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
        y, x = np.unravel_index(int(dist.argmax()), dist.shape)
        radius = int(min(2, dist[y, x] - 1))  # the dot stays inside its part
        if radius >= 0:
            cv2.circle(hints, (int(x), int(y)), radius, (*[c / 255 for c in palette[name]], 1.0), -1)
    return hints


def pair(seed: int, sizes: tuple[tuple[int, int], tuple[int, int]] = (SIZE, SIZE)) -> tuple[dict, Drawing, Drawing]:
    rng = np.random.default_rng(seed)
    spec = random_spec(rng)
    first = draw_character(spec, random_pose(rng, sizes[0]), sizes[0], seed=2 * seed)
    second = draw_character(spec, random_pose(rng, sizes[1]), sizes[1], seed=2 * seed + 1)
    return spec.palette, first, second


def truth_rgb(d: Drawing, palette: dict) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) true flat colour and the mask of region pixels (drawn parts, not ink)."""
    truth = np.zeros((*d.labels.shape, 3), np.float32)
    for lab, name in d.parts.items():
        truth[d.labels == lab] = np.array(palette[name], np.float32) / 255
    return truth, (d.labels > 0) & (d.line > 0.5)


def predicted_rgb(sug) -> np.ndarray:
    """(H, W, 3) colour each pixel's region was given, -1 where unassigned."""
    own = sug.regions.owner
    return np.where(sug.assigned[own][..., None], sug.region_colour[own], -1.0)


def save_reference_project(path: Path, d: Drawing, palette: dict) -> Path:
    page = np.repeat(d.line[..., None], 3, axis=2)
    hints = np.round(dot_hints(d, palette) * 255).astype(np.uint8)
    return proj.save_project(path, proj.Project(page=page, hints=hints))


def _pair_pose_differs(a: Drawing, b: Drawing) -> bool:
    ya, xa = np.nonzero(a.labels)
    yb, xb = np.nonzero(b.labels)
    return abs(len(ya) / len(yb) - 1) > 0.1 or abs(xa.mean() - xb.mean()) > 10


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_generated_pair_from_project_reference(tmp_path: Path, seed: int) -> None:
    palette, first, second = pair(seed)
    assert _pair_pose_differs(first, second)
    ref = load_reference(save_reference_project(tmp_path / "ref.mcproj", first, palette))
    sug = suggest_hints(second.line, [ref])
    truth, region = truth_rgb(second, palette)
    pred = predicted_rgb(sug)
    right = np.all(np.abs(pred - truth) < 0.5 / 255, axis=-1) & region
    assert right.sum() / region.sum() >= 0.85
    ref_colours = {tuple(np.round(c * 255).astype(int)) for c in ref.colour[ref.coloured]}
    given = {tuple(np.round(c * 255).astype(int)) for c in sug.region_colour[sug.assigned]}
    assert given and given <= ref_colours  # no colour the reference does not have
    # the hint layer is what the regions say: assigned regions filled, nothing else
    hinted = sug.hints[..., 3] > 0
    assert np.array_equal(hinted, sug.assigned[sug.regions.labels])
    assert np.allclose(sug.hints[hinted][:, :3], sug.region_colour[sug.regions.labels][hinted])


@pytest.mark.parametrize("seed", [6, 7])
def test_generated_pair_from_colour_image_of_another_size(tmp_path: Path, seed: int) -> None:
    palette, first, second = pair(seed, sizes=((640, 560), SIZE))
    path = tmp_path / "ref.png"
    Image.fromarray(np.round(first.color * 255).astype(np.uint8)).save(path)
    ref = load_reference(path)
    sug = suggest_hints(second.line, [ref])
    truth, region = truth_rgb(second, palette)
    pred = predicted_rgb(sug)
    de = ciede2000(rgb_to_lab(np.clip(pred, 0, 1)), rgb_to_lab(truth))
    right = (de < 3.0) & (pred[..., 0] >= 0) & region
    assert right.sum() / region.sum() >= 0.85
    pal_lab = rgb_to_lab(np.array(list(palette.values()), np.float32)[None] / 255)[0]
    for c in sug.region_colour[sug.assigned]:
        assert ciede2000(rgb_to_lab(c[None]), pal_lab).min() < 3.0


def test_unrelated_page_is_mostly_left_for_the_artist(tmp_path: Path) -> None:
    palette, first, _ = pair(0)
    ref = reference_from_hints(first.line, dot_hints(first, palette))
    page = np.ones(SIZE, np.float32)  # a grid of long thin cells: nothing like the character
    page[:, ::24] = 0.0
    page[::9, :] = 0.0
    sug = suggest_hints(page, [ref])
    assert sug.regions.n > 100
    assert sug.assigned.sum() <= 0.25 * sug.regions.n
    assert sug.confidence.shape == SIZE and sug.confidence.dtype == np.float32


def test_accepting_some_regions_only() -> None:
    palette, first, second = pair(1)
    sug = suggest_hints(second.line, [reference_from_hints(first.line, dot_hints(first, palette))])
    ids = np.flatnonzero(sug.assigned)[:3]
    part = sug.accepted(ids)
    kept = np.unique(sug.regions.labels[part[..., 3] > 0])
    assert set(kept.tolist()) == set(ids.tolist())
    assert sug.accepted() is sug.hints


def test_regions_and_neighbours() -> None:
    line = np.ones((100, 120), np.float32)
    cv2.rectangle(line, (20, 20), (99, 79), 0.0, 2)  # a box split in two by a vertical line
    cv2.line(line, (60, 20), (60, 79), 0.0, 2)
    rmap = label_regions(line)
    assert rmap.n == 3  # outside, left, right
    pairs, lengths = adjacency(rmap)
    assert {tuple(p) for p in pairs.tolist()} == {(1, 2), (1, 3), (2, 3)}
    assert (lengths > 0).all() and rmap.owner.min() >= 1


def test_bad_references_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReferenceError, match="missing.png"):
        load_reference(tmp_path / "missing.png")
    grey = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (64, 1))).convert("RGB").save(grey)
    with pytest.raises(ReferenceError, match=r"grey\.png.*greyscale"):
        load_reference(grey)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)
    with pytest.raises(ImageLoadError, match="broken.png"):
        load_reference(broken)
    bad_proj = tmp_path / "bad.mcproj"
    bad_proj.write_bytes(b"PK not a zip")
    with pytest.raises(ProjectError, match="bad.mcproj"):
        load_reference(bad_proj)
    empty = proj.save_project(tmp_path / "nohints.mcproj", proj.Project.new(np.ones((64, 64, 3), np.float32)))
    with pytest.raises(ReferenceError, match="nohints.mcproj.*no colour hints"):
        load_reference(empty)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tiny)
    with pytest.raises(MangaColorError, match="tiny.png.*too small"):
        load_reference(tiny)


def test_several_references_vote_together(tmp_path: Path) -> None:
    """Three hinted poses of one character as references (any number of references, as DACoN)."""
    from training.data.character_pair import random_spec

    spec = random_spec(np.random.default_rng(12))
    rng = np.random.default_rng(13)
    refs = []
    for i in range(3):
        d = draw_character(spec, random_pose(rng, SIZE), SIZE, seed=i)
        refs.append(load_reference(save_reference_project(tmp_path / f"r{i}.mcproj", d, spec.palette)))
    target = draw_character(spec, random_pose(rng, SIZE), SIZE, seed=9)
    sug = suggest_hints(target.line, refs)
    truth, region = truth_rgb(target, spec.palette)
    right = np.all(np.abs(predicted_rgb(sug) - truth) < 0.5 / 255, axis=-1) & region
    assert right.sum() / region.sum() >= 0.9


def test_chapter_project_files_and_bad_manifest(tmp_path: Path) -> None:
    from mangacolor_app.core.chapter_project import ChapterProject, project_state

    folder = tmp_path / "ch"
    folder.mkdir()
    for i in (1, 2, 10):
        Image.fromarray(np.full((40, 30), 255, np.uint8)).save(folder / f"p{i}.png")
    chapter = ChapterProject.open(folder)
    assert [p.name for p in chapter.pages] == ["p1.png", "p2.png", "p10.png"]
    project, file = chapter.load_page(1)
    assert not file.exists() and project_state(project) == "untouched"
    project.hints[5:9, 5:9] = (200, 10, 10, 255)
    chapter.save_page(1, project)
    again = ChapterProject.open(folder)  # resumes the .mcchapter beside the folder
    assert [p.state for p in again.pages] == ["untouched", "hinted", "untouched"]
    assert again.references_before(2) == [again.page_file(1)] and again.references_before(1) == []
    manifest = folder.with_name("ch.mcchapter") / "chapter.json"
    text = manifest.read_text().replace('"002-p2.mcproj"', '"../../evil.mcproj"')
    manifest.write_text(text)
    with pytest.raises(ProjectError, match="chapter.json"):
        ChapterProject.open(folder)
    manifest.write_text("{ not json")
    with pytest.raises(ProjectError, match="chapter.json.*corrupt"):
        ChapterProject.open(folder)


def test_paper_kept_blank_in_the_reference_is_suggested_as_paper() -> None:
    from mangacolor_app.core.flats import page_flats
    from mangacolor_app.core.hints import PAPER_KEY_RGBA8, paper_key_mask

    palette, first, second = pair(2)
    hints = dot_hints(first, palette)
    hints[4:8, 4:8] = np.array(PAPER_KEY_RGBA8, np.float32) / 255  # the artist keeps the background blank
    ref = reference_from_hints(first.line, hints)
    assert ref.paper.sum() >= 1
    sug = suggest_hints(second.line, [ref])
    background = int(sug.regions.labels[3, 3])
    assert sug.paper[background] and sug.assigned[background]
    assert paper_key_mask(sug.hints)[3, 3] and not paper_key_mask(sug.hints)[second.labels > 0].any()
    flats = page_flats(second.line, sug.hints, None)
    assert flats[3, 3, 3] == 0.0  # paper stays blank
