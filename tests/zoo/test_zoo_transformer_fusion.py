"""Zoo: MAE-DFER-style video transformer, MAE pre-training, audio-visual fusion and the RAVDESS-like generator."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml

from affectgate.core.errors import DataError, ModelError
from affectgate.datasets.synth.audio import audio_frames, log_mel, read_wav
from affectgate.datasets.synth.av_layout import (
    AVSynthConfig,
    generate_ravdess,
    load_ravdess,
    parse_ravdess_name,
)
from affectgate.zoo.card import zoo_card
from affectgate.zoo.export import export_onnx
from affectgate.zoo.lookup import get_arch
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.pretrain import MAEDecoder, mae_loss, patchify, tube_mask
from affectgate.zoo.runtime import load_candidate

ROOT = Path(__file__).resolve().parents[2]
TINY_AV = AVSynthConfig(seed=3, n_actors=2, folds=2, statements=1, repetitions=1, frames=4, image_size=32, seconds=1.0)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread on a shared CPU (no OpenMP spin-waiting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def av_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ravdess")
    generate_ravdess(root=root, config=TINY_AV)
    return root


def _tiny_vit(num_classes: int = 7) -> torch.nn.Module:
    torch.manual_seed(0)
    return get_arch("mae_dfer").build(num_classes=num_classes, dim=32, depth=2, heads=2)


def test_mae_dfer_forward_shapes():
    """The tubelet ViT maps (B, T, 3, H, W) clips to (B, K) logits and a probability output."""
    model = _tiny_vit().eval()
    x = torch.randn(3, 4, 3, 32, 32)
    assert model.heads(x)["logits"].shape == (3, 7)
    (probs,) = model(x)
    assert probs.shape == (3, 7) and torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)
    assert model.tokens(x).shape == (3, 2 * 2 * 2, 32)


def test_mae_dfer_rejects_untileable_clip():
    """A clip whose size does not tile into 2x16x16 tubelets is a ModelError with a fix."""
    with pytest.raises(ModelError, match="tubelet"):
        _tiny_vit().heads(torch.randn(1, 3, 3, 32, 32))


def test_tube_mask_ratio_and_tubes():
    """Tube masking hides round(ratio * cells) spatial cells, the same ones in every time step."""
    mask = tube_mask(batch=4, grid=(3, 4, 4), ratio=0.9, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (4, 48)
    per_t = mask.reshape(4, 3, 16)
    assert torch.equal(per_t[:, 0], per_t[:, 1]) and torch.equal(per_t[:, 0], per_t[:, 2])
    assert (per_t[:, 0].sum(1) == 14).all()  # round(0.9 * 16)
    with pytest.raises(ModelError):
        tube_mask(batch=1, grid=(1, 2, 2), ratio=1.0, generator=torch.Generator())


def test_patchify_matches_token_order():
    """patchify's tubelet order matches the Conv3d token order (a pixel lands in its tubelet's row)."""
    clip = torch.zeros(1, 4, 3, 32, 32)
    clip[0, 2, :, 16, 0] = 1.0  # time step 2 -> t'=1; row 16 -> h'=1; col 0 -> w'=0
    pix = patchify(clip, tubelet=(2, 16, 16))
    assert pix.shape == (1, 8, 2 * 16 * 16 * 3)
    assert torch.nonzero(pix.sum(-1))[:, 1].tolist() == [1 * 4 + 1 * 2 + 0]


def test_mae_loss_decreases_on_a_fixed_batch():
    """A few optimiser steps of masked-tubelet reconstruction on one fixed batch lower the loss."""
    torch.manual_seed(0)
    enc = _tiny_vit()
    dec = MAEDecoder(enc_dim=32, dim=32, depth=1, heads=2, tubelet=enc.tubelet)
    clip = torch.randn(4, 4, 3, 32, 32)
    opt = torch.optim.AdamW(list(enc.parameters()) + list(dec.parameters()), lr=2e-3)
    losses = []
    for _ in range(15):
        loss = mae_loss(encoder=enc, decoder=dec, clip=clip, ratio=0.75, generator=torch.Generator().manual_seed(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.9 * losses[0]


def test_mae_dfer_export_parity(tmp_path):
    """mae_dfer exports through the zoo export path: parity within tolerance, dynamic batch, sha256 lock."""
    card = zoo_card(project_root=ROOT, arch="mae_dfer")
    card = card.model_copy(update={"input": card.input.model_copy(update={"frames": 4, "size": 32})})
    model = _tiny_vit(len(card.labels))
    raw = np.random.default_rng(0).integers(0, 256, size=(3, 4, 32, 32, 3), dtype=np.uint8)
    res = export_onnx(model=model, card=card, folder=tmp_path, parity_clips=to_model_input(clips=raw, spec=card.input))
    assert res.parity_max_abs_diff <= card.parity_tolerance
    lock = json.loads((tmp_path / "model.lock.json").read_text())
    assert lock["sha256"] == hashlib.sha256(res.onnx_path.read_bytes()).hexdigest()
    assert load_candidate(path=tmp_path).onnx_outputs == ("probabilities",)
    sess = ort.InferenceSession(str(res.onnx_path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        (probs,) = sess.run(
            None, {"clip": np.random.default_rng(batch).normal(size=(batch, 4, 3, 32, 32)).astype("f4")}
        )
        assert probs.shape == (batch, 7)


def _tiny_av_card():
    card = zoo_card(project_root=ROOT, arch="av_fusion")
    audio = card.input.audio.model_copy(update={"seconds": 1.0})
    return card.model_copy(update={"input": card.input.model_copy(update={"frames": 4, "size": 32, "audio": audio})})


def test_av_fusion_forward_and_export(tmp_path):
    """av_fusion takes clip + log-mel, needs the audio, and exports a two-input ONNX graph within tolerance."""
    card = _tiny_av_card()
    torch.manual_seed(0)
    model = get_arch("av_fusion").build(num_classes=len(card.labels), dim=32, heads=2, width=8).eval()
    n_frames = audio_frames(spec=card.input.audio)
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(3, 4, 32, 32, 3), dtype=np.uint8)
    mel = rng.normal(-3, 2, size=(3, card.input.audio.n_mels, n_frames)).astype(np.float32)
    clips = to_model_input(clips=raw, spec=card.input)
    (probs,) = model(torch.from_numpy(clips), torch.from_numpy(mel))
    assert probs.shape == (3, 7)
    with pytest.raises(ValueError, match="audio"):
        model.heads(torch.from_numpy(clips))
    with pytest.raises(ModelError, match="parity_audio"):
        export_onnx(model=model, card=card, folder=tmp_path / "bad", parity_clips=clips)
    res = export_onnx(model=model, card=card, folder=tmp_path, parity_clips=clips, parity_audio=mel)
    assert res.parity_max_abs_diff <= card.parity_tolerance
    sess = ort.InferenceSession(str(res.onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["clip", "audio"]
    x1 = np.repeat(clips[:1], 5, axis=0)
    a1 = np.repeat(mel[:1], 5, axis=0)
    (out,) = sess.run(None, {"clip": x1, "audio": a1})
    assert out.shape == (5, 7)
    video_only = get_arch("av_fusion").build(num_classes=7, dim=32, heads=2, width=8, use_audio=False).eval()
    assert video_only(torch.from_numpy(clips))[0].shape == (3, 7)


def test_av_generator_is_deterministic(av_set, tmp_path):
    """The same config writes byte-identical MP4, WAV, metadata and datasheet files."""
    again = tmp_path / "again"
    generate_ravdess(root=again, config=TINY_AV)
    files = sorted(p.relative_to(av_set) for p in av_set.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (av_set / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_av_generator_file_names_and_metadata(av_set):
    """Files follow the RAVDESS 7-field convention in Actor_XX folders, odd actors male; datasheet says synthetic."""
    meta = load_ravdess(root=av_set, frames=4, size=32, audio=_tiny_av_card().input.audio)[0]
    assert len(meta) == 2 * 13  # 6 emotions x 2 intensities + neutral x 1, per actor
    for path in av_set.glob("Actor_*/*"):
        assert re.fullmatch(r"Actor_\d{2}", path.parent.name)
        fields = parse_ravdess_name(path.stem)
        assert fields["modality"] == (2 if path.suffix == ".mp4" else 3) and fields["channel"] == 1
        assert f"Actor_{fields['actor']:02d}" == path.parent.name
        assert fields["emotion_code"] != 2  # calm is never generated
    assert set(meta[meta.actor % 2 == 1].sex) == {"male"} and set(meta[meta.actor % 2 == 0].sex) == {"female"}
    for col in ("subject_id", "skin_tone_group", "age_band", "capture_quarter", "consent_basis", "low_quality"):
        assert col in meta.columns
    assert meta.synthetic.all()
    assert yaml.safe_load((av_set / "datasheet.yaml").read_text())["synthetic"] is True
    with pytest.raises(DataError):
        parse_ravdess_name("02-01-06-01-02-12")


def test_av_loader_and_log_mel(av_set):
    """Loaded clips and log-mels have the card's shapes; the WAV is 16 kHz and anger is louder than sadness."""
    spec = _tiny_av_card().input.audio
    meta, clips, mels = load_ravdess(root=av_set, frames=4, size=32, audio=spec)
    assert clips.shape == (len(meta), 4, 32, 32, 3) and clips.dtype == np.uint8
    assert mels.shape == (len(meta), spec.n_mels, audio_frames(spec=spec))
    wave, sr = read_wav(path=av_set / meta.audio_file.iloc[0])
    assert sr == 16000 and np.allclose(log_mel(wave=wave, sample_rate=sr, spec=spec), mels[0])
    energy = {e: float(np.exp(mels[(meta.emotion == e).to_numpy()]).mean()) for e in ("anger", "sadness")}
    assert energy["anger"] > 2 * energy["sadness"]
    with pytest.raises(DataError, match="Hz"):
        log_mel(wave=wave, sample_rate=8000, spec=spec)
