"""Export to ONNX with a parity check against torch, a sha256 lock file and the card beside it."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn

from affectgate.core.errors import ModelError
from affectgate.core.records import ModelCard
from affectgate.zoo.card import write_card
from affectgate.zoo.files import CARD_NAME, LOCK_NAME, ONNX_NAME, sha256_file

OPSET = 18


@dataclass(frozen=True)
class ExportResult:
    """Where the exported model is and how well it matches torch."""

    folder: Path
    onnx_path: Path
    sha256: str
    parity_max_abs_diff: float


def export_onnx(
    *,
    model: nn.Module,
    card: ModelCard,
    folder: Path,
    parity_clips: np.ndarray,
    trained_on: str = "",
    parity_audio: np.ndarray | None = None,
    lineage: dict[str, object] | None = None,
) -> ExportResult:
    """Export ``model`` (eval mode) with a dynamic batch; fail if torch and ONNX differ above the card's tolerance.

    ``parity_clips`` are preprocessed float32 inputs ``(N, T, 3, H, W)``; the max abs diff over both
    outputs is recorded in the lock file. Audio-visual cards (``card.input.audio`` set) need
    ``parity_audio`` (preprocessed audio, same N): the graph then has two inputs, both with a dynamic batch.
    """
    if (card.input.audio is None) != (parity_audio is None):
        raise ModelError(
            f"{card.arch}: parity_audio must be given exactly when the card declares an audio input",
            fix="pass preprocessed audio (e.g. log_mel) for audio-visual models, none for video-only ones",
        )
    arrays = [parity_clips] + ([parity_audio] if parity_audio is not None else [])
    input_names = [card.input.name] + ([card.input.audio.name] if card.input.audio is not None else [])
    batch_dim = torch.export.Dim("batch", min=1, max=4096)
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / ONNX_NAME
    model.eval()
    example = tuple(torch.from_numpy(a[:2].copy()) for a in arrays)
    output_names = [o.name for o in card.outputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(onnx_path),
            input_names=input_names,
            output_names=output_names,
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            dynamic_shapes=tuple({0: batch_dim} for _ in arrays),
        )
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = [t.numpy() for t in model(*(torch.from_numpy(a) for a in arrays))]
    got = sess.run(output_names, dict(zip(input_names, arrays, strict=True)))
    diff = max(float(np.max(np.abs(e - g))) for e, g in zip(expected, got, strict=True))
    if not np.isfinite(diff) or diff > card.parity_tolerance:
        onnx_path.unlink(missing_ok=True)
        raise ModelError(
            f"ONNX export of {card.arch} differs from torch by {diff:.2e} (> tolerance {card.parity_tolerance:.0e})",
            fix="check unsupported ops or raise parity_tolerance in the card only with a documented reason",
        )
    digest = sha256_file(onnx_path)
    write_card(card=card, path=folder / CARD_NAME)
    lock = {
        "arch": card.arch,
        "onnx": ONNX_NAME,
        "sha256": digest,
        "opset": OPSET,
        "parity_max_abs_diff": diff,
        "parity_clips": int(parity_clips.shape[0]),
        "torch_version": torch.__version__,
        "onnxruntime_version": ort.__version__,
        "trained_on": trained_on,
        **(lineage or {}),  # train_fold/split/samples, trained_by, exported_by (the gate's overlap and SoD checks)
    }
    (folder / LOCK_NAME).write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    return ExportResult(folder=folder, onnx_path=onnx_path, sha256=digest, parity_max_abs_diff=diff)
