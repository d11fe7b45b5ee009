"""What every per-frame 2D CNN shares: frame logits from a trunk, pooled over time by mean or EMA.

A subclass defines ``embed(frames) -> (N, F)`` (its trunk, pooled over space) and ``head`` (a module
mapping features to class logits); this base gives the frame logits, the training heads and the
exported outputs ``(probabilities, frame_logits)`` the same way for every backbone.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def smooth_logits(frame: torch.Tensor, *, temporal: str = "mean", ema_alpha: float = 0.3) -> torch.Tensor:
    """Clip logits ``(B, K)`` from frame logits ``(B, T, K)``: the time mean, or the last state of an EMA.

    ``ema``: s_1 = l_1, s_t = a * l_t + (1 - a) * s_(t-1); written as a fixed weighted sum over time so
    it exports to ONNX without a loop (weights (1 - a)^(T-1) for the first frame, a (1 - a)^(T-t) after).
    """
    if temporal == "mean":
        return frame.mean(dim=1)
    if temporal != "ema":
        raise ValueError(f"temporal must be 'mean' or 'ema', got {temporal!r}")
    t = frame.shape[1]
    decay = (1.0 - ema_alpha) ** torch.arange(t - 1, -1, -1, dtype=frame.dtype, device=frame.device)
    weights = torch.cat([decay[:1], ema_alpha * decay[1:]])
    return (frame * weights.reshape(1, t, 1)).sum(dim=1)


class PerFrameClassifier(nn.Module):
    """Base of per-frame CNNs: the same trunk on every frame, clip logits by temporal pooling."""

    head: nn.Module

    def __init__(self, *, temporal: str = "mean", ema_alpha: float = 0.3) -> None:
        super().__init__()
        self.temporal, self.ema_alpha = temporal, float(ema_alpha)
        smooth_logits(torch.zeros(1, 1, 1), temporal=temporal, ema_alpha=self.ema_alpha)  # fail early on a bad mode

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Features ``(N, F)`` of single frames ``(N, 3, H, W)``."""
        raise NotImplementedError

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame logits ``(B, T, K)`` of a clip batch ``(B, T, 3, H, W)``."""
        b, t = x.shape[0], x.shape[1]
        return self.head(self.embed(x.reshape(b * t, *x.shape[2:]))).reshape(b, t, -1)

    def heads(self, clip: torch.Tensor, audio: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training heads: clip ``logits`` (time mean or EMA of frame logits) and ``frame_logits``."""
        frame = self.frame_logits(clip)
        return {"logits": smooth_logits(frame, temporal=self.temporal, ema_alpha=self.ema_alpha), "frame_logits": frame}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip probabilities ``(B, K)`` (softmax of time-pooled logits) and frame logits ``(B, T, K)``."""
        out = self.heads(x)
        return torch.softmax(out["logits"], dim=-1), out["frame_logits"]
