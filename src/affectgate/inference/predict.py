"""Inference: run a candidate over a dataset once, batched, in onnxruntime; write Predictions to parquet.

This is the only module that calls a model. Every evaluator reuses the predictions it writes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from affectgate.core.errors import DataError, ModelError
from affectgate.core.records import AudioSpec, Candidate, ModelCard
from affectgate.datasets.clips import read_clips
from affectgate.datasets.labels import label_space
from affectgate.datasets.selection import EvalSplit, MediaSample
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.runtime import Session, open_session

#: Group attribute columns copied from the dataset metadata into the predictions, when present.
GROUP_COLUMNS = ("subject_id", "skin_tone_group", "sex", "age_band", "capture_quarter")


def prob_column(label: str) -> str:
    """Column name of a class probability in the predictions table."""
    return f"p_{label}"


def clip_probability_output(card: ModelCard) -> str:
    """Name of the card's clip-level softmax output; ModelError when the card declares none."""
    name = next((o.name for o in card.outputs if o.level == "clip" and o.activation == "softmax"), None)
    if name is None:
        raise ModelError(f"card of {card.arch} declares no clip-level softmax output", fix="add one to card.yaml")
    return name


def to_canonical(*, probs: np.ndarray, card: ModelCard) -> np.ndarray:
    """``(N, len(card.labels))`` probabilities in the model's output order -> ``(N, K)`` in its label space's order.

    Column j of the model output is ``card.labels[j]``; the label space is
    :func:`~affectgate.datasets.labels.label_space` of the card (the canonical seven, plus e.g. MAFW's
    four further classes for an 11-class card); a canonical label the model lacks gets 0.
    """
    order = [card.labels.index(lbl) if lbl in card.labels else -1 for lbl in label_space(card.labels)]
    return np.stack([probs[:, j] if j >= 0 else np.zeros(len(probs), dtype=probs.dtype) for j in order], axis=1)


def predict_clips(*, session: Session, clips: np.ndarray) -> tuple[np.ndarray, float]:
    """Run decoded uint8 clips ``(N, T, H, W, 3)`` through ``session`` with the card's preprocessing.

    Returns the clip probabilities in canonical order ``(N, 7)`` and the wall time of the run in ms;
    NaN/inf probabilities raise ModelError.
    """
    return _predict_model_input(session=session, batch=to_model_input(clips=clips, spec=session.candidate.card.input))


def _predict_model_input(*, session: Session, batch: np.ndarray) -> tuple[np.ndarray, float]:
    """:func:`predict_clips` on a batch already through ``to_model_input``."""
    card = session.candidate.card
    outputs, ms = session.run(batch=batch)
    probs = outputs[clip_probability_output(card)]
    if not np.all(np.isfinite(probs)):
        raise ModelError(
            f"{session.candidate.name} produced NaN/inf probabilities",
            fix="the model is broken or was exported wrongly: check its ONNX graph and export parity",
        )
    return to_canonical(probs=probs, card=card), ms


@dataclass(frozen=True)
class InferenceOutput:
    """Predictions table and latency samples of one inference pass."""

    predictions: pd.DataFrame
    batch_latency_ms: tuple[float, ...]
    batch_size: int


#: Batches :func:`predict_samples` decodes and preprocesses ahead of the one the model runs; one only when a
#: batch's float32 tensor is over ``_PREFETCH_MAX_BYTES`` (memory).
_PREFETCH_BATCHES = 2
_PREFETCH_MAX_BYTES = 64 * 2**20


def write_predictions(*, predictions: pd.DataFrame, path: Path) -> Path:
    """Write predictions once, as parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(path, index=False)
    return path


# -- every other dataset format (the gate's --format), audio-visual models --------------------------
def audio_features(*, samples: Sequence[object], spec: AudioSpec) -> np.ndarray:
    """``(N, n_mels, frames)`` float32 log-mel of each sample's audio, as the card's ``input.audio`` declares.

    The audio is the sample's ``audio_path`` (RAVDESS wav, a manifest's audio track) or else its media
    file's own audio track; WAV files at the card's rate are read as written, anything else is decoded
    and resampled to ``spec.sample_rate`` (PyAV). A sample without audio is a DataError naming it.
    """
    from affectgate.datasets.media import extract_audio
    from affectgate.datasets.synth.audio import log_mel, read_wav

    out = []
    for s in samples:
        path = getattr(s, "audio_path", None) or (s.frame_dir if s.frame_dir.is_file() else None)  # type: ignore[attr-defined]
        if path is None:
            raise DataError(
                f"sample {s.video_name} has no audio track, and the model needs audio",  # type: ignore[attr-defined]
                fix="point at a dataset with audio (RAVDESS modality 01/03, a manifest audio_path column)",
            )
        wave, sr = read_wav(path=path) if path.suffix.lower() == ".wav" else (None, 0)
        if wave is None or sr != spec.sample_rate:
            wave, sr = extract_audio(path=path, sample_rate=spec.sample_rate), spec.sample_rate
        out.append(log_mel(wave=wave, sample_rate=sr, spec=spec))
    return np.stack(out).astype(np.float32) if out else np.zeros((0, spec.n_mels, 0), dtype=np.float32)


def predict_av_clips(*, session: Session, clips: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, float]:
    """:func:`predict_clips` for an audio-visual card: the clip input and the log-mel audio input together."""
    card = session.candidate.card
    assert card.input.audio is not None
    names = [o.name for o in card.outputs]
    feeds = {card.input.name: to_model_input(clips=clips, spec=card.input), card.input.audio.name: audio}
    start = time.perf_counter()
    raw = session.session.run(names, feeds)
    ms = (time.perf_counter() - start) * 1e3
    probs = dict(zip(names, raw, strict=True))[clip_probability_output(card)]
    if not np.all(np.isfinite(probs)):
        raise ModelError(
            f"{session.candidate.name} produced NaN/inf probabilities",
            fix="the model is broken or was exported wrongly: check its ONNX graph and export parity",
        )
    return to_canonical(probs=probs, card=card), ms


def join_groups(*, predictions: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The predictions with the dataset table's group and annotator columns (strings), by sample id."""
    missing = [s for s in predictions["sample_id"] if s not in table.index]
    if missing:
        raise DataError(f"the dataset table has no row for samples {missing[:5]}", fix="re-run the gate")
    out = predictions.copy()
    for col in table.columns:
        if col != "target":
            out[col] = table.loc[out["sample_id"], col].astype(str).to_numpy()
    return out


def _decoded_batches(
    *, samples: Sequence[MediaSample], card: ModelCard, batch_size: int, workers: int, cache: Path | None
) -> Iterator[tuple[Sequence[MediaSample], np.ndarray]]:
    """``(samples, decoded uint8 clips)`` per batch of a selection, at the card's frames and size."""
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        clips = read_clips(samples=chunk, frames=card.input.frames, size=card.input.size, workers=workers, cache=cache)
        yield chunk, clips


def predict_samples(
    *,
    candidate: Candidate,
    split: EvalSplit,
    table: pd.DataFrame,
    batch_size: int = 16,
    threads: int = 2,
    workers: int = 2,
    cache: Path | None = None,
) -> InferenceOutput:
    """Decode, preprocess and run every sample of a selection of any format; probabilities in canonical order.

    Frame folders, videos, frame images and face crops are decoded by :func:`affectgate.datasets.clips.read_clips`
    (the decoded-clip ``cache`` when given); audio features are computed when the card asks for audio. The
    model thread only runs the model: a loader thread decodes (``workers`` threads) and preprocesses the next
    batches while the current one runs (cv2, numpy and onnxruntime release the GIL). ``table`` is
    :func:`affectgate.datasets.selection.group_table` of the same selection; its group and annotator columns
    are joined onto the predictions.
    """
    card = candidate.card
    spec = card.input
    session = open_session(candidate=candidate, threads=threads)
    clip_probability_output(card)  # fail before decoding anything
    samples = split.samples
    probs_all: list[np.ndarray] = []
    latencies: list[float] = []
    chunks = [samples[start : start + batch_size] for start in range(0, len(samples), batch_size)]
    batch_bytes = min(batch_size, len(samples)) * spec.frames * 3 * spec.size * spec.size * 4
    ahead = _PREFETCH_BATCHES if batch_bytes <= _PREFETCH_MAX_BYTES else 1

    def load(chunk: Sequence[MediaSample]) -> tuple[np.ndarray, np.ndarray | None]:
        clips = read_clips(samples=chunk, frames=spec.frames, size=spec.size, workers=workers, cache=cache)
        audio = audio_features(samples=chunk, spec=spec.audio) if spec.audio is not None else None
        return (to_model_input(clips=clips, spec=spec) if audio is None else clips), audio

    with ThreadPoolExecutor(max_workers=1) as loader:
        queued = min(ahead, len(chunks))
        pending = deque(loader.submit(load, chunk) for chunk in chunks[:queued])
        for chunk in chunks:
            batch, audio = pending.popleft().result()
            if queued < len(chunks):
                pending.append(loader.submit(load, chunks[queued]))
                queued += 1
            try:
                if audio is not None:
                    probs, ms = predict_av_clips(session=session, clips=batch, audio=audio)
                else:
                    probs, ms = _predict_model_input(session=session, batch=batch)
            except ModelError as exc:
                raise ModelError(f"{exc.what} on samples {chunk[0].video_name}…", fix=exc.fix) from None
            latencies.append(ms)
            probs_all.append(probs)
    space = label_space(card.labels)  # the card's label space: the canonical seven, or e.g. MAFW's 11
    canon = np.concatenate(probs_all) if probs_all else np.zeros((0, len(space)), dtype=np.float32)
    frame = pd.DataFrame(
        {
            "sample_id": [s.video_name for s in samples],
            "target": [s.label for s in samples],
            "pred": np.asarray(space, dtype=object)[canon.argmax(axis=1)].tolist() if len(canon) else [],
            "confidence": canon.max(axis=1) if len(canon) else np.zeros(0),
        }
    )
    for j, lbl in enumerate(space):
        frame[prob_column(lbl)] = canon[:, j].astype(np.float32)
    frame = join_groups(predictions=frame, table=table)
    return InferenceOutput(predictions=frame, batch_latency_ms=tuple(latencies), batch_size=batch_size)


def is_engagement_card(card: ModelCard) -> bool:
    """True for a model with engagement outputs and no emotion output (the engagement zoo model)."""
    return "engagement" in card.output_kinds and not any(
        k in ("discrete_emotion", "valence_arousal") for k in card.output_kinds
    )


def predict_engagement(
    *,
    candidate: Candidate,
    split: EvalSplit,
    table: pd.DataFrame,
    batch_size: int = 16,
    threads: int = 2,
    workers: int = 2,
    cache: Path | None = None,
) -> InferenceOutput:
    """Per-frame engagement predictions of an engagement-signal model on an engagement set (no emotion anywhere).

    The rows are :func:`affectgate.datasets.engagement.engagement_predictions`: the true signals at the
    frames the model sampled, the model's per-frame output (card output of kind ``engagement``, level
    ``frame``, in the order yaw, pitch, gaze_x, gaze_y, eye_openness), the clip attention and its prediction
    (level ``clip``), and the clip's group attributes.
    """
    from affectgate.datasets.engagement import engagement_predictions, engagement_targets

    card = candidate.card
    frame_out = next((o.name for o in card.outputs if o.kind == "engagement" and o.level == "frame"), None)
    clip_out = next((o.name for o in card.outputs if o.kind == "engagement" and o.level == "clip"), None)
    if frame_out is None:
        raise ModelError(f"card of {card.arch} declares no frame-level engagement output", fix="add one to card.yaml")
    session = open_session(candidate=candidate, threads=threads)
    samples = split.samples
    frames_all: list[np.ndarray] = []
    attention_all: list[np.ndarray] = []
    latencies: list[float] = []
    batches = _decoded_batches(samples=samples, card=card, batch_size=batch_size, workers=workers, cache=cache)
    for chunk, clips in batches:
        outputs, ms = session.run(batch=to_model_input(clips=clips, spec=card.input))
        for name in (frame_out, clip_out):
            if name is not None and not np.all(np.isfinite(outputs[name])):
                raise ModelError(
                    f"{candidate.name} produced NaN/inf in {name} on samples {chunk[0].video_name}…",
                    fix="the model is broken or was exported wrongly: check its ONNX graph and export parity",
                )
        frames_all.append(outputs[frame_out])
        if clip_out is not None:
            attention_all.append(outputs[clip_out].reshape(len(chunk)))
        latencies.append(ms)
    ids = [s.video_name for s in samples]
    signals, blink, attention = engagement_targets(root=split.root, sample_ids=ids, frames=card.input.frames)
    predicted = np.concatenate(frames_all) if frames_all else np.zeros_like(signals)
    groups = {c: table.loc[ids, c].astype(str).tolist() for c in table.columns if c != "target"}
    frame = engagement_predictions(
        sample_ids=ids,
        signals=signals,
        predicted=predicted.astype(np.float32),
        blink=blink,
        attention=attention if attention_all else None,
        predicted_attention=np.concatenate(attention_all) if attention_all else None,
        clip_columns=groups,
    )
    return InferenceOutput(predictions=frame, batch_latency_ms=tuple(latencies), batch_size=batch_size)
