"""Synthetic engagement clips: head pose, gaze and eye openness per frame, never an emotion label.

Layout (frames as DFEW): ``Clip/clip_224x224/<id>/<id>_<n>.jpg``; ``frame_labels.csv`` (one row per
frame: ``video_name, frame, yaw, pitch, gaze_x, gaze_y, eye_openness, blink``); ``metadata.csv``
(one row per clip: subject, skin-tone group, sex, age band, capture quarter, consent basis,
synthetic, split, attention); ``EngagementSplit/{train,test}.csv`` (subject-disjoint) and
``datasheet.yaml`` (synthetic: true). Deterministic: the same config writes byte-identical files.

Signals: ``yaw``/``pitch`` head turn in degrees, ``gaze_x``/``gaze_y`` eye-in-head iris offset in
[-1, 1], ``eye_openness`` in [0, 1] (0 = closed), ``blink`` 1 on the frames of a blink event.
``attention`` is a clip-level proxy computed from those signals only (share of frames whose
combined head + eye direction points at the camera, weighted by eye openness); it is an engagement
signal in the sense of Recital 18 AI Act and is not mapped to any emotion.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.interpolate import PchipInterpolator

from affectgate.core.errors import DataError
from affectgate.datasets.clips import read_clip
from affectgate.datasets.synth.dfew_layout import AGE_BANDS, GROUPS, NOTICE, _prepare_root
from affectgate.datasets.synth.faces import EXPRESSIONS, FrameKnobs, make_subject, render_face

#: Per-frame signals in the order of every label array and of the model's frame output.
SIGNALS: tuple[str, ...] = ("yaw", "pitch", "gaze_x", "gaze_y", "eye_openness")
#: Ranges of the generated signals (inclusive); yaw and pitch in degrees.
RANGES: dict[str, tuple[float, float]] = {
    "yaw": (-30.0, 30.0),
    "pitch": (-15.0, 15.0),
    "gaze_x": (-1.0, 1.0),
    "gaze_y": (-1.0, 1.0),
    "eye_openness": (0.0, 1.0),
}
#: Degrees of visual angle one unit of eye-in-head gaze stands for (attention proxy only).
GAZE_DEGREES = 25.0
FRAME_LABELS = "frame_labels.csv"
METADATA = "metadata.csv"
SPLIT_DIR = "EngagementSplit"
_FMT = "{:.4f}"


class EngagementConfig(BaseModel):
    """Knobs of the synthetic engagement generator."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seed: int = Field(default=0, description="Seed; the same config writes byte-identical files.")
    n_subjects: int = Field(default=24, ge=2, description="Number of synthetic subjects.")
    clips_per_subject: int = Field(default=6, ge=1, description="Clips per subject.")
    frames: int = Field(default=16, ge=2, description="Frames per clip.")
    image_size: int = Field(default=112, ge=32, description="Square frame side in pixels.")
    test_fraction: float = Field(default=0.25, gt=0, lt=1, description="Share of subjects held out for test.")
    control_points: int = Field(
        default=3, ge=2, description="Random key values per clip that pose and gaze trajectories pass through smoothly."
    )
    blink_rate: float = Field(
        default=0.06, ge=0, le=0.5, description="Probability per frame that a blink starts (when none is running)."
    )
    drowsy_fraction: float = Field(
        default=0.2, ge=0, le=1, description="Share of clips with half-closed eyes (baseline openness 0.65-0.8)."
    )
    quarters: tuple[str, ...] = Field(default=("2026Q1", "2026Q2", "2026Q3", "2026Q4"), description="Capture quarters.")
    noise: float = Field(default=3.0, ge=0, description="Gaussian pixel noise sigma.")

    @model_validator(mode="after")
    def _check(self) -> EngagementConfig:
        if not self.quarters:
            raise ValueError("quarters must name at least one capture quarter")
        n_test = _n_test(self)
        if n_test < 1 or n_test >= self.n_subjects:
            raise ValueError(
                f"test_fraction {self.test_fraction} of {self.n_subjects} subjects leaves no train or no test "
                "subject; use more subjects"
            )
        return self


def _n_test(cfg: EngagementConfig) -> int:
    return int(round(cfg.n_subjects * cfg.test_fraction))


def _stratified_test_subjects(*, subjects: list, cfg: EngagementConfig, rng: np.random.Generator) -> set[str]:  # type: ignore[type-arg]
    """``_n_test`` held-out subjects spread over the skin-tone groups as evenly as the group sizes allow, so the
    test split has subjects of every group for the fairness error gap (a random draw can leave a group out)."""
    order = [subjects[int(i)] for i in rng.permutation(len(subjects))]
    by_group: dict[str, list] = {}  # type: ignore[type-arg]
    for subj in order:
        by_group.setdefault(subj.skin_tone_group, []).append(subj)
    picked: list[str] = []
    while len(picked) < _n_test(cfg):  # round-robin over the groups, each in its random order
        for members in by_group.values():
            if members and len(picked) < _n_test(cfg):
                picked.append(members.pop(0).subject_id)
    return set(picked)


class EngagementSummary(BaseModel):
    """What was generated."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    root: Path = Field(description="Dataset root.")
    n_clips: int = Field(description="Clips written.")
    n_subjects: int = Field(description="Subjects.")
    n_train: int = Field(description="Clips in the train split.")
    n_test: int = Field(description="Clips in the test split.")
    blink_frames: int = Field(description="Frames flagged as part of a blink.")


def smooth_trajectory(*, frames: int, low: float, high: float, points: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth path through ``points`` random key values in [low, high] (monotone cubic, so no overshoot)."""
    keys = rng.uniform(low, high, size=points)
    knots = np.linspace(0.0, 1.0, points)
    return PchipInterpolator(knots, keys)(np.linspace(0.0, 1.0, frames))


def eye_openness_track(
    *, frames: int, baseline: float, blink_rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Eye openness per frame at ``baseline`` with blinks as short closure events, and the blink flag.

    A blink lasts three frames: closing (0.3 x baseline), closed (0), opening (0.35 x baseline).
    """
    profile = (0.3, 0.0, 0.35)
    openness = np.full(frames, baseline)
    blink = np.zeros(frames, dtype=np.int64)
    t = 0
    while t < frames:
        if rng.random() < blink_rate:
            for j, share in enumerate(profile):
                if t + j < frames:
                    openness[t + j] = baseline * share
                    blink[t + j] = 1
            t += len(profile) + 1  # at least one open frame between blinks
        else:
            t += 1
    return openness, blink


def attention_score(
    *, yaw: np.ndarray, pitch: np.ndarray, gaze_x: np.ndarray, gaze_y: np.ndarray, eye_openness: np.ndarray
) -> float:
    """Clip attention proxy in [0, 1]: mean over frames of on-camera direction x eye openness.

    The combined direction is head angle plus ``GAZE_DEGREES`` per unit of gaze; on-camera weight is
    ``exp(-((h / 20)^2 + (v / 15)^2))`` of the horizontal and vertical angles in degrees.
    """
    h = yaw + GAZE_DEGREES * gaze_x
    v = pitch + GAZE_DEGREES * gaze_y
    on_camera = np.exp(-((h / 20.0) ** 2 + (v / 15.0) ** 2))
    return float(np.mean(on_camera * np.clip(eye_openness, 0.0, 1.0)))


def generate_engagement(*, root: Path, config: EngagementConfig) -> EngagementSummary:
    """Render every clip and write frames, per-frame labels, clip metadata, splits and datasheet under ``root``."""
    cfg = config
    _prepare_root(root)
    rng = np.random.default_rng([cfg.seed, 2026])
    groups = [GROUPS[i % len(GROUPS)] for i in range(cfg.n_subjects)]
    subjects = [
        make_subject(
            subject_id=f"E{i + 1:03d}",
            skin_tone_group=g,
            sex=("female", "male")[int(rng.integers(0, 2))],
            age_band=AGE_BANDS[int(rng.integers(0, len(AGE_BANDS)))],
            rng=rng,
        )
        for i, g in enumerate(groups)
    ]
    test_subjects = _stratified_test_subjects(subjects=subjects, cfg=cfg, rng=rng)
    frames_root = root / "Clip" / "clip_224x224"
    frame_rows: list[list[object]] = []
    clip_rows: list[dict[str, object]] = []
    clip_id = 0
    for subj in subjects:
        for _ in range(cfg.clips_per_subject):
            clip_id += 1
            name = f"{clip_id:05d}"
            crng = np.random.default_rng([cfg.seed, clip_id, 77])
            quarter = cfg.quarters[int(crng.integers(0, len(cfg.quarters)))]
            track = {
                s: smooth_trajectory(frames=cfg.frames, low=lo, high=hi, points=cfg.control_points, rng=crng)
                for s, (lo, hi) in RANGES.items()
                if s != "eye_openness"
            }
            drowsy = crng.random() < cfg.drowsy_fraction
            baseline = crng.uniform(0.65, 0.8) if drowsy else crng.uniform(0.85, 1.0)
            track["eye_openness"], blink = eye_openness_track(
                frames=cfg.frames, baseline=baseline, blink_rate=cfg.blink_rate, rng=crng
            )
            grey = crng.uniform(70, 180)
            b, g, r = (int(np.clip(grey + d, 0, 255)) for d in crng.uniform(-30, 30, size=3))
            gain, scale = crng.uniform(0.85, 1.15), crng.uniform(0.92, 1.04)
            base_dx, base_dy = crng.uniform(-0.03, 0.03, size=2)
            roll = crng.uniform(-5, 5)
            clip_dir = frames_root / name
            clip_dir.mkdir(parents=True)
            for t in range(cfg.frames):
                knobs = FrameKnobs(
                    dx=base_dx + crng.normal(0, 0.004),
                    dy=base_dy + crng.normal(0, 0.004),
                    angle=roll + crng.normal(0, 1.0),
                    scale=scale,
                    gain=gain,
                    noise=cfg.noise,
                    background=(b, g, r),
                    yaw=float(track["yaw"][t]),
                    pitch=float(track["pitch"][t]),
                    gaze_x=float(track["gaze_x"][t]),
                    gaze_y=float(track["gaze_y"][t]),
                    eye_openness=float(track["eye_openness"][t]),
                )
                frame = render_face(
                    subject=subj,
                    expr=EXPRESSIONS["neutral"],
                    intensity=0.0,
                    size=cfg.image_size,
                    knobs=knobs,
                    rng=crng,
                    age_lines=subj.age_band in ("45-64", "65+"),
                )
                cv2.imwrite(str(clip_dir / f"{name}_{t + 1}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
                frame_rows.append([name, t + 1, *(_FMT.format(float(track[s][t])) for s in SIGNALS), int(blink[t])])
            clip_rows.append(
                {
                    "video_name": name,
                    "subject_id": subj.subject_id,
                    "skin_tone_group": subj.skin_tone_group,
                    "sex": subj.sex,
                    "age_band": subj.age_band,
                    "capture_quarter": quarter,
                    "consent_basis": "explicit_consent",
                    "synthetic": True,
                    "split": "test" if subj.subject_id in test_subjects else "train",
                    "attention": _FMT.format(attention_score(**{s: track[s] for s in SIGNALS})),
                }
            )
    with (root / FRAME_LABELS).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["video_name", "frame", *SIGNALS, "blink"])
        w.writerows(frame_rows)
    with (root / METADATA).open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(clip_rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(clip_rows)
    (root / SPLIT_DIR).mkdir()
    for split in ("train", "test"):
        with (root / SPLIT_DIR / f"{split}.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["video_name", "attention"])
            w.writerows([r["video_name"], r["attention"]] for r in clip_rows if r["split"] == split)
    sheet = {
        "synthetic": True,
        "face_cropped": True,
        "creation_note": NOTICE,
        "generator": "affectgate.datasets.synth.engagement",
        "layout": f"frames as DFEW (Clip/clip_224x224/<id>/<id>_<n>.jpg); {FRAME_LABELS}; {METADATA}; {SPLIT_DIR}",
        "task": "engagement signals (head pose, gaze, eye openness, blinks); no emotion labels",
        "signals": {
            "yaw": "head turn in degrees, + = face turns towards image right",
            "pitch": "head tilt in degrees, + = up",
            "gaze_x": "eye-in-head iris offset in [-1, 1], + = towards image right",
            "gaze_y": "eye-in-head iris offset in [-1, 1], + = up",
            "eye_openness": "share of the open eye height in [0, 1], 0 = closed",
            "blink": "1 on the frames of a blink event (closing, closed, opening)",
            "attention": "clip proxy in [0, 1] computed from the signals above; not mapped to emotions",
        },
        "ranges": {k: list(v) for k, v in RANGES.items()},
        "config": cfg.model_dump(mode="json"),
        "legal_basis": "none needed: no personal data (procedurally rendered faces)",
    }
    (root / "datasheet.yaml").write_text(yaml.safe_dump(sheet, sort_keys=True, allow_unicode=True), encoding="utf-8")
    n_test = sum(1 for r in clip_rows if r["split"] == "test")
    return EngagementSummary(
        root=root,
        n_clips=len(clip_rows),
        n_subjects=len(subjects),
        n_train=len(clip_rows) - n_test,
        n_test=n_test,
        blink_frames=int(sum(int(row[-1]) for row in frame_rows)),  # type: ignore[call-overload]
    )


@dataclass(frozen=True)
class EngagementSplit:
    """One split read back: clips, per-frame signals at the sampled frames, and clip metadata."""

    clips: np.ndarray  # (N, T, size, size, 3) uint8 RGB
    signals: np.ndarray  # (N, T, len(SIGNALS)) float32 in SIGNALS order
    blink: np.ndarray  # (N, T) int64
    frame_index: np.ndarray  # (N, T) 1-based frame numbers sampled
    meta: pd.DataFrame  # one row per clip (metadata.csv columns)


def load_engagement_split(*, root: Path, split: str, frames: int, size: int) -> EngagementSplit:
    """Read a split: ``frames`` frames sampled uniformly per clip (as ``read_clip``) with their labels."""
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}", fix="use 'train' or 'test'")
    for needed in (FRAME_LABELS, METADATA, f"{SPLIT_DIR}/{split}.csv"):
        if not (root / needed).is_file():
            raise DataError(f"{root / needed} is missing", fix="generate the set with generate_engagement")
    names = pd.read_csv(root / SPLIT_DIR / f"{split}.csv", dtype={"video_name": str})["video_name"].tolist()
    meta = pd.read_csv(root / METADATA, dtype={"video_name": str}).set_index("video_name").loc[names].reset_index()
    labels = pd.read_csv(root / FRAME_LABELS, dtype={"video_name": str}).set_index(["video_name", "frame"])
    frames_root = root / "Clip" / "clip_224x224"
    clips, signals, blinks, index = [], [], [], []
    for name in names:
        n_avail = len(labels.loc[name])
        idx = np.linspace(0, n_avail - 1, num=frames).round().astype(int) + 1  # same sampling as read_clip
        clips.append(read_clip(frame_dir=frames_root / name, frames=frames, size=size))
        rows = labels.loc[[(name, int(i)) for i in idx]]
        signals.append(rows[list(SIGNALS)].to_numpy(dtype=np.float32))
        blinks.append(rows["blink"].to_numpy(dtype=np.int64))
        index.append(idx)
    return EngagementSplit(
        clips=np.stack(clips),
        signals=np.stack(signals),
        blink=np.stack(blinks),
        frame_index=np.stack(index),
        meta=meta,
    )


def engagement_montage(*, seed: int = 0, size: int = 112, tile: int = 160, frames: int = 8) -> np.ndarray:
    """A labelled montage (BGR): a row of single knobs (yaw, pitch, gaze, openness), a clip strip with its labels."""
    rng = np.random.default_rng([seed, 5])
    subject = make_subject(subject_id="M0", skin_tone_group="tone_b", sex="female", age_band="30-44", rng=rng)
    knob_row: list[tuple[str, dict[str, float]]] = [
        ("frontal", {}),
        ("yaw -30", {"yaw": -30.0}),
        ("yaw +30", {"yaw": 30.0}),
        ("pitch +15", {"pitch": 15.0}),
        ("pitch -15", {"pitch": -15.0}),
        ("gaze_x -1", {"gaze_x": -1.0}),
        ("gaze_x +1", {"gaze_x": 1.0}),
        ("gaze_y +1", {"gaze_y": 1.0}),
        ("open 0.5", {"eye_openness": 0.5}),
        ("closed", {"eye_openness": 0.0}),
    ]
    track = {s: smooth_trajectory(frames=frames, low=lo, high=hi, points=3, rng=rng) for s, (lo, hi) in RANGES.items()}
    track["eye_openness"], blink = eye_openness_track(frames=frames, baseline=0.95, blink_rate=0.2, rng=rng)
    strip = [
        (
            f"y{track['yaw'][t]:+.0f} p{track['pitch'][t]:+.0f} g{track['gaze_x'][t]:+.1f},{track['gaze_y'][t]:+.1f}"
            f" o{track['eye_openness'][t]:.1f}{' B' if blink[t] else ''}",
            {s: float(track[s][t]) for s in SIGNALS},
        )
        for t in range(frames)
    ]
    rows = []
    for items in (knob_row, strip):
        tiles = []
        for text, kw in items:
            frame = render_face(
                subject=subject,
                expr=EXPRESSIONS["neutral"],
                intensity=0.0,
                size=size,
                knobs=FrameKnobs(noise=0.0, **kw),
                rng=np.random.default_rng(seed),
            )
            frame = cv2.resize(frame, (tile, tile), interpolation=cv2.INTER_CUBIC)
            cv2.putText(frame, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 255, 255), 1, cv2.LINE_AA)
            tiles.append(frame)
        rows.append(tiles)
    width = max(len(r) for r in rows)
    blank = np.zeros((tile, tile, 3), dtype=np.uint8)
    return np.vstack([np.hstack(r + [blank] * (width - len(r))) for r in rows])
