"""DFEW exactly as distributed (no metadata.csv: no subject ids, no demographics) validates and gates.

The fixture is built here in the real DFEW layout from the tiny synthetic set's frames, with the real
quirks: unpadded ids in the split CSVs (``1,5``) against 5-digit frame folders, both split-folder
spellings (``train(single_labeled)`` and ``test(single-labeled)``), labels 1..7, and no sidecar.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.datasets.base import load_dataset
from affectgate.datasets.dfew import load_dfew_split
from affectgate.datasets.labels import DFEW_LABELS
from affectgate.datasets.validation import CLUSTER_ASSUMPTION, validate_dataset
from affectgate.evaluators import run_evaluator
from affectgate.gate.workspace import audit_log

runner = CliRunner()
LABEL_NUMBER = {name: k for k, name in DFEW_LABELS.items()}


def _write_split(path: Path, samples) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["video_name", "label"])
        for s in samples:
            w.writerow([str(int(s.video_name)), LABEL_NUMBER[s.label]])  # unpadded id, 1-based label


@pytest.fixture(scope="module")
def release(built) -> Path:
    """Fold 1 of the tiny set in the DFEW release layout, inside the workspace's data root, no sidecar."""
    root = built.settings.data_dir / "dfew_as_released"
    if root.exists():
        return root
    test = load_dfew_split(root=built.data, fold=1, split="test")
    train = load_dfew_split(root=built.data, fold=1, split="train")
    for s in (*test.samples, *train.samples):
        dest = root / "Clip" / "clip_224x224" / s.video_name
        if not dest.exists():
            shutil.copytree(s.frame_dir, dest)
    _write_split(root / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv", test.samples)
    _write_split(root / "EmoLabel_DataSplit" / "train(single_labeled)" / "set_1.csv", train.samples)
    assert not (root / "metadata.csv").exists() and not (root / "datasheet.yaml").exists()
    return root


def test_release_layout_validates_with_the_cluster_assumption(release: Path, tmp_path: Path) -> None:
    """`data validate --fairness` passes on DFEW as released and states each-clip-its-own-cluster and the sidecar."""
    out = tmp_path / "gx.json"
    res = runner.invoke(
        app, ["data", "validate", "--format", "dfew", str(release), "--fold", "1", "--fairness", "--json", str(out)]
    )
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())  # rich wraps long lines at the runner's width
    assert "each clip is treated as its own cluster" in said and "fairness unjudgeable" in said, res.output
    report = json.loads(out.read_text())
    assert report["success"] and report["subjects"] == "unknown" and not report["fairness_judgeable"]
    assert report["cluster_assumption"] == CLUSTER_ASSUMPTION
    assert any("metadata.csv" in n for n in report["notes"])
    checks = {e["check"] for e in report["expectations"]}
    assert "subject ids present" not in checks  # not a silent pass: replaced by the stated assumption
    loaded = load_dataset(fmt="dfew", root=release, fold=1)
    assert set(loaded.samples["split"]) == {"train", "test"}
    assert loaded.samples["sample_id"].str.fullmatch(r"[0-9]{5}").all()


def test_some_subject_ids_missing_still_fails(release: Path, tmp_path: Path) -> None:
    """A sidecar that gives subject ids to some clips only fails the subject check and names the sidecar fix."""
    loaded = load_dataset(fmt="dfew", root=release, fold=1, split="test")
    samples = loaded.samples.copy()
    samples["subject_id"] = samples["subject_id"].astype(object)
    samples.loc[1:, "subject_id"] = "s1"
    partial = dataclasses.replace(loaded, samples=samples)
    report = validate_dataset(loaded=partial, data_root=release.parent)
    assert not report.success and report.subjects == "known"
    assert [e.check for e in report.failures()] == ["subject ids present"]
    assert "metadata.csv" in report.summary() and "subjects: unknown" in report.summary()


def test_a_private_set_may_declare_subjects_unknown() -> None:
    """`subjects: unknown` in a datasheet turns the missing subject ids into the stated assumption."""
    from affectgate.datasets.base import LoadedDataset

    samples = pd.DataFrame(
        {
            "sample_id": ["a", "b"],
            "split": ["test", "test"],
            "media_path": ["a", "b"],
            "label": ["anger", "happiness"],
            "subject_id": [None, None],
        }
    )
    base = dict(format="manifest", root=Path("/data/x"), samples=samples, label_names=("anger", "happiness"))
    plain = validate_dataset(loaded=LoadedDataset(**base, problems=[]), data_root=Path("/data"))
    assert "subject ids present" in {e.check for e in plain.failures()}
    declared = LoadedDataset(**base, problems=[], datasheet={"subjects": "unknown"})
    report = validate_dataset(loaded=declared, data_root=Path("/data"))
    assert report.success and report.subjects == "unknown" and "datasheet says subjects: unknown" in report.notes[0]


def test_fairness_without_any_group_attribute_is_unjudgeable_not_passed():
    """No group attribute in the data (DFEW as released): skipped with fairness.unjudgeable = 1 and the sidecar fix."""
    frame = pd.DataFrame({"sample_id": [f"{i:05d}" for i in range(8)], "target": ["anger"] * 8, "pred": ["anger"] * 8})
    result = run_evaluator(name="fairness", predictions=frame, params={})
    assert result.status == "skipped" and "metadata.csv" in (result.error or "")
    assert [(m.name, m.value) for m in result.measurements] == [("fairness.unjudgeable", 1.0)]


@pytest.mark.e2e
def test_gate_on_dfew_as_released_states_the_assumption_and_reviews_fairness(built, release: Path) -> None:
    """The gate evaluates DFEW as released: the assumption is in the report, MLflow and audit; fairness -> review."""
    res = runner.invoke(
        app,
        ["gate", "--plain", "--model", str(built.model), "--context", "eu-telehealth", "--data", str(release)],
    )
    assert res.exit_code in (1, 2), res.output  # never allow: fairness is unjudgeable (review) at best
    assert "UNJUDGEABLE" in res.output and "metadata.csv" in res.output
    run = max(built.settings.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)
    report = json.loads((run / "report.json").read_text())
    assert report["dataset"]["cluster_assumption"] == CLUSTER_ASSUMPTION
    fairness = next(r for r in report["results"] if r["evaluator"] == "fairness")
    assert fairness["status"] == "skipped" and "metadata.csv" in fairness["error"]
    abstention = [r for r in report["results"] if r["evaluator"] == "abstention" and r["status"] == "ok"]
    for r in abstention:
        rate = next(m for m in r["measurements"] if m["name"] == "abstention.rejection_rate")
        assert "each clip its own cluster" in rate["averaging"]
    validation = json.loads((run / "data_validation.json").read_text())
    assert validation["subjects"] == "unknown" and validation["success"]
    started = [e for e in audit_log(built.settings).events() if e.action == "evaluation.started"][-1]
    assert started.payload["data_validation"]["cluster_assumption"] == CLUSTER_ASSUMPTION
    decided = [e for e in audit_log(built.settings).events() if e.action == "decision.made"][-1]
    assert "quality.fairness.unjudgeable" in json.dumps(decided.payload)
    import mlflow

    mlflow.set_tracking_uri(built.settings.tracking_uri)
    runs = mlflow.search_runs(
        search_all_experiments=True, filter_string=f"params.affectgate_run_id = '{run.name}'", output_format="list"
    )
    assert runs and runs[0].data.tags["affectgate.cluster_assumption"] == CLUSTER_ASSUMPTION
    assert runs[0].data.params["subjects"] == "unknown"
