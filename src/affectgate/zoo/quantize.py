"""Int8 variants of exported zoo models (onnxruntime.quantization): a separate candidate folder each.

CNN graphs get static QDQ quantisation (uint8 activations, int8 per-channel weights) calibrated on
clips drawn from the training split; transformer-style and audio-visual graphs get dynamic
quantisation of their MatMul weights (no calibration data needed). The result is written twice:
``model.int8.onnx`` next to the fp32 model, and a candidate folder ``<folder>_int8/`` with the same
file as ``model.onnx``, a copy of the card and its own sha256 lock, so
:func:`affectgate.zoo.runtime.load_candidate` loads it like any other candidate.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from affectgate.core.errors import ModelError
from affectgate.core.records import ModelCard
from affectgate.zoo.card import write_card
from affectgate.zoo.files import CARD_NAME, LOCK_NAME, ONNX_NAME, sha256_file
from affectgate.zoo.runtime import load_candidate

INT8_NAME = "model.int8.onnx"
INT8_SUFFIX = "_int8"
Method = Literal["auto", "static", "dynamic"]


@dataclass(frozen=True)
class QuantizeResult:
    """Where the int8 model is, how it was made and how far it moves from the fp32 model."""

    folder: Path
    onnx_path: Path
    sidecar_path: Path
    method: str
    sha256: str
    fp32_bytes: int
    int8_bytes: int
    max_abs_diff: float
    top1_agreement: float | None


class ClipCalibrationReader(CalibrationDataReader):
    """Feeds preprocessed inputs (``{input name: (N, ...)}``) to the calibrator in batches."""

    def __init__(self, *, inputs: dict[str, np.ndarray], batch: int = 4) -> None:
        n = {len(v) for v in inputs.values()}
        if len(n) != 1 or 0 in n:
            raise ModelError("calibration inputs must be non-empty and share their first (batch) dimension")
        self._inputs, self._batch, self._n = inputs, batch, n.pop()
        self._it = self._batches()

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(0, self._n, self._batch):
            yield {k: np.ascontiguousarray(v[i : i + self._batch]) for k, v in self._inputs.items()}

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next calibration batch, or None when exhausted."""
        return next(self._it, None)

    def rewind(self) -> None:
        """Start again from the first batch."""
        self._it = self._batches()


def choose_method(*, card: ModelCard) -> Literal["static", "dynamic"]:
    """Static QDQ for CNN-style models; dynamic (MatMul) for transformer-style and audio-visual graphs."""
    if "transformer" in card.technique or card.input.audio is not None:
        return "dynamic"
    return "static"


def int8_folder(*, folder: Path) -> Path:
    """The candidate folder of the int8 variant of the export in ``folder``."""
    return folder.parent / f"{folder.name}{INT8_SUFFIX}"


def _run(path: Path, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    return sess.run(names, feeds)


def quantize_export(
    *,
    folder: Path,
    calibration: dict[str, np.ndarray] | None = None,
    method: Method = "auto",
    check: dict[str, np.ndarray] | None = None,
) -> QuantizeResult:
    """Quantise the exported fp32 candidate in ``folder`` to int8 and write the int8 candidate folder.

    ``calibration`` maps ONNX input names to preprocessed training inputs (required for static
    quantisation); ``check`` (default: the calibration inputs) is run through both models to record
    the max abs output difference and the top-1 agreement of the first (class) output in the lock.
    """
    fp32 = load_candidate(path=folder)
    card = fp32.card
    chosen = choose_method(card=card) if method == "auto" else method
    if chosen == "static" and not calibration:
        raise ModelError(
            f"static int8 quantisation of {card.arch} needs calibration clips",
            fix="pass --data (a DFEW-layout set whose train split is used) or --method dynamic",
        )
    sidecar = folder / INT8_NAME
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:  # shape inference + graph optimisation, as onnxruntime recommends before quantising
            quant_pre_process(str(fp32.onnx_path), str(pre), skip_symbolic_shape=False)
        except Exception:  # noqa: BLE001 - pre-processing is an optimisation; quantise the raw graph instead
            shutil.copy(fp32.onnx_path, pre)
        try:
            if chosen == "static":
                quantize_static(
                    str(pre),
                    str(sidecar),
                    ClipCalibrationReader(inputs=calibration or {}),
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    calibrate_method=CalibrationMethod.MinMax,
                )
            else:
                quantize_dynamic(str(pre), str(sidecar), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        except Exception as exc:  # onnxruntime raises many types for unsupported graphs
            sidecar.unlink(missing_ok=True)
            raise ModelError(
                f"int8 quantisation ({chosen}) of {card.arch} failed: {str(exc).splitlines()[0][:200]}",
                fix="try --method dynamic, or keep the fp32 model for this architecture",
            ) from None
    names = [o.name for o in card.outputs]
    feeds = check if check is not None else calibration
    max_diff, agree = float("nan"), None
    if feeds:
        ref = _run(fp32.onnx_path, names, feeds)
        got = _run(sidecar, names, feeds)
        max_diff = max(float(np.max(np.abs(r - g))) for r, g in zip(ref, got, strict=True))
        if card.labels and ref[0].ndim == 2 and ref[0].shape[-1] == len(card.labels):
            agree = float(np.mean(ref[0].argmax(-1) == got[0].argmax(-1)))
    out = int8_folder(folder=folder)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(sidecar, out / ONNX_NAME)
    digest = sha256_file(out / ONNX_NAME)
    write_card(
        card=card.model_copy(update={"title": f"{card.title} [int8, {chosen} quantisation]"}), path=out / CARD_NAME
    )
    fp32_lock = json.loads((folder / LOCK_NAME).read_text(encoding="utf-8")) if (folder / LOCK_NAME).is_file() else {}
    lock = {
        "arch": card.arch,
        "onnx": ONNX_NAME,
        "sha256": digest,
        "precision": "int8",
        "quantization": chosen,
        "quant_format": "QDQ" if chosen == "static" else "dynamic (MatMul, int8 weights)",
        "calibration_clips": int(next(iter(calibration.values())).shape[0]) if calibration else 0,
        "fp32_sha256": fp32.onnx_sha256,
        "fp32_folder": os.path.relpath(folder.resolve(), out.resolve()),
        "fp32_vs_int8_max_abs_diff": max_diff,
        "fp32_vs_int8_top1_agreement": agree,
        "onnxruntime_version": ort.__version__,
        "trained_on": fp32.trained_on,
        "opset": fp32_lock.get("opset"),
    }
    (out / LOCK_NAME).write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    return QuantizeResult(
        folder=out,
        onnx_path=out / ONNX_NAME,
        sidecar_path=sidecar,
        method=chosen,
        sha256=digest,
        fp32_bytes=fp32.onnx_path.stat().st_size,
        int8_bytes=sidecar.stat().st_size,
        max_abs_diff=max_diff,
        top1_agreement=agree,
    )
