"""Per-frame 2D CNN (MobileNetV2-style, own code, random init) with clip-level averaging.

Input ``(B, T, 3, H, W)`` normalised frames. Each frame goes through the same CNN; the clip
prediction is the softmax of the mean of the per-frame logits (temporal averaging). Both outputs
are exported so frame-level metrics remain possible.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from affectgate.zoo.archs.per_frame import PerFrameClassifier
from affectgate.zoo.registry import register_model


def _conv_bn(cin: int, cout: int, *, k: int, s: int, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection, residual when shapes allow."""

    def __init__(self, cin: int, cout: int, *, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn(cin, hidden, k=1, s=1))
        layers += [_conv_bn(hidden, hidden, k=3, s=stride, groups=hidden), _conv_bn(hidden, cout, k=1, s=1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


def _width(c: int, mult: float) -> int:
    return max(8, int(round(c * mult / 8)) * 8)


class MobileNetV2Frame(PerFrameClassifier):
    """MobileNetV2 trunk applied per frame, logits averaged over time."""

    # (expand, channels, repeats, stride): MobileNetV2's table, shortened for small inputs.
    CONFIG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 3, 2), (6, 96, 2, 1), (6, 160, 1, 2))

    def __init__(
        self,
        *,
        num_classes: int,
        width: float = 0.5,
        dropout: float = 0.2,
        temporal: str = "mean",
        ema_alpha: float = 0.3,
    ) -> None:
        super().__init__(temporal=temporal, ema_alpha=ema_alpha)
        cin = _width(32, width)
        layers: list[nn.Module] = [_conv_bn(3, cin, k=3, s=2)]
        for expand, c, n, s in self.CONFIG:
            cout = _width(c, width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, stride=s if i == 0 else 1, expand=expand))
                cin = cout
        last = _width(640, width)
        layers.append(_conv_bn(cin, last, k=1, s=1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled MobileNetV2 features ``(N, C)`` of frames ``(N, 3, H, W)``."""
        return self.features(frames).mean(dim=(2, 3))


@register_model("mobilenet_v2_frame", technique="2d_cnn_per_frame")
def build(
    *, num_classes: int, width: float = 0.5, dropout: float = 0.2, temporal: str = "mean", ema_alpha: float = 0.3
) -> nn.Module:
    """MobileNetV2-style per-frame CNN with temporal averaging (``temporal: mean``) or EMA smoothing (``ema``)."""
    return MobileNetV2Frame(
        num_classes=num_classes, width=width, dropout=dropout, temporal=temporal, ema_alpha=ema_alpha
    )
