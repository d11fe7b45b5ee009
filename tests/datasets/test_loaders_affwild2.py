"""Aff-Wild2 / ABAW loader: per-video VA/EXPR/AU txt files, -5/-1 invalid rows, missing frames, _left/_right audio."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from _loader_fixtures import assert_strict_and_lenient, write_bytes, write_jpg
from affectgate.core.errors import DataError
from affectgate.datasets.affwild2 import base_video
from affectgate.datasets.base import load_dataset
from affectgate.datasets.labels import ABAW_AU_HEADER, ABAW_AU_HEADER_2020, ABAW_EXPR_HEADER, ABAW_EXPR_HEADER_2020
from affectgate.datasets.synth.affwild2_layout import AffWild2SynthConfig, generate_affwild2

ANN = "Third ABAW Annotations"
VA_HEAD = "valence,arousal"
EXPR_HEAD = ",".join(ABAW_EXPR_HEADER)
AU_HEAD = ",".join(ABAW_AU_HEADER)
AU_ROW = "1,0,0,1,0,0,1,0,0,0,1,0"
AU_BAD = ",".join(["-1"] * 12)


def _txt(root: Path, task: str, split: str, video: str, text: str) -> Path:
    path = root / ANN / task / split / f"{video}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _write(root: Path, *, va_a: str | None = None, expr_dir: str = "EXPR_Classification_Challenge") -> Path:
    """ABAW as distributed: annotation folders one level down, cropped_aligned frames (00004 missing), videos."""
    _txt(
        root, "VA_Estimation_Challenge", "Train_Set", "vidA", va_a or f"{VA_HEAD}\n0.1,0.2\n-5,-5\n0.3,-0.4\n0.5,0.5\n"
    )
    _txt(root, expr_dir, "Train_Set", "vidA", f"{EXPR_HEAD}\n4\n-1\n7\n0\n")
    _txt(root, "AU_Detection_Challenge", "Train_Set", "vidA", f"{AU_HEAD}\n{AU_ROW}\n{AU_ROW}\n{AU_BAD}\n{AU_ROW}\n")
    for side, values in (("left", "0.0,0.9\n-0.2,0.1\n"), ("right", "-0.6,-0.6\n-5,0.3\n")):
        _txt(root, "VA_Estimation_Challenge", "Validation_Set", f"vidB_{side}", f"{VA_HEAD}\n{values}")
    for n in (1, 2, 3):
        write_jpg(root / "cropped_aligned" / "vidA" / f"{n:05d}.jpg", 30 * n)
    for side in ("left", "right"):
        for n in (1, 2):
            write_jpg(root / "cropped_aligned" / f"vidB_{side}" / f"{n:05d}.jpg")
    write_bytes(root / "batch1" / "vidA.mp4")
    write_bytes(root / "batch2" / "vidB.avi")
    return root


def test_tasks_are_merged_per_frame_and_invalid_rows_counted(tmp_path: Path) -> None:
    """Line i is frame i; -5 VA, -1 EXPR, -1 AU and annotated frames without an image are counted drops."""
    ds = load_dataset(fmt="affwild2", root=_write(tmp_path), strict=True)
    s = ds.samples.set_index("sample_id")
    a = s.loc[[i for i in s.index if i.startswith("vidA/")]]
    assert list(a.index) == ["vidA/00001", "vidA/00002", "vidA/00003"]
    assert a.loc["vidA/00001", "label"] == "happiness"
    assert (a.loc["vidA/00001", "valence"], a.loc["vidA/00001", "arousal"]) == (0.1, 0.2)
    assert a.loc["vidA/00001", "aus"].startswith("AU1=1;AU2=0;AU4=0;AU6=1;")
    assert a.loc["vidA/00002", ["label", "valence"]].isna().all()  # VA -5 and EXPR -1 dropped, AU kept
    assert a.loc["vidA/00002", "aus"] is not None
    assert a.loc["vidA/00003", "label"] == "other" and pd_isna(a.loc["vidA/00003", "aus"])
    assert list(a["frame"]) == [1, 2, 3]
    assert a.loc["vidA/00003", "media_path"] == "cropped_aligned/vidA/00003.jpg"
    assert ds.invalid_counts == {"au_invalid_-1": 1, "expr_ignore_-1": 1, "frame_missing": 1, "va_invalid_-5": 2}
    assert ds.problems == [] and set(a["split"]) == {"train"} and set(a["subject_id"]) == {"vidA"}
    assert ds.label_names[-1] == "other" and len(ds.label_names) == 8


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_left_and_right_are_two_subjects_sharing_one_audio_track(tmp_path: Path) -> None:
    """vidB_left and vidB_right are separate subjects in Validation_Set whose audio is the base video's track."""
    ds = load_dataset(fmt="affwild2", root=_write(tmp_path), split="validation", strict=True)
    s = ds.samples
    assert set(s["split"]) == {"validation"}
    assert set(s["subject_id"]) == {"vidB_left", "vidB_right"}
    assert set(s["audio_path"]) == {"batch2/vidB.avi"}
    assert list(s["sample_id"]) == ["vidB_left/00001", "vidB_left/00002", "vidB_right/00001"]
    assert base_video("vidB_right") == "vidB" and base_video("vid_rightish") == "vid_rightish"
    train = load_dataset(fmt="affwild2", root=tmp_path, split="train")
    assert set(train.samples["audio_path"]) == {"batch1/vidA.mp4"}


def test_2020_edition_headers_and_the_recognition_folder_name(tmp_path: Path) -> None:
    """7-class EXPR and 8-AU headers (2020) are accepted under EXPR_Recognition_Challenge; index 7 is then invalid."""
    root = tmp_path
    _txt(root, "EXPR_Recognition_Challenge", "Train_Set", "v1", ",".join(ABAW_EXPR_HEADER_2020) + "\n6\n7\n")
    _txt(root, "AU_Detection_Challenge", "Train_Set", "v1", ",".join(ABAW_AU_HEADER_2020) + "\n0,1,0,0,1,0,0,1\n")
    write_jpg(root / "cropped_aligned" / "v1" / "00001.jpg")
    write_jpg(root / "cropped_aligned" / "v1" / "00002.jpg")
    ds = load_dataset(fmt="affwild2", root=root)
    assert ds.label_names == ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise")
    assert ds.samples.loc[0, "label"] == "surprise"
    assert ds.samples.loc[0, "aus"] == "AU1=0;AU2=1;AU4=0;AU6=0;AU12=1;AU15=0;AU20=0;AU25=1"
    assert ds.skipped_counts() == {"bad value": 1} and ds.problems[0].line == 3


BAD = [
    ("valence,arousl\n0.1,0.2\n", 1, "wrong header", 0),
    (f"{VA_HEAD}\n0.1,0.2\nnan,0.2\n0.3,0.3\n", 3, "bad value", 2),
    (f"{VA_HEAD}\n0.1,0.2\n1.5,0.2\n0.3,0.3\n", 3, "bad value", 2),
    (f"{VA_HEAD}\n0.1,0.2\n0.2\n0.3,0.3\n", 3, "malformed line", 2),
    (f"{VA_HEAD}\n0.1,0.2\nhigh,low\n0.3,0.3\n", 3, "bad value", 2),
    (f"{VA_HEAD}\n0.1,0.2\n,\n0.3,0.3\n", 3, "malformed line", 2),
]


@pytest.mark.parametrize(("text", "line", "kind", "n_va"), BAD)
def test_bad_va_lines(tmp_path: Path, text: str, line: int, kind: str, n_va: int) -> None:
    """Wrong header, NaN, out of range (not -5), missing value, text: strict names file and line, lenient counts."""
    root = _write(tmp_path, va_a=text)
    ds = assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="affwild2", root=root, split="train", strict=strict),
        file_name="vidA.txt",
        line=line,
        kind=kind,
        n_good=3,  # vidA frames 1..3 still come from EXPR/AU
    )
    assert ds.samples["valence"].notna().sum() == n_va


def test_bad_expr_and_au_values(tmp_path: Path) -> None:
    """An EXPR index outside 0..7 and an AU value outside {0, 1, -1} are bad values naming file and line."""
    root = _write(tmp_path)
    _txt(root, "EXPR_Classification_Challenge", "Train_Set", "vidA", f"{EXPR_HEAD}\n4\n9\n7\n")
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="affwild2", root=root, split="train", strict=strict),
        file_name="vidA.txt",
        line=3,
        kind="bad value",
        n_good=3,
    )
    root2 = _write(tmp_path / "b")
    _txt(root2, "AU_Detection_Challenge", "Train_Set", "vidA", f"{AU_HEAD}\n{AU_ROW.replace('1', '2', 1)}\n")
    ds = load_dataset(fmt="affwild2", root=root2, split="train")
    assert ds.skipped_counts() == {"bad value": 1} and ds.problems[0].line == 2


def test_zero_byte_file_duplicate_video_and_missing_frames_folder(tmp_path: Path) -> None:
    """A 0-byte txt, a video in both Train_Set and Validation_Set, and a video without frames are problems."""
    root = _write(tmp_path)
    _txt(root, "AU_Detection_Challenge", "Train_Set", "vidA", "")
    ds = load_dataset(fmt="affwild2", root=root, split="train")
    assert ds.skipped_counts() == {"empty file": 1} and "aus" not in ds.samples.columns
    with pytest.raises(DataError, match=r"vidA.txt: empty file"):
        load_dataset(fmt="affwild2", root=root, split="train", strict=True)

    root2 = _write(tmp_path / "dup")
    _txt(root2, "VA_Estimation_Challenge", "Validation_Set", "vidA", f"{VA_HEAD}\n0.1,0.1\n")
    with pytest.raises(DataError, match="duplicate id: video vidA"):
        load_dataset(fmt="affwild2", root=root2, strict=True)
    assert load_dataset(fmt="affwild2", root=root2).skipped_counts() == {"duplicate id": 1}

    root3 = _write(tmp_path / "noframes")
    _txt(root3, "VA_Estimation_Challenge", "Train_Set", "vidC", f"{VA_HEAD}\n0.1,0.1\n")
    ds3 = assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="affwild2", root=root3, split="train", strict=strict),
        file_name="vidC",
        line=None,
        kind="missing media",
        n_good=3,
    )
    assert "vidC" in ds3.problems[0].reason


def test_frame_folder_symlinked_outside_the_root_is_refused(tmp_path: Path) -> None:
    """cropped_aligned/<video> pointing outside the dataset root is a 'path outside root' problem."""
    outside = tmp_path / "elsewhere"
    write_jpg(outside / "00001.jpg")
    root = _write(tmp_path / "ds")
    _txt(root, "VA_Estimation_Challenge", "Train_Set", "vidE", f"{VA_HEAD}\n0.1,0.1\n")
    (root / "cropped_aligned" / "vidE").symlink_to(outside, target_is_directory=True)
    ds = load_dataset(fmt="affwild2", root=root, split="train")
    assert ds.skipped_counts() == {"path outside root": 1}
    assert not ds.samples["sample_id"].str.startswith("vidE").any()


def test_arguments_and_missing_annotations_raise(tmp_path: Path) -> None:
    """A fold, an unknown split or a root without challenge folders is a DataError."""
    root = _write(tmp_path)
    with pytest.raises(DataError, match="no fold"):
        load_dataset(fmt="affwild2", root=root, fold=1)
    with pytest.raises(DataError, match="split"):
        load_dataset(fmt="affwild2", root=root, split="test")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="VA_Estimation_Challenge"):
        load_dataset(fmt="affwild2", root=empty)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_generator_is_deterministic_synthetic_and_loads_with_its_invalid_rows(tmp_path: Path) -> None:
    """The generator writes the real layout byte-identically per seed; the loader counts its -5/-1 sprinkle."""
    cfg = AffWild2SynthConfig(seed=3, n_videos=2, frames=8, image_size=32, invalid_rate=0.2, missing_frame_rate=0.2)
    s1 = generate_affwild2(root=tmp_path / "a", config=cfg)
    generate_affwild2(root=tmp_path / "b", config=cfg)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    ds = load_dataset(fmt="affwild2", root=tmp_path / "a", strict=True)
    assert ds.datasheet is not None and ds.datasheet["synthetic"] is True
    assert ds.invalid_counts.get("va_invalid_-5", 0) == s1.invalid["va_-5"]
    assert ds.invalid_counts.get("expr_ignore_-1", 0) == s1.invalid["expr_-1"]
    assert ds.invalid_counts.get("au_invalid_-1", 0) == s1.invalid["au_-1"]
    assert ds.invalid_counts.get("frame_missing", 0) <= s1.missing_frames
    assert len(ds.samples) <= s1.n_images
    assert set(ds.samples["split"]) == {"train", "validation"}
    pair = ds.samples[ds.samples["subject_id"].str.startswith("synth_pair")]
    assert set(pair["subject_id"]) == {"synth_pair_left", "synth_pair_right"}
    assert set(pair["audio_path"]) == {"videos/synth_pair.wav"}
    assert ds.samples["valence"].dropna().between(-1, 1).all()
