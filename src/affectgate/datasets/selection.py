"""The samples the gate evaluates, for every registered dataset format: one split, its media, its groups.

:func:`select_for_gate` loads one fold/split selection of a dataset through the loader registry
(:func:`affectgate.datasets.base.load_dataset`, strict: the first bad line raises, naming file and
line) and returns

- the :class:`~affectgate.datasets.base.LoadedDataset` the Great Expectations suite validates (the
  selection just read, never read again), and
- the split inference runs on: a :class:`~affectgate.datasets.dfew.DFEWSplit` for DFEW (unchanged
  path, same clips and numbers as before), else an :class:`EvalSplit` whose samples have the same
  ``video_name`` / ``label`` / ``frame_dir`` fields, so every evaluator that reads a split's clips
  (robustness, latency, int8 drop) reads these too. ``frame_dir`` is the sample's media: a frame
  folder, a video file or one frame image; :func:`read_media_clip` decodes each kind with
  :mod:`affectgate.datasets.media` (uniform sampling over the clip, as for frame folders). A set whose
  media are not face crops (its datasheet or its format says so) has ``face_crop`` samples: faces are
  detected and cropped with the quality bar (:mod:`affectgate.datasets.face_screening`).

Group attributes come from the loader (manifest columns, CREMA-D demographics, RAVDESS sex) and, for
formats that carry none, from an affectgate ``metadata.csv`` sidecar in the dataset root (the same
file the synthetic DFEW, RAVDESS-like and engagement layouts write): one row per sample keyed by
``sample_id``, ``video_name`` or ``video_file`` (the media path). A value the loader already filled
is never overwritten.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from affectgate.core.errors import DataError
from affectgate.datasets.base import LoadedDataset, dataset_formats, load_dataset
from affectgate.datasets.labels import CANONICAL_EMOTIONS

#: Columns copied from the selection into the predictions table (and the metadata sidecar) when present.
GROUP_COLUMNS: tuple[str, ...] = (
    "subject_id",
    "skin_tone_group",
    "race",
    "ethnicity",
    "sex",
    "age_band",
    "capture_quarter",
)
#: Sidecar columns joined onto samples whose loader left them empty.
SIDECAR_COLUMNS: tuple[str, ...] = (*GROUP_COLUMNS, "consent_basis")
SIDECAR = "metadata.csv"

#: The (fold, split) the gate evaluates when none is given, per format: the test split of the first
#: fold where the format has folds, every sample where it has no split at all.
GATE_DEFAULTS: dict[str, tuple[int | None, str | None]] = {
    "dfew": (1, "test"),
    "ferv39k": (None, "test"),
    "mafw": (1, "test"),
    "mafw_compound": (1, "test"),
    "affwild2": (None, "validation"),
    "ravdess": (1, "test"),
    "cremad": (None, None),
    "manifest": (None, None),
    "engagement": (None, "test"),
}


class MediaSample(BaseModel):
    """One evaluated sample: the fields a DFEW sample has, plus its audio track."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    video_name: str = Field(description="Sample id (the loader's sample_id; named as DFEW's for the evaluators).")
    label: str | None = Field(description="Canonical label, or None for sets without class labels (engagement).")
    frame_dir: Path = Field(description="The sample's media: frame folder, video file or frame image (absolute).")
    audio_path: Path | None = Field(default=None, description="Audio track (RAVDESS wav, the video itself), if any.")
    face_crop: bool = Field(
        default=False,
        description="True when the media are full frames: faces are detected and cropped with the quality bar.",
    )


class EvalSplit(BaseModel):
    """The samples of one selection of a non-DFEW dataset, in the loader's order."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    root: Path = Field(description="Dataset root.")
    format: str = Field(description="Registered loader format.")
    fold: int | None = Field(description="Fold selected, or None.")
    split: str = Field(description="Split selected ('all' when the set has none).")
    csv_path: Path = Field(description="What the selection was read from (the root; kept for DFEWSplit's readers).")
    samples: tuple[MediaSample, ...] = Field(description="Samples in the loader's order.")


def gate_formats() -> tuple[str, ...]:
    """Formats the gate accepts: every registered loader format."""
    return dataset_formats()


def resolve_selection(*, fmt: str, fold: int | None, split: str | None) -> tuple[int | None, str | None]:
    """The (fold, split) to evaluate: what was asked, else the format's default (:data:`GATE_DEFAULTS`)."""
    default_fold, default_split = GATE_DEFAULTS.get(fmt, (None, "test"))
    return (default_fold if fold is None else fold), (default_split if split is None else split)


def _sidecar(root: Path) -> pd.DataFrame | None:
    """``metadata.csv`` as strings with a ``_key`` column (sample id or media stem), or None."""
    path = root / SIDECAR
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for key in ("sample_id", "video_name", "video_file"):
        if key in frame.columns:
            values = frame[key].str.strip()
            frame["_key"] = values.map(lambda v: PurePosixPath(v).stem) if key == "video_file" else values
            frame["_key_kind"] = key
            return frame
    raise DataError(
        f"{path} has none of the key columns sample_id, video_name, video_file",
        fix="key the sidecar by sample_id (one row per sample), or remove it",
    )


def join_sidecar(*, loaded: LoadedDataset) -> LoadedDataset:
    """``loaded`` with group columns from the root's ``metadata.csv`` where the loader left them empty."""
    side = _sidecar(loaded.root)
    if side is None or not len(loaded.samples):
        return loaded
    if side["_key"].duplicated().any():
        dup = side["_key"][side["_key"].duplicated()].iloc[0]
        raise DataError(f"{loaded.root / SIDECAR}: duplicate row for sample {dup!r}", fix="one row per sample")
    samples = loaded.samples.copy()
    kind = side["_key_kind"].iloc[0]
    keys = samples["media_path"].map(lambda p: PurePosixPath(str(p)).stem) if kind == "video_file" else None
    if keys is None:
        keys = samples["sample_id"].astype(str)
        if kind == "video_name" and not keys.isin(side["_key"]).any():  # DFEW-style zero-padded ids
            keys = keys.str.zfill(5)
    table = side.set_index("_key")
    for col in SIDECAR_COLUMNS:
        if col not in table.columns:
            continue
        values = table[col].reindex(keys.to_numpy()).to_numpy(dtype=object)
        values = np.where(pd.isna(values) | (values == ""), None, values)
        if col in samples.columns:
            have = samples[col].notna().to_numpy()
            samples[col] = np.where(have, samples[col].to_numpy(dtype=object), values)
        elif any(v is not None for v in values):
            samples[col] = values
    return LoadedDataset(
        format=loaded.format,
        root=loaded.root,
        samples=samples,
        label_names=loaded.label_names,
        problems=loaded.problems,
        invalid_counts=loaded.invalid_counts,
        special_category=loaded.special_category,
        datasheet=loaded.datasheet,
    )


def eval_split(*, loaded: LoadedDataset, fold: int | None, split: str | None) -> EvalSplit:
    """The selection as an :class:`EvalSplit` (media paths made absolute under the root)."""
    from affectgate.datasets.face_screening import declared_face_cropped

    s = loaded.samples
    audio = s["audio_path"] if "audio_path" in s.columns else pd.Series([None] * len(s), index=s.index)
    face_crop = not declared_face_cropped(fmt=loaded.format, root=loaded.root)
    samples = tuple(
        MediaSample(
            video_name=str(sid),
            label=None if label is None or (isinstance(label, float) and np.isnan(label)) else str(label),
            frame_dir=loaded.root / str(media),
            audio_path=None if not isinstance(a, str) or not a else loaded.root / a,
            face_crop=face_crop,
        )
        for sid, label, media, a in zip(s["sample_id"], s["label"], s["media_path"], audio, strict=True)
    )
    return EvalSplit(
        root=loaded.root,
        format=loaded.format,
        fold=fold,
        split=split or "all",
        csv_path=loaded.root,
        samples=samples,
    )


def select_for_gate(
    *, fmt: str, root: Path, fold: int | None = None, split: str | None = None
) -> tuple[LoadedDataset, EvalSplit]:
    """Load the selection the gate evaluates (strict) with the sidecar groups joined; DataError when it is empty.

    Without a split, a set whose rows name a ``test`` split (a manifest's ``split`` column) is evaluated
    on those rows only; training rows are never scored by default.
    """
    if fmt not in gate_formats():
        load_dataset(fmt=fmt, root=root)  # raises, naming the known formats and the closest one
    loaded = join_sidecar(loaded=load_dataset(fmt=fmt, root=root, fold=fold, split=split, strict=True))
    if split is None and (loaded.samples["split"] == "test").any():  # a manifest with a test split: only that
        split = "test"
        loaded = LoadedDataset(
            format=loaded.format,
            root=loaded.root,
            samples=loaded.samples[loaded.samples["split"] == "test"].reset_index(drop=True),
            label_names=loaded.label_names,
            problems=loaded.problems,
            invalid_counts=loaded.invalid_counts,
            special_category=loaded.special_category,
            datasheet=loaded.datasheet,
        )
    if not len(loaded.samples):
        parts = (f"fold {fold}" if fold is not None else "", f"split {split}" if split else "")
        what = ", ".join(x for x in parts if x)
        raise DataError(
            f"no {fmt} samples in {root}" + (f" for {what}" if what else ""),
            fix="check --fold/--split against the dataset (affectgate data validate --format "
            f"{fmt} {root} shows what it holds)",
        )
    return loaded, eval_split(loaded=loaded, fold=fold, split=split)


def check_labels_scorable(*, loaded: LoadedDataset) -> None:
    """DataError when a labelled sample's class is none of the seven canonical emotions a model predicts."""
    labels = loaded.samples["label"].dropna().astype(str)
    other = labels[~labels.isin(CANONICAL_EMOTIONS)]
    if len(other):
        counts = ", ".join(f"{k}: {v}" for k, v in other.value_counts().sort_index().items())
        raise DataError(
            f"the evaluated selection holds labels outside the seven canonical emotions ({counts}); "
            "a model's canonical predictions cannot be scored on them",
            fix="evaluate a selection without those classes (e.g. a manifest split), or map them in the "
            "datasheet's label_map",
        )


def check_media_present(*, split: EvalSplit) -> None:
    """DataError naming the first samples whose media (or audio) file is missing: nothing is decoded half-way."""
    missing = [s.video_name for s in split.samples if not s.frame_dir.exists()]
    if missing:
        raise DataError(
            f"{len(missing)} of {len(split.samples)} samples have no media under {split.root}: {missing[:5]}",
            fix="copy the media the loader names (frame folders or videos) into the dataset root",
        )


def group_table(*, loaded: LoadedDataset) -> pd.DataFrame:
    """Targets and group attributes indexed by sample id (the dataset table predictions are joined with).

    ``target`` is the canonical label; every :data:`GROUP_COLUMNS` column the selection fills is
    added as strings. Manifest annotator labels become ``annotator_label`` (first annotator) and
    ``annotator_label_<k>`` (k-th), which the accuracy evaluator scores as Cohen's kappa.
    """
    s = loaded.samples
    table = pd.DataFrame(
        {"target": s["label"].astype(object).to_numpy()},
        index=pd.Index(s["sample_id"].astype(str).to_numpy(), name="sample_id"),
    )
    for col in GROUP_COLUMNS:
        if col in s.columns and s[col].notna().any():
            table[col] = s[col].astype(object).where(s[col].notna(), "").astype(str).to_numpy()
    if "annotator_labels" in s.columns and s["annotator_labels"].notna().any():
        split_labels = [str(v).split(";") if isinstance(v, str) and v else [] for v in s["annotator_labels"]]
        width = max(len(x) for x in split_labels)
        for k in range(width):
            col = "annotator_label" if k == 0 else f"annotator_label_{k + 1}"
            table[col] = [x[k] if k < len(x) else "" for x in split_labels]
    return table


__all__ = [
    "GATE_DEFAULTS",
    "EvalSplit",
    "MediaSample",
    "check_labels_scorable",
    "check_media_present",
    "eval_split",
    "gate_formats",
    "group_table",
    "join_sidecar",
    "resolve_selection",
    "select_for_gate",
]
