"""Write a synthetic audio-visual emotion set in the RAVDESS layout (labelled synthetic everywhere).

Layout: ``Actor_XX/02-01-EE-II-SS-RR-XX.mp4`` (video-only, as RAVDESS's video archives) and
``Actor_XX/03-01-EE-II-SS-RR-XX.wav`` (audio-only, 16-bit PCM) with the 7-field RAVDESS file name
modality-channel-emotion-intensity-statement-repetition-actor (odd actor = male), plus
``metadata.csv`` (one row per recording: file names, emotion, the DFEW generator's group attributes,
actor-disjoint fold) and ``datasheet.yaml`` (``synthetic: true``). Emotion "calm" (code 02) is not
generated: it has no canonical label.

Faces come from :mod:`affectgate.datasets.synth.faces` with deliberately low expressiveness, so
the video channel is weak; the emotion is carried mainly by the voice's prosody
(:mod:`affectgate.datasets.synth.audio`). Deterministic: the same config writes byte-identical files.
"""

from __future__ import annotations

import csv
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from affectgate.core.errors import DataError
from affectgate.core.records import AudioSpec
from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.datasets.ravdess import (  # the RAVDESS file-name convention lives with the loader
    AUDIO_MODALITY,
    RAVDESS_EMOTIONS,
    VIDEO_MODALITY,
    parse_ravdess_name,
    ravdess_name,
)
from affectgate.datasets.synth.audio import log_mel, read_wav, synth_utterance, write_wav
from affectgate.datasets.synth.dfew_layout import AGE_BANDS, GROUPS, _prepare_root
from affectgate.datasets.synth.faces import EXPRESSIONS, FrameKnobs, intensity_curve, make_subject, render_face

NOTICE = "SYNTHETIC DATA — procedurally rendered faces and synthesised voices, not real people"


class AVSynthConfig(BaseModel):
    """Knobs of the synthetic RAVDESS-layout generator."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seed: int = Field(default=0, description="Seed; the same config writes byte-identical files.")
    n_actors: int = Field(default=24, ge=2, le=99, description="Actors (odd numbers male, even female).")
    statements: int = Field(default=2, ge=1, le=2, description="Statements per emotion and intensity (1 or 2).")
    repetitions: int = Field(default=2, ge=1, le=9, description="Repetitions of each statement.")
    frames: int = Field(default=8, ge=2, description="Video frames per recording.")
    image_size: int = Field(default=64, ge=32, description="Square frame side in pixels.")
    seconds: float = Field(default=2.0, gt=0.5, description="Recording length in seconds (video and audio).")
    sample_rate: int = Field(default=16000, ge=8000, description="Audio sample rate in Hz.")
    folds: int = Field(default=4, ge=2, description="Actor-disjoint folds written to metadata.csv.")
    expressiveness: tuple[float, float] = Field(
        default=(0.12, 0.35),
        description="Range of the actors' facial apex intensity; low on purpose so the video channel is weak.",
    )
    noise: float = Field(default=6.0, ge=0, description="Gaussian pixel noise sigma.")
    audio_noise: float = Field(default=0.02, ge=0, description="Background noise level of the audio.")
    low_quality: float = Field(default=0.1, ge=0, le=1, description="Probability a recording's video is blurred.")
    quarters: tuple[str, ...] = Field(default=("2026Q1", "2026Q2", "2026Q3", "2026Q4"), description="Capture quarters.")
    scene: int | None = Field(
        default=None,
        description="When set, the videos are full camera frames of this width (4:3), the face (image_size) placed "
        "at a drifting position on the background, and the datasheet says face_cropped: false, so readers "
        "detect and crop the faces. None: every frame is the face crop (face_cropped: true).",
    )
    no_face_recordings: float = Field(
        default=0.0, ge=0, le=1, description="With scene: share of videos whose frames show no face at all."
    )

    @model_validator(mode="after")
    def _check(self) -> AVSynthConfig:
        if self.scene is not None and self.scene < 2 * self.image_size:
            raise ValueError(f"scene {self.scene} px must be at least twice the face (image_size {self.image_size})")
        lo, hi = self.expressiveness
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"expressiveness range {self.expressiveness} must satisfy 0 <= low <= high <= 1")
        if self.n_actors < self.folds:
            raise ValueError(f"{self.n_actors} actors cannot fill {self.folds} actor-disjoint folds")
        return self


class AVSynthSummary(BaseModel):
    """What was generated."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    root: Path = Field(description="Dataset root.")
    n_recordings: int = Field(description="Recordings (each one MP4 and one WAV).")
    n_actors: int = Field(description="Actors.")
    per_class: dict[str, int] = Field(description="Recordings per canonical emotion.")


def _write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise DataError(f"OpenCV cannot write MP4 to {path}", fix="install an OpenCV build with the mp4v codec")
    for f in frames:
        writer.write(f)
    writer.release()


def _in_scene(
    faces: list[np.ndarray], *, scene: int, background: tuple[int, ...], empty: bool, rng: np.random.Generator
) -> list[np.ndarray]:
    """The face frames pasted on a ``scene`` x 3/4 ``scene`` background at a slowly drifting position (or not at
    all when ``empty``): full camera frames that a reader must face-crop."""
    side = faces[0].shape[0]
    height = scene * 3 // 4
    x, y = rng.uniform(0, scene - side), rng.uniform(0, height - side)
    vx, vy = rng.normal(0, 1.5, size=2)
    out = []
    for face in faces:
        canvas = np.empty((height, scene, 3), dtype=np.uint8)
        canvas[:] = np.asarray(background, dtype=np.uint8)
        noise = rng.normal(0, 4, size=canvas.shape)
        canvas = np.clip(canvas + noise, 0, 255).astype(np.uint8)
        if not empty:
            x, y = float(np.clip(x + vx, 0, scene - side)), float(np.clip(y + vy, 0, height - side))
            canvas[int(y) : int(y) + side, int(x) : int(x) + side] = face
        out.append(canvas)
    return out


def generate_ravdess(*, root: Path, config: AVSynthConfig) -> AVSynthSummary:
    """Render every recording (MP4 + WAV) in the RAVDESS layout with metadata and a datasheet under ``root``."""
    cfg = config
    _prepare_root(root)
    rng = np.random.default_rng([cfg.seed, 4242])
    groups = [GROUPS[i % len(GROUPS)] for i in range(cfg.n_actors)]
    rng.shuffle(groups)
    fold_order = rng.permutation(cfg.n_actors)
    fold_of = {int(a) + 1: i % cfg.folds + 1 for i, a in enumerate(fold_order)}
    rows: list[dict[str, object]] = []
    for actor in range(1, cfg.n_actors + 1):
        sex = "male" if actor % 2 == 1 else "female"
        subj = make_subject(
            subject_id=f"A{actor:02d}",
            skin_tone_group=groups[actor - 1],
            sex=sex,
            age_band=AGE_BANDS[int(rng.integers(0, len(AGE_BANDS)))],
            rng=rng,
        )
        subj = dataclasses.replace(subj, expressiveness=float(rng.uniform(*cfg.expressiveness)))
        speaker_f0 = float(rng.uniform(100, 140) if sex == "male" else rng.uniform(180, 240))
        folder = root / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        for code, emotion in RAVDESS_EMOTIONS.items():
            for intensity in (1,) if emotion == "neutral" else (1, 2):
                for statement in range(1, cfg.statements + 1):
                    for repetition in range(1, cfg.repetitions + 1):
                        fields = {
                            "emotion": code,
                            "intensity": intensity,
                            "statement": statement,
                            "repetition": repetition,
                            "actor": actor,
                        }
                        crng = np.random.default_rng([cfg.seed, actor, code, intensity, statement, repetition])
                        strength = 0.6 if intensity == 1 else 1.0
                        video = ravdess_name(modality=VIDEO_MODALITY, **fields)
                        audio = ravdess_name(modality=AUDIO_MODALITY, **fields)
                        low_q = bool(crng.random() < cfg.low_quality)
                        peak = 0.0 if emotion == "neutral" else subj.expressiveness * strength
                        curve = intensity_curve(frames=cfg.frames, rng=crng, peak=peak)
                        grey = crng.uniform(70, 180)
                        bg = tuple(int(np.clip(grey + v, 0, 255)) for v in crng.uniform(-25, 25, size=3))
                        base = {
                            "dx": crng.uniform(-0.03, 0.03),
                            "dy": crng.uniform(-0.03, 0.03),
                            "angle": crng.uniform(-6, 6),
                            "gain": crng.uniform(0.85, 1.15),
                        }
                        frames = []
                        for t in range(cfg.frames):
                            knobs = FrameKnobs(
                                dx=base["dx"] + crng.normal(0, 0.005),
                                dy=base["dy"] + crng.normal(0, 0.005),
                                angle=base["angle"] + crng.normal(0, 1.0),
                                gain=base["gain"],
                                noise=cfg.noise,
                                blur=1.4 if low_q else 0.0,
                                background=bg,  # type: ignore[arg-type]
                            )
                            frames.append(
                                render_face(
                                    subject=subj,
                                    expr=EXPRESSIONS[emotion],
                                    intensity=float(curve[t]),
                                    size=cfg.image_size,
                                    knobs=knobs,
                                    rng=crng,
                                    age_lines=subj.age_band in ("45-64", "65+"),
                                )
                            )
                        empty = False
                        if cfg.scene is not None:
                            empty = bool(crng.random() < cfg.no_face_recordings)
                            frames = _in_scene(frames, scene=cfg.scene, background=bg, empty=empty, rng=crng)
                        _write_video(folder / f"{video}.mp4", frames, fps=cfg.frames / cfg.seconds)
                        wave = synth_utterance(
                            emotion=emotion,
                            intensity=strength,
                            speaker_f0=speaker_f0,
                            seconds=cfg.seconds,
                            sample_rate=cfg.sample_rate,
                            rng=crng,
                            statement=statement,
                            gain=float(crng.uniform(0.7, 1.3)),
                            noise=cfg.audio_noise,
                        )
                        write_wav(path=folder / f"{audio}.wav", wave=wave, sample_rate=cfg.sample_rate)
                        rows.append(
                            {
                                "video_file": f"Actor_{actor:02d}/{video}.mp4",
                                "audio_file": f"Actor_{actor:02d}/{audio}.wav",
                                "emotion": emotion,
                                "emotion_code": code,
                                "intensity": intensity,
                                "statement": statement,
                                "repetition": repetition,
                                "actor": actor,
                                "subject_id": subj.subject_id,
                                "skin_tone_group": subj.skin_tone_group,
                                "sex": sex,
                                "age_band": subj.age_band,
                                "capture_quarter": cfg.quarters[int(crng.integers(0, len(cfg.quarters)))],
                                "consent_basis": "explicit_consent",
                                "low_quality": low_q,
                                "synthetic": True,
                                "fold": fold_of[actor],
                                **({"face_in_frame": not empty} if cfg.scene is not None else {}),
                            }
                        )
    with (root / "metadata.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    sheet = {
        "synthetic": True,
        "creation_note": NOTICE,
        "generator": "affectgate.datasets.synth.av_layout",
        "layout": "RAVDESS (Actor_XX/<modality-channel-emotion-intensity-statement-repetition-actor>.{mp4,wav})",
        "label_map": {int(k): v for k, v in RAVDESS_EMOTIONS.items()},
        "not_generated": "emotion 02 (calm): no canonical label; song channel (02); full-AV modality (01)",
        "config": cfg.model_dump(mode="json"),
        "legal_basis": "none needed: no personal data (procedurally rendered faces, synthesised voices)",
        "face_cropped": cfg.scene is None,
    }
    (root / "datasheet.yaml").write_text(yaml.safe_dump(sheet, sort_keys=True, allow_unicode=True), encoding="utf-8")
    per_class = {e: sum(1 for r in rows if r["emotion"] == e) for e in CANONICAL_EMOTIONS}
    return AVSynthSummary(root=root, n_recordings=len(rows), n_actors=cfg.n_actors, per_class=per_class)


def read_video(*, path: Path, frames: int, size: int) -> np.ndarray:
    """``(frames, size, size, 3)`` uint8 RGB, frames sampled uniformly (np.linspace) over the file."""
    cap = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        decoded.append(frame)
    cap.release()
    if not decoded:
        raise DataError(f"no frames could be decoded from {path}", fix="check the file is a readable MP4")
    idx = np.linspace(0, len(decoded) - 1, frames).round().astype(int)
    out = [
        cv2.cvtColor(cv2.resize(decoded[i], (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB) for i in idx
    ]
    return np.stack(out)


def load_ravdess(
    *, root: Path, frames: int, size: int, audio: AudioSpec, workers: int = 2
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Metadata, RGB clips ``(N, frames, size, size, 3)`` uint8 and log-mels ``(N, n_mels, T)`` of a RAVDESS-layout set.

    Rows come from ``metadata.csv``; every file name is checked against the 7-field convention and
    against the row's emotion and actor.
    """
    meta_path = root / "metadata.csv"
    if not meta_path.is_file():
        raise DataError(f"no metadata.csv in {root}", fix="generate the set with generate_ravdess")
    meta = pd.read_csv(meta_path)
    for r in meta.itertuples():
        for rel in (r.video_file, r.audio_file):
            fields = parse_ravdess_name(Path(str(rel)).stem)
            if fields["emotion"] != r.emotion or fields["actor"] != r.actor:
                raise DataError(f"{rel}: file name disagrees with metadata.csv (emotion/actor)")

    def one(i: int) -> tuple[np.ndarray, np.ndarray]:
        row = meta.iloc[i]
        clip = read_video(path=root / str(row.video_file), frames=frames, size=size)
        wave, sr = read_wav(path=root / str(row.audio_file))
        return clip, log_mel(wave=wave, sample_rate=sr, spec=audio)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pairs = list(pool.map(one, range(len(meta))))
    return meta, np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
