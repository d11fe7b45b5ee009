"""Zoo contract over every registered architecture (timm style): card <-> ONNX graph, parity, kinds, seeds, training.

Each architecture is built at a tiny size (4 frames x 32 px, narrow widths), exported once through the
production path (``export_onnx``) and checked against its card. Data here is random or SYNTHETIC.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from affectgate.core.records import ModelCard
from affectgate.zoo.build import example_inputs
from affectgate.zoo.card import apply_config, zoo_card
from affectgate.zoo.export import export_onnx
from affectgate.zoo.files import LOCK_NAME
from affectgate.zoo.lookup import list_archs
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.quantize import INT8_NAME, choose_method, quantize_export
from affectgate.zoo.runtime import load_candidate
from affectgate.zoo.train import build_model, train_classifier

ROOT = Path(__file__).resolve().parents[2]
ARCHS = [entry.name for entry in list_archs()]


def tiny_card(arch: str) -> ModelCard:
    """The arch's card at test size: 4 frames of 32 px, fractional widths capped at 0.25, one short epoch."""
    card = zoo_card(project_root=ROOT, arch=arch)
    config: dict[str, object] = {"frames": 4, "size": 32, "epochs": 1, "batch_size": 4, "train_frames": 0}
    width = card.train.get("width")
    if isinstance(width, float) and width <= 1.0:
        config["width"] = min(width, 0.25)
    return apply_config(card=card, config=config)


def feeds(card: ModelCard, *, n: int, seed: int) -> tuple[dict[str, np.ndarray], tuple[torch.Tensor, ...]]:
    """Seeded inputs as an onnxruntime feed and as torch arguments."""
    clips, audio = example_inputs(card=card, n=n, seed=seed)
    arrays = {card.input.name: clips}
    if audio is not None and card.input.audio is not None:
        arrays[card.input.audio.name] = audio
    return arrays, tuple(torch.from_numpy(a) for a in arrays.values())


def torch_outputs(model: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    """Eval-mode forward outputs as numpy arrays."""
    with torch.no_grad():
        return [t.numpy() for t in model.eval()(*args)]


@pytest.fixture(scope="module", params=ARCHS)
def exported(request, tmp_path_factory) -> tuple[ModelCard, torch.nn.Module, Path]:
    """Each registered architecture built (seed 0) at tiny size and exported once."""
    torch.set_num_threads(1)
    card = tiny_card(request.param)
    model = build_model(card=card, seed=0).eval()
    clips, audio = example_inputs(card=card, n=3, seed=0)
    folder = tmp_path_factory.mktemp(request.param)
    extra = {"parity_audio": audio} if audio is not None else {}
    export_onnx(model=model, card=card, folder=folder, parity_clips=clips, **extra)
    return card, model, folder


def test_card_matches_onnx_graph(exported):
    """Graph inputs and outputs are the card's (names, order, count); class outputs have one score per label."""
    card, _, folder = exported
    graph = onnx.load(str(folder / "model.onnx")).graph
    expected_inputs = [card.input.name] + ([card.input.audio.name] if card.input.audio is not None else [])
    assert [i.name for i in graph.input] == expected_inputs
    assert [o.name for o in graph.output] == [o.name for o in card.outputs]
    for spec, out in zip(card.outputs, graph.output, strict=True):
        dims = [d.dim_value or d.dim_param for d in out.type.tensor_type.shape.dim]
        assert isinstance(dims[0], str), f"{out.name}: batch dimension is not dynamic"
        if spec.kind == "discrete_emotion":
            assert card.labels and dims[-1] == len(card.labels)
        if spec.level == "frame":
            assert dims[1] == card.input.frames
    cand = load_candidate(path=folder)
    assert cand.onnx_outputs == tuple(o.name for o in card.outputs)


def test_export_parity_within_tolerance(exported):
    """onnxruntime matches torch within the card's tolerance, at the export batch and at another batch size."""
    card, model, folder = exported
    lock = json.loads((folder / LOCK_NAME).read_text())
    assert lock["opset"] >= 17 and lock["parity_max_abs_diff"] <= card.parity_tolerance
    ort_feed, args = feeds(card, n=5, seed=1)
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run([o.name for o in card.outputs], ort_feed)
    diff = max(float(np.max(np.abs(e - g))) for e, g in zip(torch_outputs(model, args), got, strict=True))
    assert diff <= card.parity_tolerance


def test_output_kinds_declared_match_graph_and_heads(exported):
    """Declared output kinds are exactly the kinds of the graph's outputs, and heads() carries the matching keys."""
    card, model, _ = exported
    assert set(card.output_kinds) == {o.kind for o in card.outputs}
    _, args = feeds(card, n=2, seed=2)
    with torch.no_grad():
        heads = model.heads(args[0], audio=args[1] if len(args) > 1 else None)
    if "discrete_emotion" in card.output_kinds:
        assert heads["logits"].shape == (2, len(card.labels))
    else:
        assert "logits" not in heads and not card.labels
    if "valence_arousal" in card.output_kinds:
        assert heads["va"].shape == (2, 2) and float(heads["va"].abs().max()) <= 1.0
    if "engagement" in card.output_kinds:
        assert heads["engagement"].shape[0] == 2
    for spec, out in zip(card.outputs, torch_outputs(model, args), strict=True):
        if spec.activation == "softmax":
            assert np.allclose(out.sum(axis=-1), 1.0, atol=1e-5)


def test_seeded_builds_are_deterministic(exported):
    """Two builds with the same seed give identical outputs; another seed gives different ones."""
    card = exported[0]
    _, args = feeds(card, n=2, seed=3)
    first = torch_outputs(build_model(card=card, seed=7), args)
    again = torch_outputs(build_model(card=card, seed=7), args)
    other = torch_outputs(build_model(card=card, seed=8), args)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_one_epoch_training_smoke(exported):
    """One epoch of the generic loop on a few random clips runs for every architecture and gives a finite loss."""
    card, model, _ = exported
    rng = np.random.default_rng(4)
    n = 6
    clips = rng.integers(0, 256, size=(n, card.input.frames, card.input.size, card.input.size, 3), dtype=np.uint8)
    _, args = feeds(card, n=n, seed=4)
    audio = args[1].numpy() if len(args) > 1 else None
    with torch.no_grad():
        heads = model.heads(args[0], audio=args[1] if len(args) > 1 else None)
    targets = rng.integers(0, len(card.labels), size=n) if "logits" in heads else None
    va = rng.uniform(-1, 1, size=(n, 2)) if "va" in heads else None
    eng = rng.normal(size=tuple(heads["engagement"].shape)) if "engagement" in heads else None
    res = train_classifier(
        card=card, clips=clips, targets=targets, seed=0, threads=1, va_targets=va, engagement_targets=eng, audio=audio
    )
    assert res.epochs == 1 and np.isfinite(res.final_loss)
    assert set(res.final_losses) == {k for k, v in (("ce", targets), ("va", va), ("engagement", eng)) if v is not None}


def _shapes_set(*, n_per_class: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """SYNTHETIC separable clips: class c is a noisy frame of brightness 20 + 30 c."""
    y = np.repeat(np.arange(k), n_per_class)
    base = 20 + 30 * y[:, None, None, None, None]
    x = base + rng.normal(0, 12, size=(len(y), 4, 32, 32, 3))
    return np.clip(x, 0, 255).astype(np.uint8), y


def test_int8_variant_accuracy_drop_is_measured(tmp_path, record_property):
    """Static QDQ int8 of a briefly trained CNN loads as its own candidate; its accuracy drop vs fp32 is measured."""
    card = apply_config(card=tiny_card("resnet18_frame"), config={"epochs": 6, "batch_size": 8, "lr": 0.01})
    rng = np.random.default_rng(0)
    train_x, train_y = _shapes_set(n_per_class=6, k=len(card.labels), rng=rng)
    test_x, test_y = _shapes_set(n_per_class=4, k=len(card.labels), rng=rng)
    res = train_classifier(card=card, clips=train_x, targets=train_y, seed=0, threads=1)
    fp32_dir = tmp_path / "resnet18_frame"
    export_onnx(
        model=res.model, card=card, folder=fp32_dir, parity_clips=to_model_input(clips=test_x[:3], spec=card.input)
    )
    calib = {card.input.name: to_model_input(clips=train_x[::3], spec=card.input)}  # from the training split
    test_feed = {card.input.name: to_model_input(clips=test_x, spec=card.input)}
    q = quantize_export(folder=fp32_dir, calibration=calib, check=test_feed)
    assert q.method == "static" and (fp32_dir / INT8_NAME).is_file() and q.int8_bytes < q.fp32_bytes
    cand = load_candidate(path=q.folder)
    assert cand.onnx_sha256 == json.loads((q.folder / LOCK_NAME).read_text())["sha256"] == q.sha256
    accs = {}
    for name, path in (("fp32", fp32_dir / "model.onnx"), ("int8", cand.onnx_path)):
        probs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["probabilities"], test_feed)[0]
        accs[name] = float(np.mean(probs.argmax(1) == test_y))
    drop = accs["fp32"] - accs["int8"]
    record_property("int8_accuracy", accs)
    print(
        f"\nint8 on {len(test_y)} SYNTHETIC test clips: fp32 acc {accs['fp32']:.3f}, int8 acc {accs['int8']:.3f}, "
        f"drop {drop:+.3f}, top-1 agreement {q.top1_agreement:.3f}, max abs diff {q.max_abs_diff:.2e}"
    )
    assert all(0.0 <= a <= 1.0 for a in accs.values()) and np.isfinite(drop)
    assert q.top1_agreement is not None and 0.0 <= q.top1_agreement <= 1.0


def test_int8_variant_is_a_candidate(exported):
    """Every architecture quantises (static QDQ for CNNs, dynamic for transformer/AV) into a loadable candidate."""
    card, _, folder = exported
    ort_feed, _ = feeds(card, n=4, seed=5)
    method = choose_method(card=card)
    assert method == ("dynamic" if "transformer" in card.technique or card.input.audio is not None else "static")
    q = quantize_export(folder=folder, calibration=ort_feed if method == "static" else None, check=ort_feed)
    cand = load_candidate(path=q.folder)
    assert cand.onnx_sha256 == q.sha256 and cand.card.labels == card.labels
    assert (folder / INT8_NAME).is_file() and np.isfinite(q.max_abs_diff)
    lock = json.loads((q.folder / LOCK_NAME).read_text())
    assert lock["precision"] == "int8" and lock["fp32_sha256"] == load_candidate(path=folder).onnx_sha256


def test_ema_smoothing_is_the_recursive_ema_and_mean_is_unchanged():
    """EMA pooling equals s_t = a l_t + (1 - a) s_(t-1); mobilenet's default clip logits stay the plain time mean."""
    from affectgate.zoo.archs.per_frame import smooth_logits

    frame = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(0))
    state = frame[:, 0]
    for t in range(1, 5):
        state = 0.3 * frame[:, t] + 0.7 * state
    assert torch.allclose(smooth_logits(frame, temporal="ema", ema_alpha=0.3), state, atol=1e-6)
    model = build_model(card=tiny_card("mobilenet_v2_frame"), seed=0).eval()
    x = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.heads(x)["logits"], model.frame_logits(x).mean(dim=1))
