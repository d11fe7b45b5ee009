"""The gate and `affectgate evaluate` on every registered dataset format (``--format``), failing closed.

Data are built here: the synthetic private-set manifest layout, and a MAFW-layout copy (real MAFW
split files, mp4 clips, an affectgate ``metadata.csv`` sidecar for the group attributes) of the tiny
DFEW set's fold-1 test clips, encoded as videos so the media path of another format is exercised.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from _loader_fixtures import write_video
from affectgate.cli import app
from affectgate.datasets.clips import read_clip
from affectgate.datasets.dfew import load_dfew_split
from affectgate.datasets.selection import gate_formats, resolve_selection, select_for_gate
from affectgate.gate.workspace import audit_log, registry

runner = CliRunner()
CONTEXTS = ("--context", "eu-telehealth", "--context", "eu-classroom")


def _gate(*args: str):
    return runner.invoke(app, ["gate", "--plain", *args])


def _last_run(ws) -> Path:
    return max(ws.settings.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)


@pytest.fixture(scope="module")
def manifest_set(built) -> Path:
    from affectgate.datasets.synth.manifest_layout import ManifestSynthConfig, generate_manifest_set

    root = built.settings.data_dir / "synth_private_gate"
    cfg = ManifestSynthConfig(seed=1, n_subjects=12, clips_per_subject=4, frames=4, image_size=48, folds=2)
    generate_manifest_set(root=root, config=cfg)
    return root


@pytest.fixture(scope="module")
def mafw_set(built) -> Path:
    """The tiny DFEW set's fold-1 test clips in the MAFW layout: ``data/clips/<id>.mp4`` and set_1 split files."""
    root = built.settings.data_dir / "mafw_from_dfew"
    split = load_dfew_split(root=built.data, fold=1, split="test")
    sets = root / "Train & Test Set" / "single" / "no_caption" / "set_1"
    sets.mkdir(parents=True)
    lines = []
    for s in split.samples:
        n = len(list(s.frame_dir.glob("*.jpg")))
        frames = list(read_clip(frame_dir=s.frame_dir, frames=n, size=48))
        write_video(root / "data" / "clips" / f"{s.video_name}.mp4", frames, fps=4)
        lines.append(f"{s.video_name}.mp4 {s.label}")
    (sets / "test.txt").write_text("\n".join(lines) + "\n")
    (sets / "train.txt").write_text(lines[0] + "\n")  # MAFW ships both files; the gate reads test
    meta = pd.read_csv(built.data / "metadata.csv", dtype=str)
    meta["video_name"] = meta["video_name"].str.zfill(5)
    meta[meta["video_name"].isin([s.video_name for s in split.samples])].to_csv(root / "metadata.csv", index=False)
    shutil.copy(built.data / "datasheet.yaml", root / "datasheet.yaml")  # synthetic: true travels with the copy
    return root


def test_every_registered_format_has_a_gate_default():
    """Each registered loader format resolves to a (fold, split) selection when none is given."""
    for fmt in gate_formats():
        fold, split = resolve_selection(fmt=fmt, fold=None, split=None)
        assert fold is None or fold >= 1, fmt
    assert resolve_selection(fmt="dfew", fold=None, split=None) == (1, "test")
    assert resolve_selection(fmt="manifest", fold=2, split="all") == (2, "all")


@pytest.mark.e2e
def test_gate_on_a_private_manifest_set(built, manifest_set):
    """A private set given as a manifest is validated, evaluated on its frames and decided per context."""
    res = _gate("--model", str(built.model), *CONTEXTS, "--data", str(manifest_set), "--format", "manifest")
    assert res.exit_code in (1, 2), res.output  # classroom blocks (Art. 5(1)(f)) whatever the metrics
    assert "Art. 5(1)(f)" in res.output and "SYNTHETIC" in res.output
    run = _last_run(built)
    report = json.loads((run / "report.json").read_text())
    ds = report["dataset"]
    assert (ds["format"], ds["name"], ds["split"], ds["fold"], ds["synthetic"]) == (
        "manifest",
        "synth_private_gate",
        "all",
        None,
        True,
    )
    assert ds["n_samples"] == 48 and ds["digest"].endswith(".dir")
    status = {r["evaluator"]: r["status"] for r in report["results"]}
    assert status["accuracy"] == status["fairness"] == status["robustness"] == "ok", report["results"]
    validation = json.loads((run / "data_validation.json").read_text())
    assert validation["suite"] == "affectgate.manifest.manifest" and validation["success"]
    pred = pd.read_parquet(run / "predictions.parquet")
    manifest = pd.read_csv(manifest_set / "manifest.csv", dtype=str).set_index("sample_id")
    assert list(pred["sample_id"]) == list(manifest.index)
    assert (pred["target"].to_numpy() == manifest.loc[pred["sample_id"], "label"].to_numpy()).all()
    assert (pred["skin_tone_group"].to_numpy() == manifest.loc[pred["sample_id"], "skin_tone_group"].to_numpy()).all()
    # the manifest's first annotator is scored as Cohen's kappa
    acc = next(r for r in report["results"] if r["evaluator"] == "accuracy")
    assert any(m["name"] == "kappa" for m in acc["measurements"])
    started = [e for e in audit_log(built.settings).events() if e.action == "evaluation.started"][-1]
    assert started.payload["dataset_format"] == "manifest" and started.payload["candidate_kind"] == "onnx"
    # the same set, one fold: only that fold's rows
    loaded, split = select_for_gate(fmt="manifest", root=manifest_set, fold=2, split=None)
    assert len(split.samples) == 24 and set(loaded.samples["fold"]) == {2}


@pytest.mark.e2e
def test_evaluate_on_mafw_mp4_clips_matches_the_dfew_frames(built, mafw_set):
    """`affectgate evaluate --data-format mafw` decodes the mp4 clips and scores them like the same DFEW frames."""
    res = runner.invoke(
        app,
        ["evaluate", "--candidate", str(built.model), "--dataset", str(mafw_set), "--data-format", "mafw"],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    run = _last_run(built)
    report = json.loads((run / "report.json").read_text())
    assert report["dataset"]["format"] == "mafw" and report["dataset"]["fold"] == 1
    assert report["dataset"]["split"] == "test" and report["synthetic_data"] is True
    n = len(load_dfew_split(root=built.data, fold=1, split="test").samples)
    assert report["dataset"]["n_samples"] == n
    status = {r["evaluator"]: r["status"] for r in report["results"]}
    assert all(status[e] == "ok" for e in ("accuracy", "abstention", "fairness", "robustness")), report["results"]
    assert status["latency"] == "ok"
    war = next(m["value"] for r in report["results"] for m in r["measurements"] if m["name"] == "war")
    assert war >= 0.7  # the model's own frames, re-encoded as mp4 (MPEG-4 part 2) and decoded with PyAV
    pred = pd.read_parquet(run / "predictions.parquet")
    assert pred["skin_tone_group"].notna().all() and pred["subject_id"].str.len().gt(0).all()  # from the sidecar


@pytest.mark.e2e
def test_mafw_without_group_attributes_fails_closed(built, mafw_set):
    """Without the sidecar the MAFW set has no group attributes: validation fails, exit 3, audited, no run."""
    data = built.settings.data_dir / "mafw_no_groups_gate"
    shutil.copytree(mafw_set, data)
    (data / "metadata.csv").unlink()
    n_runs = len(list(built.settings.runs_dir.iterdir()))
    res = _gate("--model", str(built.model), *CONTEXTS, "--data", str(data), "--format", "mafw")
    assert res.exit_code == 3, res.output
    assert "data validation failed" in res.output and "skin_tone_group" in res.output
    assert "--format mafw" in res.output  # the fix names the validate command for this format
    assert len(list(built.settings.runs_dir.iterdir())) == n_runs
    last = audit_log(built.settings).events()[-1]
    assert last.action == "gate.error" and last.payload["promoted"] is False and "format:mafw" in last.subject


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--format", "dfwe"), "did you mean 'dfew'"),  # a typo: the closest format is suggested
        (("--format", "manifest", "--split", "test"), "no manifest samples"),  # the synthetic rows are all 'all'
        (("--format", "dfew", "--fold", "9"), "DFEW fold 9 does not exist"),
        (("--format", "ravdess"), "no Actor_XX folders"),
    ],
)
def test_bad_format_or_selection_is_exit_3_and_audited(built, manifest_set, args, expected):
    """An unknown format, a missing split or another format's layout: exit 3, an audit event, no alias."""
    data = built.data if "dfew" in args or "dfwe" in args else manifest_set
    before = len(audit_log(built.settings).events())
    res = _gate("--model", str(built.model), *CONTEXTS, "--data", str(data), *args)
    assert res.exit_code == 3, res.output
    assert expected in res.output.replace("\n", " "), res.output
    events = audit_log(built.settings).events()
    assert len(events) == before + 1 and events[-1].action == "gate.error"
    assert (
        registry(built.settings).alias_version(name="affectgate-mobilenet_v2_frame", context_id="eu-classroom") is None
    )


def test_unscorable_labels_fail_before_inference(tmp_path):
    """A selection holding a non-canonical class (RAVDESS calm) cannot be scored by a 7-class model."""
    from affectgate.core.errors import DataError
    from affectgate.datasets.base import LoadedDataset
    from affectgate.datasets.selection import check_labels_scorable

    samples = pd.DataFrame({"sample_id": ["a", "b"], "label": ["calm", "anger"]})
    loaded = LoadedDataset(format="ravdess", root=tmp_path, samples=samples, label_names=("calm", "anger"))
    with pytest.raises(DataError, match=r"calm: 1"):
        check_labels_scorable(loaded=loaded)


@pytest.mark.e2e
def test_prefect_flow_takes_format_and_selection_parameters(built, manifest_set):
    """The release-gate flow passes data_format/fold/split (strings and ints) to the gate's prepare step."""
    from affectgate.orchestration.prefect import get_flow

    flow = get_flow(settings=built.settings, module="release_gate", flow="release_gate")
    (res,) = flow(
        model=str(built.model), contexts=["eu-classroom"], data=str(manifest_set), data_format="manifest", fold=1
    )
    assert res.verdict == "block" and any("Art. 5(1)(f)" in r for r in res.reasons)
    report = json.loads((built.settings.runs_dir / res.run_id / "report.json").read_text())
    assert report["dataset"]["format"] == "manifest" and report["dataset"]["fold"] == 1
    assert report["dataset"]["n_samples"] == 24


def test_manifest_default_selection_is_its_test_rows(tmp_path):
    """Without --split, a manifest with a test split is evaluated on its test rows only, never on training rows."""
    import csv

    from affectgate.datasets.synth.manifest_layout import ManifestSynthConfig, generate_manifest_set

    root = tmp_path / "private"
    generate_manifest_set(root=root, config=ManifestSynthConfig())
    _, split = select_for_gate(fmt="manifest", root=root)
    assert (len(split.samples), split.split) == (12, "all")  # no split column values: every sample
    rows = list(csv.DictReader((root / "manifest.csv").open()))
    for i, row in enumerate(rows):
        row["split"] = "test" if i % 3 == 0 else "train"
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    loaded, split = select_for_gate(fmt="manifest", root=root)
    assert (len(split.samples), split.split) == (4, "test") and set(loaded.samples["split"]) == {"test"}
    _, train = select_for_gate(fmt="manifest", root=root, split="train")
    assert len(train.samples) == 8
