"""MAFW scored in its own label space: an 11-class model on 11 classes, a 7-class model on the declared 7-class subset.

The MAFW-layout set is built here from the tiny DFEW set's fold-1 test clips (frame folders under
``data/frames/``, set_1 split files, the metadata sidecar); every fifth clip is relabelled with one of
MAFW's four classes beyond the canonical seven (contempt, anxiety, helplessness, disappointment), as
about 17.5 % of a real MAFW test fold is. The 11-class model is a tiny graph built with onnx.helper
(mean-pool -> linear -> softmax): the test is about the label space, not the model's skill.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import yaml
from onnx import TensorProto, helper
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.datasets.dfew import load_dfew_split
from affectgate.datasets.labels import MAFW_EXTRA_EMOTIONS, MAFW_LABELS

runner = CliRunner()
MAFW_11 = list(MAFW_LABELS.values())


@pytest.fixture(scope="module")
def mafw_native(built) -> tuple[Path, int]:
    """The MAFW layout with MAFW-only classes in its test split; returns the root and how many clips have them."""
    root = built.settings.data_dir / "mafw_native_classes"
    split = load_dfew_split(root=built.data, fold=1, split="test")
    sets = root / "Train & Test Set" / "single" / "no_caption" / "set_1"
    sets.mkdir(parents=True)
    lines, extra = [], 0
    for i, s in enumerate(split.samples):
        shutil.copytree(s.frame_dir, root / "data" / "frames" / s.video_name)
        label = s.label
        if i % 5 == 4:
            label, extra = MAFW_EXTRA_EMOTIONS[extra % 4], extra + 1
        lines.append(f"{s.video_name}.mp4 {label}")
    (sets / "test.txt").write_text("\n".join(lines) + "\n")
    (sets / "train.txt").write_text(lines[0] + "\n")
    meta = pd.read_csv(built.data / "metadata.csv", dtype=str)
    meta["video_name"] = meta["video_name"].str.zfill(5)
    meta[meta["video_name"].isin([s.video_name for s in split.samples])].to_csv(root / "metadata.csv", index=False)
    sheet = yaml.safe_load((built.data / "datasheet.yaml").read_text())
    sheet.pop("label_map", None)  # DFEW's code map does not describe this layout
    (root / "datasheet.yaml").write_text(yaml.safe_dump(sheet))  # synthetic: true, face_cropped: true
    return root, extra


def _eleven_class_model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [3, 11], rng.normal(size=33).astype(np.float32))
    nodes = [
        helper.make_node("ReduceMean", ["clip"], ["pooled"], axes=[1, 3, 4], keepdims=0),
        helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "mafw11",
        [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["N", 4, 3, 16, 16])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 11])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    card = {
        "arch": "mafw11_test",
        "technique": "external",
        "title": "An 11-class MAFW model (test graph)",
        "labels": MAFW_11,
        "output_kinds": ["discrete_emotion"],
        "input": {"name": "clip", "layout": "NTCHW", "frames": 4, "size": 16, "mean": [0.5] * 3, "std": [0.25] * 3},
        "outputs": [{"name": "probabilities", "kind": "discrete_emotion", "level": "clip", "activation": "softmax"}],
        "preprocessing": "uniform frame sampling, resize, scale to [0, 1], normalise",
        "intended_use": "tests only",
        "licence": "test",
    }
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    return folder


def _last_run(ws) -> Path:
    return max(ws.settings.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)


@pytest.mark.e2e
def test_eleven_class_model_is_scored_on_mafws_eleven_classes(built, mafw_native, tmp_path):
    """An 11-class card is scored over MAFW's 11 classes: label order, per-class recall and n over every clip."""
    root, extra = mafw_native
    model = _eleven_class_model(tmp_path / "mafw11")
    args = ["evaluate", "--candidate", str(model), "--dataset", str(root), "--data-format", "mafw"]
    res = runner.invoke(app, [*args, "--suite", "quick"])
    assert res.exit_code in (0, 1), res.output  # 1: another evaluator failed (e.g. fairness unjudgeable)
    report = json.loads((_last_run(built) / "report.json").read_text())
    acc = next(r for r in report["results"] if r["evaluator"] == "accuracy")
    assert acc["status"] == "ok", acc
    assert acc["label_order"] == MAFW_11 and len(acc["confusion"]) == 11
    war = next(m for m in acc["measurements"] if m["name"] == "war")
    assert war["n"] == report["dataset"]["n_samples"] and report["dataset"]["labels_dropped"] == {}
    recall_n = {m["label"]: m["n"] for m in acc["measurements"] if m["name"] == "recall"}
    assert sum(recall_n[c] for c in MAFW_EXTRA_EMOTIONS) == extra
    assert report["dataset"]["label_space"] == MAFW_11


@pytest.mark.e2e
def test_seven_class_model_on_mafw_fails_closed_then_scores_the_declared_subset(built, mafw_native):
    """A 7-class model on MAFW: exit 3 naming --label-map; with the map declared, the subset is scored and the
    dropped share (n and %) is printed and recorded in the report."""
    root, extra = mafw_native
    base = ["gate", "--plain", "--model", str(built.model), "--context", "eu-telehealth", "--data", str(root)]
    base += ["--format", "mafw", "--suite", "quick"]
    res = runner.invoke(app, base)
    assert res.exit_code == 3, res.output
    assert "--label-map" in res.output and "contempt" in res.output
    res = runner.invoke(app, [*base, "--label-map", ",".join(f"{c}=drop" for c in MAFW_EXTRA_EMOTIONS)])
    assert res.exit_code in (0, 1, 2), res.output
    n_all = len(load_dfew_split(root=built.data, fold=1, split="test").samples)
    share = f"{100 * extra / n_all:.1f} %"
    assert f"{extra} of {n_all} labelled samples ({share}) left out" in " ".join(res.output.split()), res.output
    report = json.loads((_last_run(built) / "report.json").read_text())
    ds = report["dataset"]
    assert sum(ds["labels_dropped"].values()) == extra and ds["n_samples"] == n_all - extra
    assert ds["label_map_source"] == "--label-map" and ds["n_labelled_selected"] == n_all
    acc = next(r for r in report["results"] if r["evaluator"] == "accuracy")
    assert len(acc["label_order"]) == 7


def test_validation_fix_names_the_exact_selection_and_groups(built, mafw_native):
    """A failed data validation names the command for the selection evaluated (fold, split, the suite's groups)."""
    root = built.settings.data_dir / "mafw_no_groups"
    shutil.copytree(mafw_native[0], root)
    (root / "metadata.csv").unlink()
    res = runner.invoke(
        app,
        ["gate", "--plain", "--model", str(built.model), "--context", "eu-telehealth", "--data", str(root)]
        + ["--format", "mafw", "--suite", "quick"],
    )
    assert res.exit_code == 3, res.output
    flat = " ".join(res.output.split())
    assert f"affectgate data validate --format mafw {root} --fold 1 --split test --group skin_tone_group" in flat
    assert "--fairness" not in flat
