"""DFEW loader: the real on-disk format (hand-written fixtures), the synthetic set, every bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectgate.core.errors import DataError
from affectgate.datasets.clips import read_clip, read_clips
from affectgate.datasets.dfew import DFEWSample, is_synthetic, load_dfew_split, load_metadata
from affectgate.datasets.labels import DFEW_LABELS
from affectgate.datasets.synth import SynthConfig, generate_dfew

SYNTH = SynthConfig(seed=1, n_subjects=9, clips_per_subject=7, frames=4, image_size=40, folds=3)


def _frame(path: Path, value: int, size: int = 24) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size, size, 3), value, np.uint8))


def _real(
    root: Path,
    *,
    csv_text: str = "video_name,label\n1,1\n2,5\n",
    spelling: str = "test(single-labeled)",
    frames_folder: str = "clip_224x224",
    clips: tuple[str, ...] = ("00001", "00002"),
    n_frames: int = 3,
) -> Path:
    """A tiny dataset in the exact DFEW layout, written the way the real archive is laid out."""
    split = root / "EmoLabel_DataSplit" / spelling
    split.mkdir(parents=True)
    (split / "set_1.csv").write_text(csv_text, encoding="utf-8")
    for clip in clips:
        for n in range(1, n_frames + 1):
            _frame(root / "Clip" / frames_folder / clip / f"{clip}_{n}.jpg", 20 * n)
    return split / "set_1.csv"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dfew") / "synth"
    generate_dfew(root=root, config=SYNTH)
    return root


def test_reads_generated_set_with_canonical_labels_and_shapes(synth: Path) -> None:
    """The synthetic set loads with labels mapped 1..7 -> canonical names and clips of the requested shape."""
    for k in range(1, SYNTH.folds + 1):
        split = load_dfew_split(root=synth, fold=k, split="test")
        with (synth / "EmoLabel_DataSplit" / "test(single-labeled)" / f"set_{k}.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [s.video_name for s in split.samples] == [r["video_name"] for r in rows]
        assert [s.label for s in split.samples] == [DFEW_LABELS[int(r["label"])] for r in rows]
    clips = read_clips(samples=split.samples[:5], frames=3, size=32, workers=2)
    assert clips.shape == (5, 3, 32, 32, 3) and clips.dtype == np.uint8
    train = load_dfew_split(root=synth, fold=1, split="train")
    assert {s.video_name for s in train.samples}.isdisjoint(
        {s.video_name for s in load_dfew_split(root=synth, fold=1, split="test").samples}
    )


def test_read_clip_is_rgb_at_native_size(synth: Path) -> None:
    """read_clip returns RGB (OpenCV's BGR reversed) and the exact pixels when no resize is needed."""
    sample = load_dfew_split(root=synth, fold=1, split="test").samples[0]
    clip = read_clip(frame_dir=sample.frame_dir, frames=SYNTH.frames, size=SYNTH.image_size)
    first = cv2.imread(str(sample.frame_dir / f"{sample.video_name}_1.jpg"))
    assert np.array_equal(clip[0], first[:, :, ::-1])


def test_metadata_and_synthetic_flag(synth: Path, tmp_path: Path) -> None:
    """metadata.csv is indexed by the zero-padded id with real booleans; the datasheet marks it synthetic."""
    meta = load_metadata(root=synth)
    assert meta is not None and meta.index[0] == "00001" and meta.index.is_unique
    assert meta["synthetic"].dtype == bool and meta["synthetic"].all() and meta["low_quality"].dtype == bool
    assert is_synthetic(root=synth)
    _real(tmp_path)
    assert load_metadata(root=tmp_path) is None and not is_synthetic(root=tmp_path)


def test_real_layout_single_underscore_spelling_and_unpadded_ids(tmp_path: Path) -> None:
    """The `single_labeled` spelling and unpadded integer ids load as 5-digit ids with canonical labels."""
    _real(tmp_path, spelling="test(single_labeled)", csv_text="video_name,label\n1,1\n2,5\n")
    split = load_dfew_split(root=tmp_path, fold=1, split="test")
    assert [(s.video_name, s.label) for s in split.samples] == [("00001", "happiness"), ("00002", "surprise")]
    assert split.samples[0].frame_dir == tmp_path / "Clip" / "clip_224x224" / "00001"


def test_sixteen_frame_folder_is_accepted(tmp_path: Path) -> None:
    """Frames under Clip/clip_224x224_16f are used when Clip/clip_224x224 is absent."""
    _real(tmp_path, frames_folder="clip_224x224_16f", csv_text="video_name,label\n00001,7\n", clips=("00001",))
    (sample,) = load_dfew_split(root=tmp_path, fold=1, split="test").samples
    assert sample.label == "fear" and sample.frame_dir.parent.name == "clip_224x224_16f"


def test_temporal_sampling_uses_numeric_frame_order(tmp_path: Path) -> None:
    """Frames are sorted by their numeric suffix (10 after 9) and sampled with linspace over the indices."""
    for n in range(1, 11):
        _frame(tmp_path / "00001" / f"00001_{n}.jpg", 20 * n)
    clip = read_clip(frame_dir=tmp_path / "00001", frames=4, size=12)
    assert clip.shape == (4, 12, 12, 3)
    # linspace(0, 9, 4) -> indices 0, 3, 6, 9 -> frames 1, 4, 7, 10
    assert np.allclose(clip.reshape(4, -1).mean(axis=1), [20, 80, 140, 200], atol=3)
    with pytest.raises(DataError, match="has 10 frame"):  # never repeated frames: a short clip is an error
        read_clip(frame_dir=tmp_path / "00001", frames=16, size=12)


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        ("name,label\n1,1\n", "header is 'name,label'"),
        ("video_name;label\n1;1\n", "header is 'video_name;label'"),
        ("", "header is nothing"),
        ("video_name,label\n1,1\n2,8\n", "set_1.csv:3: label '8'"),
        ("video_name,label\n1,0\n", "set_1.csv:2: label '0'"),
        ("video_name,label\n1,happy\n", "set_1.csv:2: label 'happy'"),
        ("video_name,label\n1,1\n00001,2\n", "set_1.csv:3: duplicate video_name 00001"),
        ("video_name,label\n1,1\n2,\n", "set_1.csv:3:"),
        ("video_name,label\n,1\n", "set_1.csv:2:"),
        ("video_name,label\n1,NaN\n", "set_1.csv:2:"),
        ("video_name,label\n1,1,3\n", "set_1.csv:2:"),
        ("video_name,label\nclip1,1\n", "set_1.csv:2: video_name 'clip1'"),
        ("video_name,label\n1,1\n3,2\n", "clip 00003 (set_1.csv:3) has no frame folder"),
    ],
)
def test_bad_split_csv_raises_naming_file_and_line(tmp_path: Path, csv_text: str, expected: str) -> None:
    """Each malformed split CSV raises DataError naming the file, the 1-based line and the bad value."""
    _real(tmp_path, csv_text=csv_text)
    with pytest.raises(DataError) as err:
        load_dfew_split(root=tmp_path, fold=1, split="test")
    assert expected in str(err.value)
    if "label '" in expected:
        assert "1..7 = Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear" in str(err.value)


def test_missing_frame_folder_names_clip_and_path(tmp_path: Path) -> None:
    """A clip listed in the CSV without a frame folder raises DataError naming the clip id and the folder."""
    _real(tmp_path, clips=("00001",))
    with pytest.raises(DataError, match="clip 00002") as err:
        load_dfew_split(root=tmp_path, fold=1, split="test")
    assert str(tmp_path / "Clip" / "clip_224x224" / "00002") in str(err.value)


def test_empty_frame_folder_names_clip_and_path(tmp_path: Path) -> None:
    """A frame folder with no jpg raises DataError naming the clip id and the folder."""
    _real(tmp_path)
    folder = tmp_path / "Clip" / "clip_224x224" / "00002"
    for f in folder.iterdir():
        f.unlink()
    with pytest.raises(DataError, match="clip 00002.*empty frame folder") as err:
        load_dfew_split(root=tmp_path, fold=1, split="test")
    assert str(folder) in str(err.value)


def test_missing_split_file_raises(tmp_path: Path) -> None:
    """Asking for a fold whose split CSV does not exist raises DataError naming the expected file."""
    _real(tmp_path)
    with pytest.raises(DataError, match=r"set_2\.csv"):
        load_dfew_split(root=tmp_path, fold=2, split="test")


@pytest.mark.parametrize(
    ("content", "expected"), [(b"", "0-byte frame"), (b"not a jpeg at all", "undecodable|truncated")]
)
def test_bad_jpg_raises_naming_the_file(tmp_path: Path, content: bytes, expected: str) -> None:
    """A 0-byte or undecodable jpg raises DataError naming the file."""
    _real(tmp_path)
    bad = tmp_path / "Clip" / "clip_224x224" / "00002" / "00002_2.jpg"
    bad.write_bytes(content)
    split = load_dfew_split(root=tmp_path, fold=1, split="test")
    with pytest.raises(DataError, match=expected) as err:
        read_clips(samples=split.samples, frames=3, size=16)
    assert str(bad) in str(err.value)


def test_symlinked_frame_folder_outside_root_raises(tmp_path: Path) -> None:
    """A clip folder that is a symlink to a folder outside the dataset root raises DataError."""
    root = tmp_path / "root"
    _real(root, clips=("00001",))
    outside = tmp_path / "elsewhere" / "00002"
    _frame(outside / "00002_1.jpg", 50)
    (root / "Clip" / "clip_224x224" / "00002").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DataError, match="clip 00002.*outside the dataset root"):
        load_dfew_split(root=root, fold=1, split="test")


def test_dotdot_frames_root_outside_root_raises(tmp_path: Path) -> None:
    """A frames folder reached through a relative '..' symlink that leaves the root raises DataError."""
    root = tmp_path / "root"
    (root / "Clip").mkdir(parents=True)
    for clip in ("00001", "00002"):
        _frame(tmp_path / "shared_frames" / clip / f"{clip}_1.jpg", 60)
    (root / "Clip" / "clip_224x224").symlink_to(Path("..") / ".." / "shared_frames", target_is_directory=True)
    split = root / "EmoLabel_DataSplit" / "test(single-labeled)"
    split.mkdir(parents=True)
    (split / "set_1.csv").write_text("video_name,label\n1,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="outside the dataset root"):
        load_dfew_split(root=root, fold=1, split="test")


def test_symlinked_frame_file_outside_root_raises(tmp_path: Path) -> None:
    """A single frame that is a symlink to a file outside the dataset root raises DataError naming it."""
    root = tmp_path / "root"
    _real(root)
    outside = tmp_path / "secret.jpg"
    _frame(outside, 90)
    link = root / "Clip" / "clip_224x224" / "00001" / "00001_9.jpg"
    link.symlink_to(outside)
    with pytest.raises(DataError, match="outside the dataset root") as err:
        load_dfew_split(root=root, fold=1, split="test")
    assert str(link) in str(err.value)


def test_read_clips_of_no_samples_is_empty() -> None:
    """Reading an empty sample list gives an empty batch of the requested shape."""
    empty: tuple[DFEWSample, ...] = ()
    assert read_clips(samples=empty, frames=4, size=8).shape == (0, 4, 8, 8, 3)


def test_clip_cache_returns_the_same_pixels_and_sees_changed_frames(tmp_path):
    """The decoded-clip cache gives identical arrays, and a rewritten frame file is decoded again (new key)."""
    import os

    import cv2
    import numpy as np

    from affectgate.datasets.clips import clip_cache_key, read_clip, read_clip_cached

    folder = tmp_path / "00001"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, 5):
        cv2.imwrite(str(folder / f"00001_{i}.jpg"), rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    cache = tmp_path / "cache"
    first = read_clip_cached(frame_dir=folder, frames=4, size=8, cache=cache)
    assert np.array_equal(first, read_clip(frame_dir=folder, frames=4, size=8))
    assert len(list(cache.glob("*.npy"))) == 1
    assert np.array_equal(read_clip_cached(frame_dir=folder, frames=4, size=8, cache=cache), first)
    key = clip_cache_key(frame_dir=folder, frames=4, size=8)
    cv2.imwrite(str(folder / "00001_2.jpg"), np.zeros((16, 16, 3), dtype=np.uint8))
    os.utime(folder / "00001_2.jpg", ns=(1, 1))  # a different mtime even within the clock's resolution
    assert clip_cache_key(frame_dir=folder, frames=4, size=8) != key
    again = read_clip_cached(frame_dir=folder, frames=4, size=8, cache=cache)
    assert np.array_equal(again, read_clip(frame_dir=folder, frames=4, size=8)) and not np.array_equal(again, first)
