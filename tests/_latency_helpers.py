"""Tiny models and clips for the latency, browser and cost tests: built at test time in milliseconds."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from affectgate.core.records import Candidate
from affectgate.datasets.dfew import DFEWSplit, load_dfew_split
from affectgate.zoo.card import apply_config, write_card, zoo_card
from affectgate.zoo.runtime import load_candidate

ROOT = Path(__file__).resolve().parents[1]
FRAMES, SIZE = 2, 16


def tiny_candidate(folder: Path) -> Candidate:
    """A hand-built ONNX model with the mobilenet card's I/O: mean colour per frame -> linear -> softmax."""
    card = apply_config(
        card=zoo_card(project_root=ROOT, arch="mobilenet_v2_frame"), config={"frames": FRAMES, "size": SIZE}
    )
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((3, 7)).astype(np.float32), "w")
    spatial = numpy_helper.from_array(np.asarray([3, 4], dtype=np.int64), "spatial")
    time_axis = numpy_helper.from_array(np.asarray([1], dtype=np.int64), "time")
    nodes = [
        helper.make_node("ReduceMean", ["clip", "spatial"], ["colour"], keepdims=0),
        helper.make_node("MatMul", ["colour", "w"], ["frame_logits"]),
        helper.make_node("ReduceMean", ["frame_logits", "time"], ["clip_logits"], keepdims=0),
        helper.make_node("Softmax", ["clip_logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["batch", FRAMES, 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 7]),
            helper.make_tensor_value_info("frame_logits", TensorProto.FLOAT, ["batch", FRAMES, 7]),
        ],
        initializer=[weight, spatial, time_axis],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    write_card(card=card, path=folder / "card.yaml")
    return load_candidate(path=folder, name="tiny-latency")


def tiny_split(root: Path, *, clips: int = 3, frames: int = 3) -> DFEWSplit:
    """A DFEW-layout test split of ``clips`` clips with ``frames`` random 16x16 jpg frames each."""
    rng = np.random.default_rng(1)
    csv_dir = root / "EmoLabel_DataSplit" / "test(single-labeled)"
    csv_dir.mkdir(parents=True, exist_ok=True)
    rows = ["video_name,label"]
    for c in range(1, clips + 1):
        name = f"{c:05d}"
        d = root / "Clip" / "clip_224x224" / name
        d.mkdir(parents=True, exist_ok=True)
        for f in range(1, frames + 1):
            cv2.imwrite(str(d / f"{name}_{f}.jpg"), rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
        rows.append(f"{name},{(c % 7) + 1}")
    (csv_dir / "set_1.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return load_dfew_split(root=root, fold=1, split="test")
