"""`affectgate data validate` and `affectgate data status` through the real Typer app."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.core.records import DatasetSpec, EvalReport
from affectgate.datasets.digest import dir_digest

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A tiny synthetic DFEW set (12 clips, 2 folds) under <tmp>/data/tiny."""
    from affectgate.datasets.synth import generate_dfew
    from affectgate.demo.tiny import tiny_synth_config

    cfg = tiny_synth_config().model_copy(
        update={"n_subjects": 6, "clips_per_subject": 2, "frames": 2, "image_size": 32, "folds": 2}
    )
    root = tmp_path_factory.mktemp("cli") / "data" / "tiny"
    generate_dfew(root=root, config=cfg)
    return root


@pytest.fixture
def env(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings pointing at the tiny set's data root and a fresh workspace; returns the workspace."""
    monkeypatch.setenv("AFFECTGATE_PROJECT_ROOT", str(ROOT))
    monkeypatch.setenv("AFFECTGATE_DATA_ROOT", str(tiny.parent))
    monkeypatch.setenv("AFFECTGATE_WORKSPACE", str(tmp_path / "ws"))
    return tmp_path / "ws"


def test_validate_passes_and_prints_counts(tiny: Path, env: Path, tmp_path: Path) -> None:
    """A clean set: exit 0, counts per split/fold and class, zero rejected samples, PASSED, and the JSON result."""
    out = tmp_path / "gx.json"
    res = runner.invoke(app, ["data", "validate", "--format", "dfew", str(tiny), "--fairness", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "samples per split/fold and class" in res.output and "happiness" in res.output
    assert "rejected samples/lines: 0" in res.output
    assert "affectgate.dfew.categorical: PASSED" in res.output
    report = json.loads(out.read_text())
    assert report["success"] is True and report["n_samples"] == 12
    # the printed per-fold totals add up to the clips of the set
    assert all(f"│ test  │ {k}    │" in res.output for k in (1, 2))


def test_validate_fold_selects_train_and_test(tiny: Path, env: Path) -> None:
    """--fold 1 shows the train and test rows of set_1."""
    res = runner.invoke(app, ["data", "validate", "--format", "dfew", str(tiny), "--fold", "1"])
    assert res.exit_code == 0, res.output
    assert "│ train │ 1" in res.output and "│ test  │ 1" in res.output and "│ test  │ 2" not in res.output


def test_validate_fails_with_exit_1_and_names_the_check(tiny: Path, env: Path, tmp_path: Path) -> None:
    """A rejected split line and a missing required group: exit 1, the problem line and the failing checks printed."""
    root = tmp_path / "data2" / "bad"
    shutil.copytree(tiny, root)
    csv = root / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv"
    csv.write_text(csv.read_text(encoding="utf-8") + "00001,8\n", encoding="utf-8")
    res = runner.invoke(
        app,
        ["data", "validate", "--format", "dfew", str(root), "--group", "ethnicity", "--data-root", str(root.parent)],
    )
    assert res.exit_code == 1, res.output
    assert "1 rejected samples/lines" in res.output and "set_1.csv" in res.output
    assert "group attribute ethnicity present" in res.output and "FAIL" in res.output
    assert "FAILED" in res.output


def test_validate_media_outside_data_root_fails(tiny: Path, env: Path, tmp_path: Path) -> None:
    """The default data root is AFFECTGATE_DATA_ROOT: a dataset elsewhere fails the inside-root check (exit 1)."""
    other = tmp_path / "elsewhere" / "tiny"
    shutil.copytree(tiny, other)
    res = runner.invoke(app, ["data", "validate", "--format", "dfew", str(other)])
    assert res.exit_code == 1 and "media path inside the data root" in res.output


def test_validate_errors_exit_3(tiny: Path, env: Path, tmp_path: Path) -> None:
    """An unknown format or a missing folder is an error (exit 3) with the fix."""
    res = runner.invoke(app, ["data", "validate", "--format", "dfw", str(tiny)])
    assert res.exit_code == 3 and "did you mean 'dfew'" in res.output
    res = runner.invoke(app, ["data", "validate", "--format", "dfew", str(tmp_path / "nope")])
    assert res.exit_code == 3 and "dataset folder not found" in res.output


def _report(run_dir: Path, *, root: Path, digest: str, candidate: str) -> None:
    spec = DatasetSpec(
        name=root.name, format="dfew", root=root, fold=1, split="test", digest=digest, synthetic=True, n_samples=6
    )
    report = EvalReport(
        run_id=run_dir.name,
        candidate=candidate,
        onnx_sha256="0" * 64,
        dataset=spec,
        target="cpu",
        suite="release",
        suite_version="0",
        results=(),
        synthetic_data=True,
        created=datetime.now(UTC),
        affectgate_version="test",
    )
    run_dir.mkdir(parents=True)
    (run_dir / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")


def test_status_shows_the_digest_of_every_run(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """data status: one row per run with its digest, whether data.dvc holds it and whether the folder still matches."""
    project = tmp_path / "proj"
    (project / ".dvc").mkdir(parents=True)
    shutil.copy(ROOT / ".dvc" / "config", project / ".dvc" / "config")
    data = project / "data"
    shutil.copytree(tiny.parent, data)
    now = dir_digest(root=data / "tiny")
    whole = dir_digest(root=data)
    (project / "data.dvc").write_text(f"outs:\n- md5: {whole}\n  nfiles: 40\n  hash: md5\n  path: data\n")
    ws = tmp_path / "ws"
    _report(ws / "runs" / "20260101T000000Z-a", root=data / "tiny", digest=now, candidate="cand-now")
    _report(ws / "runs" / "20260101T000001Z-b", root=data, digest=whole, candidate="cand-whole")
    _report(ws / "runs" / "20260101T000002Z-c", root=data / "tiny", digest="f" * 32 + ".dir", candidate="cand-old")
    (ws / "runs" / "20260101T000003Z-d").mkdir()
    (ws / "runs" / "20260101T000003Z-d" / "report.json").write_text("{not json")
    monkeypatch.setenv("AFFECTGATE_PROJECT_ROOT", str(project))
    monkeypatch.setenv("AFFECTGATE_WORKSPACE", str(ws))
    monkeypatch.setenv("COLUMNS", "250")
    res = runner.invoke(app, ["data", "status"])
    assert res.exit_code == 0, res.output
    lines = {ln.split("│")[1].strip(): ln for ln in res.output.splitlines() if ln.startswith("│ 2026")}
    cells = {k: [c.strip() for c in v.split("│")[1:-1]] for k, v in lines.items()}
    assert cells["20260101T000000Z-a"][2:] == ["tiny", now, "-", "yes"]  # no DVC cache listing: unknown
    assert cells["20260101T000001Z-b"][2:] == ["data", whole, "yes", "yes"]
    assert cells["20260101T000002Z-c"][2:] == ["tiny", "f" * 32 + ".dir", "-", "NO"]
    assert "unreadable report" in res.output
    assert f"md5 {whole}" in res.output and "workspace in sync" in res.output
    assert "DVC remote local (default): ../.affectgate/dvc-remote" in res.output
    assert str(project / ".affectgate" / "dvc-remote") in res.output
