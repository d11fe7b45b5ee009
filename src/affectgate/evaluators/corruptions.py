"""Clip corruptions for the robustness evaluator: pure numpy/cv2 on uint8 RGB clips ``(T, H, W, 3)``.

Each corruption takes a clip, a severity 1..3 and a numpy Generator, and returns a new uint8 clip of
the same shape (the input is never modified). :func:`corrupt` derives the generator from a seed, the
corruption's name and the severity, so a result is a deterministic function of its arguments.
Geometry is relative to the frame size, so the same severity means the same thing at 48 px and 224 px.
Occlusions assume a cropped, aligned face (eyes at about 40 % of the height, mouth at about 75 %).
"""

from __future__ import annotations

import difflib
import zlib
from collections.abc import Callable

import cv2
import numpy as np

SEVERITIES = (1, 2, 3)
CorruptionFn = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _check(clip: np.ndarray, severity: int) -> None:
    if not isinstance(clip, np.ndarray) or clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3:
        got = f"{clip.dtype} {clip.shape}" if isinstance(clip, np.ndarray) else type(clip).__name__
        raise ValueError(f"a clip is a uint8 array (T, H, W, 3), got {got}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def low_light(clip: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Under-exposure: brightness scaled down and a gamma > 1 (shadows crushed)."""
    scale, gamma = {1: (0.6, 1.2), 2: (0.35, 1.5), 3: (0.15, 2.0)}[severity]
    x = clip.astype(np.float32) / 255.0
    return _to_uint8(255.0 * scale * np.power(x, gamma))


def over_exposure(clip: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Over-exposure: gain and offset, highlights clipped at 255."""
    gain, offset = {1: (1.4, 20.0), 2: (1.9, 40.0), 3: (2.6, 70.0)}[severity]
    return _to_uint8(clip.astype(np.float32) * gain + offset)


def blur(clip: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian defocus blur; sigma is 1 %, 2.5 % or 5 % of the frame height."""
    sigma = clip.shape[1] * {1: 0.01, 2: 0.025, 3: 0.05}[severity]
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101) for f in clip])


def noise(clip: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian sensor noise with a standard deviation of 8, 20 or 40 grey levels."""
    std = {1: 8.0, 2: 20.0, 3: 40.0}[severity]
    return _to_uint8(clip.astype(np.float32) + rng.normal(0.0, std, size=clip.shape).astype(np.float32))


def jpeg(clip: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """JPEG re-compression of every frame at quality 40, 20 or 8 (OpenCV codec, 4:2:0 chroma)."""
    quality = {1: 40, 2: 20, 3: 8}[severity]
    out = np.empty_like(clip)
    for t, frame in enumerate(clip):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode a frame")
        out[t] = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


def _jitter(rng: np.random.Generator, h: int) -> int:
    return int(rng.integers(-max(1, h // 50), max(1, h // 50) + 1))


def occlusion_sunglasses(clip: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Dark glasses: two near-black lenses and a bridge over the eye band; taller lenses at higher severity."""
    h, w = clip.shape[1:3]
    half_h = {1: 0.06, 2: 0.09, 3: 0.13}[severity] * h
    cy = int(round(0.40 * h)) + _jitter(rng, h)
    lens_w = 0.17 * w
    mask = np.zeros((h, w), dtype=np.uint8)
    for cx in (0.32 * w, 0.68 * w):
        center = (int(round(cx)), cy)
        cv2.ellipse(mask, center, (max(1, int(round(lens_w))), max(1, int(round(half_h)))), 0, 0, 360, 255, -1)
    cv2.line(mask, (int(0.32 * w), cy), (int(0.68 * w), cy), 255, max(1, h // 40))
    out = clip.copy()
    out[:, mask > 0] = (18, 18, 22)
    return out


def occlusion_mask(clip: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A surgical mask: a light-blue block over the lower face, reaching higher at higher severity."""
    h, w = clip.shape[1:3]
    top = int(round({1: 0.72, 2: 0.62, 3: 0.52}[severity] * h)) + _jitter(rng, h)
    left, right = int(round(0.12 * w)), int(round(0.88 * w))
    out = clip.copy()
    out[:, max(0, top) : h, left:right] = (190, 214, 232)
    return out


def frame_drop(clip: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Lower frame rate: every 2nd, 3rd or 4th frame is held (repeated) over the dropped ones; phase from rng."""
    step = {1: 2, 2: 3, 3: 4}[severity]
    t = np.arange(len(clip))
    phase = int(rng.integers(0, step))
    held = ((t - phase) // step) * step + phase
    held[held < 0] = 0
    return clip[held].copy()


def rotation(clip: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """In-plane head rotation about the frame centre by 10, 20 or 30 degrees (sign from rng), borders reflected."""
    h, w = clip.shape[1:3]
    angle = {1: 10.0, 2: 20.0, 3: 30.0}[severity] * (1 if rng.random() < 0.5 else -1)
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
    return np.stack(
        [cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101) for f in clip]
    )


#: Every corruption by name, in report order.
CORRUPTIONS: dict[str, CorruptionFn] = {
    "low_light": low_light,
    "over_exposure": over_exposure,
    "blur": blur,
    "noise": noise,
    "jpeg": jpeg,
    "occlusion_sunglasses": occlusion_sunglasses,
    "occlusion_mask": occlusion_mask,
    "frame_drop": frame_drop,
    "rotation": rotation,
}


def check_corruption(name: str) -> CorruptionFn:
    """The corruption called ``name``; an unknown name raises ValueError with the closest known one."""
    if name not in CORRUPTIONS:
        close = difflib.get_close_matches(name, list(CORRUPTIONS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(CORRUPTIONS)}"
        raise ValueError(f"unknown corruption {name!r}{hint}")
    return CORRUPTIONS[name]


def corrupt(clip: np.ndarray, *, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """``clip`` with corruption ``name`` at ``severity`` (1..3); deterministic from (seed, name, severity)."""
    fn = check_corruption(name)
    _check(clip, severity)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode()), severity])
    out = fn(clip, severity, rng)
    if out.shape != clip.shape or out.dtype != np.uint8:  # a contract for third-party additions, too
        raise RuntimeError(f"corruption {name} returned {out.dtype} {out.shape} for a {clip.shape} clip")
    return out
