"""Procedural face rendering (numpy + OpenCV): expressions conveyed by facial geometry.

Pure functions: a :class:`Subject` (identity, skin tone, geometry), an expression's geometry at
a given intensity, a pose, lighting and quality knobs in; a uint8 BGR frame out. Nothing here
depicts a real person.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Colour = tuple[int, int, int]  # BGR

SKIN_TONES: dict[str, tuple[Colour, ...]] = {
    # BGR skin colours per skin-tone group (light, medium, dark bands), varied per subject.
    "tone_a": ((188, 208, 238), (176, 199, 233), (170, 190, 228)),
    "tone_b": ((120, 160, 205), (105, 148, 196), (98, 138, 186)),
    "tone_c": ((58, 84, 122), (48, 72, 108), (42, 62, 96)),
}
HAIR_COLOURS: tuple[Colour, ...] = ((20, 20, 25), (30, 45, 70), (40, 70, 110), (150, 150, 150), (60, 90, 150))


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
    cheek: float = 0.0  # raised cheeks: folds from the nose wings to the mouth corners
    teeth: float = 0.0  # upper teeth visible when the mouth is open


EXPRESSIONS: dict[str, Expression] = {
    "happiness": Expression(mouth_curve=1.0, mouth_open=0.3, mouth_width=0.3, eye_open=-0.4, cheek=1.0, teeth=1.0),
    "sadness": Expression(mouth_curve=-1.0, mouth_width=-0.05, brow_raise=0.1, brow_inner=1.2, eye_open=-0.25),
    "neutral": Expression(),
    "anger": Expression(
        mouth_curve=-0.15,
        mouth_width=-0.25,
        brow_raise=-0.8,
        brow_inner=-1.0,
        brow_together=0.6,
        eye_open=-0.4,
    ),
    "surprise": Expression(mouth_open=1.0, mouth_width=-0.25, brow_raise=1.0, brow_inner=0.2, eye_open=0.7),
    "disgust": Expression(
        mouth_curve=-0.3,
        upper_lip=1.2,
        asym=1.0,
        brow_raise=-0.5,
        eye_open=-0.15,
        nose_wrinkle=1.0,
        teeth=0.8,
    ),
    "fear": Expression(
        mouth_curve=-0.2,
        mouth_open=0.45,
        mouth_width=0.4,
        brow_raise=0.7,
        brow_inner=0.8,
        brow_together=0.5,
        eye_open=0.55,
    ),
}


@dataclass(frozen=True)
class Subject:
    """A synthetic identity: group attributes and face geometry."""

    subject_id: str  # e.g. "S012"
    skin_tone_group: str  # tone_a (light) | tone_b (medium) | tone_c (dark)
    sex: str  # female | male
    age_band: str  # 18-29 | 30-44 | 45-64 | 65+
    skin: Colour  # skin colour
    face_w: float  # face width relative to the default
    face_h: float  # face height relative to the default
    eye_dx: float  # half the eye spacing, as a share of the frame side
    brow_thickness: int  # extra brow stroke width in pixels
    hair: Colour | None  # hair colour, None = no hair band
    long_hair: bool  # hair band reaches below the ears
    expressiveness: float  # 0.6..1.0, scales every clip's apex intensity (subtle subjects)


def make_subject(
    *,
    subject_id: str,
    skin_tone_group: str,
    sex: str,
    age_band: str,
    rng: np.random.Generator,
    min_expressiveness: float = 0.6,
) -> Subject:
    """A subject with random geometry; attributes never depend on emotion labels."""
    base = SKIN_TONES[skin_tone_group][int(rng.integers(0, 3))]
    b, g, r = (int(np.clip(c + rng.integers(-8, 9), 0, 255)) for c in base)
    has_hair = rng.random() < 0.85
    return Subject(
        subject_id=subject_id,
        skin_tone_group=skin_tone_group,
        sex=sex,
        age_band=age_band,
        skin=(b, g, r),
        face_w=float(rng.uniform(0.9, 1.1) * (1.05 if sex == "male" else 0.97)),
        face_h=float(rng.uniform(0.92, 1.08)),
        eye_dx=float(rng.uniform(0.095, 0.12)),
        brow_thickness=int(rng.integers(1, 3)),
        hair=HAIR_COLOURS[int(rng.integers(0, len(HAIR_COLOURS)))] if has_hair else None,
        long_hair=bool(rng.random() < (0.7 if sex == "female" else 0.15)),
        expressiveness=float(rng.uniform(min_expressiveness, 1.0)),
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
    background: Colour = (90, 100, 110)
    # Engagement signals (defaults leave every frame unchanged): head turn in degrees (+yaw = face turns
    # towards image right, +pitch = face tilts up), eye-in-head gaze in [-1, 1] (+x = iris towards image
    # right, +y = up) and eye openness in [0, 1] relative to the expression's eye height (0 = closed).
    yaw: float = 0.0
    pitch: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    eye_openness: float = 1.0


def _bezier(p0: np.ndarray, c: np.ndarray, p1: np.ndarray, n: int = 16) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t**2 * p1


def _lip(p0: np.ndarray, y: float, p1: np.ndarray, n: int = 20) -> np.ndarray:
    """Cubic lip curve from ``p0`` to ``p1`` whose middle sags to ``y`` (rounder than a quadratic)."""
    t = np.linspace(0, 1, n)[:, None]
    c0 = np.array([p0[0] + 0.3 * (p1[0] - p0[0]), 0.0])
    c1 = np.array([p1[0] - 0.3 * (p1[0] - p0[0]), 0.0])
    mid_y = (p0[1] + p1[1]) / 2
    c0[1] = c1[1] = mid_y + (y - mid_y) * 4 / 3
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c0 + 3 * (1 - t) * t**2 * c1 + t**3 * p1


_SHIFT = 4  # sub-pixel precision for cv2 drawing
_K = 1 << _SHIFT


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0] * _K)), int(round(p[1] * _K))


def _poly(img: np.ndarray, pts: np.ndarray, colour: Colour, thickness: int) -> None:
    arr = np.round(pts * _K).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(img, [arr], False, colour, thickness, cv2.LINE_AA, _SHIFT)


def _ellipse(img: np.ndarray, centre: np.ndarray, axes: tuple[float, float], colour: Colour, thickness: int) -> None:
    """Anti-aliased, sub-pixel ellipse; ``thickness`` -1 fills it."""
    size = (int(axes[0] * _K), int(axes[1] * _K))
    cv2.ellipse(img, _pt(centre), size, 0, 0, 360, colour, thickness, cv2.LINE_AA, _SHIFT)


def _gazing_eye(
    img: np.ndarray, *, centre: np.ndarray, half_w: float, h: float, knobs: FrameKnobs, line: Colour
) -> None:
    """An eye whose iris is offset by the knobs' gaze and whose lids close to ``eye_openness`` (0 = a lid line)."""
    h_open = h * float(np.clip(knobs.eye_openness, 0.0, 1.0))
    if h_open < 0.6:  # closed: only the lid line is visible
        lid = _bezier(centre - (half_w, 0), centre + (0, h * 0.35), centre + (half_w, 0), 10)
        _poly(img, lid, line, max(1, int(round(h * 0.5))))
        return
    iris_r = min(h, half_w * 0.44)
    offset = np.array([knobs.gaze_x * (half_w - iris_r) * 0.9, -knobs.gaze_y * h * 0.7])
    layer = img.copy()
    _ellipse(layer, centre, (half_w, h_open), (235, 235, 235), -1)
    _ellipse(layer, centre + offset, (iris_r, iris_r), (40, 30, 25), -1)
    cover = np.zeros(img.shape[:2], dtype=np.uint8)
    _ellipse(cover, centre, (half_w, h_open), (255, 255, 255), -1)
    a = cover.astype(np.float32)[:, :, None] / 255.0  # the iris is clipped to the visible eye opening
    img[:] = np.round(img * (1.0 - a) + layer * a).astype(np.uint8)
    _ellipse(img, centre, (half_w, h_open), line, 1)


def _turn_head(
    img: np.ndarray, *, centre: tuple[float, float], axes: tuple[float, float], yaw: float, pitch: float
) -> np.ndarray:
    """Rotate the face's texture on an ellipsoid by ``yaw``/``pitch`` degrees, the outline kept.

    Features shift towards the turn and foreshorten near the rim; surface that was out of view is
    filled from the rim (skin).
    """
    size = img.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    u, v = (xs - centre[0]) / axes[0], (ys - centre[1]) / axes[1]
    inside = u * u + v * v < 0.94
    w = np.sqrt(np.clip(1.0 - u * u - v * v, 0.0, None))
    ps, pc = np.sin(np.radians(pitch)), np.cos(np.radians(pitch))
    ys_, yc = np.sin(np.radians(yaw)), np.cos(np.radians(yaw))
    v1, w1 = v * pc + w * ps, -v * ps + w * pc  # undo the pitch (image y points down, +pitch = up)
    u0, w0 = u * yc - w1 * ys_, u * ys_ + w1 * yc  # undo the yaw
    norm = np.sqrt(u0 * u0 + v1 * v1)
    shrink = np.where((w0 < 0) | (norm > 0.95), 0.95 / np.maximum(norm, 1e-6), 1.0)
    map_x = np.where(inside, centre[0] + u0 * shrink * axes[0], xs).astype(np.float32)
    map_y = np.where(inside, centre[1] + v1 * shrink * axes[1], ys).astype(np.float32)
    return cv2.remap(img, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def render_face(
    *,
    subject: Subject,
    expr: Expression,
    intensity: float,
    size: int,
    knobs: FrameKnobs,
    rng: np.random.Generator,
    age_lines: bool = False,
) -> np.ndarray:
    """One frame: the subject's face showing ``expr`` at ``intensity`` (0..1), posed and lit by ``knobs``."""
    s = float(size)
    k = float(np.clip(intensity, 0.0, 1.0))
    # the face is drawn on its own layer with a coverage mask, posed, then composited on the background
    img = np.zeros((size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), dtype=np.uint8)
    cx, cy = s * 0.5, s * 0.52
    fa, fb = s * 0.30 * subject.face_w, s * 0.40 * subject.face_h
    if subject.hair is not None:
        hair_h = fb * (1.25 if subject.long_hair else 0.75)
        _ellipse(img, np.array([cx, cy - fb * 0.15]), (fa * 1.12, hair_h), subject.hair, -1)
        _ellipse(mask, np.array([cx, cy - fb * 0.15]), (fa * 1.12, hair_h), (255, 255, 255), -1)
    _ellipse(img, np.array([cx, cy]), (fa, fb), subject.skin, -1)
    _ellipse(mask, np.array([cx, cy]), (fa, fb), (255, 255, 255), -1)
    # Feature colours keep a clear contrast against every skin tone, so that with the bias knobs off
    # each group's expressions are equally visible (the knobs, not the palette, inject bias).
    shade = 0.45 if subject.skin_tone_group != "tone_c" else 0.25
    dark: Colour = (int(subject.skin[0] * shade), int(subject.skin[1] * shade), int(subject.skin[2] * shade))
    line_col = (25, 25, 30) if subject.skin_tone_group != "tone_c" else (8, 8, 10)
    # eyes
    eye_y = cy - s * 0.08
    eye_open = 1.0 + expr.eye_open * k
    for side in (-1, 1):
        ex = cx + side * s * subject.eye_dx
        h = max(0.6, s * 0.028 * eye_open)
        if knobs.gaze_x or knobs.gaze_y or knobs.eye_openness != 1.0:
            _gazing_eye(img, centre=np.array([ex, eye_y]), half_w=s * 0.05, h=h, knobs=knobs, line=dark)
            continue
        _ellipse(img, np.array([ex, eye_y]), (s * 0.05, h), (235, 235, 235), -1)
        r = min(h, s * 0.022)
        _ellipse(img, np.array([ex, eye_y]), (r, r), (40, 30, 25), -1)  # iris
        _ellipse(img, np.array([ex, eye_y]), (s * 0.05, h), dark, 1)
    # brows
    brow_y = eye_y - s * 0.065 - s * 0.045 * expr.brow_raise * k
    for side in (-1, 1):
        inner_x = cx + side * s * (0.045 - 0.02 * expr.brow_together * k)
        outer_x = cx + side * s * (subject.eye_dx + 0.06)
        inner_y = brow_y - s * 0.04 * expr.brow_inner * k
        outer_y = brow_y + s * 0.005
        mid = np.array([(inner_x + outer_x) / 2, (inner_y + outer_y) / 2 - s * 0.012])
        _poly(
            img,
            _bezier(np.array([inner_x, inner_y]), mid, np.array([outer_x, outer_y]), 10),
            line_col,
            subject.brow_thickness + max(1, size // 56),
        )
    # nose and wrinkles
    nose_top, nose_tip = np.array([cx, eye_y + s * 0.02]), np.array([cx - s * 0.01, cy + s * 0.07])
    _poly(img, np.stack([nose_top, nose_tip, nose_tip + np.array([s * 0.03, 0])]), dark, 1)
    wrinkle = expr.nose_wrinkle * k
    if wrinkle > 0.2:  # bunny lines: diagonal creases beside the nose bridge, longer when stronger
        for side in (-1, 1):
            for j in range(3):
                x0 = cx + side * s * (0.022 + 0.014 * j)
                y0 = eye_y + s * (0.025 + 0.008 * j)
                tip = np.array([x0 + side * s * 0.03 * wrinkle, y0 + s * 0.035 * wrinkle])
                _poly(img, np.array([[x0, y0], tip]), dark, max(1, size // 64))
    if age_lines:
        for j in range(2):
            y = cy - fb * 0.62 + j * s * 0.025
            _poly(
                img,
                _bezier(np.array([cx - fa * 0.45, y]), np.array([cx, y - s * 0.01]), np.array([cx + fa * 0.45, y])),
                dark,
                1,
            )
    # cheek folds (raised cheeks)
    if expr.cheek * k > 0.15:
        for side in (-1, 1):
            a = np.array([cx + side * s * 0.055, cy + s * 0.05])
            b = np.array([cx + side * s * (0.085 + 0.085 * expr.mouth_width * k), cy + s * 0.15])
            _poly(img, _bezier(a, np.array([cx + side * s * 0.1, cy + s * 0.09]), b, 8), dark, 1)
    # mouth: corners, an upper and a lower lip curve, a dark opening between them
    my = cy + s * 0.17
    half_w = s * 0.085 * (1.0 + expr.mouth_width * k)
    curve = expr.mouth_curve * k * s * 0.045
    asym = expr.asym * k * s * 0.03
    open_ = expr.mouth_open * k
    left = np.array([cx - half_w, my - curve - asym])
    right = np.array([cx + half_w, my - curve + asym * 0.3])
    upper = _lip(left, my - s * 0.035 * expr.upper_lip * k - s * 0.03 * open_ + curve * 0.35, right)
    lower = _lip(right, my + s * 0.09 * open_ + curve * 0.55 + s * 0.004, left)
    lips = (60, 60, 150) if subject.skin_tone_group != "tone_c" else (22, 18, 62)
    gap = float(np.max(lower[::-1, 1] - upper[:, 1]))
    if gap > s * 0.015:
        poly = np.round(np.concatenate([upper, lower]) * _K).astype(np.int32)
        cv2.fillPoly(img, [poly], (30, 20, 45), cv2.LINE_AA, _SHIFT)
        if expr.teeth * k > 0.2:
            teeth_low = upper + np.array([0.0, min(gap * 0.35, s * 0.025)])
            tpoly = np.round(np.concatenate([upper, teeth_low[::-1]]) * _K).astype(np.int32)
            cv2.fillPoly(img, [tpoly], (225, 230, 235), cv2.LINE_AA, _SHIFT)
    lip_w = max(1, size // 40)
    _poly(img, upper, lips, lip_w)
    _poly(img, lower, lips, lip_w)
    # occlusion moves with the face
    if knobs.occlusion == "sunglasses":
        cv2.rectangle(
            img,
            _pt(np.array([cx - fa * 0.85, eye_y - s * 0.04])),
            _pt(np.array([cx + fa * 0.85, eye_y + s * 0.04])),
            (15, 15, 15),
            -1,
            cv2.LINE_AA,
            _SHIFT,
        )
    elif knobs.occlusion == "mask":
        _ellipse(img, np.array([cx, my]), (fa * 0.8, s * 0.12), (225, 220, 215), -1)
    if knobs.yaw or knobs.pitch:
        img = _turn_head(img, centre=(cx, cy), axes=(fa, fb), yaw=knobs.yaw, pitch=knobs.pitch)
    # pose
    m = cv2.getRotationMatrix2D((cx, cy), knobs.angle, knobs.scale)
    m[:, 2] += (knobs.dx * s, knobs.dy * s)
    img = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpAffine(mask, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    # background with a vertical lighting ramp, then lighting and quality over the whole frame
    ramp = np.linspace(0.85, 1.15, size, dtype=np.float32)[:, None, None]
    out = np.asarray(knobs.background, dtype=np.float32)[None, None, :] * ramp
    alpha = mask.astype(np.float32)[:, :, None] / 255.0
    out = out * (1.0 - alpha) + img.astype(np.float32)  # the face layer is premultiplied (drawn on black)
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
    decay = np.where(t > apex, 1.0 - 0.25 * (t - apex) / max(1e-6, 1 - apex), 1.0)
    return 0.1 + (peak - 0.1) * onset * decay


def expression_montage(*, size: int = 112, frames: int = 8, seed: int = 0, tile: int = 160) -> np.ndarray:
    """A labelled row of apex frames, one clip per expression of one subject per skin-tone group (BGR)."""
    rows = []
    for gi, group in enumerate(SKIN_TONES):
        rng = np.random.default_rng([seed, gi])
        subject = make_subject(
            subject_id=f"M{gi}",
            skin_tone_group=group,
            sex=("female", "male")[gi % 2],
            age_band="30-44",
            rng=rng,
        )
        tiles = []
        for name, expr in EXPRESSIONS.items():
            curve = intensity_curve(frames=frames, rng=rng, peak=0.0 if name == "neutral" else 0.95)
            apex = int(np.argmax(curve)) if name != "neutral" else frames // 2
            frame = render_face(
                subject=subject,
                expr=expr,
                intensity=float(curve[apex]),
                size=size,
                knobs=FrameKnobs(),
                rng=rng,
            )
            frame = cv2.resize(frame, (tile, tile), interpolation=cv2.INTER_CUBIC)
            cv2.putText(frame, name, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 255), 1, cv2.LINE_AA)
            tiles.append(frame)
        rows.append(np.hstack(tiles))
    return np.vstack(rows)
