"""Procedural face rendering (numpy + OpenCV): expressions conveyed by facial geometry.

Pure functions: a :class:`Subject` (identity, skin tone, geometry), an expression's geometry at
a given intensity, a pose, lighting and quality knobs in; a uint8 BGR frame out. Nothing here
depicts a real person.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SKIN_TONES: dict[str, tuple[tuple[int, int, int], ...]] = {
    # BGR skin colours per skin-tone group (light, medium, dark bands), varied per subject.
    "tone_a": ((188, 208, 238), (176, 199, 233), (170, 190, 228)),
    "tone_b": ((120, 160, 205), (105, 148, 196), (98, 138, 186)),
    "tone_c": ((58, 84, 122), (48, 72, 108), (42, 62, 96)),
}
HAIR_COLOURS = ((20, 20, 25), (30, 45, 70), (40, 70, 110), (150, 150, 150), (60, 90, 150))


@dataclass(frozen=True)
class Expression:
    """Facial geometry of an expression at full intensity, as deltas from neutral."""

    mouth_curve: float = 0.0  # + corners up, - corners down
    mouth_open: float = 0.0  # jaw drop
    mouth_width: float = 0.0  # relative change of mouth width
    upper_lip: float = 0.0  # upper-lip raise
    asym: float = 0.0  # one-sided mouth
    brow_raise: float = 0.0  # + raised, - lowered
    brow_inner: float = 0.0  # + inner ends up (sad/fear), - inner ends down (anger V)
    brow_together: float = 0.0  # brows drawn together
    eye_open: float = 0.0  # + wide, - narrowed
    nose_wrinkle: float = 0.0  # wrinkle lines beside the nose


EXPRESSIONS: dict[str, Expression] = {
    "happiness": Expression(mouth_curve=1.0, mouth_open=0.3, mouth_width=0.3, eye_open=-0.35),
    "sadness": Expression(mouth_curve=-0.9, mouth_width=-0.05, brow_inner=1.0, eye_open=-0.2),
    "neutral": Expression(),
    "anger": Expression(
        mouth_curve=-0.15, mouth_width=-0.25, brow_raise=-0.8, brow_inner=-1.0, brow_together=0.6, eye_open=-0.4
    ),
    "surprise": Expression(mouth_open=1.0, mouth_width=-0.35, brow_raise=1.0, brow_inner=0.2, eye_open=0.7),
    "disgust": Expression(
        mouth_curve=-0.35, upper_lip=1.0, asym=0.8, brow_raise=-0.4, brow_inner=-0.3, eye_open=-0.3, nose_wrinkle=1.0
    ),
    "fear": Expression(
        mouth_curve=-0.2, mouth_open=0.45, mouth_width=0.4, brow_raise=0.7, brow_inner=0.8, brow_together=0.5,
        eye_open=0.55,
    ),
}


@dataclass(frozen=True)
class Subject:
    """A synthetic identity: group attributes and face geometry."""

    subject_id: str
    skin_tone_group: str
    sex: str
    age_band: str
    skin: tuple[int, int, int]
    face_w: float
    face_h: float
    eye_dx: float
    brow_thickness: int
    hair: tuple[int, int, int] | None
    long_hair: bool
    expressiveness: float


def make_subject(*, subject_id: str, skin_tone_group: str, sex: str, age_band: str, rng: np.random.Generator) -> Subject:
    """A subject with random geometry; attributes never depend on emotion labels."""
    base = SKIN_TONES[skin_tone_group][int(rng.integers(0, 3))]
    skin = tuple(int(np.clip(c + rng.integers(-8, 9), 0, 255)) for c in base)
    has_hair = rng.random() < 0.85
    return Subject(
        subject_id=subject_id,
        skin_tone_group=skin_tone_group,
        sex=sex,
        age_band=age_band,
        skin=skin,  # type: ignore[arg-type]
        face_w=float(rng.uniform(0.9, 1.1) * (1.05 if sex == "male" else 0.97)),
        face_h=float(rng.uniform(0.92, 1.08)),
        eye_dx=float(rng.uniform(0.095, 0.12)),
        brow_thickness=int(rng.integers(1, 3)),
        hair=HAIR_COLOURS[int(rng.integers(0, len(HAIR_COLOURS)))] if has_hair else None,
        long_hair=bool(rng.random() < (0.7 if sex == "female" else 0.15)),
        expressiveness=float(rng.uniform(0.6, 1.0)),
    )


@dataclass(frozen=True)
class FrameKnobs:
    """Per-frame pose, lighting and quality."""

    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0
    scale: float = 1.0
    gain: float = 1.0
    gradient: float = 0.0
    noise: float = 4.0
    blur: float = 0.0
    occlusion: str | None = None  # "sunglasses" | "mask" | None
    background: tuple[int, int, int] = (90, 100, 110)


def _bezier(p0: np.ndarray, c: np.ndarray, p1: np.ndarray, n: int = 16) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t**2 * p1


_SHIFT = 4  # sub-pixel precision for cv2 drawing
_K = 1 << _SHIFT


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0] * _K)), int(round(p[1] * _K))


def _poly(img: np.ndarray, pts: np.ndarray, colour: tuple[int, int, int], thickness: int) -> None:
    arr = np.round(pts * _K).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(img, [arr], False, colour, thickness, cv2.LINE_AA, _SHIFT)


def render_face(*, subject: Subject, expr: Expression, intensity: float, size: int, knobs: FrameKnobs,
                rng: np.random.Generator, age_lines: bool = False) -> np.ndarray:
    """One frame: the subject's face showing ``expr`` at ``intensity`` in [0, 1], posed and lit by ``knobs``."""
    s = float(size)
    k = float(np.clip(intensity, 0.0, 1.0))
    img = np.empty((size, size, 3), dtype=np.uint8)
    bg = np.asarray(knobs.background, dtype=np.float32)
    ramp = np.linspace(0.85, 1.15, size, dtype=np.float32)[:, None, None]
    img[:] = np.clip(bg[None, None, :] * ramp, 0, 255).astype(np.uint8)
    cx, cy = s * 0.5, s * 0.52
    fa, fb = s * 0.30 * subject.face_w, s * 0.40 * subject.face_h
    if subject.hair is not None:
        hair_h = fb * (1.25 if subject.long_hair else 0.75)
        cv2.ellipse(img, _pt(np.array([cx, cy - fb * 0.15])), (int(fa * 1.12 * _K), int(hair_h * _K)), 0, 0, 360,
                    subject.hair, -1, cv2.LINE_AA, _SHIFT)
    cv2.ellipse(img, _pt(np.array([cx, cy])), (int(fa * _K), int(fb * _K)), 0, 0, 360, subject.skin, -1,
                cv2.LINE_AA, _SHIFT)
    dark = tuple(int(c * 0.45) for c in subject.skin)
    line_col = (25, 25, 30) if subject.skin_tone_group != "tone_c" else (15, 15, 18)
    # eyes
    eye_y = cy - s * 0.08
    eye_open = 1.0 + expr.eye_open * k
    for side in (-1, 1):
        ex = cx + side * s * subject.eye_dx
        h = max(0.6, s * 0.028 * eye_open)
        cv2.ellipse(img, _pt(np.array([ex, eye_y])), (int(s * 0.05 * _K), int(h * _K)), 0, 0, 360, (235, 235, 235),
                    -1, cv2.LINE_AA, _SHIFT)
        r = min(h, s * 0.022)
        cv2.circle(img, _pt(np.array([ex, eye_y])), int(r * _K), (40, 30, 25), -1, cv2.LINE_AA, _SHIFT)
        cv2.ellipse(img, _pt(np.array([ex, eye_y])), (int(s * 0.05 * _K), int(h * _K)), 0, 0, 360, dark, 1,
                    cv2.LINE_AA, _SHIFT)
    # brows
    brow_y = eye_y - s * 0.065 - s * 0.045 * expr.brow_raise * k
    for side in (-1, 1):
        inner_x = cx + side * s * (0.045 - 0.02 * expr.brow_together * k)
        outer_x = cx + side * s * (subject.eye_dx + 0.06)
        inner_y = brow_y - s * 0.04 * expr.brow_inner * k
        outer_y = brow_y + s * 0.005
        mid = np.array([(inner_x + outer_x) / 2, (inner_y + outer_y) / 2 - s * 0.012])
        _poly(img, _bezier(np.array([inner_x, inner_y]), mid, np.array([outer_x, outer_y]), 10), line_col,
              subject.brow_thickness + max(1, size // 56))
    # nose and wrinkles
    nose_top, nose_tip = np.array([cx, eye_y + s * 0.02]), np.array([cx - s * 0.01, cy + s * 0.07])
    _poly(img, np.stack([nose_top, nose_tip, nose_tip + np.array([s * 0.03, 0])]), dark, 1)
    if expr.nose_wrinkle * k > 0.2:
        for side in (-1, 1):
            for j in range(2):
                x0 = cx + side * s * (0.03 + 0.012 * j)
                _poly(img, np.array([[x0, eye_y + s * 0.03], [x0 + side * s * 0.02, eye_y + s * 0.06]]), dark, 1)
    if age_lines:
        for j in range(2):
            y = cy - fb * 0.62 + j * s * 0.025
            _poly(img, _bezier(np.array([cx - fa * 0.45, y]), np.array([cx, y - s * 0.01]),
                               np.array([cx + fa * 0.45, y])), dark, 1)
    # mouth
    my = cy + s * 0.17
    half_w = s * 0.085 * (1.0 + expr.mouth_width * k)
    curve = expr.mouth_curve * k * s * 0.04
    asym = expr.asym * k * s * 0.025
    left = np.array([cx - half_w, my - curve - asym])
    right = np.array([cx + half_w, my - curve + asym * 0.3])
    open_ = expr.mouth_open * k
    upper_c = np.array([cx, my - s * 0.035 * expr.upper_lip * k - s * 0.01 * open_ + curve * 0.6])
    lower_c = np.array([cx, my + s * 0.11 * open_ + curve * 0.9 + s * 0.01])
    upper = _bezier(left, upper_c, right)
    lower = _bezier(right, lower_c, left)
    lips = (60, 60, 150) if subject.skin_tone_group != "tone_c" else (50, 45, 95)
    if open_ > 0.12 or expr.upper_lip * k > 0.3:
        poly = np.round(np.concatenate([upper, lower]) * _K).astype(np.int32)
        cv2.fillPoly(img, [poly], (30, 20, 45), cv2.LINE_AA, _SHIFT)
    _poly(img, upper, lips, max(1, size // 48))
    _poly(img, lower, lips, max(1, size // 48))
    # occlusion moves with the face
    if knobs.occlusion == "sunglasses":
        cv2.rectangle(img, _pt(np.array([cx - fa * 0.85, eye_y - s * 0.04])),
                      _pt(np.array([cx + fa * 0.85, eye_y + s * 0.04])), (15, 15, 15), -1, cv2.LINE_AA, _SHIFT)
    elif knobs.occlusion == "mask":
        cv2.ellipse(img, _pt(np.array([cx, my])), (int(fa * 0.8 * _K), int(s * 0.12 * _K)), 0, 0, 360,
                    (225, 220, 215), -1, cv2.LINE_AA, _SHIFT)
    # pose
    m = cv2.getRotationMatrix2D((cx, cy), knobs.angle, knobs.scale)
    m[:, 2] += (knobs.dx * s, knobs.dy * s)
    img = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # lighting and quality
    out = img.astype(np.float32)
    grad = 1.0 + knobs.gradient * np.linspace(-1, 1, size, dtype=np.float32)[None, :, None]
    out *= knobs.gain * grad
    if knobs.blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), knobs.blur)
    if knobs.noise > 0:
        out += rng.normal(0.0, knobs.noise, size=out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def intensity_curve(*, frames: int, rng: np.random.Generator, peak: float) -> np.ndarray:
    """Onset-apex-offset dynamics: ramps from ~0.1 to ``peak`` at a random apex, then decays a little."""
    t = np.linspace(0.0, 1.0, frames)
    apex = rng.uniform(0.35, 0.65)
    onset = np.clip(t / apex, 0, 1)
    onset = onset * onset * (3 - 2 * onset)  # smoothstep
    decay = np.where(t > apex, 1.0 - 0.35 * (t - apex) / max(1e-6, 1 - apex), 1.0)
    return 0.1 + (peak - 0.1) * onset * decay
