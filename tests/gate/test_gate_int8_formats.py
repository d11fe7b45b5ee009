"""The int8 accuracy drop measured on a set that is not DFEW: a synthetic private-set manifest (``--format manifest``).

The session's tiny model is quantised as in test_gate_int8.py (static QDQ, 16 calibration clips of the
tiny DFEW set's fold-1 train split) and its int8 variant gated on a manifest set. The ``int8_drop``
evaluator runs the fp32 original on the same selection; here the two WARs are recomputed independently
(the fp32 model's predictions made again, clip by clip, from the manifest's frames) and the drop checked
against them. The second test adds an affectgate ``metadata.csv`` sidecar keyed by ``sample_id`` (the key
a non-DFEW set's sidecar may use): the drop is measured all the same.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.datasets.clips import read_clips
from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.datasets.selection import select_for_gate
from affectgate.evaluators.accuracy import war
from affectgate.inference.predict import open_session, predict_clips
from affectgate.zoo.build import quantize_zoo_model
from affectgate.zoo.runtime import load_candidate

runner = CliRunner()
CONTEXT = "us-ad-testing"


@pytest.fixture(scope="module")
def int8_model(built) -> Path:
    """The same quantisation as test_gate_int8.py's fixture (deterministic: the same int8 folder)."""
    res = quantize_zoo_model(out=built.model, data=built.data, fold=1, n_calib=16, method="static")
    return res.folder


@pytest.fixture(scope="module")
def manifest_set(built) -> Path:
    """A synthetic private set (test_gate_formats.py's config) in a folder of its own."""
    from affectgate.datasets.synth.manifest_layout import ManifestSynthConfig, generate_manifest_set

    root = built.settings.data_dir / "synth_private_int8"
    cfg = ManifestSynthConfig(seed=1, n_subjects=12, clips_per_subject=4, frames=4, image_size=48, folds=2)
    generate_manifest_set(root=root, config=cfg)
    return root


def _fp32_predictions(*, model: Path, data: Path) -> tuple[list[str], list[str], list[str]]:
    """(sample ids, targets, fp32 top-1) on the gate's default manifest selection, without the evaluator's code."""
    cand = load_candidate(path=model)
    _, split = select_for_gate(fmt="manifest", root=data)
    session = open_session(candidate=cand, threads=2)
    preds: list[str] = []
    for s in split.samples:
        clip = read_clips(samples=[s], frames=cand.card.input.frames, size=cand.card.input.size, workers=1)
        probs, _ = predict_clips(session=session, clips=clip)
        preds.append(CANONICAL_EMOTIONS[int(probs[0].argmax())])
    return [s.video_name for s in split.samples], [str(s.label) for s in split.samples], preds


def _gate_int8(built, int8_model: Path, data: Path) -> tuple[Path, dict]:
    args = ["gate", "--plain", "--model", str(int8_model), "--context", CONTEXT, "--data", str(data)]
    res = runner.invoke(app, [*args, "--format", "manifest", "--suite", "quick"])
    assert res.exit_code in (0, 1, 2), res.output
    run = max(built.settings.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)
    return run, json.loads((run / "report.json").read_text())


def _check_drop(*, built, int8_model: Path, data: Path) -> dict[str, float]:
    run, report = _gate_int8(built, int8_model, data)
    ds = report["dataset"]
    assert (ds["format"], ds["name"], ds["synthetic"]) == ("manifest", data.name, True)
    assert report["candidate"] == "affectgate-mobilenet_v2_frame-int8"
    by_name = {r["evaluator"]: r for r in report["results"]}
    q = by_name["int8_drop"]
    assert q["status"] == "ok" and q["error"] is None, q
    m = {x["name"]: x for x in q["measurements"]}
    assert {x["n"] for x in m.values()} == {ds["n_samples"]}

    pred = pd.read_parquet(run / "predictions.parquet")  # the int8 candidate's predictions
    ids, targets, fp32 = _fp32_predictions(model=built.model, data=data)
    assert list(pred["sample_id"]) == ids and list(pred["target"]) == targets and len(ids) == ds["n_samples"]
    y = np.asarray(targets, dtype=object)
    war32 = war(y, np.asarray(fp32, dtype=object))
    war8 = war(y, pred["pred"].to_numpy(dtype=object))
    acc_war = next(x["value"] for x in by_name["accuracy"]["measurements"] if x["name"] == "war")
    assert acc_war == pytest.approx(war8, abs=1e-12)  # the accuracy evaluator scored the same int8 predictions
    assert m["fp32.war"]["value"] == pytest.approx(war32, abs=1e-12)
    assert m["int8.war_drop"]["value"] == pytest.approx(war32 - war8, abs=1e-12)
    assert np.isfinite(m["int8.war_drop"]["value"]) and np.isfinite(m["int8.uar_drop"]["value"])
    agreement = float(np.mean(np.asarray(fp32, dtype=object) == pred["pred"].to_numpy(dtype=object)))
    assert m["int8.top1_agreement"]["value"] == pytest.approx(agreement, abs=1e-12)

    decision = json.loads((run / f"decision.{CONTEXT}.json").read_text())
    rule = {o["rule_id"]: o for o in decision["outcomes"]}["quality.int8.war_drop"]
    assert rule["status"] in ("pass", "fail"), rule
    print(  # noqa: T201 - the measured numbers, shown with -s
        f"\n{data.name}: n={len(ids)} fp32 WAR {war32:.4f} int8 WAR {war8:.4f} "
        f"drop {war32 - war8:+.4f} agreement {agreement:.4f} rule {rule['status']}"
    )
    return {"war32": war32, "war8": war8, "drop": m["int8.war_drop"]["value"]}


@pytest.mark.e2e
def test_int8_drop_measured_on_a_manifest_set(built, int8_model, manifest_set):
    """The int8 variant gated on a manifest set: int8_drop ok on its 48 clips, drop = fp32 WAR - int8 WAR, judged."""
    got = _check_drop(built=built, int8_model=int8_model, data=manifest_set)
    assert -1.0 <= got["drop"] <= 1.0


@pytest.mark.e2e
def test_int8_drop_with_a_sample_id_sidecar(built, int8_model, manifest_set):
    """A ``metadata.csv`` sidecar keyed by sample_id (not DFEW's video_name) does not stop the fp32 re-run."""
    data = built.settings.data_dir / "synth_private_int8_sidecar"
    shutil.copytree(manifest_set, data)
    ids = pd.read_csv(manifest_set / "manifest.csv", dtype=str)["sample_id"]
    pd.DataFrame({"sample_id": ids, "capture_quarter": "2026Q1"}).to_csv(data / "metadata.csv", index=False)
    got = _check_drop(built=built, int8_model=int8_model, data=data)
    assert -1.0 <= got["drop"] <= 1.0


@pytest.mark.e2e
def test_int8_drop_arithmetic_on_a_manifest_split(built, int8_model, manifest_set):
    """The evaluator on the manifest EvalSplit with 6 of 48 int8 predictions made wrong: drop = fp32 WAR - 42/48."""
    from affectgate.evaluators.quantization import evaluate_int8_drop
    from affectgate.evaluators.registry import ModelInputs

    _, split = select_for_gate(fmt="manifest", root=manifest_set)
    ids, targets, fp32 = _fp32_predictions(model=built.model, data=manifest_set)
    wrong = [CANONICAL_EMOTIONS[(CANONICAL_EMOTIONS.index(t) + 1) % len(CANONICAL_EMOTIONS)] for t in targets[:6]]
    int8_pred = wrong + targets[6:]
    predictions = pd.DataFrame({"sample_id": ids, "target": targets, "pred": int8_pred})
    inputs = ModelInputs(candidate=load_candidate(path=int8_model), split=split, threads=2, batch_size=16)  # type: ignore[arg-type]
    res = evaluate_int8_drop(predictions=predictions, params={}, model=inputs)
    assert res.status == "ok"
    m = {x.name: x.value for x in res.measurements}
    y = np.asarray(targets, dtype=object)
    war32 = war(y, np.asarray(fp32, dtype=object))
    assert m["fp32.war"] == pytest.approx(war32)
    assert m["int8.war_drop"] == pytest.approx(war32 - 42 / 48)
    assert m["int8.top1_agreement"] == pytest.approx(
        np.mean(np.asarray(fp32, dtype=object) == np.asarray(int8_pred, dtype=object))
    )
