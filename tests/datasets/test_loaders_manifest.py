"""Private-set manifest loader: documented CSV/parquet columns, datasheet checks, special-category basis, bad rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from _loader_fixtures import assert_strict_and_lenient, write_bytes, write_jpg
from affectgate.core.errors import DataError
from affectgate.datasets.base import load_dataset
from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.datasets.manifest import MANIFEST_COLUMNS
from affectgate.datasets.synth.manifest_layout import ManifestSynthConfig, generate_manifest_set

HEADER = (
    "sample_id,media_path,label,valence,arousal,subject_id,split,fold,race,sex,age_band,"
    "capture_date,consent_basis,annotator_ids,annotator_labels"
)
ROWS = (
    "s001,clips/s001,happy,0.6,0.4,p01,test,1,Black,female,18-29,2026-02-14,explicit_consent,a1;a2,happy;happiness",
    "s002,clips/s002,boredom,,,p01,test,1,Black,female,18-29,2026-05-01,explicit_consent,a1;a2,boredom;neutral",
    's003,videos/s003.mp4,anger,-0.5,0.7,p02,train,2,"White, other",male,30-44,2026-11-30,contract,,',
)
SHEET = {
    "name": "call-centre pilot 2026",
    "origin": "recorded with consent in the 2026 pilot, Berlin site",
    "licence": "internal; DPA 2026-03",
    "purpose": "bias and accuracy evaluation of emotion recognition candidates",
    "retention": "until 2028-12-31",
    "legal_basis": "consent (GDPR Art. 6(1)(a))",
    "special_category_basis": "explicit consent (GDPR Art. 9(2)(a)); Art. 10(5) safeguards in DPIA-7",
    "label_map": {"happy": "happiness"},
    "extra_labels": ["boredom"],
}


def _write(root: Path, rows: tuple[str, ...] = ROWS, *, header: str = HEADER, sheet: dict | None = None) -> Path:
    """A private set as documented: manifest.csv, datasheet.yaml, frame folders and a video."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    (root / "datasheet.yaml").write_text(yaml.safe_dump(SHEET if sheet is None else sheet), encoding="utf-8")
    for sid in ("s001", "s002"):
        write_jpg(root / "clips" / sid / "00001.jpg")
    write_bytes(root / "videos" / "s003.mp4")
    return root


def test_reads_every_documented_column(tmp_path: Path) -> None:
    """Labels mapped by the datasheet, declared extra classes kept, date -> quarter, annotators, special category."""
    ds = load_dataset(fmt="manifest", root=_write(tmp_path), strict=True)
    s = ds.samples.set_index("sample_id")
    assert list(s["label"]) == ["happiness", "boredom", "anger"]
    assert s.loc["s002", ["valence", "arousal"]].isna().all()
    assert s.loc["s003", "valence"] == -0.5
    assert list(s["capture_quarter"]) == ["2026Q1", "2026Q2", "2026Q4"]
    assert s.loc["s001", "annotator_labels"] == "happiness;happiness"
    assert s.loc["s003", "race"] == "White, other" and pd.isna(s.loc["s003", "annotator_ids"])
    assert list(s["fold"]) == [1, 1, 2] and list(s["split"]) == ["test", "test", "train"]
    assert s.loc["s003", "media_path"] == "videos/s003.mp4" and s.loc["s003", "consent_basis"] == "contract"
    assert ds.special_category is True
    assert ds.label_names == (*CANONICAL_EMOTIONS, "boredom")
    assert ds.datasheet is not None and ds.datasheet["retention"] == "until 2028-12-31"
    only = load_dataset(fmt="manifest", root=tmp_path, fold=2, split="train")
    assert list(only.samples["sample_id"]) == ["s003"]


def test_parquet_manifest_gives_the_same_samples(tmp_path: Path) -> None:
    """manifest.parquet is read like manifest.csv; both at once is ambiguous and refused."""
    root = _write(tmp_path)
    want = load_dataset(fmt="manifest", root=root).samples
    pd.read_csv(root / "manifest.csv", dtype=str).to_parquet(root / "manifest.parquet")
    with pytest.raises(DataError, match="keep one manifest"):
        load_dataset(fmt="manifest", root=root)
    (root / "manifest.csv").unlink()
    got = load_dataset(fmt="manifest", root=root, strict=True).samples
    pd.testing.assert_frame_equal(got, want)


def test_datasheet_must_be_complete(tmp_path: Path) -> None:
    """A missing datasheet, a missing field or an unknown field is a DataError naming the field."""
    root = _write(tmp_path, sheet={k: v for k, v in SHEET.items() if k != "retention"})
    with pytest.raises(DataError, match="retention"):
        load_dataset(fmt="manifest", root=root)
    (root / "datasheet.yaml").write_text(yaml.safe_dump({**SHEET, "licnce": "x"}), encoding="utf-8")
    with pytest.raises(DataError, match="licnce"):
        load_dataset(fmt="manifest", root=root)
    (root / "datasheet.yaml").unlink()
    with pytest.raises(DataError, match="no datasheet.yaml"):
        load_dataset(fmt="manifest", root=root)


def test_special_category_columns_need_an_art9_basis(tmp_path: Path) -> None:
    """race/ethnicity/skin-tone columns without special_category_basis fail closed, in every mode."""
    root = _write(tmp_path, sheet={k: v for k, v in SHEET.items() if k != "special_category_basis"})
    with pytest.raises(DataError, match="special_category_basis"):
        load_dataset(fmt="manifest", root=root, strict=False)


def test_header_problems_always_raise(tmp_path: Path) -> None:
    """An unknown column, a missing required column or a repeated column is a DataError on line 1."""
    with pytest.raises(DataError, match=r"manifest.csv:1: wrong header: unknown columns \['mood'\]"):
        load_dataset(fmt="manifest", root=_write(tmp_path / "a", header=HEADER + ",mood"))
    with pytest.raises(DataError, match="missing columns"):
        load_dataset(fmt="manifest", root=_write(tmp_path / "b", header=HEADER.replace("subject_id", "person")))
    with pytest.raises(DataError, match="repeated columns"):
        load_dataset(fmt="manifest", root=_write(tmp_path / "c", header=HEADER.replace("sex", "race")))
    assert set(MANIFEST_COLUMNS) >= set(HEADER.split(","))


OK = "explicit_consent"
BAD = [
    (f"s001,clips/s001,anger,,,p03,,,,,,,{OK},,", "duplicate id"),
    (f"s009,../secret,anger,,,p03,,,,,,,{OK},,", "path outside root"),
    (f"s009,/etc/passwd,anger,,,p03,,,,,,,{OK},,", "path outside root"),
    (f"s009,clips/none,anger,,,p03,,,,,,,{OK},,", "missing media"),
    (f"s009,clips/s002,angry,,,p03,,,,,,,{OK},,", "unknown label"),
    (f"s009,clips/s002,anger,nan,0.1,p03,,,,,,,{OK},,", "bad value"),
    (f"s009,clips/s002,,1.2,0.1,p03,,,,,,,{OK},,", "bad value"),
    (f"s009,clips/s002,,,,p03,,,,,,,{OK},,", "malformed line"),
    (f"s009,clips/s002,anger,,,,,,,,,,{OK},,", "malformed line"),
    ("s009,clips/s002,anger,,,p03,,,,,,,because,,", "bad value"),
    (f"s009,clips/s002,anger,,,p03,later,,,,,,{OK},,", "bad value"),
    (f"s009,clips/s002,anger,,,p03,,one,,,,,{OK},,", "bad value"),
    (f"s009,clips/s002,anger,,,p03,,,,,,2026-13-01,{OK},,", "bad value"),
    (f"s009,clips/s002,anger,,,p03,,,,,,,{OK},a1;a2,anger", "inconsistent"),
    (f"s009,clips/s002,anger,,,p03,,,,,,,{OK},a1,grumpy", "unknown label"),
    (f"s009,clips/s002,anger,,,p03,,,,,,{OK},,", "malformed line"),  # one cell short
]


@pytest.mark.parametrize(("row", "kind"), BAD)
def test_bad_rows_raise_in_strict_and_are_counted_otherwise(tmp_path: Path, row: str, kind: str) -> None:
    """Duplicates, traversal, missing media, labels, NaN/range, consent, split, fold, date, annotators."""
    root = _write(tmp_path, rows=(*ROWS, row))
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="manifest", root=root, strict=strict),
        file_name="manifest.csv",
        line=5,
        kind=kind,
        n_good=3,
    )


def test_zero_byte_media_empty_folder_and_quarter_mismatch(tmp_path: Path) -> None:
    """A 0-byte video, a frame folder without images and a date outside its quarter are reported per line."""
    root = _write(tmp_path)
    (root / "videos" / "s003.mp4").write_bytes(b"")
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="manifest", root=root, strict=strict),
        file_name="manifest.csv",
        line=4,
        kind="0-byte media",
        n_good=2,
    )
    root2 = _write(tmp_path / "b")
    (root2 / "clips" / "s002" / "00001.jpg").unlink()
    assert_strict_and_lenient(
        lambda strict: load_dataset(fmt="manifest", root=root2, strict=strict),
        file_name="manifest.csv",
        line=3,
        kind="empty frame folder",
        n_good=2,
    )
    header = HEADER + ",capture_quarter"
    rows = tuple(r + "," + q for r, q in zip(ROWS, ("2026Q1", "2026Q3", "2026Q4"), strict=True))
    assert_strict_and_lenient(
        lambda strict: load_dataset(
            fmt="manifest", root=_write(tmp_path / f"c{strict}", rows, header=header), strict=strict
        ),
        file_name="manifest.csv",
        line=3,
        kind="inconsistent",
        n_good=2,
    )


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_generator_is_deterministic_and_loads_clean(tmp_path: Path) -> None:
    """The synthetic private set is byte-identical per seed, marked synthetic, and loads without problems."""
    cfg = ManifestSynthConfig(seed=2, n_subjects=3, clips_per_subject=2, frames=2, image_size=32)
    s = generate_manifest_set(root=tmp_path / "a", config=cfg)
    generate_manifest_set(root=tmp_path / "b", config=cfg)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    ds = load_dataset(fmt="manifest", root=tmp_path / "a", strict=True)
    assert len(ds.samples) == s.n_clips == 6 and ds.problems == []
    assert ds.datasheet is not None and ds.datasheet["synthetic"] is True
    assert ds.special_category is False  # rendered faces: no personal data
    assert ds.samples["capture_quarter"].str.match(r"^2026Q[1-4]$").all()
    assert ds.samples["annotator_ids"].eq("A1;A2").all()
    by_subject = ds.samples.groupby("subject_id")["fold"].nunique()
    assert (by_subject == 1).all()  # folds are subject-disjoint
    with pytest.raises(DataError, match="not empty"):
        generate_manifest_set(root=_write(tmp_path / "real"), config=cfg)
