"""3D CNN: R(2+1)D-18 (Tran et al., CVPR 2018), own code, random init.

The layout of the paper's 18-layer model (as in torchvision's ``r2plus1d_18``): a factorised stem
(1x7x7 spatial then 3x1x1 temporal convolution, 45 then 64 channels), four stages of two BasicBlocks
whose 3x3x3 convolutions are split into a 1x3x3 spatial and a 3x1x1 temporal convolution with
``M = floor(3 * 3 * 3 * Cin * Cout / (3 * 3 * Cin + 3 * Cout))`` intermediate channels (same parameter
count as the full 3D kernel), stages 2-4 downsample in space and time, global average pool, linear
classifier. Paper input 16x112x112; ``width`` scales every channel count for a CPU demo size.
Input ``(B, T, 3, H, W)`` (card layout NTCHW), transposed to ``(B, 3, T, H, W)`` inside.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from affectgate.zoo.registry import register_model


def _ch(c: int, width: float) -> int:
    return max(8, int(round(c * width / 8)) * 8)


class Conv2Plus1D(nn.Sequential):
    """A 3x3x3 convolution factorised as 1x3x3 spatial -> BN -> ReLU -> 3x1x1 temporal."""

    def __init__(self, cin: int, cout: int, mid: int, *, stride: int = 1) -> None:
        super().__init__(
            nn.Conv3d(cin, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, cout, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False),
        )


class Block(nn.Module):
    """R(2+1)D BasicBlock: two (2+1)D convolutions and a residual (1x1x1 projection when the shape changes)."""

    def __init__(self, cin: int, cout: int, *, stride: int) -> None:
        super().__init__()
        mid1 = (cin * cout * 27) // (cin * 9 + 3 * cout)
        mid2 = (cout * cout * 27) // (cout * 9 + 3 * cout)
        self.conv1 = nn.Sequential(Conv2Plus1D(cin, cout, mid1, stride=stride), nn.BatchNorm3d(cout), nn.ReLU(True))
        self.conv2 = nn.Sequential(Conv2Plus1D(cout, cout, mid2), nn.BatchNorm3d(cout))
        self.down = (
            nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block output."""
        return self.relu(self.conv2(self.conv1(x)) + self.down(x))


class R2Plus1D18(nn.Module):
    """R(2+1)D-18 video classifier over clips ``(B, T, 3, H, W)``."""

    def __init__(self, *, num_classes: int, width: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        c_stem, c0 = _ch(45, width), _ch(64, width)
        self.stem = nn.Sequential(
            nn.Conv3d(3, c_stem, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
            nn.BatchNorm3d(c_stem),
            nn.ReLU(inplace=True),
            nn.Conv3d(c_stem, c0, (3, 1, 1), 1, (1, 0, 0), bias=False),
            nn.BatchNorm3d(c0),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        cin = c0
        for i, c in enumerate((64, 128, 256, 512)):
            cout = _ch(c, width)
            blocks += [Block(cin, cout, stride=1 if i == 0 else 2), Block(cout, cout, stride=1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def heads(self, clip: torch.Tensor, audio: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training heads: clip ``logits`` ``(B, K)``."""
        x = self.blocks(self.stem(clip.transpose(1, 2)))
        return {"logits": self.head(x.mean(dim=(2, 3, 4)))}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """Clip probabilities ``(B, K)``."""
        return (torch.softmax(self.heads(x)["logits"], dim=-1),)


@register_model("r2plus1d_18", technique="3d_cnn")
def build(*, num_classes: int, width: float = 1.0, dropout: float = 0.2) -> nn.Module:
    """R(2+1)D-18 (``width: 1.0`` is the paper model, about 31M parameters; smaller widths for CPU demos)."""
    return R2Plus1D18(num_classes=num_classes, width=width, dropout=dropout)
