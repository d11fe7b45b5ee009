"""Write a synthetic face-video set in the real DFEW layout, with group attributes, bias and drift knobs.

Layout: ``Clip/clip_224x224/<id>/<id>_<n>.jpg``, ``EmoLabel_DataSplit/{train,test}(single-labeled)/set_k.csv``
(header ``video_name,label``, DFEW labels 1..7), ``metadata.csv`` (subject, skin-tone group, sex,
age band, capture quarter, consent basis, synthetic) and ``datasheet.yaml`` (synthetic: true).
Deterministic: the same config writes byte-identical files.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from affectgate.core.errors import DataError
from affectgate.datasets.labels import CANONICAL_EMOTIONS, DFEW_LABELS
from affectgate.datasets.synth.faces import (
    EXPRESSIONS,
    FrameKnobs,
    Subject,
    intensity_curve,
    make_subject,
    render_face,
)

DFEW_INDEX = {name: i for i, name in DFEW_LABELS.items()}
GROUPS = ("tone_a", "tone_b", "tone_c")
AGE_BANDS = ("18-29", "30-44", "45-64", "65+")
NOTICE = "SYNTHETIC DATA — procedurally rendered faces, not real people"


class SynthConfig(BaseModel):
    """Knobs of the synthetic DFEW-layout generator."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seed: int = Field(default=0, description="Seed; the same config writes byte-identical files.")
    n_subjects: int = Field(default=60, ge=5, description="Number of synthetic subjects.")
    clips_per_subject: int = Field(default=12, ge=1, description="Clips per subject, emotions balanced per subject.")
    frames: int = Field(default=8, ge=2, description="Frames per clip.")
    image_size: int = Field(default=112, ge=32, description="Square frame side in pixels.")
    folds: int = Field(default=5, ge=2, description="Number of subject-disjoint folds (set_1..set_k).")
    minority_group: str = Field(default="tone_c", description="Skin-tone group that is under-represented.")
    minority_subject_fraction: float = Field(
        default=0.2,
        ge=0,
        lt=1,
        description=(
            "Share of subjects in the minority group (others split evenly between the remaining groups); "
            "raised to at least one subject per fold so every fold's test set contains the group."
        ),
    )
    minority_train_keep: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="Share of minority clips kept in every fold's train CSV (test CSVs keep all); the "
        "same clips are dropped from every fold.",
    )
    min_expressiveness: float = Field(
        default=0.6, ge=0, le=1, description="Least apex intensity scale of a subject (lower = subtler faces)."
    )
    minority_low_quality: float = Field(
        default=0.3, ge=0, le=1, description="Probability a minority clip is rendered blurred and noisier."
    )
    quarters: tuple[str, ...] = Field(default=("2026Q1", "2026Q2", "2026Q3", "2026Q4"), description="Capture quarters.")
    drift_quarters: tuple[str, ...] = Field(
        default=("2026Q4",),
        description="Quarters with drift: darker lighting, smaller faces, more occlusion.",
    )
    noise: float = Field(default=4.0, ge=0, description="Gaussian pixel noise sigma.")
    jitter: float = Field(default=1.0, ge=0, description="Head-pose jitter scale.")
    occlusion: float = Field(default=0.05, ge=0, le=1, description="Probability of an occluding patch per clip.")

    @model_validator(mode="after")
    def _check(self) -> SynthConfig:
        if self.minority_group not in GROUPS:
            raise ValueError(f"minority_group {self.minority_group!r} is not one of {', '.join(GROUPS)}")
        unknown = [q for q in self.drift_quarters if q not in self.quarters]
        if unknown:
            raise ValueError(f"drift_quarters {unknown} are not in quarters {list(self.quarters)}")
        if not self.quarters:
            raise ValueError("quarters must name at least one capture quarter")
        n_min = _n_minority(self)
        if (self.n_subjects - n_min) // (len(GROUPS) - 1) < self.folds:
            raise ValueError(
                f"{self.n_subjects} subjects ({n_min} in {self.minority_group}) cannot give each of the "
                f"{self.folds} folds a test subject of every skin-tone group; use more subjects or fewer "
                "folds"
            )
        return self


class SynthSummary(BaseModel):
    """What was generated."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    root: Path = Field(description="Dataset root.")
    n_clips: int = Field(description="Clips written.")
    n_subjects: int = Field(description="Subjects.")
    per_class: dict[str, int] = Field(description="Clips per canonical emotion.")
    per_group: dict[str, int] = Field(description="Clips per skin-tone group.")


def _n_minority(cfg: SynthConfig) -> int:
    """Minority subjects: the configured share, but at least one per fold (none when the share is 0)."""
    if cfg.minority_subject_fraction <= 0:
        return 0
    return max(cfg.folds, round(cfg.n_subjects * cfg.minority_subject_fraction))


def _written_by_us(root: Path) -> bool:
    sheet = root / "datasheet.yaml"
    if not sheet.is_file():
        return False
    try:
        data = yaml.safe_load(sheet.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("synthetic") is True


def _prepare_root(root: Path) -> None:
    """Create ``root``; a non-empty one is cleared only if its datasheet says it is ours (synthetic: true)."""
    if root.exists() and not root.is_dir():
        raise DataError(f"{root} exists and is not a folder", fix="choose another output path")
    if root.exists() and any(root.iterdir()):
        if not _written_by_us(root):
            raise DataError(
                f"{root} exists, is not empty and was not written by the synthetic generator "
                "(no datasheet.yaml with synthetic: true)",
                fix="choose an empty output folder; affectgate never overwrites other data",
            )
        for child in sorted(root.iterdir()):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    root.mkdir(parents=True, exist_ok=True)


def _subjects(cfg: SynthConfig, rng: np.random.Generator) -> list[Subject]:
    n_min = _n_minority(cfg)
    others = [g for g in GROUPS if g != cfg.minority_group]
    groups = [cfg.minority_group] * n_min + [others[i % len(others)] for i in range(cfg.n_subjects - n_min)]
    rng.shuffle(groups)
    return [
        make_subject(
            subject_id=f"S{i + 1:03d}",
            skin_tone_group=g,
            sex=("female", "male")[int(rng.integers(0, 2))],
            age_band=AGE_BANDS[int(rng.integers(0, len(AGE_BANDS)))],
            rng=rng,
            min_expressiveness=cfg.min_expressiveness,
        )
        for i, g in enumerate(groups)
    ]


def _folds(subjects: list[Subject], cfg: SynthConfig, rng: np.random.Generator) -> dict[str, int]:
    """Subject -> fold (1-based), dealt round-robin within each group so every fold sees every group."""
    fold: dict[str, int] = {}
    offset = 0
    for g in GROUPS:
        members = [s.subject_id for s in subjects if s.skin_tone_group == g]
        rng.shuffle(members)
        for i, sid in enumerate(members):
            fold[sid] = (i + offset) % cfg.folds + 1
        offset += len(members)
    return fold


def generate_dfew(*, root: Path, config: SynthConfig) -> SynthSummary:
    """Render every clip and write the DFEW layout, metadata and datasheet under ``root``."""
    cfg = config
    _prepare_root(root)
    rng = np.random.default_rng(cfg.seed)
    subjects = _subjects(cfg, rng)
    fold_of = _folds(subjects, cfg, rng)
    emotions = list(EXPRESSIONS)
    frames_root = root / "Clip" / "clip_224x224"
    rows: list[dict[str, object]] = []
    clip_id = 0
    for subj in subjects:
        # every subject cycles through all emotions (balanced), in a shuffled order
        start = int(rng.integers(0, len(emotions)))
        plan = [emotions[(start + c) % len(emotions)] for c in range(cfg.clips_per_subject)]
        for emotion in (plan[int(i)] for i in rng.permutation(len(plan))):
            clip_id += 1
            name = f"{clip_id:05d}"
            crng = np.random.default_rng([cfg.seed, clip_id])
            quarter = cfg.quarters[int(crng.integers(0, len(cfg.quarters)))]
            drifted = quarter in cfg.drift_quarters
            minority = subj.skin_tone_group == cfg.minority_group
            low_q = minority and crng.random() < cfg.minority_low_quality
            occl_p = min(1.0, cfg.occlusion * (4 if drifted else 1))
            occlusion = ("sunglasses", "mask")[int(crng.integers(0, 2))] if crng.random() < occl_p else None
            peak = subj.expressiveness * crng.uniform(0.8, 1.0) if emotion != "neutral" else 0.0
            curve = intensity_curve(frames=cfg.frames, rng=crng, peak=peak)
            grey = crng.uniform(60, 190)
            b, g, r = (int(np.clip(grey + v, 0, 255)) for v in crng.uniform(-30, 30, size=3))
            base_gain = crng.uniform(0.85, 1.15) * (0.55 if drifted else 1.0)
            base_scale = crng.uniform(0.92, 1.05) * (0.8 if drifted else 1.0)
            gradient = crng.uniform(-0.25, 0.25)
            base_dx, base_dy = crng.uniform(-0.04, 0.04, size=2) * cfg.jitter
            base_angle = crng.uniform(-8, 8) * cfg.jitter
            clip_dir = frames_root / name
            clip_dir.mkdir(parents=True)
            old = subj.age_band in ("45-64", "65+")
            for t in range(cfg.frames):
                knobs = FrameKnobs(
                    dx=base_dx + crng.normal(0, 0.006) * cfg.jitter,
                    dy=base_dy + crng.normal(0, 0.006) * cfg.jitter,
                    angle=base_angle + crng.normal(0, 1.5) * cfg.jitter,
                    scale=base_scale * (1 + crng.normal(0, 0.01) * cfg.jitter),
                    gain=base_gain,
                    gradient=gradient,
                    noise=cfg.noise * (2.0 if low_q else 1.0),
                    blur=1.4 if low_q else 0.0,
                    occlusion=occlusion,
                    background=(b, g, r),
                )
                frame = render_face(
                    subject=subj,
                    expr=EXPRESSIONS[emotion],
                    intensity=float(curve[t]),
                    size=cfg.image_size,
                    knobs=knobs,
                    rng=crng,
                    age_lines=old,
                )
                cv2.imwrite(str(clip_dir / f"{name}_{t + 1}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
            rows.append(
                {
                    "video_name": name,
                    "label": DFEW_INDEX[emotion],
                    "emotion": emotion,
                    "subject_id": subj.subject_id,
                    "skin_tone_group": subj.skin_tone_group,
                    "sex": subj.sex,
                    "age_band": subj.age_band,
                    "capture_quarter": quarter,
                    "consent_basis": "explicit_consent",
                    "low_quality": bool(low_q),
                    "synthetic": True,
                    "fold": fold_of[subj.subject_id],
                }
            )
    minority_rows = [i for i, r in enumerate(rows) if r["skin_tone_group"] == cfg.minority_group]
    n_drop = round(len(minority_rows) * (1.0 - cfg.minority_train_keep))
    order = np.random.default_rng([cfg.seed, len(rows), 7919]).permutation(len(minority_rows))
    dropped = {minority_rows[int(i)] for i in order[:n_drop]}
    for i, r in enumerate(rows):
        r["train_keep"] = i not in dropped
    split_root = root / "EmoLabel_DataSplit"
    for k in range(1, cfg.folds + 1):
        for split in ("train", "test"):
            folder = split_root / f"{split}(single-labeled)"
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"set_{k}.csv").open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(["video_name", "label"])
                for r in rows:
                    in_test = r["fold"] == k
                    if (split == "test" and in_test) or (split == "train" and not in_test and r["train_keep"]):
                        w.writerow([r["video_name"], r["label"]])
    meta_cols = [
        "video_name",
        "subject_id",
        "skin_tone_group",
        "sex",
        "age_band",
        "capture_quarter",
        "consent_basis",
        "low_quality",
        "synthetic",
    ]
    with (root / "metadata.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=meta_cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    sheet = {
        "synthetic": True,
        "face_cropped": True,
        "creation_note": NOTICE,
        "generator": "affectgate.datasets.synth",
        "layout": "DFEW (Clip/clip_224x224, EmoLabel_DataSplit)",
        "label_map": {int(k): v for k, v in DFEW_LABELS.items()},
        "config": cfg.model_dump(mode="json"),
        "legal_basis": "none needed: no personal data (procedurally rendered faces)",
    }
    (root / "datasheet.yaml").write_text(yaml.safe_dump(sheet, sort_keys=True, allow_unicode=True), encoding="utf-8")
    per_class = {e: sum(1 for r in rows if r["emotion"] == e) for e in CANONICAL_EMOTIONS}
    per_group = {g: sum(1 for r in rows if r["skin_tone_group"] == g) for g in GROUPS}
    return SynthSummary(
        root=root, n_clips=len(rows), n_subjects=len(subjects), per_class=per_class, per_group=per_group
    )
