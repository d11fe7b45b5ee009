"""Self-supervised masked-autoencoder pre-training of the tubelet ViT (VideoMAE / MAE-DFER recipe, CPU size).

Tube masking hides the same spatial tubelets in every time step (default 90 %), so the encoder
cannot copy a patch from the next frame. The encoder sees only the visible tokens; a lightweight
decoder (mask tokens + position embedding + a few narrow blocks) predicts the per-tubelet
normalised pixels of the masked tubelets (``norm_pix_loss``), and the loss is the MSE over masked
tubelets only. No labels are used. After pre-training, the encoder's weights initialise a
classifier that is fine-tuned as usual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from affectgate.core.errors import ModelError
from affectgate.core.records import InputSpec
from affectgate.zoo.archs.mae_dfer import Block, VideoViT, init_weights, sincos_3d
from affectgate.zoo.preprocess import to_model_input


def patchify(clip: torch.Tensor, *, tubelet: tuple[int, int, int]) -> torch.Tensor:
    """``(B, T, 3, H, W)`` -> ``(B, N, pt*ph*pw*3)`` pixels per tubelet, in the encoder's token order."""
    b, t, c, h, w = clip.shape
    pt, ph, pw = tubelet
    x = clip.reshape(b, t // pt, pt, c, h // ph, ph, w // pw, pw)
    x = x.permute(0, 1, 4, 6, 2, 5, 7, 3)  # B, T', H', W', pt, ph, pw, C
    return x.reshape(b, (t // pt) * (h // ph) * (w // pw), pt * ph * pw * c)


def tube_mask(*, batch: int, grid: tuple[int, int, int], ratio: float, generator: torch.Generator) -> torch.Tensor:
    """``(B, N)`` bool, True = masked: the same ``round(ratio * H'W')`` spatial cells are hidden in every time step.

    At least one spatial cell stays visible.
    """
    if not 0.0 < ratio < 1.0:
        raise ModelError(f"mask ratio {ratio} must be in (0, 1)", fix="use e.g. 0.9 as in VideoMAE/MAE-DFER")
    gt, gh, gw = grid
    cells = gh * gw
    n_mask = min(cells - 1, max(1, int(round(ratio * cells))))
    scores = torch.rand(batch, cells, generator=generator)
    masked_cells = torch.zeros(batch, cells, dtype=torch.bool)
    masked_cells.scatter_(1, scores.argsort(dim=1)[:, :n_mask], True)
    return masked_cells[:, None, :].expand(batch, gt, cells).reshape(batch, gt * cells)


class MAEDecoder(nn.Module):
    """Lightweight MAE decoder: project, insert mask tokens, a few narrow blocks, predict tubelet pixels."""

    def __init__(
        self, *, enc_dim: int, dim: int = 64, depth: int = 1, heads: int = 4, tubelet: tuple[int, int, int]
    ) -> None:
        super().__init__()
        self.dim = dim
        self.embed = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(Block(dim, heads=heads, mlp_ratio=2.0) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.pred = nn.Linear(dim, tubelet[0] * tubelet[1] * tubelet[2] * 3)
        init_weights(self)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, visible: torch.Tensor, mask: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """Pixel predictions ``(B, N_masked, P)`` for the masked positions (row-major order of ``mask``)."""
        b, n = mask.shape
        full = self.mask_token.expand(b, n, self.dim).clone()
        full[~mask] = self.embed(visible).reshape(-1, self.dim)
        full = full + sincos_3d(t=grid[0], h=grid[1], w=grid[2], dim=self.dim)
        for blk in self.blocks:
            full = blk(full)
        return self.pred(self.norm(full))[mask].reshape(b, -1, self.pred.out_features)


def mae_loss(
    *, encoder: VideoViT, decoder: MAEDecoder, clip: torch.Tensor, ratio: float, generator: torch.Generator
) -> torch.Tensor:
    """Masked-tubelet reconstruction loss (MSE on per-tubelet normalised pixels, masked tubelets only)."""
    grid = encoder.grid(clip)
    mask = tube_mask(batch=clip.shape[0], grid=grid, ratio=ratio, generator=generator)
    tokens = encoder.tokens(clip)
    b, _, d = tokens.shape
    visible = encoder.encode(tokens[~mask].reshape(b, -1, d))
    pred = decoder(visible, mask, grid)
    target = patchify(clip, tubelet=encoder.tubelet)
    target = (target - target.mean(dim=-1, keepdim=True)) / (target.var(dim=-1, keepdim=True) + 1e-6).sqrt()
    return ((pred - target[mask].reshape(b, -1, target.shape[-1])) ** 2).mean()


@dataclass(frozen=True)
class PretrainResult:
    """The pre-trained encoder and how pre-training went."""

    encoder: VideoViT
    epoch_losses: tuple[float, ...]
    seconds: float


def pretrain_mae(
    *,
    encoder: VideoViT,
    clips: np.ndarray,
    spec: InputSpec,
    epochs: int = 20,
    batch_size: int = 16,
    lr: float = 1.5e-3,
    weight_decay: float = 0.05,
    ratio: float = 0.9,
    decoder_dim: int = 64,
    decoder_depth: int = 1,
    seed: int = 0,
    threads: int = 2,
    log: bool = False,
) -> PretrainResult:
    """Pre-train ``encoder`` in place on UNLABELLED uint8 clips ``(N, T, H, W, 3)`` (no targets are read).

    AdamW with a one-cycle schedule; random horizontal flips; deterministic from ``seed``.
    """
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    decoder = MAEDecoder(enc_dim=encoder.dim, dim=decoder_dim, depth=decoder_depth, tubelet=encoder.tubelet)
    x_all = torch.from_numpy(to_model_input(clips=clips, spec=spec))
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    steps = epochs * int(np.ceil(len(x_all) / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    start = time.perf_counter()
    losses: list[float] = []
    encoder.train()
    decoder.train()
    for epoch in range(epochs):
        order = rng.permutation(len(x_all))
        batch_losses = []
        for i in range(0, len(order), batch_size):
            xb = x_all[torch.from_numpy(order[i : i + batch_size])]
            if rng.random() < 0.5:
                xb = xb.flip(-1)
            loss = mae_loss(encoder=encoder, decoder=decoder, clip=xb, ratio=ratio, generator=gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            batch_losses.append(loss.item())
        losses.append(float(np.mean(batch_losses)))
        if log:
            print(f"  mae epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}", flush=True)
    encoder.eval()
    return PretrainResult(encoder=encoder, epoch_losses=tuple(losses), seconds=time.perf_counter() - start)


def encoder_state(encoder: VideoViT) -> dict[str, torch.Tensor]:
    """The encoder weights to load into a fresh classifier (the classification head is left out)."""
    return {k: v.detach().clone() for k, v in encoder.state_dict().items() if not k.startswith("head.")}


@dataclass(frozen=True)
class FineTuneResult:
    """A fine-tuned classifier and its training curve."""

    model: nn.Module
    epoch_losses: tuple[float, ...]
    seconds: float


def fine_tune(
    *,
    model: nn.Module,
    clips: np.ndarray,
    targets: np.ndarray,
    audio: np.ndarray | None = None,
    epochs: int = 30,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    label_smoothing: float = 0.1,
    seed: int = 0,
    threads: int = 2,
    log: bool = False,
) -> FineTuneResult:
    """Supervised training through ``model.heads(clip, audio)["logits"]`` (cross-entropy, AdamW, one-cycle).

    ``clips`` are preprocessed float32 ``(N, T, 3, H, W)``; ``audio`` optional preprocessed audio with
    the same N. Random horizontal flips of the video; deterministic from ``seed``.
    """
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    x_all = torch.from_numpy(clips)
    a_all = torch.from_numpy(audio) if audio is not None else None
    y_all = torch.from_numpy(targets.astype(np.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * int(np.ceil(len(x_all) / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    start = time.perf_counter()
    losses: list[float] = []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x_all))
        batch_losses = []
        for i in range(0, len(order), batch_size):
            idx = torch.from_numpy(order[i : i + batch_size])
            xb = x_all[idx]
            if rng.random() < 0.5:
                xb = xb.flip(-1)
            logits = model.heads(xb, a_all[idx] if a_all is not None else None)["logits"]  # type: ignore[operator]
            loss = loss_fn(logits, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            batch_losses.append(loss.item())
        losses.append(float(np.mean(batch_losses)))
        if log:
            print(f"  epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}", flush=True)
    model.eval()
    return FineTuneResult(model=model, epoch_losses=tuple(losses), seconds=time.perf_counter() - start)


def predict(
    *, model: nn.Module, clips: np.ndarray, audio: np.ndarray | None = None, batch_size: int = 64
) -> np.ndarray:
    """Class indices predicted by ``model.heads`` (eval mode, no grad) for preprocessed inputs."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(clips), batch_size):
            a = torch.from_numpy(audio[i : i + batch_size]) if audio is not None else None
            out.append(model.heads(torch.from_numpy(clips[i : i + batch_size]), a)["logits"].argmax(1).numpy())  # type: ignore[operator]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
