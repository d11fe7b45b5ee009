"""Private data sets: a documented manifest (CSV or parquet) plus a datasheet YAML, read and checked.

A private set is a folder holding ``manifest.csv`` (UTF-8, comma-separated, header row) or
``manifest.parquet``, ``datasheet.yaml`` and the media the manifest names (frame folders, videos or
frame images, by paths relative to the folder). The columns are :data:`MANIFEST_COLUMNS` (required:
``sample_id``, ``media_path``, ``subject_id``, ``consent_basis``, and ``label`` or ``valence`` +
``arousal``); an unknown column is an error, not ignored. The datasheet is :class:`Datasheet`
(origin, licence, purpose, retention, legal basis; the GDPR Art. 9 basis whenever race, ethnicity or
skin-tone labels are present). See ``docs/datasets.md`` for the full description and examples.

``fold``/``split`` select rows whose ``fold``/``split`` cells equal them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from affectgate.core.errors import DataError
from affectgate.datasets.base import LoadedDataset, register_loader
from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.datasets.loading import (
    REASON_DUPLICATE,
    REASON_LABEL,
    REASON_MALFORMED,
    REASON_MISMATCH,
    REASON_OUTSIDE,
    REASON_VALUE,
    Collector,
    is_na,
    media_problem,
    parse_float,
    read_text_lines,
    relative_path_problem,
    samples_frame,
)

MANIFEST_CSV = "manifest.csv"
MANIFEST_PARQUET = "manifest.parquet"
DATASHEET = "datasheet.yaml"

#: Every column a manifest may have, with what it holds.
MANIFEST_COLUMNS: dict[str, str] = {
    "sample_id": "required; unique id of the sample",
    "media_path": "required; frame folder, video file or frame image, relative to the set's folder (posix, no '..')",
    "subject_id": "required; pseudonymous person id (samples of one person are not independent)",
    "consent_basis": "required; GDPR Art. 6 basis of processing, one of CONSENT_BASES",
    "label": "emotion label (canonical, mapped by the datasheet's label_map, or declared in its extra_labels)",
    "valence": "float in [-1, 1]",
    "arousal": "float in [-1, 1]",
    "split": "train | validation | test | all (default all)",
    "fold": "integer fold number",
    "labels": "compound label 'a_b'",
    "aus": "action units 'AU1=0;AU2=1;...'",
    "frame": "frame index when a sample is one frame of a video",
    "audio_path": "audio track relative to the folder",
    "skin_tone_group": "group attribute (special category: needs the datasheet's special_category_basis)",
    "race": "group attribute (special category)",
    "ethnicity": "group attribute (special category)",
    "sex": "group attribute",
    "age_band": "group attribute, e.g. 18-29",
    "capture_date": "ISO date YYYY-MM-DD (gives capture_quarter)",
    "capture_quarter": "YYYYQn (must agree with capture_date when both are given)",
    "annotator_ids": "';'-joined ids of the annotators who labelled the sample (for agreement)",
    "annotator_labels": "';'-joined labels, one per annotator id, in the same order",
}
REQUIRED_COLUMNS = ("sample_id", "media_path", "subject_id", "consent_basis")
SPECIAL_CATEGORY_COLUMNS = ("race", "ethnicity", "skin_tone_group")
CONSENT_BASES = (
    "explicit_consent",
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
)
SPLITS = ("train", "validation", "test", "all")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_INT = re.compile(r"^-?\d+$")


class Datasheet(BaseModel):
    """``datasheet.yaml`` of a private set (Gebru et al.'s datasheets, cut to what governance checks)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, description="Name of the data set.")
    synthetic: bool = Field(default=False, description="True when no real person is depicted.")
    origin: str = Field(min_length=1, description="Where and how the data was collected.")
    licence: str = Field(min_length=1, description="Licence or contract the data is used under.")
    purpose: str = Field(min_length=1, description="What the data may be used for.")
    retention: str = Field(min_length=1, description="How long the data is kept, e.g. 'until 2028-12-31'.")
    legal_basis: str = Field(min_length=1, description="GDPR Art. 6 basis of processing the set.")
    special_category_basis: str | None = Field(
        default=None,
        description="GDPR Art. 9(2) basis (and Art. 10(5) AI Act safeguards) for race/ethnicity/skin-tone labels.",
    )
    controller: str | None = Field(default=None, description="Data controller (organisation) and contact.")
    label_map: dict[str, str | None] = Field(
        default_factory=dict,
        description="Raw manifest label -> label to use; null: the class is left out of what the gate scores "
        "(counted and reported, affectgate.datasets.selection.apply_label_map).",
    )
    extra_labels: tuple[str, ...] = Field(default=(), description="Classes beyond the canonical seven.")
    creation_note: str | None = Field(default=None, description="Free text, e.g. the synthetic-data notice.")
    generator: str | None = Field(default=None, description="Generator module for synthetic sets.")
    config: dict[str, object] | None = Field(default=None, description="Generator configuration for synthetic sets.")
    subjects: Literal["known", "unknown"] = Field(
        default="known",
        description="'unknown' when the set has no subject identity: subject_id may be absent or empty, and "
        "each sample is then treated as its own cluster (stated in every interval that depends on it).",
    )
    face_cropped: bool | None = Field(
        default=None,
        description="False when the media are full camera frames: faces are detected and cropped with the "
        "face-quality bar (affectgate.datasets.face_screening); true or unset: the media are face crops.",
    )


def read_manifest_datasheet(*, root: Path) -> Datasheet:
    """The set's ``datasheet.yaml``, validated; a DataError naming the field when it is incomplete."""
    path = root / DATASHEET
    if not path.is_file():
        raise DataError(f"no {DATASHEET} in {root}", fix="write the datasheet (docs/datasets.md lists its fields)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid YAML: {exc}", fix="repair the datasheet") from None
    try:
        return Datasheet.model_validate(data)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise DataError(f"{path}: {errs}", fix="complete the datasheet (docs/datasets.md lists its fields)") from None


def _read_table(root: Path, col: Collector) -> tuple[Path, list[str], list[tuple[int, list[str | None]]]]:
    """Header and ``(line, cells)`` rows of the manifest (line = CSV line, or parquet row + 2)."""
    csv_path, pq_path = root / MANIFEST_CSV, root / MANIFEST_PARQUET
    if csv_path.is_file() and pq_path.is_file():
        raise DataError(f"both {csv_path.name} and {pq_path.name} in {root}", fix="keep one manifest")
    if pq_path.is_file():
        try:
            frame = pd.read_parquet(pq_path)
        except Exception as exc:  # pyarrow raises many types for a corrupt file
            raise DataError(f"{pq_path} is not a readable parquet file: {exc}", fix="rewrite the manifest") from None
        header = [str(c) for c in frame.columns]
        rows = [
            (i + 2, [None if pd.isna(v) else str(v) for v in rec])
            for i, rec in enumerate(frame.itertuples(index=False, name=None))
        ]
        return pq_path, header, rows
    if not csv_path.is_file():
        raise DataError(f"no {MANIFEST_CSV} or {MANIFEST_PARQUET} in {root}", fix="write the manifest")
    lines = read_text_lines(path=csv_path, encoding="utf-8", collector=Collector(strict=True))
    assert lines is not None  # strict collector raised otherwise
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = [h.strip() for h in next(reader, [])]
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            col.bad(
                file=csv_path,
                line=line,
                kind=REASON_MALFORMED,
                detail=f"{len(cells)} cells for {len(header)} columns",
                sample_id=cells[0].strip() or None,
                fix="quote cells that contain commas",
            )
            continue
        rows.append((line, [None if is_na(c) else c.strip() for c in cells]))
    return csv_path, header, rows


def _quarter(date: str) -> str | None:
    try:
        d = dt.date.fromisoformat(date)
    except ValueError:
        return None
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


@register_loader("manifest")
def load_manifest(
    *, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False
) -> LoadedDataset:
    """Read a private set's manifest and datasheet and check every row and its media."""
    sheet = read_manifest_datasheet(root=root)
    col = Collector(strict=strict)
    path, header, rows = _read_table(root, col)
    unknown = [h for h in header if h not in MANIFEST_COLUMNS]
    dup_cols = sorted({h for h in header if header.count(h) > 1})
    required = [c for c in REQUIRED_COLUMNS if not (c == "subject_id" and sheet.subjects == "unknown")]
    missing = [h for h in required if h not in header]
    if "label" not in header and not {"valence", "arousal"} <= set(header):
        missing.append("label (or valence and arousal)")
    if unknown or missing or dup_cols:
        parts = [f"unknown columns {unknown}" if unknown else "", f"missing columns {missing}" if missing else ""]
        parts.append(f"repeated columns {dup_cols}" if dup_cols else "")
        raise DataError(
            f"{path}:1: wrong header: {'; '.join(p for p in parts if p)}",
            fix=f"manifest columns are {', '.join(MANIFEST_COLUMNS)} (docs/datasets.md)",
        )
    has_special = any(c in header for c in SPECIAL_CATEGORY_COLUMNS)
    if has_special and not sheet.synthetic and not sheet.special_category_basis:
        raise DataError(
            f"{path} has {[c for c in SPECIAL_CATEGORY_COLUMNS if c in header]} but {root / DATASHEET} "
            "gives no special_category_basis",
            fix="state the GDPR Art. 9(2) basis and Art. 10(5) safeguards, or drop the columns",
        )
    allowed_labels = (*CANONICAL_EMOTIONS, *sheet.extra_labels)
    seen: dict[str, int] = {}
    out: list[dict[str, object]] = []
    special = False
    for line, cells in rows:
        r = dict(zip(header, cells, strict=True))
        sid = r.get("sample_id")

        def bad(kind: str, detail: str, fix: str = "", *, _line: int = line, _sid: str | None = sid) -> None:
            col.bad(file=path, line=_line, kind=kind, detail=detail, sample_id=_sid, fix=fix)

        empty = [c for c in required if not r.get(c)]
        if empty:
            bad(REASON_MALFORMED, f"required cells {empty} are empty", "fill them; nothing is skipped silently")
            continue
        assert sid is not None
        if sid in seen:
            bad(REASON_DUPLICATE, f"sample_id {sid} already on line {seen[sid]}", "sample ids are unique")
            continue
        seen[sid] = line
        media = str(r["media_path"])
        why = relative_path_problem(media)
        if why is not None:
            bad(REASON_OUTSIDE, why)
            continue
        mpath = root / media
        problem = media_problem(path=mpath, root=root, folder=mpath.is_dir())
        if problem is not None:
            bad(*problem)
            continue
        if r.get("audio_path"):
            why = relative_path_problem(str(r["audio_path"]))
            problem = (
                (REASON_OUTSIDE, why)
                if why
                else media_problem(path=root / str(r["audio_path"]), root=root, folder=False)
            )
            if problem is not None:
                bad(*problem)
                continue
        if r["consent_basis"] not in CONSENT_BASES:
            bad(REASON_VALUE, f"consent_basis {r['consent_basis']!r}", f"use one of {', '.join(CONSENT_BASES)}")
            continue
        raw_label = r.get("label")
        mapped = sheet.label_map.get(raw_label, raw_label) if raw_label else None
        declared_drop = bool(raw_label) and raw_label in sheet.label_map and mapped is None
        label = raw_label if declared_drop else mapped  # a declared drop keeps its class; the gate leaves it out
        if label is not None and label not in allowed_labels and not declared_drop:
            bad(REASON_LABEL, f"{raw_label!r}", "map it in the datasheet's label_map or declare it in extra_labels")
            continue
        va: dict[str, float | None] = {}
        for k in ("valence", "arousal"):
            cell = r.get(k)
            value = None if cell is None else parse_float(cell)
            if cell is not None and (value is None or not -1.0 <= value <= 1.0):
                va[k] = float("nan")
            else:
                va[k] = value
        if any(v is not None and v != v for v in va.values()):
            bad(REASON_VALUE, f"valence/arousal {r.get('valence')!r}, {r.get('arousal')!r} not floats in [-1, 1]")
            continue
        if (va["valence"] is None) != (va["arousal"] is None):
            bad(REASON_VALUE, f"valence {r.get('valence')!r} and arousal {r.get('arousal')!r}: one is empty or NaN")
            continue
        if label is None and va["valence"] is None:
            bad(REASON_MALFORMED, "no label and no valence+arousal", "every sample needs a target")
            continue
        row_split = r.get("split") or "all"
        if row_split not in SPLITS:
            bad(REASON_VALUE, f"split {row_split!r}", f"use one of {', '.join(SPLITS)}")
            continue
        row_fold = r.get("fold")
        if row_fold is not None and not _INT.match(row_fold.removesuffix(".0")):
            bad(REASON_VALUE, f"fold {row_fold!r} is not an integer")
            continue
        fold_int = int(row_fold.removesuffix(".0")) if row_fold is not None else None
        quarter = r.get("capture_quarter")
        if quarter is not None and not _QUARTER.match(quarter):
            bad(REASON_VALUE, f"capture_quarter {quarter!r}", "write YYYYQn, e.g. 2026Q1")
            continue
        if r.get("capture_date") is not None:
            from_date = _quarter(str(r["capture_date"]))
            if from_date is None:
                bad(REASON_VALUE, f"capture_date {r['capture_date']!r}", "write an ISO date YYYY-MM-DD")
                continue
            if quarter is not None and quarter != from_date:
                bad(REASON_MISMATCH, f"capture_date {r['capture_date']} is in {from_date}, not {quarter}")
                continue
            quarter = from_date
        ann_ids = r.get("annotator_ids")
        ann_labels = r.get("annotator_labels")
        if ann_labels is not None:
            ids = (ann_ids or "").split(";")
            labs = [sheet.label_map.get(x) or x for x in ann_labels.split(";")]
            if ann_ids is None or len(ids) != len(labs):
                bad(REASON_MISMATCH, f"{len(labs)} annotator_labels for annotator_ids {ann_ids!r}")
                continue
            unknown_ann = [x for x in labs if x not in allowed_labels]
            if unknown_ann:
                bad(REASON_LABEL, f"annotator labels {unknown_ann}", "map them in the datasheet's label_map")
                continue
            ann_labels = ";".join(labs)
        frame_cell = r.get("frame")
        if frame_cell is not None and not _INT.match(frame_cell.removesuffix(".0")):
            bad(REASON_VALUE, f"frame {frame_cell!r} is not an integer")
            continue
        if (fold is not None and fold_int != fold) or (split is not None and row_split != split):
            continue
        if any(r.get(c) for c in SPECIAL_CATEGORY_COLUMNS):
            special = True
        out.append(
            {
                "sample_id": sid,
                "split": row_split,
                "fold": fold_int,
                "media_path": media,
                "label": label,
                "valence": va["valence"],
                "arousal": va["arousal"],
                "subject_id": r.get("subject_id") or None,
                "labels": r.get("labels"),
                "aus": r.get("aus"),
                "frame": int(frame_cell.removesuffix(".0")) if frame_cell is not None else None,
                "audio_path": r.get("audio_path"),
                "skin_tone_group": r.get("skin_tone_group"),
                "race": r.get("race"),
                "ethnicity": r.get("ethnicity"),
                "sex": r.get("sex"),
                "age_band": r.get("age_band"),
                "capture_quarter": quarter,
                "consent_basis": r["consent_basis"],
                "annotator_ids": ann_ids,
                "annotator_labels": ann_labels,
            }
        )
    return LoadedDataset(
        format="manifest",
        root=root,
        samples=samples_frame(out, extra=("annotator_labels",)),
        label_names=(
            *allowed_labels,
            *(k for k, v in sheet.label_map.items() if v is None and k not in allowed_labels),
        ),
        problems=col.problems,
        special_category=special and not sheet.synthetic,
        datasheet=sheet.model_dump(mode="json"),
    )
