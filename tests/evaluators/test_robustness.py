"""Robustness evaluator on a tiny brightness-classifier ONNX model and a hand-written DFEW-layout set."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper

from affectgate.datasets.labels import DFEW_LABELS
from affectgate.datasets.selection import group_table, select_for_gate
from affectgate.evaluators import ModelInputs, run_evaluator
from affectgate.evaluators.plots import robustness_figure, robustness_table
from affectgate.evaluators.robustness import parse_severities
from affectgate.inference.predict import predict_samples
from affectgate.zoo.card import write_card, zoo_card
from affectgate.zoo.runtime import load_candidate

ROOT = Path(__file__).resolve().parents[2]
FRAMES, SIZE = 4, 16
#: Grey level of the clips of each class, indexed like the card's labels (the model's output order).
LEVELS = np.array([40, 70, 100, 130, 160, 190, 220], dtype=np.float32)


def _brightness_model(path: Path, *, mean: float, std: float) -> None:
    """ONNX graph: frame logit k = -40·(mean normalised pixel − centre_k)²; clip probs = softmax(mean over T)."""
    centres = ((LEVELS / 255.0 - mean) / std).astype(np.float32)
    inits = [
        numpy_helper.from_array(np.array([2, 3, 4], dtype=np.int64), "axes_chw"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axes_last"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes_t"),
        numpy_helper.from_array(centres, "centres"),
        numpy_helper.from_array(np.array(-40.0, dtype=np.float32), "scale"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["clip", "axes_chw"], ["b"], keepdims=0),
        helper.make_node("Unsqueeze", ["b", "axes_last"], ["b1"]),
        helper.make_node("Sub", ["b1", "centres"], ["d"]),
        helper.make_node("Mul", ["d", "d"], ["sq"]),
        helper.make_node("Mul", ["sq", "scale"], ["frame_logits"]),
        helper.make_node("ReduceMean", ["frame_logits", "axes_t"], ["clip_logits"], keepdims=0),
        helper.make_node("Softmax", ["clip_logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "brightness",
        [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["N", FRAMES, 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 7]),
            helper.make_tensor_value_info("frame_logits", TensorProto.FLOAT, ["N", FRAMES, 7]),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[ModelInputs, pd.DataFrame]:
    """A candidate (the brightness model with the demo card at 4x16x16) and a 14-clip test split it gets right."""
    tmp = tmp_path_factory.mktemp("robust")
    base = zoo_card(project_root=ROOT, arch="mobilenet_v2_frame")
    card = base.model_validate(
        {**base.model_dump(), "input": {**base.input.model_dump(), "frames": FRAMES, "size": SIZE}, "train": {}}
    )
    model_dir = tmp / "model"
    model_dir.mkdir()
    _brightness_model(model_dir / "model.onnx", mean=card.input.mean[0], std=card.input.std[0])
    write_card(card=card, path=model_dir / "card.yaml")
    candidate = load_candidate(path=model_dir, name="brightness")
    data = tmp / "data"
    split_dir = data / "EmoLabel_DataSplit" / "test(single-labeled)"
    split_dir.mkdir(parents=True)
    rows = ["video_name,label"]
    rng = np.random.default_rng(0)
    dfew_code = {name: code for code, name in DFEW_LABELS.items()}
    for i in range(14):
        label = card.labels[i % 7]
        vid = f"{i + 1:05d}"
        rows.append(f"{vid},{dfew_code[label]}")
        frame_dir = data / "Clip" / "clip_224x224" / vid
        frame_dir.mkdir(parents=True)
        for k in range(5):
            texture = rng.integers(-6, 7, size=(SIZE, SIZE, 1))
            img = np.clip(LEVELS[i % 7] + texture, 0, 255).astype(np.uint8).repeat(3, axis=2)
            cv2.imwrite(str(frame_dir / f"{vid}_{k + 1}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 100])
    (split_dir / "set_1.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    loaded, split = select_for_gate(fmt="dfew", root=data, fold=1, split="test")
    predictions = predict_samples(
        candidate=candidate, split=split, table=group_table(loaded=loaded), batch_size=4, threads=1, workers=1
    ).predictions
    return ModelInputs(candidate=candidate, split=split, threads=1, batch_size=4), predictions


def _by_group(result) -> dict[tuple[str, str | None], float | None]:
    assert result.status == "ok", result.error
    return {(m.name, m.group): m.value for m in result.measurements}


def test_clean_war_matches_inference_and_light_corruptions_hurt(setup):
    """Clean WAR equals the inference pass; low light and over-exposure shift brightness and cost accuracy."""
    model, predictions = setup
    assert (predictions["target"] == predictions["pred"]).mean() == 1.0  # the toy model is right on clean clips
    params = {"corruptions": ["low_light", "over_exposure", "blur", "frame_drop"], "severities": ["1", "2", "3"]}
    result = run_evaluator(name="robustness", predictions=predictions, params=params, model=model)
    v = _by_group(result)
    assert v[("robustness.clean_war", None)] == 1.0
    for s in (1, 2, 3):
        assert v[("robustness.war_delta", f"corruption=low_light,severity={s}")] < 0
        assert v[("robustness.war_delta", f"corruption=over_exposure,severity={s}")] < 0
        # blur and held frames keep every frame's mean brightness: this model does not notice them
        assert v[("robustness.war_delta", f"corruption=blur,severity={s}")] == 0.0
        assert v[("robustness.war_delta", f"corruption=frame_drop,severity={s}")] == 0.0
    deltas = [m.value for m in result.measurements if m.name == "robustness.war_delta"]
    assert len(deltas) == 12
    assert v[("robustness.worst_war_delta", None)] == min(deltas)
    worst = next(m for m in result.measurements if m.name == "robustness.worst_war_delta")
    assert "low_light" in worst.averaging or "over_exposure" in worst.averaging
    for m in result.measurements:
        if m.name == "robustness.war":
            assert m.value == pytest.approx(1.0 + v[("robustness.war_delta", m.group)])
    assert result.params["severities"] == ["1", "2", "3"] and result.params["n_clips"] == 14


def test_subsample_is_seeded_and_bounded_by_max_clips(setup):
    """max_clips caps the clips used; the same seed gives the same numbers."""
    model, predictions = setup
    params = {"corruptions": ["noise"], "severities": 3, "max_clips": 5, "seed": 1}
    a = run_evaluator(name="robustness", predictions=predictions, params=params, model=model)
    b = run_evaluator(name="robustness", predictions=predictions, params=params, model=model)
    assert a.status == "ok", a.error
    assert {m.n for m in a.measurements} == {5}
    assert a.measurements == b.measurements
    assert len([m for m in a.measurements if m.name == "robustness.war_delta"]) == 3


def test_table_and_figure(setup):
    """The table has one row per corruption x severity with WAR and delta; the figure has one line per corruption."""
    model, predictions = setup
    params = {"corruptions": ["low_light", "rotation"], "severities": "1,3"}
    result = run_evaluator(name="robustness", predictions=predictions, params=params, model=model)
    table = robustness_table(result)
    assert list(table.columns) == ["corruption", "severity", "war", "war_delta", "n"]
    assert sorted(zip(table["corruption"], table["severity"], strict=True)) == [
        ("low_light", 1),
        ("low_light", 3),
        ("rotation", 1),
        ("rotation", 3),
    ]
    assert (table["war"] - table["war_delta"]).round(9).eq(1.0).all()
    fig = robustness_figure(result)
    assert sorted(t.name for t in fig.data) == ["low_light", "rotation"]


def test_bad_params_and_missing_model_are_failed_results(setup):
    """An unknown corruption, a bad severity or no model gives a failed result naming the cause, never a crash."""
    model, predictions = setup
    typo = run_evaluator(name="robustness", predictions=predictions, params={"corruptions": ["blurr"]}, model=model)
    assert typo.status == "failed" and "did you mean 'blur'" in (typo.error or "")
    sev = run_evaluator(name="robustness", predictions=predictions, params={"severities": ["5"]}, model=model)
    assert sev.status == "failed" and "severities" in (sev.error or "")
    none = run_evaluator(name="robustness", predictions=predictions, params={})
    assert none.status == "failed" and "model" in (none.error or "")


def test_parse_severities():
    """Severities come as None (all), an int k (1..k), a comma string or a list of strings/ints."""
    assert parse_severities(None) == (1, 2, 3)
    assert parse_severities(2) == (1, 2)
    assert parse_severities("3, 1") == (1, 3)
    assert parse_severities(["2", 2]) == (2,)
    for bad in (0, [], "x", True, [4]):
        with pytest.raises(ValueError):
            parse_severities(bad)
