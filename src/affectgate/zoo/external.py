"""External candidates: a predictions file made elsewhere (a vendor API export, human raters) plus a card.

The user writes a small card YAML (:class:`ExternalCard`) next to a CSV or parquet file holding one row
per sample: a sample id and either a label, per-label probabilities, or valence/arousal. The file is
validated strictly and turned into exactly the table :func:`affectgate.inference.predict.predict_samples` writes
(``sample_id``, ``target``, ``pred``, ``confidence``, ``p_<label>`` in canonical order, then the
dataset's ``subject_id`` and group attributes as strings), so every evaluator runs on it unchanged.
Two extra columns say what the file said: ``vendor_pred`` (the raw value) and ``tie`` (bool).

Example card (``crowd_face.card.yaml``)::

    vendor: CREMA-D crowd
    source: human raters (CREMA-D summaryTable.csv, face only)
    kind: label
    file: face_votes.csv          # relative to the card; or pass ``file=``
    columns: {id: FileName, label: FaceVote}
    labels: {A: anger, D: disgust, F: fear, H: happiness, N: neutral, S: sadness}
    tie_separator: ":"
    tie_policy: strict
    intended_use: Reference ceiling of human perception; not a deployable model.

Ties (label kind, ``A:N``): ``strict`` scores a tie as not a correct single prediction (``pred`` is
``"tie"``), ``lenient`` as correct when the target is one of the tied labels. Probabilities of a tie
are split evenly over the tied labels. A vendor label mapped to ``null`` (no canonical counterpart,
label kind only) gives ``pred = "unmapped"`` and all-zero probabilities. Both sentinels count as wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from affectgate.core.errors import DataError, ModelError
from affectgate.datasets.labels import CANONICAL_EMOTIONS

if TYPE_CHECKING:
    from affectgate.core.records import Candidate

#: ``pred`` of a tied label prediction under the strict tie policy (never equals a target).
TIE = "tie"
#: ``pred`` of a vendor label with no canonical counterpart (mapped to null in the card).
UNMAPPED = "unmapped"


def _prob_column(label: str) -> str:
    return f"p_{label}"  # same as affectgate.inference.predict.prob_column (not imported: it pulls in onnxruntime)


class ColumnMap(BaseModel):
    """Which column of the predictions file holds what."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Sample id column (matches the dataset's sample ids).")
    label: str | None = Field(default=None, description="Predicted label column (kind: label).")
    probabilities: dict[str, str] | None = Field(
        default=None, description="Vendor label -> column of its probability (kind: probabilities)."
    )
    valence: str | None = Field(default=None, description="Valence column (kind: valence_arousal).")
    arousal: str | None = Field(default=None, description="Arousal column (kind: valence_arousal).")


class ExternalCard(BaseModel):
    """The card a user writes for a predictions file produced outside affectgate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor: str = Field(min_length=1, description="Who produced the predictions (company, team, 'human raters').")
    source: str = Field(min_length=1, description="How, e.g. 'AWS Rekognition batch export 2026-05'.")
    kind: Literal["label", "probabilities", "valence_arousal"] = Field(description="What each row holds.")
    file: str | None = Field(default=None, description="Predictions file, relative to the card (.csv or .parquet).")
    columns: ColumnMap = Field(description="Which columns hold what.")
    labels: dict[str, str | None] = Field(
        default_factory=dict,
        description="Vendor label -> canonical label (null: no canonical counterpart; kind label only).",
    )
    tie_separator: str | None = Field(default=None, description="Separator of tied labels ('A:N'); None: no ties.")
    tie_policy: Literal["strict", "lenient"] = Field(default="strict", description="How a tie is scored.")
    prob_tolerance: float = Field(default=0.01, gt=0, description="Allowed |sum of probabilities - 1| per row.")
    va_range: tuple[float, float] = Field(default=(-1.0, 1.0), description="Allowed valence/arousal range.")
    intended_use: str = Field(min_length=1, description="What the predictions are meant for and not meant for.")

    @model_validator(mode="after")
    def _consistent(self) -> ExternalCard:
        need = {"label": ("label",), "probabilities": ("probabilities",), "valence_arousal": ("valence", "arousal")}
        missing = [c for c in need[self.kind] if getattr(self.columns, c) is None]
        if missing:
            raise ValueError(f"kind {self.kind!r} needs columns.{', columns.'.join(missing)}")
        if self.kind != "valence_arousal" and not self.labels:
            raise ValueError(f"kind {self.kind!r} needs a labels map (vendor label -> canonical label)")
        bad = {k: v for k, v in self.labels.items() if v is not None and v not in CANONICAL_EMOTIONS}
        if bad:
            raise ValueError(f"labels map to non-canonical names {bad}; use {', '.join(CANONICAL_EMOTIONS)} or null")
        if self.kind == "probabilities":
            probs = self.columns.probabilities or {}
            unmapped = [k for k in probs if k not in self.labels or self.labels[k] is None]
            if unmapped:
                raise ValueError(f"probability columns of vendor labels {unmapped} have no canonical label in labels")
        return self


@dataclass(frozen=True)
class ExternalPredictions:
    """A validated predictions file: the evaluator-ready table and what was found on the way."""

    card: ExternalCard
    path: Path
    predictions: pd.DataFrame
    n_rows: int
    missing: tuple[str, ...]
    ties: int
    unmapped: int


def load_external_card(*, path: Path) -> ExternalCard:
    """Read and validate a predictions-file card; errors name the file and the fix."""
    if not path.is_file():
        raise ModelError(
            f"predictions card not found: {path}", fix="write a card YAML (see docs/external_candidates.md)"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return ExternalCard.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()][:4]
        raise ModelError(
            f"invalid predictions card {path}: {' '.join(lines)}",
            fix="compare with the example card in docs/external_candidates.md",
        ) from None


def _read_table(path: Path) -> tuple[pd.DataFrame, str]:
    """The file as strings, and how a row is named in messages ('line' for CSV, 'row' for parquet)."""
    if not path.is_file():
        raise DataError(f"predictions file not found: {path}", fix="set `file:` in the card or pass file=")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False), "line"
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path).astype(str), "row"
    raise DataError(f"predictions file {path} is neither .csv nor .parquet", fix="export CSV or parquet")


def _where(path: Path, unit: str, i: int) -> str:
    return f"{path.name} {unit} {i + 2 if unit == 'line' else i + 1}"


def _check_columns(frame: pd.DataFrame, cols: list[str], path: Path) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path} has no columns {missing} (it has {list(frame.columns)})",
            fix="fix `columns:` in the card to name the file's header",
        )


def _label_rows(
    frame: pd.DataFrame, card: ExternalCard, path: Path, unit: str
) -> tuple[list[tuple[str, ...] | None], np.ndarray]:
    """Per row: tuple of canonical labels (several for a tie) or None (unmapped), and the probability matrix."""
    col = card.columns.label or ""
    out: list[tuple[str, ...] | None] = []
    probs = np.zeros((len(frame), len(CANONICAL_EMOTIONS)), dtype=np.float32)
    vocab = ", ".join(card.labels)
    for i, raw in enumerate(frame[col].str.strip()):
        parts = raw.split(card.tie_separator) if card.tie_separator else [raw]
        parts = [p.strip() for p in parts]
        for part in parts:
            if part not in card.labels:
                what = "empty label" if part == "" else f"label {part!r}"
                raise DataError(
                    f"{_where(path, unit, i)}: {what} (column {col}) is not in the card's vocabulary ({vocab})",
                    fix=f"add `{part or '<label>'}: <canonical label or null>` under `labels:` in the card, "
                    "or correct the file",
                )
        mapped = [card.labels[p] for p in parts]
        if any(m is None for m in mapped):
            out.append(None)
            continue
        canon = tuple(sorted(set(m for m in mapped if m is not None), key=CANONICAL_EMOTIONS.index))
        out.append(canon)
        for lbl in canon:
            probs[i, CANONICAL_EMOTIONS.index(lbl)] = 1.0 / len(canon)
    return out, probs


def _prob_rows(frame: pd.DataFrame, card: ExternalCard, path: Path, unit: str) -> np.ndarray:
    cols = card.columns.probabilities or {}
    probs = np.zeros((len(frame), len(CANONICAL_EMOTIONS)), dtype=np.float64)
    for vendor_label, col in cols.items():
        values = pd.to_numeric(frame[col].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > 1))
        if len(bad):
            i = int(bad[0])
            raise DataError(
                f"{_where(path, unit, i)}: probability {frame[col].iloc[i]!r} in column {col} is not a number in "
                f"[0, 1] ({len(bad)} such rows)",
                fix="every probability must be a finite number in [0, 1]; re-export without NaN/empty cells",
            )
        probs[:, CANONICAL_EMOTIONS.index(card.labels[vendor_label])] += values  # type: ignore[arg-type]
    sums = probs.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > card.prob_tolerance)
    if len(off):
        i = int(off[0])
        raise DataError(
            f"{_where(path, unit, i)}: probabilities sum to {sums[i]:.4f}, not 1 ± {card.prob_tolerance} "
            f"({len(off)} such rows)",
            fix="list every class the vendor scores in columns.probabilities, or export normalised scores",
        )
    return probs


def load_predictions_file(
    *, card_path: Path, dataset: pd.DataFrame, file: Path | None = None, allow_missing: bool = False
) -> ExternalPredictions:
    """Load and validate a predictions file against ``dataset`` and return the evaluator-ready table.

    ``dataset`` is indexed by sample id and has a ``target`` column (canonical labels), a
    ``subject_id`` column and any group attributes (e.g. :func:`affectgate.datasets.cremad.load_cremad`
    of the selection). Strict checks: unknown labels, duplicate ids, ids not
    in the dataset, NaN or out-of-range probabilities and rows not summing to 1 are errors naming
    file, line and fix. Samples of the dataset absent from the file are an error unless
    ``allow_missing``; then they are counted and named in ``missing``, never silently dropped.
    """
    card = load_external_card(path=card_path)
    if file is None:
        if card.file is None:
            raise ModelError(f"card {card_path} names no predictions file", fix="set `file:` in the card or pass file=")
        file = card_path.parent / card.file
    frame, unit = _read_table(file)
    cols = [card.columns.id]
    if card.kind == "label":
        cols.append(card.columns.label or "")
    elif card.kind == "probabilities":
        cols += list((card.columns.probabilities or {}).values())
    else:
        cols += [card.columns.valence or "", card.columns.arousal or ""]
    _check_columns(frame, cols, file)
    if "target" not in dataset.columns:
        raise DataError("the dataset table has no target column", fix="pass a table with target and subject_id")
    dataset = dataset.set_axis(dataset.index.astype(str).str.strip(), axis=0)
    if dataset.index.has_duplicates:
        dup_ids = list(dataset.index[dataset.index.duplicated()][:5])
        raise DataError(f"the dataset table has duplicate sample ids {dup_ids}", fix="one dataset row per sample")
    ids = frame[card.columns.id].str.strip()
    empty = np.flatnonzero(ids.to_numpy() == "")
    if len(empty):
        raise DataError(f"{_where(file, unit, int(empty[0]))}: empty sample id", fix="every row needs a sample id")
    dup = ids[ids.duplicated()]
    if len(dup):
        first = int(np.flatnonzero(ids.to_numpy() == dup.iloc[0])[0])
        raise DataError(
            f"{_where(file, unit, int(dup.index[0]))}: duplicate sample id {dup.iloc[0]!r} (first at "
            f"{_where(file, unit, first)}; {dup.nunique()} duplicated ids)",
            fix="keep one prediction per sample",
        )
    known = set(dataset.index.astype(str))
    extra = [(i, s) for i, s in enumerate(ids) if s not in known]
    if extra:
        i, s = extra[0]
        raise DataError(
            f"{_where(file, unit, i)}: sample id {s!r} is not in the dataset ({len(extra)} unknown ids)",
            fix="evaluate against the dataset the predictions were made on, or fix the id column",
        )
    present = set(ids)
    missing = tuple(s for s in dataset.index.astype(str) if s not in present)
    if missing and not allow_missing:
        raise DataError(
            f"{file} has no prediction for {len(missing)} of {len(dataset)} dataset samples: {list(missing[:5])}",
            fix="predict every sample, or pass allow_missing=True to evaluate the rest (the count is reported)",
        )
    targets = dataset.loc[ids.to_numpy(), "target"].astype(str).to_numpy()
    out = pd.DataFrame({"sample_id": ids.to_numpy(), "target": targets})
    ties = unmapped = 0
    if card.kind == "valence_arousal":
        lo, hi = card.va_range
        for name in ("valence", "arousal"):
            col = getattr(card.columns, name)
            values = pd.to_numeric(frame[col].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(values) | (values < lo) | (values > hi))
            if len(bad):
                i = int(bad[0])
                raise DataError(
                    f"{_where(file, unit, i)}: {name} {frame[col].iloc[i]!r} is not a number in [{lo}, {hi}]",
                    fix="set va_range in the card to the vendor's scale, or re-export",
                )
            out[name] = values.astype(np.float32)
        out["vendor_pred"] = ""
        out["tie"] = False
    else:
        if card.kind == "label":
            rows, probs = _label_rows(frame, card, file, unit)
            preds = []
            for canon, target in zip(rows, targets, strict=True):
                if canon is None:
                    preds.append(UNMAPPED)
                elif len(canon) == 1:
                    preds.append(canon[0])
                elif card.tie_policy == "lenient" and target in canon:
                    preds.append(target)
                else:
                    preds.append(TIE)
            ties = sum(1 for c in rows if c is not None and len(c) > 1)
            unmapped = sum(1 for c in rows if c is None)
            vendor = frame[card.columns.label or ""].str.strip().to_numpy()
        else:
            probs = _prob_rows(frame, card, file, unit)
            top = probs.max(axis=1)
            n_top = (np.isclose(probs, top[:, None], rtol=0, atol=1e-9)).sum(axis=1)
            ties = int((n_top > 1).sum())  # argmax tie: first canonical label wins, as predict_samples does
            preds = [CANONICAL_EMOTIONS[j] for j in probs.argmax(axis=1)]
            vendor = np.array([""] * len(frame))
        out["pred"] = preds
        out["confidence"] = probs.max(axis=1).astype(np.float32) if len(probs) else np.zeros(0, dtype=np.float32)
        for j, lbl in enumerate(CANONICAL_EMOTIONS):
            out[_prob_column(lbl)] = probs[:, j].astype(np.float32)
        out["vendor_pred"] = vendor
        out["tie"] = [c is not None and len(c) > 1 for c in rows] if card.kind == "label" else (n_top > 1).tolist()
    for col in dataset.columns:
        if col != "target":
            out[col] = dataset.loc[ids.to_numpy(), col].astype(str).to_numpy()
    return ExternalPredictions(
        card=card,
        path=file,
        predictions=out,
        n_rows=len(frame),
        missing=missing,
        ties=int(ties),
        unmapped=int(unmapped),
    )


# -- a predictions file as a gate candidate (``affectgate gate --model card.yaml``) ----------------------
#: ``technique`` of the model card derived from a predictions-file card (no model is run for it).
EXTERNAL_TECHNIQUE = "external_predictions"


def is_predictions_card(path: Path) -> bool:
    """True when ``path`` is a YAML file shaped like a predictions-file card (``vendor``, ``kind``, ``columns``).

    A zoo model card has ``arch`` instead; the card is validated in full by :func:`load_external_card`.
    """
    if not path.is_file() or path.suffix.lower() not in (".yaml", ".yml"):
        return False
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(raw, dict) and "arch" not in raw and {"vendor", "kind", "columns"} <= set(raw)


def candidate_slug(card_path: Path) -> str:
    """A registry-safe name for a card: its stem (``crowd_face.card.yaml`` -> ``crowd_face``), or its folder's."""
    stem = card_path.name.split(".")[0]
    if stem in ("card", "predictions", ""):
        stem = card_path.resolve().parent.name
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_") or "predictions"


def predictions_candidate(*, card_path: Path, loaded: ExternalPredictions) -> Candidate:
    """The :class:`~affectgate.core.records.Candidate` of a validated predictions file, for the gate and the registry.

    Its model card is derived from the user's card: ``technique`` :data:`EXTERNAL_TECHNIQUE`, labels =
    the canonical labels the vendor vocabulary maps to, the output kind of the file. No model is run:
    the input spec is a placeholder (1 frame of 1 px) and says so in ``preprocessing``. ``onnx_path`` is
    the predictions file and ``onnx_sha256`` the sha256 of card and file together, so a changed card
    or file is a new registered version.
    """
    import hashlib

    from affectgate.core.records import Candidate, InputSpec, ModelCard, OutputSpec

    card = loaded.card
    kind = "valence_arousal" if card.kind == "valence_arousal" else "discrete_emotion"
    labels = tuple(lbl for lbl in CANONICAL_EMOTIONS if lbl in set(card.labels.values()))
    slug = candidate_slug(card_path)
    digest = hashlib.sha256()
    for part in (card_path, loaded.path):
        digest.update(hashlib.sha256(part.read_bytes()).digest())
    model_card = ModelCard(
        arch=f"external_{slug}",
        technique=EXTERNAL_TECHNIQUE,
        title=f"{card.vendor}: {card.source}",
        labels=labels,
        output_kinds=(kind,),
        input=InputSpec(name="none", layout="NTCHW", frames=1, size=1, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
        outputs=(
            OutputSpec(
                name=loaded.path.name,
                kind=kind,
                level="clip",
                activation="none" if card.kind == "valence_arousal" else "softmax",
            ),
        ),
        preprocessing=(
            f"none in affectgate: the predictions were made outside it ({card.source}) and read from "
            f"{loaded.path.name}; the input spec is a placeholder, no model is run"
        ),
        intended_use=card.intended_use,
        licence=f"as agreed with {card.vendor} (predictions file, no model weights)",
    )
    return Candidate(
        name=f"affectgate-external-{slug}",
        card=model_card,
        onnx_path=loaded.path.resolve(),
        onnx_sha256=digest.hexdigest(),
        onnx_outputs=(),
    )


def is_predictions_candidate(candidate: Candidate) -> bool:
    """True for a candidate made by :func:`predictions_candidate` (a predictions file, no model)."""
    return candidate.card.technique == EXTERNAL_TECHNIQUE
