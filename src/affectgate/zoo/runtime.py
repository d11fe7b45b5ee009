"""Exported models as candidates, and onnxruntime sessions: the only place a model is run."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from affectgate.core.errors import ModelError
from affectgate.core.records import Candidate
from affectgate.zoo.card import check_labels, load_card
from affectgate.zoo.files import CARD_NAME, LOCK_NAME, ONNX_NAME, sha256_file


def load_candidate(*, path: Path, name: str | None = None) -> Candidate:
    """A candidate from an export folder (or its model.onnx): sha256 checked, card checked against the graph."""
    folder = path.parent if path.suffix == ".onnx" else path
    onnx_path = path if path.suffix == ".onnx" else folder / ONNX_NAME
    if not onnx_path.is_file():
        raise ModelError(
            f"model file not found: {onnx_path}",
            fix="run `affectgate zoo export ARCH` (or `make demo`) or pass --model to an export folder",
        )
    card = load_card(path=folder / CARD_NAME)
    digest = sha256_file(onnx_path)
    lock_path = folder / LOCK_NAME
    lock = json.loads(lock_path.read_text(encoding="utf-8")) if lock_path.is_file() else {}
    if lock.get("sha256") and lock["sha256"] != digest:
        raise ModelError(
            f"{onnx_path} does not match its lock file (sha256 {digest[:12]}… vs {lock['sha256'][:12]}…)",
            fix="re-export the model; a changed ONNX file is a different candidate",
        )
    try:
        graph = onnx.load(str(onnx_path))
        onnx.checker.check_model(graph)
    except Exception as exc:  # onnx raises several types for a corrupt file
        raise ModelError(
            f"corrupt ONNX file {onnx_path}: {str(exc).splitlines()[0][:160]}",
            fix="re-export the model with `affectgate zoo export`",
        ) from None
    inputs = [i.name for i in graph.graph.input]
    outputs = tuple(o.name for o in graph.graph.output)
    if card.input.name not in inputs:
        raise ModelError(f"card input {card.input.name!r} is not an input of {onnx_path} (graph has {inputs})")
    for spec in card.outputs:
        if spec.name not in outputs:
            raise ModelError(f"card output {spec.name!r} is not an output of {onnx_path} (graph has {list(outputs)})")
    class_outputs = {o.name for o in card.outputs if o.kind == "discrete_emotion"}
    for out in graph.graph.output:
        if out.name not in class_outputs:  # va (B, 2), engagement (B, E), ... are not class scores
            continue
        dims = [d.dim_value for d in out.type.tensor_type.shape.dim]
        if dims and dims[-1] and dims[-1] != len(card.labels):
            raise ModelError(
                f"output {out.name!r} of {onnx_path} has {dims[-1]} classes "
                f"but the card lists {len(card.labels)} labels",
                fix="fix `labels` in card.yaml (labels in output order)",
            )
    check_labels(card=card, where=f"model card of {onnx_path}")
    precision = "int8" if lock.get("precision") == "int8" else "fp32"
    fp32_path = None
    if precision == "int8" and lock.get("fp32_folder"):
        fp32_path = (folder / lock["fp32_folder"] / ONNX_NAME).resolve()
    return Candidate(
        name=name or f"affectgate-{card.arch}" + ("-int8" if precision == "int8" else ""),
        precision=precision,
        fp32_onnx_path=fp32_path,
        fp32_sha256=lock.get("fp32_sha256") if precision == "int8" else None,
        card=card,
        onnx_path=onnx_path.resolve(),
        onnx_sha256=digest,
        onnx_outputs=outputs,
        trained_on=str(lock.get("trained_on", "")),
    )


@dataclass
class Session:
    """An onnxruntime session for a candidate with its provider and thread settings."""

    candidate: Candidate
    session: ort.InferenceSession

    def run(self, *, batch: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        """Run one batch; returns the named outputs and the wall time in milliseconds."""
        names = [o.name for o in self.candidate.card.outputs]
        start = time.perf_counter()
        out = self.session.run(names, {self.candidate.card.input.name: batch})
        elapsed = (time.perf_counter() - start) * 1e3
        outputs = dict(zip(names, out, strict=True))
        check_class_width(candidate=self.candidate, outputs=outputs, batch=len(batch))
        return outputs, elapsed


def check_class_width(*, candidate: Candidate, outputs: dict[str, np.ndarray], batch: int) -> None:
    """Every class-score output has one column per card label (at run time: symbolic graph dims included).

    The graph check in :func:`load_candidate` sees only fixed dimensions; a symbolic class dimension is
    known only once the model has run, so every batch is checked here (a cheap shape comparison).
    """
    card = candidate.card
    for spec in card.outputs:
        if spec.kind != "discrete_emotion" or spec.name not in outputs:
            continue
        shape = tuple(np.shape(outputs[spec.name]))
        if not shape or shape[-1] != len(card.labels) or shape[0] != batch:
            raise ModelError(
                f"output {spec.name!r} of {candidate.onnx_path} has shape {shape} at run time but the card lists "
                f"{len(card.labels)} labels for a batch of {batch}: the card does not describe this model",
                fix="fix `labels` in card.yaml (one per output column, in output order) or export the model again",
            )


#: Sessions by (ONNX path, sha256, threads, providers): the gate's inference pass and the evaluators that
#: run the model (robustness, int8 drop, latency) reuse one session instead of building it again.
_SESSIONS: dict[tuple[str, str, int, tuple[str, ...]], ort.InferenceSession] = {}
_MAX_SESSIONS = 8


def open_session(
    *, candidate: Candidate, threads: int = 2, providers: tuple[str, ...] = ("CPUExecutionProvider",)
) -> Session:
    """A session after re-checking the file digest (the file must not change between check and use)."""
    if sha256_file(candidate.onnx_path) != candidate.onnx_sha256:
        raise ModelError(f"{candidate.onnx_path} changed after it was loaded", fix="re-run the gate")
    key = (str(candidate.onnx_path), candidate.onnx_sha256, threads, tuple(providers))
    cached = _SESSIONS.get(key)
    if cached is not None:
        return Session(candidate=candidate, session=cached)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(str(candidate.onnx_path), sess_options=opts, providers=list(providers))
    except Exception as exc:
        raise ModelError(f"onnxruntime cannot load {candidate.onnx_path}: {str(exc).splitlines()[0][:160]}") from None
    if len(_SESSIONS) >= _MAX_SESSIONS:
        _SESSIONS.pop(next(iter(_SESSIONS)))
    _SESSIONS[key] = sess
    return Session(candidate=candidate, session=sess)
