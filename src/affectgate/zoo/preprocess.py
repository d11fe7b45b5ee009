"""Preprocessing declared by the model card, applied the same way for training and inference."""

from __future__ import annotations

import numpy as np

from affectgate.records import InputSpec


def to_model_input(*, clips: np.ndarray, spec: InputSpec) -> np.ndarray:
    """``(N, T, H, W, 3)`` uint8 RGB clips -> ``(N, T, 3, H, W)`` float32 normalised as the card says."""
    if clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"expected clips of shape (N, T, H, W, 3), got {clips.shape}")
    if clips.shape[1] != spec.frames or clips.shape[2] != spec.size or clips.shape[3] != spec.size:
        raise ValueError(
            f"clips {clips.shape[1:4]} do not match the card's input (frames={spec.frames}, size={spec.size})"
        )
    x = clips.astype(np.float32) / 255.0
    x -= np.asarray(spec.mean, dtype=np.float32)
    x /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3))
