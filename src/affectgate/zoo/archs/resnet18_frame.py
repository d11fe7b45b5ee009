"""Per-frame 2D CNN with a ResNet-18 trunk (own code, random init) and temporal pooling or EMA smoothing.

Input ``(B, T, 3, H, W)`` normalised frames. Each frame goes through the same ResNet-18 (He et al.,
2016: 7x7 stem, max-pool, four stages of two BasicBlocks, 64-128-256-512 channels times ``width``);
per-frame logits are pooled over time by the mean or by exponential smoothing (``temporal: ema``,
``ema_alpha``); the clip output is the softmax of the pooled logits. Per-frame logits stay an output.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from affectgate.zoo.archs.per_frame import PerFrameClassifier
from affectgate.zoo.registry import register_model


def _ch(c: int, width: float) -> int:
    return max(8, int(round(c * width / 8)) * 8)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (1x1 projection when the shape changes)."""

    def __init__(self, cin: int, cout: int, *, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block output."""
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.down(x))


class ResNet18Trunk(nn.Module):
    """ResNet-18 feature extractor for single frames ``(N, 3, H, W)`` -> ``(N, C)`` (global average pool)."""

    def __init__(self, *, width: float = 1.0) -> None:
        super().__init__()
        c0 = _ch(64, width)
        self.stem = nn.Sequential(
            nn.Conv2d(3, c0, 7, 2, 3, bias=False), nn.BatchNorm2d(c0), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        )
        blocks: list[nn.Module] = []
        cin = c0
        for i, c in enumerate((64, 128, 256, 512)):
            cout = _ch(c, width)
            blocks += [BasicBlock(cin, cout, stride=1 if i == 0 else 2), BasicBlock(cout, cout, stride=1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(N, C)``."""
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


class ResNet18Frame(PerFrameClassifier):
    """ResNet-18 applied per frame; clip logits pooled over time (mean or EMA)."""

    def __init__(
        self,
        *,
        num_classes: int,
        width: float = 1.0,
        dropout: float = 0.2,
        temporal: str = "ema",
        ema_alpha: float = 0.3,
    ) -> None:
        super().__init__(temporal=temporal, ema_alpha=ema_alpha)
        self.trunk = ResNet18Trunk(width=width)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.trunk.out_channels, num_classes))
        nn.init.normal_(self.head[1].weight, 0, 0.01)
        nn.init.zeros_(self.head[1].bias)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Pooled ResNet-18 features ``(N, C)`` of frames ``(N, 3, H, W)``."""
        return self.trunk(frames)


@register_model("resnet18_frame", technique="2d_cnn_per_frame")
def build(
    *, num_classes: int, width: float = 1.0, dropout: float = 0.2, temporal: str = "ema", ema_alpha: float = 0.3
) -> nn.Module:
    """ResNet-18 per-frame CNN (channels times ``width``) with EMA (default) or mean temporal pooling."""
    return ResNet18Frame(num_classes=num_classes, width=width, dropout=dropout, temporal=temporal, ema_alpha=ema_alpha)
