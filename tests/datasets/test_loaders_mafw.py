"""MAFW loader: single/compound, no_caption/with_caption (tab-separated cp1252) split files, 5 folds, bad inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from _loader_fixtures import assert_strict_and_lenient, write_bytes, write_jpg
from affectgate.core.errors import DataError
from affectgate.datasets.base import dataset_formats, load_dataset
from affectgate.datasets.labels import MAFW_LABELS

SETS = "Train & Test Set"
CLIPS = ("00025", "00031", "00102", "00777")


def _split(root: Path, task: str, variant: str, k: int, name: str, data: bytes) -> Path:
    folder = root / SETS / task / variant / f"set_{k}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_bytes(data)
    return folder / f"{name}.txt"


def _write(root: Path, *, set1_train: bytes = b"00025.mp4 anger\n00031.mp4 contempt\n") -> Path:
    """MAFW as distributed: two sets of single/no_caption split files, clips as mp4 and one as a frame folder."""
    _split(root, "single", "no_caption", 1, "train", set1_train)
    _split(root, "single", "no_caption", 1, "test", b"00102.mp4 helplessness\n00777.mp4 happiness\n")
    _split(root, "single", "no_caption", 2, "train", b"00102.mp4 helplessness\n00777.mp4 happiness\n")
    _split(root, "single", "no_caption", 2, "test", b"00025.mp4 anger\n00031.mp4 contempt\n")
    for clip in ("00025", "00102", "00777"):
        write_bytes(root / "data" / "clips" / f"{clip}.mp4")
    write_jpg(root / "data" / "frames" / "00031" / "00001.jpg")
    return root


def test_reads_one_fold_with_mafw_own_classes(tmp_path: Path) -> None:
    """set_1: canonical names for the 7 shared classes, MAFW's own names for the other 4, media located."""
    ds = load_dataset(fmt="mafw", root=_write(tmp_path), fold=1, strict=True)
    s = ds.samples.set_index("sample_id")
    assert list(s.index) == ["00025", "00031", "00102", "00777"]
    assert list(s["label"]) == ["anger", "contempt", "helplessness", "happiness"]
    assert list(s["split"]) == ["train", "train", "test", "test"]
    assert set(s["fold"]) == {1}
    assert s.loc["00025", "media_path"] == "data/clips/00025.mp4"
    assert s.loc["00031", "media_path"] == "data/frames/00031"
    assert ds.label_names == tuple(MAFW_LABELS.values()) and len(ds.label_names) == 11
    assert {"mafw", "mafw_compound"} <= set(dataset_formats())


def test_without_a_fold_every_sets_test_split_is_read_once(tmp_path: Path) -> None:
    """fold None gives each clip once with fold = the set it is tested in; train without a fold is refused."""
    ds = load_dataset(fmt="mafw", root=_write(tmp_path), strict=True)
    folds = dict(zip(ds.samples["sample_id"], ds.samples["fold"], strict=True))
    assert folds == {"00102": 1, "00777": 1, "00025": 2, "00031": 2}
    assert set(ds.samples["split"]) == {"test"}
    with pytest.raises(DataError, match="fold"):
        load_dataset(fmt="mafw", root=tmp_path, split="train")
    with pytest.raises(DataError, match="set_3"):
        load_dataset(fmt="mafw", root=tmp_path, fold=3)
    with pytest.raises(DataError, match="no fold 6"):
        load_dataset(fmt="mafw", root=tmp_path, fold=6)


def test_compound_labels_are_joined_with_underscore(tmp_path: Path) -> None:
    """A compound line 'a_b' keeps the compound class in label and labels; an unknown part is an unknown label."""
    root = _write(tmp_path)
    _split(root, "compound", "no_caption", 1, "train", b"00025.mp4 anger_disgust\n00031.mp4 sadness_anxiety\n")
    _split(root, "compound", "no_caption", 1, "test", b"00102.mp4 fear_surprise\n00777.mp4 happiness_sadnes\n")
    ds = load_dataset(fmt="mafw_compound", root=root, fold=1)
    s = ds.samples.set_index("sample_id")
    assert s.loc["00025", "label"] == "anger_disgust" and s.loc["00025", "labels"] == "anger_disgust"
    assert s.loc["00031", "label"] == "sadness_anxiety"
    assert ds.label_names == ("anger_disgust", "fear_surprise", "sadness_anxiety")
    assert ds.skipped_counts() == {"unknown label": 1}
    assert ds.problems[0].line == 2 and ds.problems[0].sample_id == "00777"
    # a compound label in a single-label file is not a single class
    root2 = _write(tmp_path / "b", set1_train=b"00025.mp4 anger_disgust\n00031.mp4 contempt\n")
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="mafw", root=root2, fold=1, split="train", strict=strict),
        file_name="train.txt",
        line=1,
        kind="unknown label",
        n_good=1,
    )


def test_with_caption_files_are_tab_separated_cp1252(tmp_path: Path) -> None:
    """The with-caption variant is read as cp1252 (curly quote 0x92, e-acute 0xe9) and tab-separated."""
    root = tmp_path
    line1 = "00025.mp4\tanger\tA man shouts \u2019I\u2019m done\u2019 in the caf\u00e9.\r\n".encode("cp1252")
    assert b"\x92" in line1 and b"\xe9" in line1
    _split(root, "single", "with_caption", 1, "train", line1 + b"00031.mp4\tcontempt\tShe smirks.\r\n")
    _split(root, "single", "with_caption", 1, "test", b"00102.mp4\thelplessness\tHe sighs.\r\n")
    for clip in ("00025", "00031", "00102"):
        write_bytes(root / "data" / "clips" / f"{clip}.mp4")
    ds = load_dataset(fmt="mafw", root=root, fold=1, strict=True)
    s = ds.samples.set_index("sample_id")
    assert s.loc["00025", "caption"] == "A man shouts \u2019I\u2019m done\u2019 in the caf\u00e9."
    assert s.loc["00102", "label"] == "helplessness"
    # the same bytes in a no_caption (UTF-8) file are undecodable, reported with the line
    root2 = tmp_path / "b"
    _write(root2, set1_train=b"00025.mp4 anger\n00031.mp4 contempt caf\xe9\n")
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="mafw", root=root2, fold=1, split="train", strict=strict),
        file_name="train.txt",
        line=2,
        kind="undecodable text",
        n_good=0,
    )


BAD = [
    (b"00999.mp4 angry\n", "unknown label", "00999"),
    (b"00999.mp4 NaN\n", "unknown label", "00999"),
    (b"00025.mp4 anger\n", "duplicate id", "00025"),
    (b"../00025.mp4 anger\n", "path outside root", "../00025.mp4"),
    (b"clips/00025.mp4 anger\n", "path outside root", "clips/00025.mp4"),
    (b"00999.mp4 anger\n", "missing media", "00999"),
    (b"00999.mp4\n", "malformed line", None),
]


@pytest.mark.parametrize(("line", "kind", "sid"), BAD)
def test_bad_lines_raise_in_strict_and_are_counted_otherwise(tmp_path: Path, line: bytes, kind: str, sid: str) -> None:
    """Unknown label, NaN, duplicates, traversal, paths instead of names, missing clips, missing label."""
    root = _write(tmp_path, set1_train=b"00025.mp4 anger\n00031.mp4 contempt\n" + line)
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="mafw", root=root, fold=1, split="train", strict=strict),
        file_name="train.txt",
        line=3,
        kind=kind,
        n_good=2,
        sample_id=sid,
    )


def test_zero_byte_clip_and_empty_frame_folder_are_reported(tmp_path: Path) -> None:
    """A 0-byte mp4 and a frame folder without images are problems naming the split file and line."""
    root = _write(tmp_path)
    (root / "data" / "clips" / "00025.mp4").write_bytes(b"")
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="mafw", root=root, fold=1, split="train", strict=strict),
        file_name="train.txt",
        line=1,
        kind="0-byte media",
        n_good=1,
    )
    (root / "data" / "clips" / "00025.mp4").write_bytes(b"x")
    (root / "data" / "frames" / "00031" / "00001.jpg").unlink()
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="mafw", root=root, fold=1, split="train", strict=strict),
        file_name="train.txt",
        line=2,
        kind="empty frame folder",
        n_good=1,
    )


def _cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFFECTGATE_PROJECT_ROOT", str(Path(__file__).resolve().parents[2]))
    monkeypatch.setenv("AFFECTGATE_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("AFFECTGATE_WORKSPACE", str(tmp_path / "ws"))
    from affectgate.project.settings import get_settings

    get_settings.cache_clear()


def test_data_validate_screens_faces_and_prints_a_fix_per_failed_check(tmp_path: Path, monkeypatch) -> None:
    """MAFW clips are full frames: `data validate` screens them for faces (kept / left out), `--no-faces` skips
    it, and every failed check (here: group attributes for fairness) prints its own fix line."""
    from typer.testing import CliRunner

    from affectgate.cli import app

    _cli_env(tmp_path, monkeypatch)
    root = tmp_path / "mafw"
    _split(root, "single", "no_caption", 1, "test", b"00031.mp4 contempt\n00032.mp4 anger\n")
    _split(root, "single", "no_caption", 1, "train", b"")
    for clip in ("00031", "00032"):
        for i in range(1, 4):
            write_jpg(root / "data" / "frames" / clip / f"{i:05d}.jpg", size=64)  # flat grey: no face
    runner = CliRunner()
    res = runner.invoke(app, ["data", "validate", str(root), "--format", "mafw", "--fold", "1", "--split", "test"])
    assert res.exit_code == 1, res.output
    assert "face screening (the media are not face crops): 0 of 2 clips kept, 2 left out" in res.output
    assert "fix (face screening)" in res.output
    assert "detector: mtcnn" in res.output, res.output  # the default detector, named with its version
    res = runner.invoke(
        app,
        ["data", "validate", str(root), "--format", "mafw", "--fold", "1", "--split", "test", "--face-detector", "haar"],
    )
    assert res.exit_code == 1 and "detector: haar" in res.output, res.output
    res = runner.invoke(
        app, ["data", "validate", str(root), "--format", "mafw", "--fold", "1", "--no-faces", "--fairness"]
    )
    assert res.exit_code == 1, res.output
    assert "face screening: skipped (--no-faces)" in res.output
    failed = [line for line in res.output.splitlines() if "FAIL" in line]
    fixes = [line for line in res.output.splitlines() if line.startswith("fix (")]
    assert failed and len(fixes) >= 1 and any("metadata.csv" in f or "group" in f for f in fixes), res.output
    (root / "datasheet.yaml").write_text("face_cropped: true\n")
    res = runner.invoke(app, ["data", "validate", str(root), "--format", "mafw", "--fold", "1"])
    assert "face screening: not needed (the set is declared face crops)" in res.output, res.output
