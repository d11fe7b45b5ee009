"""Robustness: WAR under clip corruptions (light, blur, noise, JPEG, occlusion, frame drops, rotation).

The evaluator runs the model itself (it takes ``model``): it decodes a seeded subsample of the
split's clips (``max_clips``, default 64) exactly as inference does (``read_clips`` at the card's
frames and size), applies each corruption of :mod:`affectgate.evaluators.corruptions` at each
severity to the decoded uint8 clips (the frames the model sees, before normalisation), preprocesses
them as the card says and runs the candidate in onnxruntime. Clean WAR is measured on the same
subsample by the same code, so a delta isolates the corruption. An audio-visual candidate gets each
clip's clean log-mel audio (``inference.audio_features``) beside every corrupted video, so its deltas
measure how much the fusion leans on a degraded picture.

Measurements: ``robustness.clean_war``; per corruption and severity (``group="corruption=<name>,
severity=<k>"``) ``robustness.war`` and ``robustness.war_delta`` = corrupted WAR − clean WAR (negative
is worse); ``robustness.worst_war_delta`` = the minimum delta (its averaging names the corruption).
Params: ``corruptions`` (list of names, default all), ``severities`` (list such as ``["1", "3"]``, a
comma string, or an int k meaning 1..k; default 1..3), ``max_clips`` (default 64), ``seed`` (default 0).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from affectgate.core.records import EvalResult, Measurement
from affectgate.datasets.clips import read_clips
from affectgate.datasets.labels import label_space
from affectgate.evaluators.accuracy import war
from affectgate.evaluators.corruptions import CORRUPTIONS, SEVERITIES, check_corruption, corrupt
from affectgate.evaluators.registry import ModelInputs, register_evaluator
from affectgate.inference.predict import audio_features, predict_av_clips, predict_clips
from affectgate.zoo.runtime import Session, open_session

DEFAULT_MAX_CLIPS = 64


def parse_severities(value: Any) -> tuple[int, ...]:
    """Severities from a suite param: None (all), an int k (1..k), a comma string, or a list of ints/strings."""
    if value is None:
        return SEVERITIES
    if isinstance(value, bool):
        raise ValueError(f"severities must be a list, a comma string or an int, got {value!r}")
    if isinstance(value, int):
        items: list[Any] = list(range(1, value + 1))
    elif isinstance(value, str):
        items = [v for v in value.split(",") if v.strip()]
    else:
        items = list(value)
    try:
        out = tuple(sorted({int(str(v).strip()) for v in items}))
    except ValueError:
        raise ValueError(f"severities must be integers in {SEVERITIES}, got {value!r}") from None
    bad = [s for s in out if s not in SEVERITIES]
    if bad or not out:
        raise ValueError(f"severities must be integers in {SEVERITIES}, got {value!r}")
    return out


def _predict_labels(
    *, session: Session, clips: np.ndarray, batch_size: int, audio: np.ndarray | None = None
) -> np.ndarray:
    """Canonical labels of ``clips``; an audio-visual model gets the same rows of ``audio`` (log-mel) beside them."""
    preds = []
    for start in range(0, len(clips), batch_size):
        part = slice(start, start + batch_size)
        if audio is None:
            probs, _ = predict_clips(session=session, clips=clips[part])
        else:
            probs, _ = predict_av_clips(session=session, clips=clips[part], audio=audio[part])
        preds.append(probs.argmax(axis=1))
    idx = np.concatenate(preds) if preds else np.zeros(0, dtype=int)
    space = label_space(session.candidate.card.labels)  # predict_clips returns the card's label space
    return np.array([space[i] for i in idx], dtype=object)


@register_evaluator("robustness")
def evaluate_robustness(*, predictions: pd.DataFrame, params: dict[str, Any], model: ModelInputs) -> EvalResult:
    """WAR deltas (corrupted − clean) of the candidate on a seeded subsample of the split's clips."""
    names = list(params.get("corruptions") or CORRUPTIONS)
    for name in names:
        check_corruption(name)
    severities = parse_severities(params.get("severities"))
    max_clips = int(params.get("max_clips", DEFAULT_MAX_CLIPS))
    seed = int(params.get("seed", 0))
    if max_clips < 1:
        raise ValueError(f"max_clips must be >= 1, got {max_clips}")
    cand = model.candidate
    spec = cand.card.input
    samples = model.split.samples
    if not samples:
        raise ValueError("the split has no clips")
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(samples), size=min(max_clips, len(samples)), replace=False))
    chosen = [samples[int(i)] for i in picked]
    clips = read_clips(
        samples=chosen, frames=spec.frames, size=spec.size, workers=model.threads, cache=model.clip_cache
    )
    # an audio-visual model hears its clean audio under every video corruption: the deltas isolate the video
    audio = audio_features(samples=chosen, spec=spec.audio) if spec.audio is not None else None
    y_true = np.array([s.label for s in chosen], dtype=object)
    session = open_session(candidate=cand, threads=model.threads)
    batch = max(1, model.batch_size)
    predict = partial(_predict_labels, session=session, batch_size=batch, audio=audio)
    clean = war(y_true, predict(clips=clips))
    n = len(chosen)
    heard = "; audio input unchanged (clean)" if audio is not None else ""
    measurements = [
        Measurement(
            name="robustness.clean_war",
            value=clean,
            higher_is_better=True,
            averaging=f"micro accuracy on the {n} subsampled clean clips{heard}",
            n=n,
        )
    ]
    worst: tuple[float, str] | None = None
    for name in names:
        for severity in severities:
            corrupted = np.stack(
                [
                    corrupt(clip, name=name, severity=severity, seed=seed * 1_000_003 + int(idx))
                    for clip, idx in zip(clips, picked, strict=True)
                ]
            )
            acc = war(y_true, predict(clips=corrupted))
            delta = acc - clean
            group = f"corruption={name},severity={severity}"
            measurements += [
                Measurement(
                    name="robustness.war", value=acc, higher_is_better=True, averaging="micro", group=group, n=n
                ),
                Measurement(
                    name="robustness.war_delta",
                    value=delta,
                    higher_is_better=True,
                    averaging=f"corrupted WAR - clean WAR on the same clips (negative is worse){heard}",
                    group=group,
                    n=n,
                ),
            ]
            if worst is None or delta < worst[0]:
                worst = (delta, group)
    if worst is None:
        raise ValueError("no corruption was run")
    measurements.append(
        Measurement(
            name="robustness.worst_war_delta",
            value=worst[0],
            higher_is_better=True,
            averaging=f"min of robustness.war_delta over corruptions x severities; worst: {worst[1]}",
            n=n,
        )
    )
    return EvalResult(
        evaluator="robustness",
        status="ok",
        measurements=tuple(measurements),
        params={
            "corruptions": names,
            "severities": [str(s) for s in severities],
            "max_clips": max_clips,
            "seed": seed,
            "n_clips": n,
        },
    )
