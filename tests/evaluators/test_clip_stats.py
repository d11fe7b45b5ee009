"""Per-clip input statistics for drift: oracles on constructed frames and on synthetic face renderings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from affectgate.datasets.synth.faces import EXPRESSIONS, FrameKnobs, make_subject, render_face
from affectgate.evaluators.clip_stats import (
    STAT_COLUMNS,
    THUMB_COLUMNS,
    clip_statistics,
    detect_face,
    embedding_summary,
    sharpness,
)


def _face(*, scale: float = 1.0, gain: float = 1.0, size: int = 112, seed: int = 0) -> np.ndarray:
    """One synthetic face frame, RGB uint8 (the renderer draws BGR)."""
    rng = np.random.default_rng(seed)
    subject = make_subject(
        subject_id="S001", skin_tone_group="tone_a", sex="female", age_band="30-44", rng=rng, min_expressiveness=1.0
    )
    knobs = FrameKnobs(
        dx=0.0, dy=0.0, angle=0.0, scale=scale, gain=gain, gradient=0.0, noise=2.0, blur=0.0, background=(90, 110, 100)
    )
    bgr = render_face(subject=subject, expr=EXPRESSIONS["neutral"], intensity=0.0, size=size, knobs=knobs, rng=rng)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_brightness_and_contrast_match_numpy_on_constructed_frames():
    """Brightness is mean luma and contrast the per-frame luma std, both over 255."""
    flat = np.full((2, 16, 16, 3), 128, dtype=np.uint8)
    halves = np.zeros((2, 16, 16, 3), dtype=np.uint8)
    halves[:, :, 8:] = 255
    stats = clip_statistics(clips=np.stack([flat, halves]), index=["a", "b"])
    assert list(stats.columns) == [*STAT_COLUMNS, *THUMB_COLUMNS]
    assert stats.loc["a", "brightness"] == pytest.approx(128 / 255)
    assert stats.loc["a", "contrast"] == pytest.approx(0.0)
    assert stats.loc["b", "brightness"] == pytest.approx(0.5)
    assert stats.loc["b", "contrast"] == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, size=(1, 3, 16, 16, 3), dtype=np.uint8)
    luma = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip[0]]).astype(float) / 255
    got = clip_statistics(clips=clip).iloc[0]
    assert got["brightness"] == pytest.approx(luma.mean(), rel=1e-5)
    assert got["contrast"] == pytest.approx(np.mean([f.std() for f in luma]), rel=1e-5)


def test_no_face_gives_zero_detection_and_undefined_size_and_quality():
    """A clip without a face has face_detected 0 and NaN face size and quality (not a made-up value)."""
    stats = clip_statistics(clips=np.full((1, 2, 48, 48, 3), 100, dtype=np.uint8)).iloc[0]
    assert stats["face_detected"] == 0.0
    assert np.isnan(stats["face_size"]) and np.isnan(stats["face_quality"])


def test_sharpness_is_contrast_invariant_and_ordered():
    """Sharpness is 0 for a flat crop, ~1 for white noise, lower after blurring, and ignores contrast."""
    rng = np.random.default_rng(1)
    noise = rng.normal(128, 30, size=(64, 64)).clip(0, 255).astype(np.uint8)
    assert sharpness(np.full((16, 16), 7, dtype=np.uint8)) == 0.0
    assert sharpness(noise) == pytest.approx(1.0, abs=0.12)
    blurred = cv2.GaussianBlur(noise, (0, 0), 1.5)
    assert sharpness(blurred) < 0.2 * sharpness(noise)
    low_contrast = (128 + (noise.astype(float) - 128) * 0.5).astype(np.uint8)
    assert sharpness(low_contrast) == pytest.approx(sharpness(noise), abs=0.08)


def test_haar_finds_the_synthetic_face_and_its_size_follows_the_face_scale():
    """The cascade finds the rendered face; a face drawn at 0.8 scale covers about 0.64 of the area."""
    big, small = _face(scale=1.0), _face(scale=0.8)
    box = detect_face(cv2.cvtColor(big, cv2.COLOR_RGB2GRAY))
    assert box is not None
    x, y, w, h = box
    assert x < 56 < x + w and y < 58 < y + h  # the face centre (0.5, 0.52) is inside the box
    assert detect_face(np.full((112, 112), 90, dtype=np.uint8)) is None
    stats = clip_statistics(clips=np.stack([big[None], small[None]]))
    assert stats["face_detected"].tolist() == [1.0, 1.0]
    ratio = stats["face_size"].iloc[1] / stats["face_size"].iloc[0]
    assert 0.45 < ratio < 0.85
    assert 0.0 < stats["face_quality"].iloc[0] <= 1.0


def test_darker_lighting_lowers_brightness_and_contrast_but_keeps_thumbnail_layout():
    """Halving the light halves brightness and contrast; the standardised thumbnail barely moves."""
    lit, dark = _face(gain=1.0), _face(gain=0.5)
    stats = clip_statistics(clips=np.stack([lit[None], dark[None]]))
    assert stats["brightness"].iloc[1] == pytest.approx(stats["brightness"].iloc[0] * 0.5, rel=0.08)
    assert stats["contrast"].iloc[1] == pytest.approx(stats["contrast"].iloc[0] * 0.5, rel=0.1)
    thumbs = stats[list(THUMB_COLUMNS)].to_numpy()
    assert np.allclose(thumbs.mean(axis=1), 0.0, atol=1e-9) and np.allclose(thumbs.std(axis=1), 1.0, atol=1e-6)
    assert np.corrcoef(thumbs[0], thumbs[1])[0, 1] > 0.98


def test_embedding_summary_is_the_reference_pca_projection():
    """Scores equal the projection on the reference rows' top principal axes (SVD oracle, up to sign)."""
    rng = np.random.default_rng(2)
    thumbs = rng.normal(size=(40, 64)) * np.linspace(3, 0.1, 64)
    thumbs[30:] += 5.0  # current rows shifted; the axes come from the reference rows only
    ref = np.zeros(40, dtype=bool)
    ref[:30] = True
    scores = embedding_summary(thumbnails=thumbs, reference=ref)
    centred = thumbs[ref] - thumbs[ref].mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    oracle = (thumbs - thumbs[ref].mean(axis=0)) @ vt[:2].T
    for j in range(2):
        assert np.allclose(np.abs(scores[:, j]), np.abs(oracle[:, j]), atol=1e-8)
    with pytest.raises(ValueError, match="reference window has 2 clips"):
        embedding_summary(thumbnails=thumbs, reference=np.arange(40) < 2)


def test_bad_clip_array_is_rejected():
    """Anything but (N, T, H, W, 3) uint8 is refused with the shape it got."""
    with pytest.raises(ValueError, match=r"\(N, T, H, W, 3\) uint8"):
        clip_statistics(clips=np.zeros((2, 16, 16, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        clip_statistics(clips=np.zeros((1, 2, 16, 16, 3), dtype=np.float32))
