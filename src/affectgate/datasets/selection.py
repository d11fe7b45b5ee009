"""The samples the gate evaluates, for every registered dataset format: one split, its media, its groups.

:func:`select_for_gate` loads one fold/split selection of a dataset through the loader registry
(:func:`affectgate.datasets.base.load_dataset`, strict: the first bad line raises, naming file and
line) and returns

- the :class:`~affectgate.datasets.base.LoadedDataset` the Great Expectations suite validates (the
  selection just read, never read again), and
- the split inference runs on: an :class:`EvalSplit` for every format, DFEW included, whose samples
  have ``video_name`` / ``label`` / ``frame_dir`` fields, which every evaluator that reads a split's
  clips (robustness, latency, int8 drop) reads. ``frame_dir`` is the sample's media: a frame
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


#: ``--label-map`` / datasheet values that leave a class out of the evaluation (YAML ``null`` does too).
DROP_WORDS = ("drop", "none", "null", "-")


class LabelMapping(BaseModel):
    """How a selection was brought into a model's label space: the declared map and what it left out."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    space: tuple[str, ...] = Field(description="The model's label space (vocabulary order) the selection is scored in.")
    label_map: dict[str, str | None] = Field(
        default_factory=dict, description="Declared dataset label -> label of the space, or None (left out)."
    )
    source: str = Field(default="", description="Where the map was declared: datasheet.yaml, --label-map, or both.")
    n_selected: int = Field(ge=0, description="Labelled samples in the selection before the map.")
    dropped: dict[str, int] = Field(
        default_factory=dict, description="Samples left out per dataset label (mapped to None by the declared map)."
    )
    remapped: dict[str, int] = Field(default_factory=dict, description="Samples relabelled per 'from->to' pair.")

    @property
    def n_dropped(self) -> int:
        """Samples left out by the map."""
        return sum(self.dropped.values())

    def summary(self) -> str:
        """One line for the CLI, the report and the Markdown summary: the dropped share with n and %."""
        if not self.dropped and not self.remapped:
            return ""
        parts = []
        if self.dropped:
            share = 100.0 * self.n_dropped / self.n_selected if self.n_selected else 0.0
            parts.append(
                f"{self.n_dropped} of {self.n_selected} samples ({share:.1f} %) left out: their classes are outside "
                f"the model's {len(self.space)}-class label space ("
                + ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()))
                + ")"
            )
        if self.remapped:
            parts.append("relabelled: " + ", ".join(f"{k} {v}" for k, v in sorted(self.remapped.items())))
        return "; ".join(parts) + f" — by the label_map declared in {self.source}"


def parse_label_map(text: str | None) -> dict[str, str | None]:
    """``--label-map`` text ``from=to,from=drop`` as a map (``drop``/``none``/``-`` = leave the class out)."""
    if not text:
        return {}
    out: dict[str, str | None] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DataError(
                f"--label-map entry {item!r} is not 'from=to'",
                fix="write --label-map contempt=drop,anxiety=drop (or from=to to relabel a class)",
            )
        value = value.strip()
        out[key.strip()] = None if value.lower() in DROP_WORDS or not value else value
    return out


def declared_label_map(*, loaded: LoadedDataset, cli_map: dict[str, str | None] | None = None) -> tuple[dict, str]:
    """The label map the selection declares: the datasheet's ``label_map`` overlaid by ``--label-map``.

    A manifest's loader applies its datasheet's ``from: to`` entries itself (raw manifest labels), so
    only its ``from: null`` entries (leave out) are taken from the datasheet here. Returns the map and
    where it was declared.
    """
    sheet = (loaded.datasheet or {}).get("label_map") or {}
    if not isinstance(sheet, dict):
        raise DataError(
            f"label_map in {loaded.root / 'datasheet.yaml'} is not a mapping",
            fix="write label_map as 'dataset label: label' lines (null leaves a class out)",
        )
    from_sheet: dict[str, str | None] = {
        str(k): (None if v is None or str(v).strip().lower() in DROP_WORDS else str(v)) for k, v in sheet.items()
    }
    if loaded.format == "manifest":
        from_sheet = {k: v for k, v in from_sheet.items() if v is None}
    cli = dict(cli_map or {})
    sources = [name for name, m in (("datasheet.yaml", from_sheet), ("--label-map", cli)) if m]
    return {**from_sheet, **cli}, " and ".join(sources)


def apply_label_map(
    *, loaded: LoadedDataset, space: tuple[str, ...], cli_map: dict[str, str | None] | None = None
) -> tuple[LoadedDataset, LabelMapping]:
    """The selection in the model's label space ``space``, by the declared map; DataError for any class left over.

    Nothing is dropped silently: a labelled class outside ``space`` must be declared (relabelled to a
    class of the space, or mapped to null/drop to be left out); the returned :class:`LabelMapping`
    counts what was left out and relabelled (reported with n and % beside every number).
    """
    label_map, source = declared_label_map(loaded=loaded, cli_map=cli_map)
    bad_targets = sorted({v for v in label_map.values() if v is not None and v not in space})
    if bad_targets:
        raise DataError(
            f"the declared label_map ({source}) maps to {bad_targets}, outside the model's label space "
            f"({', '.join(space)})",
            fix="map each dataset class to a class the model card lists, or to drop",
        )
    s = loaded.samples
    labels = s["label"].astype(object)
    has = labels.notna().to_numpy()
    raw = labels.where(labels.notna(), "").astype(str)
    n_selected = int(has.sum())
    mapped = raw.map(lambda v: label_map.get(v, v) if v in label_map else v)
    dropped_mask = has & raw.isin([k for k, v in label_map.items() if v is None]).to_numpy()
    remapped_mask = has & ~dropped_mask & (mapped != raw).to_numpy()
    outside = has & ~dropped_mask & ~mapped.isin(space).to_numpy()
    if outside.any():
        counts = raw[outside].value_counts().sort_index()
        listing = ", ".join(f"{k}: {v}" for k, v in counts.items())
        share = 100.0 * int(outside.sum()) / max(n_selected, 1)
        keys = ",".join(f"{k}=drop" for k in counts.index)
        what = (
            "the seven canonical emotions" if space == CANONICAL_EMOTIONS else f"the model's {len(space)}-class space"
        )
        raise DataError(
            f"the evaluated selection holds labels outside {what} ({listing}; {int(outside.sum())} of "
            f"{n_selected} samples, {share:.1f} %); a model's predictions cannot be scored on them",
            fix=f"score a model whose card lists those classes (an 11-class MAFW model is scored on MAFW's 11), "
            f"or declare how to map them: `--label-map {keys}` on the command line or `label_map:` in the "
            f"datasheet ({', '.join(f'{k}: null' for k in counts.index)}) to score the {len(space)}-class subset "
            "with the dropped share reported",
        )
    mapping = LabelMapping(
        space=space,
        label_map=label_map,
        source=source,
        n_selected=n_selected,
        dropped={str(k): int(v) for k, v in raw[dropped_mask].value_counts().sort_index().items()},
        remapped={
            f"{a}->{b}": int(n)
            for (a, b), n in pd.DataFrame({"a": raw[remapped_mask], "b": mapped[remapped_mask]})
            .value_counts()
            .sort_index()
            .items()
        },
    )
    if not dropped_mask.any() and not remapped_mask.any():
        return loaded, mapping
    samples = s.copy()
    samples["label"] = np.where(has, mapped.to_numpy(dtype=object), None)
    samples = samples[~dropped_mask].reset_index(drop=True)
    return (
        LoadedDataset(
            format=loaded.format,
            root=loaded.root,
            samples=samples,
            label_names=tuple(x for x in space if x in set(samples["label"].dropna())) or space,
            problems=loaded.problems,
            invalid_counts=loaded.invalid_counts,
            special_category=loaded.special_category,
            datasheet=loaded.datasheet,
        ),
        mapping,
    )


def label_spec_fields(mapping: LabelMapping) -> dict[str, object]:
    """The :class:`~affectgate.core.records.DatasetSpec` fields that record a label mapping in the report."""
    return {
        "label_space": mapping.space,
        "label_map": mapping.label_map,
        "label_map_source": mapping.source,
        "labels_dropped": mapping.dropped,
        "n_labelled_selected": mapping.n_selected,
    }


def restrict_split(*, split: EvalSplit, loaded: LoadedDataset) -> EvalSplit:
    """``split`` keeping only the samples of ``loaded`` (after :func:`apply_label_map`), with its labels."""
    labels = dict(zip(loaded.samples["sample_id"].astype(str), loaded.samples["label"], strict=True))
    kept = tuple(
        x.model_copy(update={"label": None if labels[x.video_name] is None else str(labels[x.video_name])})
        for x in split.samples
        if x.video_name in labels
    )
    return split.model_copy(update={"samples": kept})


def check_labels_scorable(
    *, loaded: LoadedDataset, space: tuple[str, ...] = CANONICAL_EMOTIONS, cli_map: dict[str, str | None] | None = None
) -> LabelMapping:
    """DataError when a labelled sample's class is outside the model's label space ``space`` and no declared
    map says what to do with it (:func:`apply_label_map`, whose mapping is returned; the selection is not changed).
    """
    return apply_label_map(loaded=loaded, space=space, cli_map=cli_map)[1]


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
    "LabelMapping",
    "MediaSample",
    "apply_label_map",
    "check_labels_scorable",
    "declared_label_map",
    "label_spec_fields",
    "parse_label_map",
    "restrict_split",
    "check_media_present",
    "eval_split",
    "gate_formats",
    "group_table",
    "join_sidecar",
    "resolve_selection",
    "select_for_gate",
]
