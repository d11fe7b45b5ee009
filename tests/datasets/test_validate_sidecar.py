"""`affectgate data validate` joins the metadata.csv sidecar's group columns, as the gate does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _loader_fixtures import write_bytes, write_jpg
from affectgate.cli import app
from affectgate.datasets.selection import select_for_gate

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
SETS = "Train & Test Set"
SIDECAR = (
    "sample_id,subject_id,skin_tone_group,sex,age_band,consent_basis\n"
    "00025,s1,tone_a,female,18-29,explicit_consent\n"
    "00031,s2,tone_b,male,30-44,explicit_consent\n"
    "00102,s3,tone_a,male,45-59,explicit_consent\n"
    "00777,s4,tone_b,female,18-29,explicit_consent\n"
)


def _mafw(root: Path, *, sidecar: str | None) -> Path:
    """MAFW as distributed (set_1 single/no_caption, mp4 clips and one frame folder), optionally with metadata.csv."""
    folder = root / SETS / "single" / "no_caption" / "set_1"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_bytes(b"00025.mp4 anger\n00031.mp4 contempt\n")
    (folder / "test.txt").write_bytes(b"00102.mp4 helplessness\n00777.mp4 happiness\n")
    for clip in ("00025", "00102", "00777"):
        write_bytes(root / "data" / "clips" / f"{clip}.mp4")
    write_jpg(root / "data" / "frames" / "00031" / "00001.jpg")
    if sidecar is not None:
        (root / "metadata.csv").write_text(sidecar, encoding="utf-8")
    return root


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings with the data root at <tmp>/data and a fresh workspace; returns the data root."""
    monkeypatch.setenv("AFFECTGATE_PROJECT_ROOT", str(ROOT))
    monkeypatch.setenv("AFFECTGATE_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("AFFECTGATE_WORKSPACE", str(tmp_path / "ws"))
    return tmp_path / "data"


def _validate(root: Path, *extra: str) -> object:
    # the face screening (sets that are not face crops) is not what these tests are about: their mp4s are stubs
    return runner.invoke(app, ["data", "validate", "--format", "mafw", str(root), "--fold", "1", "--no-faces", *extra])


def test_fairness_passes_with_the_sidecar_joined(env: Path, tmp_path: Path) -> None:
    """MAFW carries no groups: with metadata.csv, --fairness passes and says which columns were joined."""
    root = _mafw(env / "mafw", sidecar=SIDECAR)
    out = tmp_path / "gx.json"
    res = _validate(root, "--fairness", "--json", str(out))
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if "joined from metadata.csv" in x)
    assert line.startswith("group columns joined from metadata.csv: ")
    for col in ("subject_id", "skin_tone_group", "sex", "age_band", "consent_basis"):
        assert col in line
    assert "(4/4 samples)" in line
    assert "group attribute skin_tone_group present" in res.output and "PASSED" in res.output
    report = json.loads(out.read_text())
    assert report["success"] is True and report["fairness"] is True and report["special_category"] is True
    assert set(report["required_groups"]) == {"skin_tone_group", "sex", "age_band"}
    # the gate sees the same columns
    loaded, _ = select_for_gate(fmt="mafw", root=root, fold=1, split="test")
    assert loaded.samples["skin_tone_group"].notna().all()


def test_fairness_fails_without_the_sidecar(env: Path) -> None:
    """Without metadata.csv: exit 1, the missing group attributes named, and no 'joined' line."""
    root = _mafw(env / "mafw", sidecar=None)
    res = _validate(root, "--fairness")
    assert res.exit_code == 1, res.output
    assert "group attributes present (fairness requested)" in res.output
    assert "skin_tone_group" in res.output and "FAILED" in res.output
    assert "joined from metadata.csv" not in res.output
    named = _validate(root, "--group", "skin_tone_group")
    assert named.exit_code == 1, named.output
    assert "group attribute skin_tone_group present" in named.output and "FAIL" in named.output


def test_partial_sidecar_fails_on_the_missing_rows(env: Path) -> None:
    """A sidecar missing one sample's row: joined for the others, the group check fails on that sample."""
    partial = "\n".join(SIDECAR.splitlines()[:-1]) + "\n"  # no row for 00777
    root = _mafw(env / "mafw", sidecar=partial)
    res = _validate(root, "--group", "sex")
    assert res.exit_code == 1, res.output
    assert "(3/4 samples)" in res.output
    assert "group attribute sex present" in res.output and "FAILED" in res.output
