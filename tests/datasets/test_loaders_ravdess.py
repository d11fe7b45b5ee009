"""RAVDESS loader: 7-field names in Actor_XX folders, odd actor = male, 6-fold actor-independent protocol, bad names."""

from __future__ import annotations

from pathlib import Path

import pytest

from _loader_fixtures import assert_strict_and_lenient, write_bytes
from affectgate.core.errors import DataError
from affectgate.datasets import ravdess
from affectgate.datasets.base import load_dataset
from affectgate.datasets.synth import av_layout

FILES = (
    "Actor_01/02-01-03-01-01-01-01.mp4",  # video-only, happy, with its audio-only twin
    "Actor_01/03-01-03-01-01-01-01.wav",
    "Actor_02/01-01-02-02-02-01-02.mp4",  # full AV only (calm): audio comes from the mp4 itself
    "Actor_02/02-02-05-01-01-02-02.mp4",  # song channel, angry, no audio
    "Video_Speech_Actor_05/Actor_05/02-01-06-01-02-01-05.mp4",  # per-archive folder, one level down
    "Audio_Speech_Actors_01-24/Actor_24/03-01-08-02-01-01-24.wav",  # audio-only recording
)


def _write(root: Path, extra: tuple[str, ...] = ()) -> Path:
    for rel in (*FILES, *extra):
        write_bytes(root / rel)
    (root / "Actor_01" / ".DS_Store").write_bytes(b"junk")  # not media: ignored
    return root


def test_recordings_labels_sex_and_audio_tracks(tmp_path: Path) -> None:
    """One sample per recording, label from field 3 (02 keeps 'calm'), odd actors male, audio for fusion."""
    ds = load_dataset(fmt="ravdess", root=_write(tmp_path), strict=True)
    s = ds.samples.set_index("sample_id")
    assert list(s.index) == [
        "02-01-03-01-01-01-01",
        "01-01-02-02-02-01-02",
        "02-02-05-01-01-02-02",
        "02-01-06-01-02-01-05",
        "03-01-08-02-01-01-24",
    ]
    assert list(s["label"]) == ["happiness", "calm", "anger", "fear", "surprise"]
    assert list(s["sex"]) == ["male", "female", "female", "male", "female"]
    assert list(s["subject_id"]) == ["Actor_01", "Actor_02", "Actor_02", "Actor_05", "Actor_24"]
    assert s.loc["02-01-03-01-01-01-01", "audio_path"] == "Actor_01/03-01-03-01-01-01-01.wav"
    assert s.loc["01-01-02-02-02-01-02", "audio_path"] == "Actor_02/01-01-02-02-02-01-02.mp4"
    assert s.loc["02-02-05-01-01-02-02", "audio_path"] is None
    assert s.loc["03-01-08-02-01-01-24", "media_path"] == "Audio_Speech_Actors_01-24/Actor_24/03-01-08-02-01-01-24.wav"
    assert list(s["fold"]) == [1, 1, 1, 2, 6] and set(s["split"]) == {"all"}
    assert ds.label_names == ("neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise")


def test_six_fold_actor_independent_protocol(tmp_path: Path) -> None:
    """Fold k tests actors 4k-3..4k (two male, two female); train is every other actor; no actor in both."""
    root = _write(tmp_path)
    test1 = load_dataset(fmt="ravdess", root=root, fold=1, split="test")
    train1 = load_dataset(fmt="ravdess", root=root, fold=1, split="train")
    assert set(test1.samples["subject_id"]) == {"Actor_01", "Actor_02"}
    assert set(train1.samples["subject_id"]) == {"Actor_05", "Actor_24"}
    assert set(test1.samples["fold"]) == {1} and set(train1.samples["split"]) == {"train"}
    both = load_dataset(fmt="ravdess", root=root, fold=6)
    assert dict(zip(both.samples["subject_id"], both.samples["split"], strict=False))["Actor_24"] == "test"
    folds = [ravdess.ravdess_fold(a) for a in range(1, 25)]
    for k in range(1, 7):
        actors = [a for a, f in zip(range(1, 25), folds, strict=True) if f == k]
        assert len(actors) == 4 and sum(a % 2 for a in actors) == 2  # two male, two female
    with pytest.raises(DataError, match="no fold 7"):
        load_dataset(fmt="ravdess", root=root, fold=7)
    with pytest.raises(DataError, match="without a fold"):
        load_dataset(fmt="ravdess", root=root, split="test")


BAD = [
    ("Actor_01/02-01-03-01-01-01.mp4", "bad file name"),  # 6 fields
    ("Actor_01/02-01-09-01-01-01-01.mp4", "bad file name"),  # emotion 09
    ("Actor_01/02-01-04-01-01-01-03.mp4", "inconsistent"),  # actor 03 in Actor_01
    ("Actor_01/02-01-01-02-01-01-01.mp4", "inconsistent"),  # neutral has no strong intensity
    ("Actor_01/03-01-04-01-01-01-01.mp4", "inconsistent"),  # audio-only modality as mp4
    ("Actor_01/02-03-04-01-01-01-01.mp4", "inconsistent"),  # vocal channel 03
    ("Video_Speech_Actor_01/Actor_01/02-01-03-01-01-01-01.mp4", "duplicate id"),
]


@pytest.mark.parametrize(("rel", "kind"), BAD)
def test_bad_files_raise_in_strict_and_are_counted_otherwise(tmp_path: Path, rel: str, kind: str) -> None:
    """Malformed names, unknown emotion, actor/folder mismatch, impossible fields, duplicates: named and counted."""
    root = _write(tmp_path, extra=(rel,))
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="ravdess", root=root, strict=strict),
        file_name=Path(rel).name,
        line=None,
        kind=kind,
        n_good=5,
    )


def test_zero_byte_file_and_symlink_outside_root(tmp_path: Path) -> None:
    """A 0-byte recording and a recording symlinked from outside the root are problems, never samples."""
    root = _write(tmp_path / "ds")
    (root / "Actor_02" / "02-01-04-01-01-01-02.mp4").write_bytes(b"")
    outside = write_bytes(tmp_path / "outside.mp4")
    (root / "Actor_02" / "02-01-07-01-01-01-02.mp4").symlink_to(outside)
    ds = load_dataset(fmt="ravdess", root=root)
    assert ds.skipped_counts() == {"0-byte media": 1, "path outside root": 1}
    assert len(ds.samples) == 5
    with pytest.raises(DataError, match="02-01-04-01-01-01-02.mp4"):
        load_dataset(fmt="ravdess", root=root, strict=True)


def test_no_actor_folders_is_an_error(tmp_path: Path) -> None:
    """A root without Actor_XX folders cannot be read in any mode."""
    with pytest.raises(DataError, match="Actor_XX"):
        load_dataset(fmt="ravdess", root=tmp_path)


def test_name_parsing_is_shared_with_the_synthetic_generator() -> None:
    """av_layout uses the loader's parser: one convention, odd actor male, 02 = calm, malformed names refused."""
    assert av_layout.parse_ravdess_name is ravdess.parse_ravdess_name
    assert av_layout.ravdess_name is ravdess.ravdess_name
    fields = ravdess.parse_ravdess_name("02-01-06-01-02-01-12")
    assert fields["emotion"] == "fear" and fields["sex"] == "female" and fields["actor"] == 12
    assert ravdess.parse_ravdess_name("01-01-02-01-01-01-07")["emotion"] == "calm"
    assert ravdess.parse_ravdess_name("01-01-02-01-01-01-07")["sex"] == "male"
    stem = ravdess.ravdess_name(modality=2, emotion=6, intensity=1, statement=2, repetition=1, actor=12)
    assert stem == "02-01-06-01-02-01-12"
    with pytest.raises(DataError, match="not a RAVDESS file name"):
        ravdess.parse_ravdess_name("02-01-06-01-02-12")


def test_the_synthetic_av_set_loads_and_decodes(tmp_path: Path) -> None:
    """generate_ravdess output is a valid RAVDESS layout: every recording pairs its mp4 with its wav, both decode."""
    from affectgate.datasets.media import extract_audio, read_video
    from affectgate.datasets.synth import AVSynthConfig, generate_ravdess

    cfg = AVSynthConfig(n_actors=2, statements=1, repetitions=1, frames=3, image_size=32, seconds=0.6, folds=2)
    summary = generate_ravdess(root=tmp_path, config=cfg)
    ds = load_dataset(fmt="ravdess", root=tmp_path, fold=1, strict=True)
    assert len(ds.samples) == summary.n_recordings and ds.problems == []
    assert ds.samples["audio_path"].str.endswith(".wav").all()
    assert set(ds.samples["sex"]) == {"male", "female"} and set(ds.samples["split"]) == {"test"}
    first = ds.samples.iloc[0]
    clip = read_video(path=tmp_path / first["media_path"], frames=2, size=16)
    assert clip.shape == (2, 16, 16, 3) and clip.std() > 0
    wave = extract_audio(path=tmp_path / first["audio_path"], sample_rate=cfg.sample_rate)
    assert abs(len(wave) - cfg.seconds * cfg.sample_rate) <= 1
