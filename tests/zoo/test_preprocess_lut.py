"""The table lookup of ``to_model_input`` equals the card's arithmetic bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from affectgate.core.records import InputSpec
from affectgate.zoo.preprocess import to_model_input


def _arithmetic(clips: np.ndarray, spec: InputSpec) -> np.ndarray:
    x = clips.astype(np.float32) / 255.0
    x -= np.asarray(spec.mean, dtype=np.float32)
    x /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3))


@pytest.mark.parametrize(
    ("n", "frames", "size", "mean", "std"),
    [
        (2, 8, 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
        (1, 1, 16, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # one frame: a single row per channel
        (16, 8, 64, (0.1, 0.7, 0.33), (0.3, 0.05, 1.7)),  # large enough for cv2's parallel lookup
        (3, 2, 224, (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
    ],
)
def test_lookup_equals_arithmetic_bit_for_bit(n, frames, size, mean, std):
    """Every uint8 value in every channel maps to exactly the float32 the arithmetic gives, in NTCHW order."""
    spec = InputSpec(name="clip", layout="NTCHW", frames=frames, size=size, fps=15.0, mean=mean, std=std)
    rng = np.random.default_rng(size)
    clips = rng.integers(0, 256, size=(n, frames, size, size, 3), dtype=np.uint8)
    clips.reshape(-1, 3)[:256] = np.arange(256, dtype=np.uint8)[:, None]  # all values present per channel
    got = to_model_input(clips=clips, spec=spec)
    want = _arithmetic(clips, spec)
    assert got.dtype == np.float32 and got.shape == (n, frames, 3, size, size) and got.flags.c_contiguous
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_non_contiguous_float_and_empty_inputs():
    """A strided uint8 view, float clips (arithmetic path) and an empty batch give the arithmetic's result."""
    spec = InputSpec(name="clip", layout="NTCHW", frames=4, size=8, fps=15.0, mean=(0.2, 0.5, 0.9), std=(0.5, 1, 2))
    big = np.random.default_rng(0).integers(0, 256, size=(6, 4, 8, 8, 3), dtype=np.uint8)
    view = big[::2]
    assert np.array_equal(to_model_input(clips=view, spec=spec), _arithmetic(view, spec))
    floats = big.astype(np.float32)
    assert np.array_equal(to_model_input(clips=floats, spec=spec), _arithmetic(floats, spec))
    empty = big[:0]
    assert to_model_input(clips=empty, spec=spec).shape == (0, 4, 3, 8, 8)
    with pytest.raises(ValueError, match="do not match"):
        to_model_input(clips=big[:, :2], spec=spec)
