"""CNN + GRU: per-frame ResNet-style CNN features -> GRU over time -> emotion and valence-arousal heads.

Input ``(B, T, 3, H, W)`` normalised frames. A ResNet-18 trunk (channels times ``width``, own code,
random init) embeds every frame, a unidirectional GRU (``hidden`` units, ``layers`` layers) reads the
sequence, and its last hidden state feeds a categorical head (softmax over the card's labels) and a
valence-arousal head (tanh, values in [-1, 1]).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from affectgate.zoo.archs.resnet18_frame import ResNet18Trunk
from affectgate.zoo.registry import register_model


class CnnGru(nn.Module):
    """Per-frame CNN features, GRU over time, class logits and valence-arousal from the last state."""

    def __init__(
        self, *, num_classes: int, width: float = 0.25, hidden: int = 128, layers: int = 1, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.trunk = ResNet18Trunk(width=width)
        self.gru = nn.GRU(self.trunk.out_channels, int(hidden), num_layers=int(layers), batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.cls = nn.Linear(int(hidden), num_classes)
        self.va = nn.Linear(int(hidden), 2)
        for lin in (self.cls, self.va):
            nn.init.normal_(lin.weight, 0, 0.01)
            nn.init.zeros_(lin.bias)

    def heads(self, clip: torch.Tensor, audio: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training heads: clip ``logits`` ``(B, K)`` and ``va`` ``(B, 2)`` in [-1, 1]."""
        b, t = clip.shape[0], clip.shape[1]
        f = self.trunk(clip.reshape(b * t, *clip.shape[2:])).reshape(b, t, -1)
        seq, _ = self.gru(f)
        h = self.drop(seq[:, -1])
        return {"logits": self.cls(h), "va": torch.tanh(self.va(h))}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip probabilities ``(B, K)`` and valence-arousal ``(B, 2)``."""
        out = self.heads(x)
        return torch.softmax(out["logits"], dim=-1), out["va"]


@register_model("cnn_gru", technique="cnn_rnn")
def build(
    *, num_classes: int, width: float = 0.25, hidden: int = 128, layers: int = 1, dropout: float = 0.2
) -> nn.Module:
    """ResNet-18-trunk CNN + GRU with an emotion head and a valence-arousal (tanh) head."""
    return CnnGru(num_classes=num_classes, width=width, hidden=hidden, layers=layers, dropout=dropout)
