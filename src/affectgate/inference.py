"""Inference: run a candidate over a dataset once, batched, in onnxruntime; write Predictions to parquet.

This is the only module that calls a model. Every evaluator reuses the predictions it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from affectgate.datasets.dfew import DFEWSample, DFEWSplit, load_metadata, read_clips
from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.errors import DataError, ModelError
from affectgate.records import Candidate, ModelCard
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
    """``(N, len(card.labels))`` probabilities in the model's output order -> ``(N, 7)`` in canonical order.

    Column j of the model output is ``card.labels[j]``; a canonical label the model lacks gets 0.
    """
    order = [card.labels.index(lbl) if lbl in card.labels else -1 for lbl in CANONICAL_EMOTIONS]
    return np.stack([probs[:, j] if j >= 0 else np.zeros(len(probs), dtype=probs.dtype) for j in order], axis=1)


def predict_clips(*, session: Session, clips: np.ndarray) -> tuple[np.ndarray, float]:
    """Run decoded uint8 clips ``(N, T, H, W, 3)`` through ``session`` with the card's preprocessing.

    Returns the clip probabilities in canonical order ``(N, 7)`` and the wall time of the run in ms;
    NaN/inf probabilities raise ModelError.
    """
    card = session.candidate.card
    outputs, ms = session.run(batch=to_model_input(clips=clips, spec=card.input))
    probs = outputs[clip_probability_output(card)]
    if not np.all(np.isfinite(probs)):
        raise ModelError(f"{session.candidate.name} produced NaN/inf probabilities")
    return to_canonical(probs=probs, card=card), ms


@dataclass(frozen=True)
class InferenceOutput:
    """Predictions table and latency samples of one inference pass."""

    predictions: pd.DataFrame
    batch_latency_ms: tuple[float, ...]
    batch_size: int


def predict_split(
    *,
    candidate: Candidate,
    split: DFEWSplit,
    batch_size: int = 16,
    threads: int = 2,
    workers: int = 2,
    cache: Path | None = None,
) -> InferenceOutput:
    """Decode, preprocess and run every clip of ``split``; probabilities are reordered to canonical order."""
    card = candidate.card
    session = open_session(candidate=candidate, threads=threads)
    clip_probability_output(card)  # fail before decoding anything
    probs_all: list[np.ndarray] = []
    latencies: list[float] = []
    samples = split.samples
    chunks = [samples[start : start + batch_size] for start in range(0, len(samples), batch_size)]

    def load(chunk: Sequence[DFEWSample]) -> np.ndarray:
        return read_clips(samples=chunk, frames=card.input.frames, size=card.input.size, workers=workers, cache=cache)

    # decode batch k+1 in a thread while batch k runs (cv2 and onnxruntime release the GIL)
    with ThreadPoolExecutor(max_workers=1) as prefetch:
        pending = prefetch.submit(load, chunks[0]) if chunks else None
        for k, chunk in enumerate(chunks):
            assert pending is not None
            clips = pending.result()
            pending = prefetch.submit(load, chunks[k + 1]) if k + 1 < len(chunks) else None
            try:
                probs, ms = predict_clips(session=session, clips=clips)
            except ModelError as exc:
                raise ModelError(f"{exc.what} on clips {chunk[0].video_name}…", fix=exc.fix) from None
            latencies.append(ms)
            probs_all.append(probs)
    canon = np.concatenate(probs_all) if probs_all else np.zeros((0, len(CANONICAL_EMOTIONS)), dtype=np.float32)
    pred_idx = canon.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "sample_id": [s.video_name for s in samples],
            "target": [s.label for s in samples],
            "pred": [CANONICAL_EMOTIONS[i] for i in pred_idx],
            "confidence": canon.max(axis=1) if len(canon) else np.zeros(0),
        }
    )
    for j, lbl in enumerate(CANONICAL_EMOTIONS):
        frame[prob_column(lbl)] = canon[:, j].astype(np.float32)
    meta = load_metadata(root=split.root)
    if meta is not None:
        missing = [s.video_name for s in samples if s.video_name not in meta.index]
        if missing:
            raise DataError(
                f"metadata.csv in {split.root} has no row for clips {missing[:5]}",
                fix="add a metadata row per clip (subject id and group attributes)",
            )
        for col in GROUP_COLUMNS:
            if col in meta.columns:
                frame[col] = meta.loc[frame["sample_id"], col].astype(str).to_numpy()
    return InferenceOutput(predictions=frame, batch_latency_ms=tuple(latencies), batch_size=batch_size)


def write_predictions(*, predictions: pd.DataFrame, path: Path) -> Path:
    """Write predictions once, as parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(path, index=False)
    return path
