"""Engagement signals: synthetic generator, renderer knobs, model training, ONNX export and evaluator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch
import yaml

from affectgate.datasets.engagement import engagement_predictions
from affectgate.datasets.synth.engagement import (
    RANGES,
    SIGNALS,
    EngagementConfig,
    EngagementSplit,
    attention_score,
    engagement_montage,
    generate_engagement,
    load_engagement_split,
)
from affectgate.datasets.synth.faces import EXPRESSIONS, FrameKnobs, make_subject, render_face
from affectgate.evaluators.engagement import ccc
from affectgate.evaluators.lookup import list_evaluators, run_evaluator
from affectgate.zoo.archs.engagement import attention_from_signals, engagement_targets
from affectgate.zoo.build import CHECKPOINT, export_zoo_model
from affectgate.zoo.card import apply_config, zoo_card
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.runtime import load_candidate
from affectgate.zoo.train import TrainResult, train_classifier

ROOT = Path(__file__).resolve().parents[2]
TINY = EngagementConfig(seed=5, n_subjects=8, clips_per_subject=4, frames=4, image_size=64, test_fraction=0.25)
TRAIN_CONFIG = {"frames": 4, "size": 64, "epochs": 12, "batch_size": 8, "lr": 0.004}
MONTAGE = Path("/tmp/engagement_montage.png")


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("engagement") / "set"
    generate_engagement(root=root, config=TINY)
    return root


@pytest.fixture(scope="module")
def splits(tiny: Path) -> tuple[EngagementSplit, EngagementSplit]:
    return tuple(load_engagement_split(root=tiny, split=s, frames=4, size=64) for s in ("train", "test"))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def trained(splits: tuple[EngagementSplit, EngagementSplit]) -> TrainResult:
    train, _ = splits
    card = apply_config(card=zoo_card(project_root=ROOT, arch="engagement"), config=TRAIN_CONFIG)
    targets = engagement_targets(
        signals=torch.from_numpy(train.signals),
        attention=torch.tensor(train.meta["attention"].to_numpy(), dtype=torch.float32),
    )
    return train_classifier(card=card, clips=train.clips, targets=None, engagement_targets=targets.numpy(), seed=0)


def _predict(model: torch.nn.Module, split: EngagementSplit) -> tuple[np.ndarray, np.ndarray]:
    card = apply_config(card=zoo_card(project_root=ROOT, arch="engagement"), config=TRAIN_CONFIG)
    with torch.no_grad():
        frame, score = model(torch.from_numpy(to_model_input(clips=split.clips, spec=card.input)))
    return frame.numpy(), score.numpy()[:, 0]


def test_same_seed_same_bytes(tiny: Path, tmp_path: Path) -> None:
    """Two runs with the same config write byte-identical files; another seed writes different ones."""
    again = tmp_path / "again"
    generate_engagement(root=again, config=TINY)
    assert _digests(again) == _digests(tiny)
    other = tmp_path / "other"
    generate_engagement(root=other, config=TINY.model_copy(update={"seed": 6}))
    assert _digests(other) != _digests(tiny)


def test_labels_in_range_blinks_and_metadata(tiny: Path) -> None:
    """Every frame label lies in its range, blinks are short closures, clips carry synthetic metadata."""
    labels = pd.read_csv(tiny / "frame_labels.csv", dtype={"video_name": str})
    meta = pd.read_csv(tiny / "metadata.csv", dtype={"video_name": str})
    assert len(labels) == len(meta) * TINY.frames and list(labels.columns[2:-1]) == list(SIGNALS)
    for s, (lo, hi) in RANGES.items():
        assert labels[s].between(lo, hi).all(), s
    assert set(labels["blink"]) <= {0, 1} and labels["blink"].any()
    assert (labels.loc[labels.blink == 1, "eye_openness"] < 0.5).all()
    assert (labels.loc[labels.blink == 0, "eye_openness"] >= 0.65).all()
    assert meta["attention"].between(0, 1).all()
    assert set(meta.synthetic) == {True} and set(meta.consent_basis) == {"explicit_consent"}
    assert set(meta.capture_quarter) <= set(TINY.quarters)
    assert {"skin_tone_group", "sex", "age_band", "subject_id"} <= set(meta.columns)
    train_subj = set(meta.subject_id[meta.split == "train"])
    test_subj = set(meta.subject_id[meta.split == "test"])
    assert train_subj and test_subj and not train_subj & test_subj
    sheet = yaml.safe_load((tiny / "datasheet.yaml").read_text(encoding="utf-8"))
    assert sheet["synthetic"] is True and "SYNTHETIC DATA" in sheet["creation_note"]
    assert EngagementConfig(**sheet["config"]) == TINY
    frame = cv2.imread(str(tiny / "Clip" / "clip_224x224" / "00001" / "00001_1.jpg"))
    assert frame is not None and frame.shape == (TINY.image_size, TINY.image_size, 3)


def test_attention_score_prefers_looking_at_camera() -> None:
    """Looking straight at the camera with open eyes scores 1; turned away or eyes closed scores near 0."""
    zeros, ones = np.zeros(4), np.ones(4)
    assert attention_score(yaw=zeros, pitch=zeros, gaze_x=zeros, gaze_y=zeros, eye_openness=ones) == 1.0
    assert attention_score(yaw=zeros + 30, pitch=zeros, gaze_x=ones, gaze_y=zeros, eye_openness=ones) < 0.01
    assert attention_score(yaw=zeros, pitch=zeros, gaze_x=zeros, gaze_y=zeros, eye_openness=zeros) == 0.0


def test_model_attention_matches_generator_definition() -> None:
    """The model's in-graph clip attention equals the generator's attention label for the same signals."""
    rng = np.random.default_rng(3)
    signals = np.stack([rng.uniform(lo, hi, size=(3, 6)) for lo, hi in RANGES.values()], axis=-1)
    got = attention_from_signals(torch.from_numpy(signals)).numpy()[:, 0]
    want = [attention_score(**{s: signals[i, :, k] for k, s in enumerate(SIGNALS)}) for i in range(3)]
    assert np.allclose(got, want)


def test_knobs_change_the_face_where_expected() -> None:
    """Default engagement knobs leave the frame unchanged; yaw moves the face, gaze and blinks only the eyes."""
    subject = make_subject(
        subject_id="T", skin_tone_group="tone_a", sex="male", age_band="30-44", rng=np.random.default_rng(0)
    )

    def face(**kw: float) -> np.ndarray:
        knobs = FrameKnobs(noise=0.0, **kw)
        return render_face(
            subject=subject,
            expr=EXPRESSIONS["neutral"],
            intensity=0.0,
            size=96,
            knobs=knobs,
            rng=np.random.default_rng(1),
        ).astype(np.int16)

    base = face()
    explicit = face(yaw=0.0, pitch=0.0, gaze_x=0.0, gaze_y=0.0, eye_openness=1.0)
    assert np.array_equal(base, explicit)
    changed = {
        k: (np.abs(face(**{k: v}) - base).max(axis=2) > 30)
        for k, v in {"yaw": 25.0, "pitch": 12.0, "gaze_x": 1.0, "eye_openness": 0.0}.items()
    }
    eye_rows = slice(int(96 * 0.35), int(96 * 0.52))  # eyes sit at ~0.44 of the height
    for k in ("gaze_x", "eye_openness"):
        rows = np.flatnonzero(changed[k].any(axis=1))
        assert rows.size and rows.min() >= eye_rows.start and rows.max() < eye_rows.stop, k
    assert changed["yaw"].sum() > 4 * changed["gaze_x"].sum()
    assert changed["pitch"][int(96 * 0.6) :].any()  # the mouth moves too


def test_trains_better_than_constant(trained: TrainResult, splits: tuple[EngagementSplit, EngagementSplit]) -> None:
    """On held-out subjects the trained model's yaw and pitch MAE beat predicting the train mean."""
    train, test = splits
    frame, _ = _predict(trained.model, test)
    baseline = train.signals.reshape(-1, len(SIGNALS)).mean(axis=0)
    for i, s in enumerate(SIGNALS[:2]):
        mae = np.abs(frame[..., i] - test.signals[..., i]).mean()
        const = np.abs(baseline[i] - test.signals[..., i]).mean()
        assert mae < 0.8 * const, (s, mae, const)


def test_export_parity_and_no_emotion_output(trained: TrainResult, tmp_path: Path) -> None:
    """The zoo export path (checkpoint -> ONNX) passes parity with a dynamic batch and a sha256 lock; no output is
    an emotion or valence-arousal output."""
    card = apply_config(card=zoo_card(project_root=ROOT, arch="engagement"), config=TRAIN_CONFIG)
    assert card.output_kinds == ("engagement",) and card.labels == ()
    assert {o.kind for o in card.outputs} == {"engagement"}
    checkpoint = {"arch": "engagement", "state_dict": trained.model.state_dict(), "config": TRAIN_CONFIG}
    torch.save({**checkpoint, "trained_on": "synthetic-engagement", "fold": 1}, tmp_path / CHECKPOINT)
    result = export_zoo_model(project_root=ROOT, arch="engagement", out=tmp_path)
    lock = json.loads((tmp_path / "model.lock.json").read_text())
    assert lock["sha256"] == hashlib.sha256(result.onnx_path.read_bytes()).hexdigest()
    assert result.parity_max_abs_diff <= card.parity_tolerance
    cand = load_candidate(path=tmp_path)  # the gate's loader accepts it (no class-count check on regressions)
    assert cand.card.output_kinds == ("engagement",) and cand.onnx_sha256 == lock["sha256"]
    graph = onnx.load(str(result.onnx_path)).graph
    assert [o.name for o in graph.output] == [o.name for o in card.outputs]
    kinds = {o.name: o.kind for o in card.outputs}
    assert not {kinds[o.name] for o in graph.output} & {"discrete_emotion", "valence_arousal"}
    sess = ort.InferenceSession(str(result.onnx_path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        x = np.random.default_rng(batch).normal(size=(batch, 4, 3, 64, 64)).astype(np.float32)
        frame, score = sess.run(None, {"clip": x})
        assert frame.shape == (batch, 4, len(SIGNALS)) and score.shape == (batch, 1)
        assert ((score >= 0) & (score <= 1)).all()


def test_evaluator_metrics_against_oracles() -> None:
    """MAE equals sklearn's, CCC follows its 1/N formula (1 for a perfect fit), blink F1 uses the threshold."""
    rng = np.random.default_rng(0)
    signals = rng.uniform(-1, 1, size=(6, 5, len(SIGNALS)))
    signals[..., 4] = rng.uniform(0.7, 1.0, size=(6, 5))
    blink = np.zeros((6, 5), dtype=int)
    blink[0, 1] = blink[3, 2] = 1
    signals[blink == 1, 4] = 0.1
    pred = signals + rng.normal(0, 0.1, size=signals.shape)
    table = engagement_predictions(
        sample_ids=[f"{i:05d}" for i in range(6)],
        signals=signals,
        predicted=pred,
        blink=blink,
        attention=rng.uniform(0, 1, 6),
        predicted_attention=rng.uniform(0, 1, 6),
        clip_columns={"skin_tone_group": ["tone_a", "tone_b", "tone_c"] * 2},
    )
    assert "engagement" in list_evaluators()
    params = {"blink_threshold": 0.5, "attributes": ["skin_tone_group"], "min_group_size": 1, "min_group_subjects": 1}
    result = run_evaluator(name="engagement", predictions=table, params=params)
    assert result.status == "ok", result.error
    got = {m.name: m.value for m in result.measurements if m.group is None}
    by_group = {(m.name, m.group): m for m in result.measurements if m.group is not None}
    tone_a = table[table.skin_tone_group == "tone_a"]
    assert by_group[("mae_yaw", "skin_tone_group=tone_a")].value == pytest.approx(
        np.abs(tone_a.pred_yaw - tone_a.yaw).mean()
    )
    assert by_group[("mae_yaw", "skin_tone_group=tone_a")].n == len(tone_a) == 10
    for i, s in enumerate(SIGNALS):
        assert got[f"mae_{s}"] == pytest.approx(np.abs(pred[..., i] - signals[..., i]).mean())
        x, y = signals[..., i].ravel(), pred[..., i].ravel()
        ref = 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
        assert got[f"ccc_{s}"] == pytest.approx(ref)
    assert got["blink_f1"] == pytest.approx(1.0)
    assert ccc(np.arange(5.0), np.arange(5.0)) == pytest.approx(1.0)
    assert got["mae_attention"] is not None and "ccc_attention" in got
    assert not any("emotion" in m.name or m.name in ("war", "uar") for m in result.measurements)


def _attention_table(n_subjects: int = 24, clips: int = 3, worse: str = "tone_c", extra_error: float = 0.25):
    """Clips of subjects in three tone groups; the model's attention error is larger on ``worse``."""
    rng = np.random.default_rng(4)
    n = n_subjects * clips
    subject = np.repeat([f"s{i:02d}" for i in range(n_subjects)], clips)
    tone = np.repeat([("tone_a", "tone_b", "tone_c")[i % 3] for i in range(n_subjects)], clips)
    attention = rng.uniform(0, 1, n)
    noise = rng.normal(0, 0.05, n) + np.where(tone == worse, extra_error, 0.0)
    signals = rng.uniform(-1, 1, size=(n, 2, len(SIGNALS)))
    return engagement_predictions(
        sample_ids=[f"{i:05d}" for i in range(n)],
        signals=signals,
        predicted=signals + 0.01,
        attention=attention,
        predicted_attention=np.clip(attention + noise, 0, 1),
        clip_columns={"skin_tone_group": tone, "subject_id": subject, "sex": ["female", "male"] * (n // 2)},
    )


def test_error_gap_is_the_max_min_group_mae_with_a_subject_bootstrap_ci() -> None:
    """fairness.error_max_gap = max - min per-group attention MAE (one row per clip), CI by subject, finding."""
    table = _attention_table()
    params = {"attributes": ["skin_tone_group", "sex"], "bootstrap_resamples": 300, "threshold": 0.10}
    result = run_evaluator(name="engagement", predictions=table, params=params)
    assert result.status == "ok", result.error
    clips = table.groupby("sample_id").first()
    mae = (clips.pred_attention - clips.attention).abs().groupby(clips.skin_tone_group).mean()
    by = {(m.name, m.group): m for m in result.measurements}
    for tone, value in mae.items():
        m = by[("mae_attention", f"skin_tone_group={tone}")]
        assert m.value == pytest.approx(value) and m.n == 24 and m.label == "attention"
    gap = by[("fairness.error_max_gap.skin_tone_group", None)]
    assert gap.value == pytest.approx(mae.max() - mae.min()) and gap.value > 0.15
    assert gap.ci_low is not None and gap.ci_low <= gap.value <= gap.ci_high
    overall = by[("fairness.error_max_gap", None)]
    assert overall.value == pytest.approx(gap.value) and overall.ci_low == gap.ci_low  # sex is not gated by default
    assert by[("fairness.error_small_groups", None)].value == 0
    assert by[("fairness.error_finding.skin_tone_group", None)].label == "exceeds"  # CI lower bound >= 0.10
    assert ("fairness.error_max_gap.sex", None) in by and ("fairness.accuracy_max_gap", None) not in by


def test_error_gap_fails_closed_and_refuses_other_scales() -> None:
    """Groups too small to judge, a signal not on a 0-1 scale, or no attention output: no gap, a clear error."""
    table = _attention_table(n_subjects=6, clips=1)  # two subjects per tone group: below min_group_subjects 3
    result = run_evaluator(name="engagement", predictions=table, params={"attributes": ["skin_tone_group"]})
    assert result.status == "ok", result.error  # the regression metrics stand
    by = {m.name: m for m in result.measurements if m.group is None}
    assert by["fairness.error_max_gap"].value is None and "cannot be judged" in by["fairness.error_max_gap"].averaging
    assert by["fairness.error_small_groups"].value == 3 and by["mae_attention"].value is not None
    table = _attention_table()
    result = run_evaluator(
        name="engagement", predictions=table, params={"attributes": ["skin_tone_group"], "fairness_signal": "yaw"}
    )
    assert result.status == "failed" and "0-1 scale" in (result.error or "")
    result = run_evaluator(
        name="engagement",
        predictions=table.drop(columns=["pred_attention"]),
        params={"attributes": ["skin_tone_group"]},
    )
    assert result.status == "failed" and "pred_attention" in (result.error or "")
    ok = run_evaluator(
        name="engagement",
        predictions=table,
        params={"attributes": ["skin_tone_group"], "fairness_signal": "eye_openness"},
    )
    assert ok.status == "ok", ok.error
    assert "mae_eye_openness" in next(m for m in ok.measurements if m.name == "fairness.error_max_gap").averaging


def test_montage_written() -> None:
    """A labelled montage of the knobs and of one generated clip strip is saved for visual review."""
    montage = engagement_montage(seed=0)
    assert montage.ndim == 3 and montage.dtype == np.uint8
    assert cv2.imwrite(str(MONTAGE), montage) and MONTAGE.stat().st_size > 0


def test_dashboard_tables_judge_an_engagement_run_on_its_error_gap(tmp_path: Path) -> None:
    """The Fairness page's tables read the engagement evaluator's error gap when a run has no accuracy gap."""
    from datetime import UTC, datetime

    from affectgate.core.records import DatasetSpec, EvalReport
    from affectgate.dashboard.data import gap_source, gap_table, group_table

    params = {"attributes": ["skin_tone_group", "sex"], "bootstrap_resamples": 200}
    result = run_evaluator(name="engagement", predictions=_attention_table(), params=params)
    report = EvalReport(
        run_id="run-engagement",
        candidate="affectgate-engagement",
        onnx_sha256="0" * 64,
        dataset=DatasetSpec(
            name="synth",
            format="engagement",
            root=tmp_path,
            fold=None,
            split="test",
            digest="x",
            synthetic=True,
            n_samples=72,
        ),
        target="cpu",
        suite="engagement",
        suite_version="0.2.0",
        results=(result,),
        synthetic_data=True,
        created=datetime(2026, 12, 2, tzinfo=UTC),
        affectgate_version="0.1.0",
    )
    assert gap_source(report)[1] == "error"
    gaps = gap_table(report, threshold=0.10)
    assert set(gaps["attribute"]) == {"skin_tone_group", "sex", "overall (gated)"}
    overall = gaps.set_index("attribute").loc["overall (gated)"]
    assert overall["finding"] == "exceeds" and overall["gated"]
    groups = group_table(report)
    assert list(groups.columns) == ["attribute", "group", "n", "mae"] and len(groups) == 5
