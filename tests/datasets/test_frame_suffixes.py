"""Frame folders of any accepted image type (.jpg, .jpeg, .png) through the gate's clip reader."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectgate.core.errors import DataError
from affectgate.datasets.clips import clip_cache_key, read_clip, read_clip_cached, read_clips
from affectgate.datasets.loading import IMAGE_SUFFIXES
from affectgate.datasets.media import read_frame_folder
from affectgate.datasets.selection import select_for_gate
from affectgate.datasets.synth.manifest_layout import ManifestSynthConfig, generate_manifest_set


def _random_pngs(folder: Path, names: list[str], *, side: int = 20, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        assert cv2.imwrite(str(folder / name), rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def _flat(path: Path, value: int, side: int = 8) -> None:
    assert cv2.imwrite(str(path), np.full((side, side, 3), value, np.uint8))


@pytest.mark.parametrize("size", [20, 8])  # as stored, and resized
def test_png_folder_matches_media_reader(tmp_path: Path, size: int) -> None:
    folder = tmp_path / "clip"
    _random_pngs(folder, [f"{i:05d}.png" for i in range(1, 7)])
    clip = read_clip(frame_dir=folder, frames=4, size=size)
    assert clip.shape == (4, size, size, 3) and clip.dtype == np.uint8
    assert np.array_equal(clip, read_frame_folder(path=folder, frames=4, size=size))


def test_png_frames_read_in_numeric_order(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    folder.mkdir()
    for name, value in (("1.png", 10), ("2.png", 20), ("10.png", 100)):  # by name: 1, 10, 2
        _flat(folder / name, value)
    clip = read_clip(frame_dir=folder, frames=3, size=8)
    assert [int(clip[t, 0, 0, 0]) for t in range(3)] == [10, 20, 100]
    assert np.array_equal(clip, read_frame_folder(path=folder, frames=3, size=8))


def test_mixed_suffixes_ordered_by_last_number(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    folder.mkdir()
    # PNG frames are exact; the lossy ones are flat, so decode to (nearly) their value
    for name, value in (("f_1.png", 10), ("f_2.JPEG", 60), ("f_3.jpg", 120), ("f_10.PNG", 200)):
        _flat(folder / name, value)
    (folder / "notes.txt").write_text("not a frame", encoding="utf-8")
    (folder / "f_4.bmp").write_bytes(cv2.imencode(".bmp", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    clip = read_clip(frame_dir=folder, frames=4, size=8)
    assert np.allclose([int(clip[t, 4, 4, 0]) for t in range(4)], [10, 60, 120, 200], atol=3)
    assert np.array_equal(clip, read_frame_folder(path=folder, frames=4, size=8))


def test_dfew_style_jpg_names_keep_their_order(tmp_path: Path) -> None:
    folder = tmp_path / "00001"
    folder.mkdir()
    for i, value in ((1, 0), (2, 80), (10, 250)):
        _flat(folder / f"00001_{i}.jpg", value)
    clip = read_clip(frame_dir=folder, frames=3, size=8)
    assert np.allclose([int(clip[t, 4, 4, 0]) for t in range(3)], [0, 80, 250], atol=3)


def test_folder_without_image_frames_names_the_suffixes(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    folder.mkdir()
    (folder / "frame_1.bmp").write_bytes(b"BM")
    with pytest.raises(DataError, match="empty frame folder") as err:
        read_clip(frame_dir=folder, frames=2, size=8)
    assert all(s in str(err.value) for s in IMAGE_SUFFIXES)


def test_cache_key_changes_when_a_png_frame_changes(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    _random_pngs(folder, [f"{i}.png" for i in range(1, 5)], side=16)
    cache = tmp_path / "cache"
    first = read_clip_cached(frame_dir=folder, frames=4, size=8, cache=cache)
    assert np.array_equal(first, read_clip(frame_dir=folder, frames=4, size=8))
    assert len(list(cache.glob("*.npy"))) == 1
    key = clip_cache_key(frame_dir=folder, frames=4, size=8)
    assert clip_cache_key(frame_dir=folder, frames=4, size=8) == key  # stable while nothing changes
    _flat(folder / "2.png", 0, side=16)
    os.utime(folder / "2.png", ns=(1, 1))  # a different mtime even within the clock's resolution
    changed = clip_cache_key(frame_dir=folder, frames=4, size=8)
    assert changed != key
    again = read_clip_cached(frame_dir=folder, frames=4, size=8, cache=cache)
    assert np.array_equal(again, read_clip(frame_dir=folder, frames=4, size=8)) and not np.array_equal(again, first)
    os.utime(folder / "3.png", ns=(2, 2))  # only touched: the same bytes, the same (content) key
    assert clip_cache_key(frame_dir=folder, frames=4, size=8) == changed


def test_manifest_set_of_png_frames_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "private"
    cfg = ManifestSynthConfig(seed=1, n_subjects=6, clips_per_subject=2, frames=4, image_size=32, folds=2)
    generate_manifest_set(root=root, config=cfg)
    jpgs = sorted(root.rglob("*.jpg"))
    assert len(jpgs) == 6 * 2 * 4
    for jpg in jpgs:  # the manifest names frame folders, so the frames inside may change type
        img = cv2.imread(str(jpg), cv2.IMREAD_COLOR)
        assert img is not None and cv2.imwrite(str(jpg.with_suffix(".png")), img)
        jpg.unlink()
    assert not list(root.rglob("*.jpg"))
    loaded, split = select_for_gate(fmt="manifest", root=root)
    assert len(split.samples) == len(loaded.samples) == 12
    assert all(s.frame_dir.is_dir() for s in split.samples)
    clips = read_clips(samples=split.samples, frames=4, size=32)
    assert clips.shape == (12, 4, 32, 32, 3) and clips.dtype == np.uint8
    for sample, clip in zip(split.samples, clips, strict=True):
        assert np.array_equal(clip, read_frame_folder(path=sample.frame_dir, frames=4, size=32))
    cached = read_clips(samples=split.samples, frames=4, size=32, cache=tmp_path / "cache")
    assert np.array_equal(cached, clips)
