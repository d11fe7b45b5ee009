"""Synthetic DFEW-layout generator: determinism, layout, folds, bias knobs, datasheet."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from affectgate.core.errors import DataError
from affectgate.datasets.dfew import is_synthetic
from affectgate.datasets.labels import CANONICAL_EMOTIONS, DFEW_LABELS
from affectgate.datasets.synth import SynthConfig, SynthSummary, generate_dfew
from affectgate.datasets.synth.faces import (
    EXPRESSIONS,
    FrameKnobs,
    expression_montage,
    make_subject,
    render_face,
)

TINY = SynthConfig(
    seed=3, n_subjects=14, clips_per_subject=7, frames=4, image_size=48, folds=3, minority_train_keep=0.5
)
MONTAGE = Path("/tmp/synth_montage.png")


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _split(root: Path, split: str, k: int) -> pd.DataFrame:
    return pd.read_csv(root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"set_{k}.csv", dtype=str)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    root = tmp_path_factory.mktemp("synth") / "dfew"
    return root, generate_dfew(root=root, config=TINY)


@pytest.fixture(scope="module")
def meta(tiny: tuple[Path, SynthSummary]) -> pd.DataFrame:
    return pd.read_csv(tiny[0] / "metadata.csv", dtype=str)


def test_same_seed_same_bytes(tiny: tuple[Path, SynthSummary], tmp_path: Path) -> None:
    """Two runs with the same seed and config write byte-identical files (sha256 of every file)."""
    again = tmp_path / "again"
    generate_dfew(root=again, config=TINY)
    assert _digests(again) == _digests(tiny[0])
    other = tmp_path / "other"
    generate_dfew(root=other, config=TINY.model_copy(update={"seed": 4}))
    assert _digests(other) != _digests(tiny[0])


def test_layout_paths_headers_ids_labels(tiny: tuple[Path, SynthSummary]) -> None:
    """Frames, split CSVs and ids follow DFEW: 5-digit ids from 00001, <id>_<n>.jpg, labels 1..7."""
    root, summary = tiny
    n_clips = TINY.n_subjects * TINY.clips_per_subject
    assert summary.n_clips == n_clips and summary.n_subjects == TINY.n_subjects
    clip_dirs = sorted((root / "Clip" / "clip_224x224").iterdir())
    assert [d.name for d in clip_dirs] == [f"{i:05d}" for i in range(1, n_clips + 1)]
    first = clip_dirs[0]
    assert sorted(p.name for p in first.iterdir()) == sorted(f"00001_{n}.jpg" for n in range(1, TINY.frames + 1))
    img = cv2.imread(str(first / "00001_1.jpg"))
    assert img is not None and img.shape == (TINY.image_size, TINY.image_size, 3)
    for split in ("train", "test"):
        for k in range(1, TINY.folds + 1):
            rows = _csv(root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"set_{k}.csv")
            assert rows[0] == ["video_name", "label"]
            assert rows[1:], f"{split} set_{k} is empty"
            for name, label in rows[1:]:
                assert len(name) == 5 and name.isdigit() and (root / "Clip" / "clip_224x224" / name).is_dir()
                assert int(label) in DFEW_LABELS
    assert sum(summary.per_class.values()) == n_clips and set(summary.per_class) == set(CANONICAL_EMOTIONS)


def test_folds_subject_disjoint_and_cover_all_clips(tiny: tuple[Path, SynthSummary], meta: pd.DataFrame) -> None:
    """Each fold's test set is subject-disjoint from its train set and from other folds' test sets."""
    root = tiny[0]
    subject = meta.set_index("video_name")["subject_id"]
    test_subjects: list[set[str]] = []
    all_test: list[str] = []
    for k in range(1, TINY.folds + 1):
        test, train = _split(root, "test", k), _split(root, "train", k)
        te, tr = set(subject[test.video_name]), set(subject[train.video_name])
        assert not te & tr, f"fold {k} shares subjects between train and test"
        assert all(not te & other for other in test_subjects)
        test_subjects.append(te)
        all_test += list(test.video_name)
    assert sorted(all_test) == sorted(meta.video_name)


def test_every_group_in_every_fold_test_set(tiny: tuple[Path, SynthSummary], meta: pd.DataFrame) -> None:
    """Folds are stratified by skin-tone group, so every fold's test set holds every group."""
    group = meta.set_index("video_name")["skin_tone_group"]
    for k in range(1, TINY.folds + 1):
        assert set(group[_split(tiny[0], "test", k).video_name]) == {"tone_a", "tone_b", "tone_c"}


def test_minority_under_represented_in_train(tiny: tuple[Path, SynthSummary], meta: pd.DataFrame) -> None:
    """Train CSVs drop exactly the configured share of minority clips; test CSVs keep them all."""
    group = meta.set_index("video_name")["skin_tone_group"]
    minority = set(meta.video_name[meta.skin_tone_group == TINY.minority_group])
    assert len(minority) < len(meta) / 3
    in_some_train: set[str] = set()
    for k in range(1, TINY.folds + 1):
        train, test = _split(tiny[0], "train", k), _split(tiny[0], "test", k)
        train_share = (group[train.video_name] == TINY.minority_group).mean()
        other_folds_share = len(minority - set(test.video_name)) / (len(meta) - len(test))
        assert train_share < other_folds_share
        in_some_train |= set(train.video_name) & minority
    assert len(in_some_train) == len(minority) - round(len(minority) * (1 - TINY.minority_train_keep))


def test_group_attributes_carry_no_label_information(tiny: tuple[Path, SynthSummary], meta: pd.DataFrame) -> None:
    """Every subject shows all seven emotions, so every group and sex has every emotion."""
    labels = pd.concat([_split(tiny[0], "test", k) for k in range(1, TINY.folds + 1)]).set_index("video_name")
    frame = meta.set_index("video_name").join(labels)
    assert frame.groupby("subject_id")["label"].nunique().eq(7).all()
    for col in ("skin_tone_group", "sex", "age_band"):
        assert frame.groupby(col)["label"].nunique().eq(7).all(), col
    assert set(meta.consent_basis) == {"explicit_consent"} and set(meta.synthetic) == {"True"}
    assert set(meta.low_quality) <= {"True", "False"}
    assert meta.loc[meta.low_quality == "True", "skin_tone_group"].eq(TINY.minority_group).all()
    assert set(meta.capture_quarter) <= set(TINY.quarters)


def test_datasheet_says_synthetic(tiny: tuple[Path, SynthSummary]) -> None:
    """The datasheet marks the set synthetic, names the generator, records the full config and label map."""
    sheet = yaml.safe_load((tiny[0] / "datasheet.yaml").read_text(encoding="utf-8"))
    assert sheet["synthetic"] is True and sheet["generator"] == "affectgate.datasets.synth"
    assert "SYNTHETIC DATA" in sheet["creation_note"] and "not real people" in sheet["creation_note"]
    assert SynthConfig(**sheet["config"]) == TINY
    assert sheet["label_map"] == DFEW_LABELS
    assert is_synthetic(root=tiny[0])


def test_drift_quarter_is_darker(tiny: tuple[Path, SynthSummary], meta: pd.DataFrame) -> None:
    """Clips captured in a drift quarter are rendered with darker lighting than the other quarters."""
    frames = tiny[0] / "Clip" / "clip_224x224"
    drifted = meta.capture_quarter.isin(TINY.drift_quarters)

    def brightness(names: pd.Series) -> float:
        return float(np.mean([cv2.imread(str(frames / n / f"{n}_1.jpg")).mean() for n in names]))

    assert drifted.any() and (~drifted).any()
    assert brightness(meta.video_name[drifted]) < 0.8 * brightness(meta.video_name[~drifted])


def test_regenerating_overwrites_own_output_but_refuses_foreign_folder(tmp_path: Path) -> None:
    """A folder written by the generator is replaced cleanly; any other non-empty folder raises DataError."""
    cfg = TINY.model_copy(update={"n_subjects": 9, "clips_per_subject": 2, "frames": 2, "image_size": 32})
    root = tmp_path / "set"
    generate_dfew(root=root, config=cfg)
    (root / "stale.txt").write_text("left over", encoding="utf-8")
    generate_dfew(root=root, config=cfg)
    assert not (root / "stale.txt").exists()
    foreign = tmp_path / "real"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(DataError, match="not written by the synthetic generator"):
        generate_dfew(root=foreign, config=cfg)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_config_rejects_impossible_stratification() -> None:
    """A config whose subjects cannot give every fold a subject of every group is rejected up front."""
    with pytest.raises(ValidationError, match="skin-tone group"):
        SynthConfig(n_subjects=14, folds=5)
    with pytest.raises(ValidationError, match="drift_quarters"):
        SynthConfig(drift_quarters=("2030Q1",))
    with pytest.raises(ValidationError):
        SynthConfig(unknown_knob=1)  # type: ignore[call-arg]


def test_expressions_differ_in_geometry() -> None:
    """Without noise, every pair of the seven expressions at apex differs clearly in at least 1% of pixels."""
    rng = np.random.default_rng(0)
    subject = make_subject(subject_id="T1", skin_tone_group="tone_b", sex="female", age_band="30-44", rng=rng)
    knobs = FrameKnobs(noise=0.0)
    faces = {
        name: render_face(
            subject=subject, expr=expr, intensity=0.9, size=96, knobs=knobs, rng=np.random.default_rng(1)
        ).astype(np.int16)
        for name, expr in EXPRESSIONS.items()
    }
    names = list(faces)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            changed = (np.abs(faces[a] - faces[b]).max(axis=2) > 30).mean()
            assert changed > 0.01, (a, b, changed)


def test_montage_written() -> None:
    """A labelled montage of one apex frame per expression (a subject per skin-tone group) is saved."""
    montage = expression_montage(size=112, tile=160, seed=0)
    assert montage.shape == (3 * 160, len(EXPRESSIONS) * 160, 3) and montage.dtype == np.uint8
    assert cv2.imwrite(str(MONTAGE), montage) and MONTAGE.stat().st_size > 0


def test_cli_synth_default_output_is_under_the_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`affectgate data synth --tiny` without --out writes <data root>/synth_dfew_tiny, wherever the root is."""
    from typer.testing import CliRunner

    from affectgate.cli import app
    from affectgate.project.settings import get_settings

    monkeypatch.setenv("AFFECTGATE_DATA_ROOT", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(app, ["data", "synth", "--tiny"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    assert is_synthetic(root=tmp_path / "elsewhere" / "synth_dfew_tiny")
