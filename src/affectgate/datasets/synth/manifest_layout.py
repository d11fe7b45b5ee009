"""Write a tiny synthetic private set: frame folders, ``manifest.csv`` and ``datasheet.yaml`` (synthetic: true).

The manifest uses every documented column (:data:`affectgate.datasets.manifest.MANIFEST_COLUMNS` that
applies to a clip set): sample id, media path, label, valence/arousal, subject, split/fold (subject-
disjoint folds), skin-tone group, sex, age band, capture date, consent basis and two annotators'
labels (agreeing with the target at a set rate) for agreement checks. Deterministic: the same config
writes byte-identical files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.datasets.manifest import Datasheet
from affectgate.datasets.synth.affwild2_layout import VA_OF
from affectgate.datasets.synth.dfew_layout import AGE_BANDS, GROUPS, _prepare_root
from affectgate.datasets.synth.faces import EXPRESSIONS, FrameKnobs, intensity_curve, make_subject, render_face

NOTICE = "SYNTHETIC DATA — procedurally rendered faces, not real people"
COLUMNS = (
    "sample_id",
    "media_path",
    "label",
    "valence",
    "arousal",
    "subject_id",
    "split",
    "fold",
    "skin_tone_group",
    "sex",
    "age_band",
    "capture_date",
    "consent_basis",
    "annotator_ids",
    "annotator_labels",
)


class ManifestSynthConfig(BaseModel):
    """Knobs of the synthetic private-set generator (tiny by default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seed: int = Field(default=0, description="Seed; the same config writes byte-identical files.")
    n_subjects: int = Field(default=4, ge=2, description="Synthetic subjects.")
    clips_per_subject: int = Field(default=3, ge=1, description="Clips per subject.")
    frames: int = Field(default=4, ge=1, description="Frames per clip.")
    image_size: int = Field(default=48, ge=32, description="Square frame side in pixels.")
    folds: int = Field(default=2, ge=1, description="Subject-disjoint folds.")
    annotators: int = Field(default=2, ge=0, description="Annotators per clip (ids A1..An).")
    annotator_agreement: float = Field(default=0.8, ge=0, le=1, description="Chance an annotator gives the target.")
    year: int = Field(default=2026, description="Capture year of the clips.")


class ManifestSynthSummary(BaseModel):
    """What was generated."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    root: Path = Field(description="Dataset root.")
    n_clips: int = Field(description="Clips (manifest rows).")
    n_subjects: int = Field(description="Subjects.")


def generate_manifest_set(*, root: Path, config: ManifestSynthConfig) -> ManifestSynthSummary:
    """Render the clips and write ``manifest.csv`` and ``datasheet.yaml`` under ``root``."""
    cfg = config
    _prepare_root(root)
    rng = np.random.default_rng([cfg.seed, 5150])
    rows: list[dict[str, object]] = []
    for s in range(cfg.n_subjects):
        sid = f"P{s + 1:03d}"
        subj = make_subject(
            subject_id=sid,
            skin_tone_group=GROUPS[s % len(GROUPS)],
            sex=("female", "male")[int(rng.integers(0, 2))],
            age_band=AGE_BANDS[int(rng.integers(0, len(AGE_BANDS)))],
            rng=rng,
        )
        for c in range(cfg.clips_per_subject):
            name = f"{sid}_c{c + 1:02d}"
            crng = np.random.default_rng([cfg.seed, s, c])
            emotion = CANONICAL_EMOTIONS[int(crng.integers(0, len(CANONICAL_EMOTIONS)))]
            peak = 0.0 if emotion == "neutral" else subj.expressiveness
            curve = intensity_curve(frames=cfg.frames, rng=crng, peak=peak) if cfg.frames > 1 else np.array([peak])
            folder = root / "frames" / name
            folder.mkdir(parents=True)
            for t in range(cfg.frames):
                knobs = FrameKnobs(dx=float(crng.normal(0, 0.01)), dy=float(crng.normal(0, 0.01)), noise=3.0)
                frame = render_face(
                    subject=subj,
                    expr=EXPRESSIONS[emotion],
                    intensity=float(curve[t]),
                    size=cfg.image_size,
                    knobs=knobs,
                    rng=crng,
                )
                cv2.imwrite(str(folder / f"{t + 1:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
            v, a = VA_OF[emotion]
            month = int(crng.integers(1, 13))
            ann = [
                emotion
                if crng.random() < cfg.annotator_agreement
                else CANONICAL_EMOTIONS[int(crng.integers(0, len(CANONICAL_EMOTIONS)))]
                for _ in range(cfg.annotators)
            ]
            rows.append(
                {
                    "sample_id": name,
                    "media_path": f"frames/{name}",
                    "label": emotion,
                    "valence": f"{float(np.clip(v + crng.normal(0, 0.05), -1, 1)):.3f}",
                    "arousal": f"{float(np.clip(a + crng.normal(0, 0.05), -1, 1)):.3f}",
                    "subject_id": sid,
                    "split": "all",
                    "fold": s % cfg.folds + 1,
                    "skin_tone_group": subj.skin_tone_group,
                    "sex": subj.sex,
                    "age_band": subj.age_band,
                    "capture_date": f"{cfg.year}-{month:02d}-{int(crng.integers(1, 29)):02d}",
                    "consent_basis": "explicit_consent",
                    "annotator_ids": ";".join(f"A{k + 1}" for k in range(cfg.annotators)),
                    "annotator_labels": ";".join(ann),
                }
            )
    with (root / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    sheet = Datasheet(
        name="synthetic private set",
        synthetic=True,
        origin="procedurally rendered by affectgate.datasets.synth.manifest_layout",
        licence="same as affectgate",
        purpose="demo and tests of the private-set manifest loader",
        retention="regenerated on demand; delete freely",
        legal_basis="none needed: no personal data",
        special_category_basis="none needed: synthetic skin-tone groups of rendered faces",
        creation_note=NOTICE,
        generator="affectgate.datasets.synth.manifest_layout",
        face_cropped=True,
        config=cfg.model_dump(mode="json"),
    )
    (root / "datasheet.yaml").write_text(
        yaml.safe_dump(sheet.model_dump(mode="json", exclude_none=True), sort_keys=True, allow_unicode=True),
        encoding="utf-8",
    )
    return ManifestSynthSummary(root=root, n_clips=len(rows), n_subjects=cfg.n_subjects)
