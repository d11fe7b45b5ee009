"""Clip corruptions: contract (shape, dtype, purity, determinism), severity ordering and what each one changes."""

from __future__ import annotations

import numpy as np
import pytest

from affectgate.evaluators.corruptions import CORRUPTIONS, SEVERITIES, corrupt

T, H, W = 6, 48, 48


def _face_like_clip() -> np.ndarray:
    """A smooth, moving, mid-grey clip with structure (gradients and a disc), so every corruption changes it."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    frames = []
    for t in range(T):
        base = 90 + 60 * (xx / W) + 30 * (yy / H)
        disc = ((xx - 16 - 3 * t) ** 2 + (yy - 24) ** 2) < 64
        img = np.stack([base + 40 * disc, base - 20 * disc, base + 10 * t], axis=-1)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


CLIP = _face_like_clip()


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("severity", SEVERITIES)
def test_contract_shape_dtype_purity_determinism(name, severity):
    """Every corruption returns a new uint8 clip of the same shape, changes it, leaves the input alone, is seeded."""
    before = CLIP.copy()
    out = corrupt(CLIP, name=name, severity=severity, seed=7)
    assert out.shape == CLIP.shape and out.dtype == np.uint8
    assert np.array_equal(CLIP, before)
    assert not np.array_equal(out, CLIP)
    assert np.array_equal(out, corrupt(CLIP, name=name, severity=severity, seed=7))


@pytest.mark.parametrize("name", ["blur", "noise", "jpeg", "rotation", "occlusion_sunglasses", "occlusion_mask"])
def test_higher_severity_changes_the_clip_more(name):
    """The mean absolute change from the clean clip grows with severity."""
    changes = [_mad(corrupt(CLIP, name=name, severity=s, seed=0), CLIP) for s in SEVERITIES]
    assert changes[0] < changes[1] < changes[2], changes


def test_light_corruptions_move_brightness_the_right_way():
    """Low light darkens and over-exposure brightens, more at each severity."""
    dark = [corrupt(CLIP, name="low_light", severity=s).mean() for s in SEVERITIES]
    bright = [corrupt(CLIP, name="over_exposure", severity=s).mean() for s in SEVERITIES]
    assert CLIP.mean() > dark[0] > dark[1] > dark[2]
    assert CLIP.mean() < bright[0] < bright[1] < bright[2]


def test_noise_depends_on_the_seed_and_is_zero_mean():
    """Noise differs between seeds and leaves the mean brightness nearly unchanged on a mid-grey clip."""
    a = corrupt(CLIP, name="noise", severity=2, seed=1)
    b = corrupt(CLIP, name="noise", severity=2, seed=2)
    assert not np.array_equal(a, b)
    assert abs(float(a.mean()) - float(CLIP.mean())) < 1.5


def test_frame_drop_holds_frames_of_the_original():
    """Lower fps: every output frame is one of the input frames, not later in time, fewer distinct."""
    for s in SEVERITIES:
        out = corrupt(CLIP, name="frame_drop", severity=s, seed=3)
        sources = []
        for t, frame in enumerate(out):
            match = [k for k in range(T) if np.array_equal(frame, CLIP[k])]
            assert match and min(match) <= t
            sources.append(min(match))
        assert len(set(sources)) < T
    held = [len({f.tobytes() for f in corrupt(CLIP, name="frame_drop", severity=s)}) for s in SEVERITIES]
    assert held[0] >= held[1] >= held[2]


def test_occlusions_touch_only_their_face_region():
    """Sunglasses change only the eye band (upper-middle rows), the mask only the lower face."""
    glasses = corrupt(CLIP, name="occlusion_sunglasses", severity=3)
    changed_rows = np.flatnonzero(np.any(glasses != CLIP, axis=(0, 2, 3)))
    assert changed_rows.min() >= int(0.2 * H) and changed_rows.max() <= int(0.6 * H)
    mask = corrupt(CLIP, name="occlusion_mask", severity=1)
    changed_rows = np.flatnonzero(np.any(mask != CLIP, axis=(0, 2, 3)))
    assert changed_rows.min() >= int(0.6 * H) and changed_rows.max() == H - 1


def test_rotation_keeps_a_uniform_frame_uniform():
    """Rotating a uniform clip (reflected borders) leaves it unchanged: it is a geometric transform only."""
    flat = np.full((2, H, W, 3), 123, dtype=np.uint8)
    assert np.array_equal(corrupt(flat, name="rotation", severity=3), flat)


def test_blur_keeps_mean_brightness():
    """Blur redistributes intensity but keeps the mean (reflected borders)."""
    out = corrupt(CLIP, name="blur", severity=3)
    assert abs(float(out.mean()) - float(CLIP.mean())) < 1.0


def test_bad_inputs_are_clear_errors():
    """Unknown names suggest the closest, severities outside 1..3 and non-uint8 clips are refused."""
    with pytest.raises(ValueError, match="did you mean 'low_light'"):
        corrupt(CLIP, name="low_ligth", severity=1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(CLIP, name="blur", severity=4)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(CLIP.astype(np.float32), name="blur", severity=1)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(CLIP[0], name="blur", severity=1)
