"""FERV39k loader: the real split files (space-separated, header tolerated) and every bad input, counted or raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from _loader_fixtures import assert_strict_and_lenient, write_jpg
from affectgate.core.errors import DataError
from affectgate.datasets.base import dataset_formats, load_dataset
from affectgate.datasets.labels import CANONICAL_EMOTIONS

CLIPS = ("Action/Sad/0010", "Daily/Happy/0003", "Action/Angry/0001", "Festival/Surprise/0042")
TRAIN = "Action/Sad/0010 Sad\nDaily/Happy/0003 Happy\n"
TEST = "Action/Angry/0001 Angry\nFestival/Surprise/0042 Surprise\n"


def _write(root: Path, *, train: str = TRAIN, test: str = TEST, clips: tuple[str, ...] = CLIPS) -> Path:
    """FERV39k as distributed: 4_setups/All_scenes/{train_All,test_All}.csv and 2_ClipsforFaceCrop frame folders."""
    setup = root / "4_setups" / "All_scenes"
    setup.mkdir(parents=True)
    (setup / "train_All.csv").write_text(train, encoding="utf-8")
    (setup / "test_All.csv").write_text(test, encoding="utf-8")
    for clip in clips:
        for n in (1, 2):
            write_jpg(root / "2_ClipsforFaceCrop" / clip / f"{n:05d}.jpg", 40 * n)
    return root


def test_reads_both_splits_with_canonical_labels(tmp_path: Path) -> None:
    """Each line becomes one clip: label mapped to the canonical name, frame folder under 2_ClipsforFaceCrop."""
    ds = load_dataset(fmt="ferv39k", root=_write(tmp_path), strict=True)
    s = ds.samples.set_index("sample_id")
    assert list(s.index) == list(CLIPS)
    assert s.loc["Action/Sad/0010", "label"] == "sadness"
    assert s.loc["Daily/Happy/0003", "label"] == "happiness"
    assert s.loc["Action/Angry/0001", "label"] == "anger"
    assert list(s["split"]) == ["train", "train", "test", "test"]
    assert s.loc["Festival/Surprise/0042", "media_path"] == "2_ClipsforFaceCrop/Festival/Surprise/0042"
    assert s.loc["Festival/Surprise/0042", "scene"] == "Festival"
    assert s["fold"].isna().all() and s["valence"].isna().all()
    assert ds.label_names == CANONICAL_EMOTIONS and ds.problems == []
    assert "ferv39k" in dataset_formats()


def test_a_header_line_is_tolerated_on_the_first_line_only(tmp_path: Path) -> None:
    """A re-saved copy's 'path label' header is skipped; the same text on line 3 is a malformed line."""
    root = _write(tmp_path, train="path label\n" + TRAIN)
    ds = load_dataset(fmt="ferv39k", root=root, split="train", strict=True)
    assert list(ds.samples["sample_id"]) == ["Action/Sad/0010", "Daily/Happy/0003"]
    assert set(ds.samples["split"]) == {"train"}
    root2 = _write(tmp_path / "b", train=TRAIN + "path label\n")
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="ferv39k", root=root2, split="train", strict=strict),
        file_name="train_All.csv",
        line=3,
        kind="malformed line",
        n_good=2,
    )


BAD = [
    ("Action/Sad/0010 Sadd\n", "unknown label", "Action/Sad/0010"),
    ("Action/Sad/0010 nan\n", "unknown label", "Action/Sad/0010"),
    ("Action/Sad/0010 Happy\n", "inconsistent", "Action/Sad/0010"),
    ("Action/Sad/0010\n", "malformed line", None),
    ("Action/Sad/0010 Sad extra\n", "malformed line", None),
    ("../../etc/Sad/0010 Sad\n", "path outside root", "../../etc/Sad/0010"),
    ("/abs/Sad/0010 Sad\n", "path outside root", "/abs/Sad/0010"),
    ("Action/Sad/9999 Sad\n", "missing media", "Action/Sad/9999"),
    ("Daily/Happy/0003 Happy\n", "duplicate id", "Daily/Happy/0003"),
    ("Action/Angry/0001 Angry\n", "duplicate id", "Action/Angry/0001"),  # also in test_All.csv: a leak
]


@pytest.mark.parametrize(("line", "kind", "sid"), BAD)
def test_bad_lines_raise_in_strict_and_are_counted_otherwise(tmp_path: Path, line: str, kind: str, sid: str) -> None:
    """Unknown label, NaN, folder/label mismatch, wrong field count, traversal, missing frames, duplicates."""
    root = _write(tmp_path, train=TRAIN + line)
    is_cross_file = "Angry" in line
    ds = assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="ferv39k", root=root, strict=strict),
        file_name="test_All.csv" if is_cross_file else "train_All.csv",
        line=1 if is_cross_file else 3,
        kind=kind,
        n_good=4,
        sample_id=sid,
    )
    assert ds.samples["sample_id"].is_unique


def test_empty_frame_folder_and_zero_byte_split_file(tmp_path: Path) -> None:
    """A clip whose folder holds no image and a 0-byte split file are both reported, naming the file."""
    root = _write(tmp_path)
    for f in (root / "2_ClipsforFaceCrop" / "Action/Sad/0010").iterdir():
        f.unlink()
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="ferv39k", root=root, strict=strict),
        file_name="train_All.csv",
        line=1,
        kind="empty frame folder",
        n_good=3,
    )
    root2 = _write(tmp_path / "z", test="")
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="ferv39k", root=root2, strict=strict),
        file_name="test_All.csv",
        line=None,
        kind="empty file",
        n_good=2,
    )


def test_symlinked_frame_folder_outside_the_root_is_refused(tmp_path: Path) -> None:
    """A frame folder that is a symlink leaving the dataset root is a 'path outside root' problem."""
    outside = tmp_path / "outside"
    write_jpg(outside / "00001.jpg")
    root = _write(tmp_path / "ds", clips=CLIPS[1:])
    (root / "2_ClipsforFaceCrop" / "Action" / "Sad").mkdir(parents=True)
    (root / "2_ClipsforFaceCrop" / "Action" / "Sad" / "0010").symlink_to(outside, target_is_directory=True)
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="ferv39k", root=root, strict=strict),
        file_name="train_All.csv",
        line=1,
        kind="path outside root",
        n_good=3,
    )


def test_missing_split_file_and_bad_arguments_always_raise(tmp_path: Path) -> None:
    """No split file, a fold, or an unknown split cannot be loaded leniently: DataError in every mode."""
    root = _write(tmp_path)
    (root / "4_setups" / "All_scenes" / "test_All.csv").unlink()
    with pytest.raises(DataError, match="test_All.csv"):
        load_dataset(fmt="ferv39k", root=root, strict=False)
    assert len(load_dataset(fmt="ferv39k", root=root, split="train").samples) == 2
    with pytest.raises(DataError, match="no fold 2"):
        load_dataset(fmt="ferv39k", root=root, fold=2)
    with pytest.raises(DataError, match="unknown FERV39k split"):
        load_dataset(fmt="ferv39k", root=root, split="validation")
