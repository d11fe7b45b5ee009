"""Model families on the cross-fold protocol: each fold's model scores its own fold's test split; the mean of folds.

The protocol is what is under test, not training: the family's five fold models are copies of the one
session-trained demo export (``built``), each scored on its fold of a separate tiny 5-fold synthetic
DFEW set (another seed, so no fold is the model's training data); training five models would cost
minutes and test nothing more about the protocol. ``affectgate zoo train --folds`` is tested on its
fold selection only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.core.errors import ModelError
from affectgate.gate.family import FAMILY_FILE, is_family, load_family, read_summary, write_family

runner = CliRunner()
N_FOLDS = 5


@pytest.fixture(scope="module")
def five_fold_set(built) -> Path:
    """A tiny synthetic DFEW set with five subject-disjoint folds (10 subjects, 4 clips each)."""
    from affectgate.datasets.synth import generate_dfew
    from affectgate.demo.tiny import tiny_synth_config

    root = built.settings.data_dir / "synth_dfew_5fold"
    cfg = tiny_synth_config(seed=3).model_copy(update={"folds": N_FOLDS, "n_subjects": 10, "clips_per_subject": 4})
    generate_dfew(root=root, config=cfg)
    return root


@pytest.fixture(scope="module")
def family(built, tmp_path_factory) -> Path:
    """A family folder: family.yaml, the family card and five fold exports (copies of the demo export)."""
    root = tmp_path_factory.mktemp("family") / "mobilenet_family"
    folds = {}
    for k in range(1, N_FOLDS + 1):
        folds[k] = root / f"fold_{k}"
        shutil.copytree(built.model, folds[k])
    write_family(root=root, name="tiny-mobilenet-family", folds=folds)
    return root


def test_family_folder_is_read_and_checked(family, tmp_path):
    """family.yaml lists fold -> export folder; a fold without a model or with another card is a ModelError."""
    assert is_family(family) and is_family(family / FAMILY_FILE)
    fam = load_family(path=family)
    assert sorted(fam.folds) == [1, 2, 3, 4, 5] and fam.card.arch == "mobilenet_v2_frame"
    broken = tmp_path / "broken"
    shutil.copytree(family, broken)
    (broken / "fold_3" / "model.onnx").unlink()
    with pytest.raises(ModelError, match="fold 3 of family tiny-mobilenet-family has no model"):
        load_family(path=broken)


@pytest.mark.e2e
def test_five_fold_family_gate_reports_folds_mean_worst_and_paper(built, five_fold_set, family, tmp_path):
    """A 5-fold family is gated fold by fold: per-fold rows, the mean of folds with a t-interval, the worst fold
    and the card's paper figures in the CLI, report.json, family.json and the Markdown summary."""
    summary_md = tmp_path / "summary.md"
    res = runner.invoke(
        app,
        [
            "gate",
            "--plain",
            "--model",
            str(family),
            "--context",
            "eu-telehealth",
            "--data",
            str(five_fold_set),
            "--suite",
            "quick",
            "--summary",
            str(summary_md),
        ],
    )
    assert res.exit_code in (0, 1, 2), res.output
    out = res.output
    assert "family tiny-mobilenet-family" in out and "mean of 5 folds" in out and "worst fold" in out
    assert "paper: DFEW WAR 55.00" in out and "SYNTHETIC" in out
    runs = sorted(built.settings.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)
    family_run = runs[-1]
    summary = read_summary(family_run)
    assert summary is not None and [r.fold for r in summary.folds] == [1, 2, 3, 4, 5]
    report = json.loads((family_run / "report.json").read_text())
    acc = next(r for r in report["results"] if r["evaluator"] == "accuracy")
    by = {(m["name"], m["group"]): m for m in acc["measurements"]}
    per_fold = [by[("war", f"fold={k}")]["value"] for k in range(1, 6)]
    assert by[("war.fold_mean", None)]["value"] == pytest.approx(sum(per_fold) / 5)
    assert by[("war.fold_mean", None)]["ci_low"] <= by[("war.fold_mean", None)]["value"]
    assert by[("war.fold_worst", None)]["value"] == pytest.approx(min(per_fold))
    assert [r.metrics["war"] for r in summary.folds] == pytest.approx(per_fold)
    # each fold was scored by its own model on its own fold's test split, in a run folder of its own
    fold_runs = {r.fold: r.run_id for r in summary.folds}
    for k, run_id in fold_runs.items():
        ds = json.loads((built.settings.runs_dir / run_id / "report.json").read_text())["dataset"]
        assert (ds["fold"], ds["split"]) == (k, "test")
    stacked = pd.read_parquet(family_run / "predictions.parquet")
    assert sorted(stacked["fold"].unique()) == [1, 2, 3, 4, 5] and report["dataset"]["n_samples"] == len(stacked)
    assert stacked["sample_id"].is_unique  # folds' test splits are disjoint
    md = summary_md.read_text()
    assert "Cross-fold protocol" in md and "mean of 5" in md and "paper: DFEW" in md


def test_zoo_train_folds_selects_every_fold_of_the_set(five_fold_set):
    """`zoo train --folds all` trains one model per fold the set's split files name; a list selects some."""
    from affectgate.cli.zoo import _family_folds
    from affectgate.core.errors import DataError

    assert _family_folds(data=five_fold_set, data_format="dfew", folds="all") == [1, 2, 3, 4, 5]
    assert _family_folds(data=five_fold_set, data_format="dfew", folds="1,3") == [1, 3]
    with pytest.raises(DataError, match="is not 'all'"):
        _family_folds(data=five_fold_set, data_format="dfew", folds="every")


def test_other_evaluators_contribute_their_worst_fold():
    """Every non-accuracy measurement is the worst fold's (direction-aware, None if a fold has none); a failed
    fold fails the family's result, naming the fold."""
    from affectgate.core.records import EvalResult, Measurement
    from affectgate.gate.family import merge_fold_results

    def result(gap: float | None, p95: float, status: str = "ok") -> EvalResult:
        return EvalResult(
            evaluator="x",
            status=status,
            error=None if status == "ok" else "boom",
            measurements=(
                Measurement(name="gap", value=gap, higher_is_better=False, n=10),
                Measurement(name="acc", value=p95, higher_is_better=True, n=10),
            ),
        )

    merged = merge_fold_results(name="x", results={1: result(0.05, 0.9), 2: result(0.12, 0.7), 3: result(0.08, 0.8)})
    values = {m.name: m.value for m in merged.measurements}
    assert values == {"gap": 0.12, "acc": 0.7} and all("worst of 3 folds" in m.averaging for m in merged.measurements)
    merged = merge_fold_results(name="x", results={1: result(None, 0.9), 2: result(0.12, 0.7)})
    assert next(m.value for m in merged.measurements if m.name == "gap") is None
    failed = merge_fold_results(name="x", results={1: result(0.1, 0.9), 2: result(0.1, 0.9, status="failed")})
    assert failed.status == "failed" and failed.error == "fold 2: boom" and failed.measurements == ()
