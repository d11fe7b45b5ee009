"""Audio + video fusion with cross-modal attention (own code, random init).

Inputs: ``clip`` ``(B, T, 3, H, W)`` normalised frames and ``audio`` ``(B, n_mels, F)`` log-mel
(natural log of mel power, computed by :func:`affectgate.datasets.synth.audio.log_mel` as the
card's ``input.audio`` spec declares). A small per-frame CNN gives one token per frame; a 2D CNN
over the log-mel gives one token per audio time step (frequency pooled); both get 1D sine-cosine
time embeddings. Cross-modal attention blocks let video tokens attend to audio tokens and audio
tokens to video tokens (bidirectional, pre-norm, residual); each stream is mean-pooled, the two are
concatenated and classified.

``use_audio=False`` builds the same video encoder alone (no audio branch, no fusion): the
baseline of ``docs/experiments/av_fusion.md``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from affectgate.zoo.archs.mae_dfer import Attention, Block
from affectgate.zoo.registry import register_model


def sincos_1d(n: int, dim: int) -> torch.Tensor:
    """``(n, dim)`` sine-cosine time embedding."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    emb = torch.zeros(n, dim)
    emb[:, 0::2] = torch.sin(pos * freq)
    emb[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return emb


def _conv(cin: int, cout: int, *, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FrameEncoder(nn.Module):
    """Per-frame CNN: ``(B, T, 3, H, W)`` -> ``(B, T, D)`` tokens."""

    def __init__(self, *, dim: int, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _conv(3, width, stride=2),
            _conv(width, width * 2, stride=2),
            _conv(width * 2, width * 4, stride=2),
            _conv(width * 4, dim, stride=2),
        )

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """Frame tokens ``(B, T, D)``."""
        b, t = clip.shape[0], clip.shape[1]
        f = self.net(clip.reshape(b * t, *clip.shape[2:])).mean(dim=(2, 3))
        return f.reshape(b, t, -1)


class LogMelEncoder(nn.Module):
    """2D CNN over a log-mel: ``(B, n_mels, F)`` -> ``(B, F / 8, D)`` tokens (frequency averaged)."""

    def __init__(self, *, dim: int, width: int = 16) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(1)  # per-dataset level/scale of the log-mel
        self.net = nn.Sequential(
            _conv(1, width, stride=2), _conv(width, width * 2, stride=2), _conv(width * 2, dim, stride=2)
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio tokens ``(B, F', D)``."""
        f = self.net(self.norm(audio[:, None]))  # (B, D, mels', F')
        return f.mean(dim=2).transpose(1, 2)


class CrossBlock(nn.Module):
    """Pre-norm cross-attention: x + Attn(LN(x), LN(context)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, *, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads=heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 2), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim * 2, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, N, D)`` updated with information from ``context`` ``(B, M, D)``."""
        x = x + self.attn(self.norm_q(x), self.norm_kv(context))
        return x + self.mlp(self.norm2(x))


class AVFusion(nn.Module):
    """Video (per-frame CNN) + log-mel audio (2D CNN) encoders, bidirectional cross-modal attention, one head."""

    def __init__(
        self,
        *,
        num_classes: int,
        dim: int = 64,
        heads: int = 4,
        width: int = 16,
        dropout: float = 0.1,
        use_audio: bool = True,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.use_audio = use_audio
        self.video = FrameEncoder(dim=dim, width=width)
        self.video_temporal = Block(dim, heads=heads, mlp_ratio=2.0, dropout=dropout)
        if use_audio:
            self.audio = LogMelEncoder(dim=dim, width=width)
            self.audio_temporal = Block(dim, heads=heads, mlp_ratio=2.0, dropout=dropout)
            self.v_from_a = CrossBlock(dim, heads=heads, dropout=dropout)
            self.a_from_v = CrossBlock(dim, heads=heads, dropout=dropout)
        self.norm = nn.LayerNorm(dim * (2 if use_audio else 1))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(dim * (2 if use_audio else 1), num_classes)

    def heads(self, clip: torch.Tensor, audio: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training heads: ``{"logits": (B, K)}``; ``audio`` is required unless built with ``use_audio=False``."""
        v = self.video(clip)
        v = self.video_temporal(v + sincos_1d(v.shape[1], self.dim).to(v.dtype))
        if not self.use_audio:
            feats = v.mean(dim=1)
        else:
            if audio is None:
                raise ValueError("this av_fusion model needs the audio input (log-mel)")
            a = self.audio(audio)
            a = self.audio_temporal(a + sincos_1d(a.shape[1], self.dim).to(a.dtype))
            v2, a2 = self.v_from_a(v, a), self.a_from_v(a, v)
            feats = torch.cat([v2.mean(dim=1), a2.mean(dim=1)], dim=-1)
        return {"logits": self.head(self.drop(self.norm(feats)))}

    def forward(self, clip: torch.Tensor, audio: torch.Tensor | None = None) -> tuple[torch.Tensor]:
        """ONNX outputs in card order: clip probabilities ``(B, K)``."""
        return (torch.softmax(self.heads(clip, audio)["logits"], dim=-1),)


@register_model("av_fusion", technique="audio_video_fusion")
def build(
    *,
    num_classes: int,
    dim: int = 64,
    heads: int = 4,
    width: float | int = 16,
    dropout: float = 0.1,
    use_audio: bool = True,
) -> nn.Module:
    """Audio-visual cross-modal-attention classifier; ``width`` is the first CNN's channel count."""
    return AVFusion(
        num_classes=num_classes, dim=dim, heads=heads, width=int(width), dropout=dropout, use_audio=use_audio
    )
