"""Write a tiny synthetic set in the Aff-Wild2 / ABAW layout (labelled synthetic everywhere).

Layout (as the ABAW annotation archive and the cropped-aligned frames):
``VA_Estimation_Challenge``, ``EXPR_Classification_Challenge`` and ``AU_Detection_Challenge``, each
with ``Train_Set/<video>.txt`` and ``Validation_Set/<video>.txt`` (header line, then line i = frame i),
frames ``cropped_aligned/<video>/<i:05d>.jpg`` rendered by :mod:`affectgate.datasets.synth.faces`,
the shared audio track ``videos/<base>.wav`` of every video (a ``_left``/``_right`` pair shares one),
and ``datasheet.yaml`` (``synthetic: true``).

Sprinkled on purpose, as in the real data: ``-5,-5`` VA lines, ``-1`` EXPR lines, all ``-1`` AU
lines, and annotated frames whose image is missing (the face was not found). Deterministic: the same
config writes byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from affectgate.datasets.labels import ABAW_AU_HEADER, ABAW_EXPR_HEADER, ABAW_EXPR_LABELS
from affectgate.datasets.synth.audio import synth_utterance, write_wav
from affectgate.datasets.synth.dfew_layout import AGE_BANDS, GROUPS, _prepare_root
from affectgate.datasets.synth.faces import EXPRESSIONS, FrameKnobs, make_subject, render_face

NOTICE = "SYNTHETIC DATA — procedurally rendered faces and synthesised voices, not real people"
#: Rough valence/arousal of each class at full intensity (circumplex positions).
VA_OF: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "anger": (-0.6, 0.7),
    "disgust": (-0.6, 0.3),
    "fear": (-0.5, 0.6),
    "happiness": (0.7, 0.5),
    "sadness": (-0.6, -0.3),
    "surprise": (0.2, 0.8),
    "other": (0.0, 0.1),
}
#: Action units active for each class (subset of the 12 ABAW AUs).
AUS_OF: dict[str, tuple[str, ...]] = {
    "neutral": (),
    "anger": ("AU4", "AU7", "AU23", "AU24"),
    "disgust": ("AU4", "AU10", "AU15"),
    "fear": ("AU1", "AU2", "AU4", "AU25", "AU26"),
    "happiness": ("AU6", "AU12", "AU25"),
    "sadness": ("AU1", "AU4", "AU15"),
    "surprise": ("AU1", "AU2", "AU25", "AU26"),
    "other": (),
}
TASK_DIRS = ("VA_Estimation_Challenge", "EXPR_Classification_Challenge", "AU_Detection_Challenge")


class AffWild2SynthConfig(BaseModel):
    """Knobs of the synthetic Aff-Wild2-layout generator (tiny by default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seed: int = Field(default=0, description="Seed; the same config writes byte-identical files.")
    n_videos: int = Field(default=3, ge=1, description="Single-person videos (plus one _left/_right pair).")
    left_right: bool = Field(default=True, description="Add a two-person video annotated as _left and _right.")
    validation_videos: int = Field(default=1, ge=0, description="Single-person videos put in Validation_Set.")
    frames: int = Field(default=10, ge=2, description="Annotated frames per video.")
    image_size: int = Field(default=48, ge=32, description="Square frame side in pixels.")
    invalid_rate: float = Field(default=0.1, ge=0, le=1, description="Share of lines written as -5 / -1 per task.")
    missing_frame_rate: float = Field(
        default=0.1, ge=0, le=1, description="Share of annotated frames without an image (frame 1 is always written)."
    )
    noise: float = Field(default=3.0, ge=0, description="Gaussian pixel noise sigma.")
    audio_seconds: float = Field(default=0.5, gt=0, description="Length of each video's audio track.")
    sample_rate: int = Field(default=16000, ge=8000, description="Audio sample rate in Hz.")


class AffWild2SynthSummary(BaseModel):
    """What was generated."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    root: Path = Field(description="Dataset root.")
    videos: tuple[str, ...] = Field(description="Annotated video names.")
    n_lines: int = Field(description="Annotated frames per task, summed over videos.")
    n_images: int = Field(description="Frame images written.")
    invalid: dict[str, int] = Field(description="Lines written invalid per task (va_-5, expr_-1, au_-1).")
    missing_frames: int = Field(description="Annotated frames without an image.")


def generate_affwild2(*, root: Path, config: AffWild2SynthConfig) -> AffWild2SynthSummary:
    """Render every video's frames and write the three challenges' annotation files under ``root``."""
    cfg = config
    _prepare_root(root)
    names = [f"synth_{i + 1:03d}" for i in range(cfg.n_videos)]
    if cfg.left_right:
        names += ["synth_pair_left", "synth_pair_right"]
    n_val = min(cfg.validation_videos, cfg.n_videos)
    val = set(names[cfg.n_videos - n_val : cfg.n_videos])
    classes = [ABAW_EXPR_LABELS[k] for k in range(len(ABAW_EXPR_HEADER))]
    invalid = {"va_-5": 0, "expr_-1": 0, "au_-1": 0}
    n_images = missing = 0
    for v, name in enumerate(names):
        split = "Validation_Set" if name in val else "Train_Set"
        vrng = np.random.default_rng([cfg.seed, v])
        subj = make_subject(
            subject_id=name,
            skin_tone_group=GROUPS[int(vrng.integers(0, len(GROUPS)))],
            sex=("female", "male")[int(vrng.integers(0, 2))],
            age_band=AGE_BANDS[int(vrng.integers(0, len(AGE_BANDS)))],
            rng=vrng,
        )
        cut = int(vrng.integers(1, cfg.frames))
        emotions = [classes[int(vrng.integers(0, len(classes)))] for _ in range(2)]
        va_lines, expr_lines, au_lines = ["valence,arousal"], [",".join(ABAW_EXPR_HEADER)], [",".join(ABAW_AU_HEADER)]
        folder = root / "cropped_aligned" / name
        folder.mkdir(parents=True)
        for i in range(1, cfg.frames + 1):
            emotion = emotions[0] if i <= cut else emotions[1]
            intensity = float(np.clip(vrng.uniform(0.5, 1.0), 0, 1))
            val_a = VA_OF[emotion]
            valence = float(np.clip(val_a[0] * intensity + vrng.normal(0, 0.05), -1, 1))
            arousal = float(np.clip(val_a[1] * intensity + vrng.normal(0, 0.05), -1, 1))
            if vrng.random() < cfg.invalid_rate:
                va_lines.append("-5,-5")
                invalid["va_-5"] += 1
            else:
                va_lines.append(f"{valence:.3f},{arousal:.3f}")
            if vrng.random() < cfg.invalid_rate:
                expr_lines.append("-1")
                invalid["expr_-1"] += 1
            else:
                expr_lines.append(str(classes.index(emotion)))
            if vrng.random() < cfg.invalid_rate:
                au_lines.append(",".join(["-1"] * len(ABAW_AU_HEADER)))
                invalid["au_-1"] += 1
            else:
                active = AUS_OF[emotion] if intensity > 0.3 else ()
                au_lines.append(",".join("1" if au in active else "0" for au in ABAW_AU_HEADER))
            if i > 1 and vrng.random() < cfg.missing_frame_rate:
                missing += 1
                continue
            knobs = FrameKnobs(
                dx=float(vrng.normal(0, 0.01)),
                dy=float(vrng.normal(0, 0.01)),
                angle=float(vrng.normal(0, 2)),
                noise=cfg.noise,
            )
            expr = EXPRESSIONS["neutral" if emotion == "other" else emotion]
            frame = render_face(
                subject=subj, expr=expr, intensity=intensity, size=cfg.image_size, knobs=knobs, rng=vrng
            )
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
            n_images += 1
        for task, lines in zip(TASK_DIRS, (va_lines, expr_lines, au_lines), strict=True):
            out = root / task / split
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    audio_dir = root / "videos"
    audio_dir.mkdir()
    for base in sorted({n.removesuffix("_left").removesuffix("_right") for n in names}):
        arng = np.random.default_rng([cfg.seed, 77, len(base), sum(map(ord, base))])
        wave = synth_utterance(
            emotion="neutral",
            intensity=0.5,
            speaker_f0=float(arng.uniform(100, 240)),
            seconds=cfg.audio_seconds,
            sample_rate=cfg.sample_rate,
            rng=arng,
        )
        write_wav(path=audio_dir / f"{base}.wav", wave=wave, sample_rate=cfg.sample_rate)
    sheet = {
        "synthetic": True,
        "face_cropped": True,
        "creation_note": NOTICE,
        "generator": "affectgate.datasets.synth.affwild2_layout",
        "layout": "Aff-Wild2 / ABAW (VA/EXPR/AU challenge txt files, cropped_aligned/<video>/<i:05d>.jpg)",
        "label_map": {int(k): v for k, v in ABAW_EXPR_LABELS.items()},
        "config": cfg.model_dump(mode="json"),
        "legal_basis": "none needed: no personal data (procedurally rendered faces, synthesised voices)",
    }
    (root / "datasheet.yaml").write_text(yaml.safe_dump(sheet, sort_keys=True, allow_unicode=True), encoding="utf-8")
    return AffWild2SynthSummary(
        root=root,
        videos=tuple(names),
        n_lines=len(names) * cfg.frames,
        n_images=n_images,
        invalid=invalid,
        missing_frames=missing,
    )
