"""The audio-visual fusion model and the engagement-signal model through the gate, with tiny configs.

av_fusion is trained on the train split of a tiny synthetic RAVDESS-layout set (mp4 video + wav audio,
read by the RAVDESS loader) and gated on fold 1's test actors, its audio turned into the log-mel input
its card declares. The engagement model is trained on a tiny synthetic engagement set and gated with
the ``engagement`` suite for the e-learning engagement context (engagement signals not mapped to
emotions, Recital 18) and the classroom context. Each test has its own workspace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.project.settings import Settings
from conftest import own_workspace

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@dataclass(frozen=True)
class Space:
    settings: Settings
    data: Path


@pytest.fixture
def space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Space]:
    with own_workspace(tmp_path, monkeypatch) as settings:
        yield Space(settings=settings, data=tmp_path / "data")


def _report(space: Space) -> tuple[Path, dict]:
    run = max(space.settings.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)
    return run, json.loads((run / "report.json").read_text())


def _decision(run: Path, context: str) -> dict:
    return json.loads((run / f"decision.{context}.json").read_text())


@pytest.mark.e2e
def test_av_fusion_through_the_gate_on_a_ravdess_layout(space):
    """av_fusion gets clip and log-mel audio on RAVDESS fold 1; robustness corrupts the video beside clean audio."""
    from affectgate.datasets.synth.av_layout import AVSynthConfig, generate_ravdess
    from affectgate.zoo.build import export_zoo_model, train_on_format

    data = space.data / "synth_ravdess"
    generate_ravdess(
        root=data, config=AVSynthConfig(seed=3, n_actors=8, statements=1, repetitions=1, frames=4, image_size=32)
    )
    out = space.settings.models_dir / "av_fusion"
    config = {"frames": 4, "size": 32, "epochs": 6, "width": 8}
    train_on_format(
        project_root=ROOT, arch="av_fusion", data=data, data_format="ravdess", fold=1, out=out, config=config
    )
    export_zoo_model(project_root=ROOT, arch="av_fusion", out=out)
    res = runner.invoke(
        app,
        [
            "gate",
            "--plain",
            "--model",
            str(out),
            "--data",
            str(data),
            "--format",
            "ravdess",
            "--context",
            "eu-telehealth",
        ],
        catch_exceptions=False,
    )
    assert res.exit_code in (0, 1, 2), res.output
    run, report = _report(space)
    ds = report["dataset"]
    assert (ds["format"], ds["fold"], ds["split"], ds["synthetic"]) == ("ravdess", 1, "test", True)
    assert ds["n_samples"] == 4 * 13  # actors 1-4, 13 recordings each (7 emotions, neutral without strong)
    status = {r["evaluator"]: (r["status"], r["error"]) for r in report["results"]}
    assert status["accuracy"][0] == "ok" and status["latency"][0] == "ok", status
    assert status["robustness"][0] == "ok", status  # corrupted video, its clean audio beside it
    rob = next(r for r in report["results"] if r["evaluator"] == "robustness")
    clean = next(m for m in rob["measurements"] if m["name"] == "robustness.clean_war")
    assert clean["n"] == 32 and "audio input unchanged" in clean["averaging"]  # the release suite's subsample
    assert any(m["name"] == "robustness.worst_war_delta" for m in rob["measurements"])
    pred = pd.read_parquet(run / "predictions.parquet")
    assert len(pred) == 52 and set(pred["sex"]) == {"male", "female"}
    assert pred["skin_tone_group"].str.startswith("tone_").all()  # from the generator's metadata.csv sidecar
    war = next(m["value"] for r in report["results"] for m in r["measurements"] if m["name"] == "war")
    assert war > 1 / 7  # better than chance on held-out actors: the audio carries the emotion
    decision = _decision(run, "eu-telehealth")
    assert decision["verdict"] in ("allow", "block", "review") and decision["outcomes"]


@pytest.mark.e2e
def test_engagement_model_through_the_gate(space):
    """The engagement model is decided on its evidence for e-learning, never blocked by Art. 5(1)(f) there."""
    from affectgate.datasets.synth.engagement import EngagementConfig, generate_engagement
    from affectgate.zoo.build import export_zoo_model, train_on_format

    data = space.data / "synth_engagement"
    generate_engagement(
        root=data,
        # 18 subjects, half held out stratified by skin tone: 3 test subjects per group, enough to judge the gap
        config=EngagementConfig(seed=5, n_subjects=18, clips_per_subject=3, frames=4, image_size=64, test_fraction=0.5),
    )
    out = space.settings.models_dir / "engagement"
    config = {"frames": 4, "size": 64, "epochs": 12, "batch_size": 8, "lr": 0.004}
    train_on_format(project_root=ROOT, arch="engagement", data=data, data_format="engagement", out=out, config=config)
    export_zoo_model(project_root=ROOT, arch="engagement", out=out)
    args = ["gate", "--plain", "--model", str(out), "--data", str(data), "--format", "engagement"]
    res = runner.invoke(
        app,
        [*args, "--suite", "engagement", "--context", "eu-elearning-engagement", "--context", "eu-classroom"],
        catch_exceptions=False,
    )
    assert res.exit_code in (0, 1, 2), res.output
    run, report = _report(space)
    assert report["dataset"]["format"] == "engagement" and report["dataset"]["split"] == "test"
    status = {r["evaluator"]: r["status"] for r in report["results"]}
    assert status == {"engagement": "ok", "int8_drop": "skipped", "latency": "ok"}, report["results"]  # fp32
    names = {m["name"] for r in report["results"] for m in r["measurements"]}
    assert {"mae_yaw", "ccc_attention", "blink_f1"} <= names and not {"war", "uar"} & names
    gap = next(m for r in report["results"] for m in r["measurements"] if m["name"] == "fairness.error_max_gap")
    assert gap["value"] is not None and gap["ci_low"] <= gap["value"] <= gap["ci_high"]  # judged, with its CI
    pred = pd.read_parquet(run / "predictions.parquet")
    assert len(pred) == report["dataset"]["n_samples"] * 4 and np.isfinite(pred["pred_yaw"]).all()
    elearning = _decision(run, "eu-elearning-engagement")
    by_rule = {o["rule_id"]: o for o in elearning["outcomes"]}
    assert by_rule["euaia.art5_1f.workplace_education"]["status"] != "fail"
    # judged on the engagement-score error gap, not on an accuracy gap it cannot have
    assert by_rule["quality.fairness.max_group_gap"]["status"] == "not_applicable"
    assert by_rule["quality.fairness.max_error_gap"]["status"] in ("pass", "fail")
    assert by_rule["quality.fairness.error_gap_inconclusive"]["status"] in ("pass", "fail")
    assert elearning["verdict"] == "allow" or all(
        o["message"] for o in elearning["outcomes"] if o["status"] in ("fail", "error")
    )
    print(
        "\neu-elearning-engagement:",
        elearning["verdict"],
        [o["rule_id"] for o in elearning["outcomes"] if o["status"] in ("fail", "error")],
    )
    classroom = _decision(run, "eu-classroom")
    print(
        "eu-classroom:",
        classroom["verdict"],
        [o["rule_id"] for o in classroom["outcomes"] if o["status"] in ("fail", "error")],
    )
    # an engagement model on an emotion-labelled set is refused before evaluation
    res = runner.invoke(app, [*args[:-2], "--format", "ravdess", "--context", "eu-telehealth"], catch_exceptions=False)
    assert res.exit_code == 3, res.output


@pytest.mark.e2e
def test_demo_part_c_signal_models_table(space):
    """Part C's signal models (demo-size configs cut to 2 epochs) are trained, gated on their own sets and tabled."""
    import io
    from dataclasses import replace
    from functools import partial

    from rich.console import Console

    from affectgate.demo.zoo import SIGNAL_DEMOS, print_zoo_table, run_signal_models
    from affectgate.gate.run import run_gate

    # 2 epochs, and the quick suite for av_fusion (its robustness is covered by the gate test above)
    demos = tuple(
        replace(d, config={**d.config, "epochs": 2}, suite="quick" if d.suite == "release" else d.suite)
        for d in SIGNAL_DEMOS
    )
    buf = io.StringIO()
    console = Console(file=buf, width=220)
    rows = run_signal_models(
        settings=space.settings, gate=partial(run_gate, settings=space.settings), console=console, demos=demos
    )
    assert [(r.arch, r.technique, r.precision) for r in rows] == [
        ("av_fusion", "audio_video_fusion", "fp32"),
        ("av_fusion", "audio_video_fusion", "int8"),  # dynamic int8, its drop measured by the gate
        ("engagement", "engagement_signals", "fp32"),
        ("engagement", "engagement_signals", "int8"),  # static QDQ calibrated on the engagement set
    ]
    assert rows[1].results[0].metrics["int8.war_drop"] is not None
    assert [r.context_id for r in rows[2].results] == ["eu-elearning-engagement", "eu-classroom"]
    assert rows[2].results[1].verdict == "block"  # classroom: Art. 5(1)(f), whatever the model
    assert rows[3].results[0].metrics["int8.attention_mae_increase"] is not None  # its int8 cost, measured
    decided = {o.split(" [")[0] for o in rows[3].results[0].reason_rules}
    assert "quality.int8.war_drop" not in decided  # judged on its MAE increase, not a WAR drop
    print_zoo_table(rows, console=console)
    text = buf.getvalue()
    assert "av_fusion: ravdess layout" in text and "engagement: engagement layout" in text
