"""The accuracy cost of an int8 variant, measured by running its fp32 original on the same clips.

An int8 candidate (``zoo quantize``) records in its lock file the folder and sha256 of the fp32 model
it was quantised from. This evaluator loads that model (refusing it if its digest changed), predicts
the same split and reports ``int8.war_drop`` / ``int8.uar_drop`` (fp32 minus int8: positive = int8 is
worse) and the top-1 agreement of the two. For an engagement-signal model (no classes) it reports the
increase in MAE instead (``int8.attention_mae_increase`` and per signal). For an fp32 candidate it is
skipped with the reason.

The split is the selection the candidate was evaluated on (:class:`~affectgate.datasets.selection.EvalSplit`
of any format: frame folders, videos or images), predicted with
:func:`affectgate.inference.predict.predict_samples` like the candidate was. Only the predictions are
compared, so no group table is read for the fp32 run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from affectgate.core.errors import ModelError
from affectgate.core.records import Candidate, EvalResult, Measurement
from affectgate.evaluators.accuracy import uar, war
from affectgate.evaluators.registry import ModelInputs, register_evaluator


@register_evaluator("int8_drop")
def evaluate_int8_drop(*, predictions: pd.DataFrame, params: dict[str, Any], model: ModelInputs) -> EvalResult:
    """WAR/UAR of the fp32 original minus those of the int8 candidate, on the same clips."""
    from affectgate.zoo.runtime import load_candidate

    cand = model.candidate
    if cand.precision != "int8":
        return EvalResult(
            evaluator="int8_drop", status="skipped", error="fp32 candidate: there is no int8 drop to measure"
        )
    if cand.fp32_onnx_path is None or not cand.fp32_onnx_path.is_file():
        raise ModelError(
            f"the fp32 model of int8 candidate {cand.name} is not found ({cand.fp32_onnx_path})",
            fix="keep the fp32 export folder next to its int8 folder (affectgate zoo quantize writes both)",
        )
    fp32 = load_candidate(path=cand.fp32_onnx_path)
    if cand.fp32_sha256 and fp32.onnx_sha256 != cand.fp32_sha256:
        raise ModelError(
            f"{cand.fp32_onnx_path} is not the model {cand.name} was quantised from "
            f"(sha256 {fp32.onnx_sha256[:12]}… vs {cand.fp32_sha256[:12]}…)",
            fix="re-run `affectgate zoo quantize` on the current fp32 export",
        )
    if "pred_attention" in predictions.columns and "pred" not in predictions.columns:
        return _engagement_drop(predictions=predictions, params=params, model=model, fp32=fp32)
    ref_pred = _fp32_predictions(fp32=fp32, model=model)
    got = predictions.set_index("sample_id")
    if set(ref_pred.index) != set(got.index):
        raise ValueError("the fp32 and int8 predictions cover different clips")
    ref_pred = ref_pred.loc[got.index]
    y_true = got["target"].to_numpy(dtype=object)
    y8, y32 = got["pred"].to_numpy(dtype=object), ref_pred.to_numpy(dtype=object)
    n = len(y_true)
    war32, war8, uar32, uar8 = war(y_true, y32), war(y_true, y8), uar(y_true, y32), uar(y_true, y8)
    return EvalResult(
        evaluator="int8_drop",
        status="ok",
        params={**params, "fp32_sha256": fp32.onnx_sha256},
        measurements=(
            Measurement(name="fp32.war", value=war32, higher_is_better=True, averaging="micro (accuracy)", n=n),
            Measurement(name="fp32.uar", value=uar32, higher_is_better=True, averaging="macro over classes", n=n),
            Measurement(
                name="int8.war_drop", value=war32 - war8, higher_is_better=False, averaging="fp32 WAR - int8 WAR", n=n
            ),
            Measurement(
                name="int8.uar_drop", value=uar32 - uar8, higher_is_better=False, averaging="fp32 UAR - int8 UAR", n=n
            ),
            Measurement(
                name="int8.top1_agreement",
                value=float(np.mean(y8 == y32)),
                higher_is_better=True,
                averaging="share of clips with the same top-1 class",
                n=n,
            ),
        ),
    )


def _fp32_predictions(*, fp32: Candidate, model: ModelInputs) -> pd.Series:
    """Top-1 class of the fp32 model per sample id, on the split the int8 candidate was evaluated on.

    The selection is predicted like the gate predicts it (:func:`predict_samples`), with a table of the
    sample ids only (the groups are the candidate's predictions' own).
    """
    from affectgate.inference.predict import predict_samples

    split = model.split
    ids = pd.Index([s.video_name for s in split.samples], name="sample_id")
    out = predict_samples(
        candidate=fp32,
        split=split,
        table=pd.DataFrame(index=ids),
        batch_size=model.batch_size,
        threads=model.threads,
        cache=model.clip_cache,
    )
    return out.predictions.set_index("sample_id")["pred"]


def _engagement_drop(
    *, predictions: pd.DataFrame, params: dict[str, Any], model: ModelInputs, fp32: Candidate
) -> EvalResult:
    """An engagement-signal model's int8 cost: attention-score and per-signal MAE of int8 minus fp32, same clips.

    ``int8.attention_mae_increase`` (clip attention score, 0-1 scale; positive = int8 is worse) is what the
    quality pack judges for engagement-only contexts; the per-frame signals' increases are reported too.
    """
    from affectgate.evaluators.engagement import SIGNALS
    from affectgate.inference.predict import predict_engagement

    ids = pd.Index([s.video_name for s in model.split.samples], name="sample_id")
    ref = predict_engagement(
        candidate=fp32,
        split=model.split,  # type: ignore[arg-type]
        table=pd.DataFrame(index=ids),
        batch_size=model.batch_size,
        threads=model.threads,
        cache=model.clip_cache,
    ).predictions
    keys = ["sample_id", "frame"]
    got = predictions.set_index(keys).sort_index()
    ref = ref.set_index(keys).sort_index()
    if not got.index.equals(ref.index):
        raise ValueError("the fp32 and int8 predictions cover different clips or frames")
    measurements: list[Measurement] = []
    clips8, clips32 = got.groupby(level=0).first(), ref.groupby(level=0).first()
    mae8 = float(np.mean(np.abs(clips8["pred_attention"] - clips8["attention"])))
    mae32 = float(np.mean(np.abs(clips32["pred_attention"] - clips32["attention"])))
    n = len(clips8)
    measurements += [
        Measurement(name="fp32.mae_attention", value=mae32, higher_is_better=False, averaging="mean over clips", n=n),
        Measurement(
            name="int8.attention_mae_increase",
            value=mae8 - mae32,
            higher_is_better=False,
            averaging="int8 MAE - fp32 MAE of the clip attention score (0-1 scale; positive = int8 is worse)",
            n=n,
        ),
        Measurement(
            name="int8.attention_max_abs_diff",
            value=float(np.max(np.abs(clips8["pred_attention"] - clips32["pred_attention"]))),
            higher_is_better=False,
            averaging="max over clips of |int8 - fp32| attention score",
            n=n,
        ),
    ]
    for sig in SIGNALS:
        if f"pred_{sig}" not in got.columns:
            continue
        inc = float(np.mean(np.abs(got[f"pred_{sig}"] - got[sig])) - np.mean(np.abs(ref[f"pred_{sig}"] - ref[sig])))
        measurements.append(
            Measurement(
                name=f"int8.mae_increase_{sig}",
                value=inc,
                higher_is_better=False,
                averaging="int8 MAE - fp32 MAE over frames (positive = int8 is worse)",
                label=sig,
                n=len(got),
            )
        )
    return EvalResult(
        evaluator="int8_drop",
        status="ok",
        params={**params, "fp32_sha256": fp32.onnx_sha256},
        measurements=tuple(measurements),
    )
