"""Engagement signals from face video: per-frame head pose, gaze and eye openness, plus a clip attention score.

Input ``(B, T, 3, H, W)`` normalised frames. A small per-frame CNN keeps a coarse spatial map (pose
and gaze are *where* features are, so the map is flattened rather than averaged) and regresses the
five signals of :data:`SIGNALS` per frame. The clip attention score in [0, 1] is computed from those
predictions with the same formula as the synthetic labels (:func:`attention_from_signals`: share of
frames looking at the camera, weighted by eye openness), so it is explainable from the frame outputs;
a learned attention-pooling head scored no better than the constant baseline (see the card). There
is no emotion output of any kind (Recital 18 AI Act: engagement signals not mapped to emotions).

Training works in normalised units (each signal divided by :data:`SCALES`); the exported outputs are
in physical units (degrees for yaw and pitch).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from affectgate.zoo.registry import register_model

#: Per-frame outputs in order (see ``affectgate.datasets.synth.engagement`` for their meaning).
SIGNALS: tuple[str, ...] = ("yaw", "pitch", "gaze_x", "gaze_y", "eye_openness")
#: Divisors taking each signal to roughly [-1, 1] for training.
SCALES: tuple[float, ...] = (30.0, 15.0, 1.0, 1.0, 1.0)


def _conv(cin: int, cout: int, *, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class EngagementNet(nn.Module):
    """Per-frame CNN regressing engagement signals, attention-pooled to a clip attention score."""

    def __init__(self, *, width: float = 1.0, dropout: float = 0.1, grid: int = 4) -> None:
        super().__init__()
        c1, c2, c3, c4 = (max(8, int(round(c * width))) for c in (16, 32, 48, 64))
        # stride 2 first (the full-resolution map is the costly one), a stride-1 refinement at 1/2 and 1/4
        self.features = nn.Sequential(
            _conv(3, c1, stride=2),
            _conv(c1, c1, stride=1),
            _conv(c1, c2, stride=2),
            _conv(c2, c2, stride=1),
            _conv(c2, c3, stride=2),
            _conv(c3, c4, stride=2),
            nn.AdaptiveAvgPool2d(grid),
        )
        cin = c4
        hidden = 128
        self.embed = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin * grid * grid, hidden), nn.ReLU(inplace=True)
        )
        self.signal_head = nn.Linear(hidden, len(SIGNALS))
        self.register_buffer("scales", torch.tensor(SCALES, dtype=torch.float32))

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame embeddings ``(B, T, D)`` of a clip batch ``(B, T, 3, H, W)``."""
        b, t = x.shape[0], x.shape[1]
        f = self.embed(self.features(x.reshape(b * t, *x.shape[2:])))
        return f.reshape(b, t, -1)

    def _outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.frame_features(x)
        frame = self.signal_head(f)  # normalised units
        return frame, attention_from_signals(frame * self.scales)

    def heads(self, clip: torch.Tensor, audio: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training heads: ``{"engagement": (B, T * 5 + 1)}`` = normalised per-frame signals, then the clip score.

        Build matching targets with :func:`engagement_targets`.
        """
        frame, score = self._outputs(clip)
        return {"engagement": torch.cat([frame.flatten(1), score], dim=1)}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame signals ``(B, T, 5)`` in physical units and the clip attention score ``(B, 1)`` in [0, 1]."""
        frame, score = self._outputs(x)
        return frame * self.scales, score


#: Degrees of visual angle per unit of eye-in-head gaze, and the angular widths of "looking at the camera".
GAZE_DEGREES, H_WIDTH, V_WIDTH = 25.0, 20.0, 15.0


def attention_from_signals(frame: torch.Tensor) -> torch.Tensor:
    """Clip attention ``(B, 1)`` from per-frame signals ``(B, T, 5)`` in physical units.

    Mean over frames of ``exp(-((h / 20)^2 + (v / 15)^2)) * eye_openness`` with ``h = yaw + 25 gaze_x`` and
    ``v = pitch + 25 gaze_y`` (degrees): the definition of the synthetic generator's ``attention``.
    """
    h = frame[..., 0] + GAZE_DEGREES * frame[..., 2]
    v = frame[..., 1] + GAZE_DEGREES * frame[..., 3]
    on_camera = torch.exp(-((h / H_WIDTH) ** 2 + (v / V_WIDTH) ** 2))
    return (on_camera * frame[..., 4].clamp(0.0, 1.0)).mean(dim=1, keepdim=True)


def engagement_targets(*, signals: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Targets for ``heads()["engagement"]``: ``signals`` (B, T, 5) in physical units, normalised and flattened,
    then ``attention`` (B,)."""
    scales = torch.tensor(SCALES, dtype=signals.dtype)
    return torch.cat([(signals / scales).flatten(1), attention.reshape(-1, 1).to(signals.dtype)], dim=1)


@register_model("engagement", technique="engagement_signals")
def build(*, num_classes: int = 0, width: float = 1.0, dropout: float = 0.1) -> nn.Module:
    """Engagement regressor; ``num_classes`` is ignored (no class output: the card has no labels)."""
    return EngagementNet(width=width, dropout=dropout)
