"""Zoo: export parity against torch, the lock file, and candidate checks against the ONNX graph."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml

from affectgate.core.errors import ModelError
from affectgate.zoo.card import zoo_card
from affectgate.zoo.export import export_onnx
from affectgate.zoo.lookup import get_arch, list_archs
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.runtime import load_candidate, open_session

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    card = zoo_card(project_root=ROOT, arch="mobilenet_v2_frame")
    torch.manual_seed(0)
    model = get_arch("mobilenet_v2_frame").build(num_classes=len(card.labels), width=0.5)
    model.eval()
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(3, card.input.frames, card.input.size, card.input.size, 3), dtype=np.uint8)
    folder = tmp_path_factory.mktemp("export")
    export_onnx(model=model, card=card, folder=folder, parity_clips=to_model_input(clips=raw, spec=card.input))
    return folder


@pytest.mark.parametrize("entry", list_archs(), ids=lambda e: e.name)
def test_every_registered_arch_has_a_card(entry):
    """Every registered architecture has a model_zoo card whose arch and technique match the registry."""
    card = zoo_card(project_root=ROOT, arch=entry.name)
    assert card.arch == entry.name and card.technique == entry.technique


def test_export_parity_and_lock(exported):
    """Export writes ONNX, card and a lock file whose sha256 matches and whose parity is within tolerance."""
    lock = json.loads((exported / "model.lock.json").read_text())
    cand = load_candidate(path=exported)
    assert lock["sha256"] == cand.onnx_sha256
    assert lock["parity_max_abs_diff"] <= cand.card.parity_tolerance
    assert set(cand.onnx_outputs) == {"probabilities", "frame_logits"}


def test_dynamic_batch_and_probabilities(exported):
    """The exported graph accepts any batch size and its clip output is a probability distribution."""
    cand = load_candidate(path=exported)
    sess = open_session(candidate=cand)
    spec = cand.card.input
    for batch in (1, 5):
        x = np.random.default_rng(batch).normal(size=(batch, spec.frames, 3, spec.size, spec.size)).astype(np.float32)
        out, _ = sess.run(batch=x)
        assert out["probabilities"].shape == (batch, 7)
        assert np.allclose(out["probabilities"].sum(axis=1), 1.0, atol=1e-5)
        assert out["frame_logits"].shape == (batch, spec.frames, 7)


def test_corrupt_onnx_is_a_clear_error(exported, tmp_path):
    """A truncated ONNX file without a lock is refused with a ModelError naming the file."""
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(exported / "card.yaml", bad / "card.yaml")
    (bad / "model.onnx").write_bytes((exported / "model.onnx").read_bytes()[:500])
    with pytest.raises(ModelError, match="model.onnx"):
        load_candidate(path=bad)


def test_modified_onnx_breaks_the_lock(exported, tmp_path):
    """An ONNX file that no longer matches its lock file's sha256 is refused."""
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    with (copy / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match="lock file"):
        load_candidate(path=copy)


def test_card_label_count_checked_against_graph(exported, tmp_path):
    """A card listing fewer labels than the graph outputs is refused."""
    copy = tmp_path / "labels"
    shutil.copytree(exported, copy)
    card = yaml.safe_load((copy / "card.yaml").read_text())
    card["labels"] = card["labels"][:6]
    (copy / "card.yaml").write_text(yaml.safe_dump(card))
    with pytest.raises(ModelError, match="6 labels"):
        load_candidate(path=copy)


def test_missing_model_names_the_fix(tmp_path):
    """A missing model folder gives a ModelError that says how to create it."""
    with pytest.raises(ModelError, match="zoo export"):
        load_candidate(path=tmp_path / "nothing")


def test_card_preprocessing_feeds_the_graph(exported):
    """The card's preprocessing scales, normalises and lays out uint8 clips exactly as the graph input expects."""
    cand = load_candidate(path=exported)
    sess = ort.InferenceSession(str(cand.onnx_path), providers=["CPUExecutionProvider"])
    spec = cand.card.input
    raw = np.full((1, spec.frames, spec.size, spec.size, 3), 128, dtype=np.uint8)
    x = to_model_input(clips=raw, spec=spec)
    assert np.allclose(x, (128 / 255 - 0.5) / 0.25, atol=1e-6)
    probs = sess.run(["probabilities"], {"clip": x})[0]
    assert probs.shape == (1, 7)


def test_every_architecture_has_a_paper_size_config():
    """model_zoo/<arch>/paper.yaml exists for every registered architecture and is a valid config of its card."""
    from affectgate.zoo.card import apply_config, load_config

    def paper(arch: str):  # noqa: ANN202 - ModelCard
        config = load_config(path=ROOT / "model_zoo" / arch / "paper.yaml")
        return apply_config(card=zoo_card(project_root=ROOT, arch=arch), config=config)

    from affectgate.demo.zoo import PRETRAINED_BASELINES

    for entry in list_archs():
        if entry.name in PRETRAINED_BASELINES:  # published weights: its card is the published input size
            continue
        card = paper(entry.name)
        assert card.input.frames == 16 and card.input.size >= 112, entry.name
    mae = paper("mae_dfer")
    assert (mae.train["dim"], mae.train["depth"], mae.train["heads"]) == (384, 12, 6)  # ViT-S
