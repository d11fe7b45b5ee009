"""Brief training of a zoo architecture on clips (CPU, deterministic from a seed)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from rich.console import Console

from affectgate.records import ModelCard
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.registry import get_arch


@dataclass(frozen=True)
class TrainResult:
    """A trained model and how its training went."""

    model: nn.Module
    epochs: int
    final_loss: float
    train_accuracy: float
    seconds: float


def train_classifier(
    *,
    card: ModelCard,
    clips: np.ndarray,
    targets: np.ndarray,
    seed: int,
    threads: int = 2,
    console: Console | None = None,
) -> TrainResult:
    """Train the card's architecture on uint8 clips; ``targets`` are indices in the card's label order."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    cfg = card.train
    epochs = int(cfg.get("epochs", 10))
    batch = int(cfg.get("batch_size", 16))
    train_frames = int(cfg.get("train_frames", 0))
    arch_kwargs = {k: cfg[k] for k in ("width", "dropout") if k in cfg}
    model = get_arch(card.arch).build(num_classes=len(card.labels), **arch_kwargs)
    x_all = torch.from_numpy(to_model_input(clips=clips, spec=card.input))
    y_all = torch.from_numpy(targets.astype(np.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg.get("lr", 3e-3)), weight_decay=float(cfg.get("weight_decay", 1e-4)))
    steps = epochs * int(np.ceil(len(x_all) / batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=float(cfg.get("lr", 3e-3)), total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    start = time.perf_counter()
    final_loss, correct = float("nan"), 0
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x_all))
        losses, correct = [], 0
        for i in range(0, len(order), batch):
            idx = torch.from_numpy(order[i : i + batch])
            xb, yb = x_all[idx], y_all[idx]
            if train_frames and train_frames < xb.shape[1]:  # temporal augmentation: a random subset of frames
                keep = np.sort(rng.choice(xb.shape[1], size=train_frames, replace=False))
                xb = xb[:, torch.from_numpy(keep)]
            if rng.random() < 0.5:  # horizontal flip: expressions are left-right symmetric
                xb = xb.flip(-1)
            frame = model.frame_logits(xb)  # type: ignore[operator]
            logits = frame.mean(dim=1)
            loss = loss_fn(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            correct += int((logits.argmax(1) == yb).sum())
        final_loss = float(np.mean(losses))
        if console is not None:
            console.print(
                f"  epoch {epoch + 1}/{epochs}: loss {final_loss:.3f}, train acc {correct / len(x_all):.3f}"
            )
    model.eval()
    return TrainResult(
        model=model,
        epochs=epochs,
        final_loss=final_loss,
        train_accuracy=correct / max(1, len(x_all)),
        seconds=time.perf_counter() - start,
    )
