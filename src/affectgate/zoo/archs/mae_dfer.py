"""Video transformer in the style of MAE-DFER (own code, random init): tubelet embedding + ViT encoder.

Input ``(B, T, 3, H, W)`` normalised frames. A Conv3d cuts the clip into 2x16x16 tubelets (one
token each), fixed 3D sine-cosine position embeddings are added (so any T/H/W divisible by the
tubelet works, as in VideoMAE), pre-norm transformer blocks encode the tokens, and a linear head
classifies the mean-pooled tokens. The encoder can be pre-trained as a masked autoencoder with
:mod:`affectgate.zoo.pretrain` (tube masking, pixel reconstruction) before fine-tuning.

Demo size: ``dim=96, depth=4, heads=4`` on 8x64x64 clips. Paper size (ViT-S on 16x160x160 clips,
MAE-DFER uses ViT-B): :data:`PAPER_CONFIG`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from affectgate.core.errors import ModelError
from affectgate.zoo.registry import register_model

#: ViT-S/16 with 2-frame tubelets on 16x160x160 clips (card input frames 16, size 160).
PAPER_CONFIG: dict[str, float | int] = {"dim": 384, "depth": 12, "heads": 6, "mlp_ratio": 4.0, "dropout": 0.1}
TUBELET = (2, 16, 16)


def sincos_3d(*, t: int, h: int, w: int, dim: int) -> torch.Tensor:
    """``(t*h*w, dim)`` fixed sine-cosine embedding; dim split into time/height/width thirds (even sizes)."""
    d_t = (dim // 3) // 2 * 2
    d_h = (dim // 3) // 2 * 2
    d_w = dim - d_t - d_h

    def axis(n: int, d: int) -> torch.Tensor:
        pos = torch.arange(n, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
        emb = torch.zeros(n, d)
        emb[:, 0::2] = torch.sin(pos * freq)
        emb[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
        return emb

    et, eh, ew = axis(t, d_t), axis(h, d_h), axis(w, d_w)
    grid = torch.cat(
        [
            et[:, None, None, :].expand(t, h, w, d_t),
            eh[None, :, None, :].expand(t, h, w, d_h),
            ew[None, None, :, :].expand(t, h, w, d_w),
        ],
        dim=-1,
    )
    return grid.reshape(t * h * w, dim)


class Attention(nn.Module):
    """Multi-head attention written with plain matmuls (exports to any ONNX opset)."""

    def __init__(self, dim: int, *, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ModelError(f"width {dim} is not divisible by {heads} heads", fix="choose dim = k * heads")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention over ``x`` ``(B, N, D)``, or cross-attention from ``x`` to ``context`` ``(B, M, D)``."""
        ctx = x if context is None else context
        b, n, d = x.shape
        m = ctx.shape[1]
        hd = d // self.heads
        q = self.q(x).reshape(b, n, self.heads, hd).transpose(1, 2)
        kv = self.kv(ctx).reshape(b, m, 2, self.heads, hd).permute(2, 0, 3, 1, 4)
        attn = torch.softmax((q @ kv[0].transpose(-2, -1)) * self.scale, dim=-1)
        out = (self.drop(attn) @ kv[1]).transpose(1, 2).reshape(b, n, d)
        return self.proj(out)


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, *, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads=heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, D)`` -> ``(B, N, D)``."""
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


def init_weights(module: nn.Module) -> None:
    """ViT initialisation: truncated-normal linears, unit LayerNorms, Conv3d like a linear."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv3d):
            nn.init.xavier_uniform_(m.weight.view(m.weight.shape[0], -1))
            nn.init.zeros_(m.bias)  # type: ignore[arg-type]


class VideoViT(nn.Module):
    """Tubelet embedding + pre-norm ViT encoder + linear head over mean-pooled tokens."""

    def __init__(
        self,
        *,
        num_classes: int,
        dim: int = 96,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        tubelet: tuple[int, int, int] = TUBELET,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.tubelet = tubelet
        self.patch = nn.Conv3d(3, dim, kernel_size=tubelet, stride=tubelet)
        self.blocks = nn.ModuleList(Block(dim, heads=heads, mlp_ratio=mlp_ratio, dropout=dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head_drop = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)
        init_weights(self)

    def grid(self, clip: torch.Tensor) -> tuple[int, int, int]:
        """Token grid ``(T', H', W')`` of a clip batch; a ModelError when the clip does not tile."""
        t, h, w = clip.shape[1], clip.shape[3], clip.shape[4]
        pt, ph, pw = self.tubelet
        if t % pt or h % ph or w % pw:
            raise ModelError(
                f"clip {t}x{h}x{w} does not tile into {pt}x{ph}x{pw} tubelets",
                fix="use frames divisible by 2 and a size divisible by 16 in the card",
            )
        return t // pt, h // ph, w // pw

    def tokens(self, clip: torch.Tensor) -> torch.Tensor:
        """Embedded tokens with position embedding ``(B, N, D)`` of ``(B, T, 3, H, W)`` clips (time-major order)."""
        gt, gh, gw = self.grid(clip)
        x = self.patch(clip.transpose(1, 2))  # (B, D, T', H', W')
        x = x.flatten(2).transpose(1, 2)
        return x + sincos_3d(t=gt, h=gh, w=gw, dim=self.dim).to(x.dtype)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Run the transformer blocks and the final norm over ``(B, N, D)`` tokens."""
        for blk in self.blocks:
            tokens = blk(tokens)
        return self.norm(tokens)

    def heads(self, clip: torch.Tensor, audio: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training heads: ``{"logits": (B, K)}`` (``audio`` is ignored: video-only model)."""
        feats = self.encode(self.tokens(clip)).mean(dim=1)
        return {"logits": self.head(self.head_drop(feats))}

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor]:
        """ONNX outputs in card order: clip probabilities ``(B, K)``."""
        return (torch.softmax(self.heads(clip)["logits"], dim=-1),)


@register_model("mae_dfer", technique="video_transformer_mae")
def build(
    *,
    num_classes: int,
    dim: int = 96,
    depth: int = 4,
    heads: int = 4,
    mlp_ratio: float = 2.0,
    dropout: float = 0.1,
    width: float | None = None,
) -> nn.Module:
    """MAE-DFER-style tubelet ViT; ``width`` (if given) sets ``dim = round(384 * width / heads) * heads``."""
    if width is not None:
        dim = max(heads, int(round(384 * float(width) / heads)) * heads)
    return VideoViT(num_classes=num_classes, dim=dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio, dropout=dropout)
