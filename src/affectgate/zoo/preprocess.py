"""Preprocessing declared by the model card, applied the same way for training and inference."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from affectgate.core.records import InputSpec


@lru_cache(maxsize=32)
def _channel_tables(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """``(3, 1, 256)`` float32: the normalised value of every uint8 per channel, by the float32 operations of
    :func:`to_model_input`'s arithmetic path, so that a lookup equals the arithmetic bit for bit."""
    x = np.arange(256, dtype=np.uint8).astype(np.float32)[:, None] / 255.0
    x = x - np.broadcast_to(np.asarray(mean, dtype=np.float32), (3,))
    x = x / np.broadcast_to(np.asarray(std, dtype=np.float32), (3,))
    table = np.ascontiguousarray(x.T.reshape(3, 1, 256))
    table.setflags(write=False)
    return table


def to_model_input(*, clips: np.ndarray, spec: InputSpec) -> np.ndarray:
    """``(N, T, H, W, 3)`` uint8 RGB clips -> ``(N, T, 3, H, W)`` float32 normalised as the card says.

    Value = ``(uint8 / 255 - mean[c]) / std[c]`` in float32. uint8 clips go through a 256-entry table per
    channel (one pass, no float temporaries; equal to the arithmetic bit for bit), other dtypes through
    the arithmetic.
    """
    if clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"expected clips of shape (N, T, H, W, 3), got {clips.shape}")
    if clips.shape[1] != spec.frames or clips.shape[2] != spec.size or clips.shape[3] != spec.size:
        raise ValueError(
            f"clips {clips.shape[1:4]} do not match the card's input (frames={spec.frames}, size={spec.size})"
        )
    n, t, h, w, _ = clips.shape
    if clips.dtype != np.uint8 or clips.size == 0:
        x = clips.astype(np.float32) / 255.0
        x -= np.asarray(spec.mean, dtype=np.float32)
        x /= np.asarray(spec.std, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3))
    tables = _channel_tables(tuple(spec.mean), tuple(spec.std))
    planar = np.ascontiguousarray(clips.transpose(0, 1, 4, 2, 3)).reshape(n * t, 3, h * w)  # uint8: cheap
    out = np.empty((n * t, 3, h * w), dtype=np.float32)
    for c in range(3):
        dst = out[:, c]  # rows of one channel plane, written in place (cv2.LUT releases the GIL)
        got = cv2.LUT(planar[:, c], tables[c], dst=dst)
        if not np.shares_memory(got, out):
            dst[...] = got
    return out.reshape(n, t, 3, h, w)
