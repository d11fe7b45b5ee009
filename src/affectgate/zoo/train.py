"""Brief training of a zoo architecture on clips (CPU, deterministic from a seed).

The loop is generic over the model contract: ``model.heads(clip, audio=None)`` returns a dict of
tensors; cross-entropy is applied to ``"logits"`` (when class targets are given), mean squared error
to ``"va"`` and ``"engagement"`` (when their targets are given). The losses are summed.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
from rich.console import Console

from affectgate.core.errors import ModelError
from affectgate.core.records import ModelCard
from affectgate.zoo.lookup import get_arch
from affectgate.zoo.preprocess import to_model_input

# Card ``train`` keys that belong to the training recipe, never to the architecture builder.
RECIPE_KEYS = frozenset({"epochs", "batch_size", "lr", "weight_decay", "train_frames", "flip"})


@dataclass(frozen=True)
class TrainResult:
    """A trained model and how its training went."""

    model: nn.Module
    epochs: int
    final_loss: float
    train_accuracy: float
    seconds: float
    final_losses: dict[str, float] = field(default_factory=dict)


def arch_kwargs(*, card: ModelCard) -> dict[str, object]:
    """The card's ``train`` entries the architecture's builder accepts (e.g. width, dropout, temporal).

    Builders with ``**config`` receive every non-recipe key; others only the keys they name.
    """
    build = get_arch(card.arch).build
    params = inspect.signature(build).parameters
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return {
        k: v
        for k, v in card.train.items()
        if k not in RECIPE_KEYS and k != "num_classes" and (open_ended or k in params)
    }


def build_model(*, card: ModelCard, seed: int | None = None) -> nn.Module:
    """The card's architecture built with its config (random init, seeded when ``seed`` is given)."""
    if seed is not None:
        torch.manual_seed(seed)
    return get_arch(card.arch).build(num_classes=len(card.labels), **arch_kwargs(card=card))


def _as_tensor(values: np.ndarray | None, *, n: int, name: str) -> torch.Tensor | None:
    if values is None:
        return None
    t = torch.from_numpy(np.asarray(values, dtype=np.float32))
    if t.shape[0] != n:
        raise ModelError(f"{name} has {t.shape[0]} rows for {n} clips", fix=f"pass one {name} row per clip")
    return t


def train_classifier(
    *,
    card: ModelCard,
    clips: np.ndarray,
    targets: np.ndarray | None,
    seed: int,
    threads: int = 2,
    console: Console | None = None,
    va_targets: np.ndarray | None = None,
    engagement_targets: np.ndarray | None = None,
    audio: np.ndarray | None = None,
) -> TrainResult:
    """Train the card's architecture on uint8 clips ``(N, T, H, W, 3)``.

    ``targets`` are class indices in the card's label order (cross-entropy on the ``"logits"`` head;
    None for a model without classes); ``va_targets`` ``(N, 2)`` in [-1, 1] and ``engagement_targets``
    ``(N, ...)`` add an MSE term on the ``"va"`` / ``"engagement"`` head. ``audio`` (already in the
    model's audio input format, one row per clip) is passed to ``heads`` batch by batch.
    Augmentation: a random subset of ``train_frames`` frames and a horizontal flip (card ``flip: 0``
    turns the flip off, e.g. for gaze/yaw targets whose sign a flip would invert).
    """
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    cfg = card.train
    epochs = int(cfg.get("epochs", 10))
    batch = int(cfg.get("batch_size", 16))
    train_frames = int(cfg.get("train_frames", 0))
    flip = bool(int(cfg.get("flip", 1)))
    model = get_arch(card.arch).build(num_classes=len(card.labels), **arch_kwargs(card=card))
    if not hasattr(model, "heads"):
        raise ModelError(f"{card.arch} has no heads() method", fix="implement heads(clip, audio=None) (zoo contract)")
    x_all = torch.from_numpy(to_model_input(clips=clips, spec=card.input))
    n = len(x_all)
    y_all = None if targets is None else torch.from_numpy(np.asarray(targets).astype(np.int64))
    va_all = _as_tensor(va_targets, n=n, name="va_targets")
    eng_all = _as_tensor(engagement_targets, n=n, name="engagement_targets")
    audio_all = _as_tensor(audio, n=n, name="audio")
    if y_all is None and va_all is None and eng_all is None:
        raise ModelError("nothing to train on: no targets given", fix="pass targets, va_targets or engagement_targets")
    opt = torch.optim.AdamW(
        model.parameters(), lr=float(cfg.get("lr", 3e-3)), weight_decay=float(cfg.get("weight_decay", 1e-4))
    )
    steps = epochs * int(np.ceil(n / batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=float(cfg.get("lr", 3e-3)), total_steps=steps)
    ce = nn.CrossEntropyLoss(label_smoothing=0.05)
    mse = nn.MSELoss()
    start = time.perf_counter()
    final_loss, correct, final_parts = float("nan"), 0, {}
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(n)
        losses, correct, parts = [], 0, {}
        for i in range(0, len(order), batch):
            idx = torch.from_numpy(order[i : i + batch])
            xb = x_all[idx]
            if train_frames and train_frames < xb.shape[1]:  # temporal augmentation: a random subset of frames
                keep = np.sort(rng.choice(xb.shape[1], size=train_frames, replace=False))
                xb = xb[:, torch.from_numpy(keep)]
            if rng.random() < 0.5 and flip:  # horizontal flip: expressions are left-right symmetric
                xb = xb.flip(-1)
            out = model.heads(xb) if audio_all is None else model.heads(xb, audio=audio_all[idx])  # type: ignore[operator]
            terms: dict[str, torch.Tensor] = {}
            if y_all is not None:
                if "logits" not in out:
                    raise ModelError(f"{card.arch}.heads() has no 'logits' but class targets were given")
                terms["ce"] = ce(out["logits"], y_all[idx])
                correct += int((out["logits"].argmax(1) == y_all[idx]).sum())
            for key, tgt in (("va", va_all), ("engagement", eng_all)):
                if tgt is not None:
                    if key not in out:
                        raise ModelError(f"{card.arch}.heads() has no {key!r} output but {key} targets were given")
                    terms[key] = mse(out[key], tgt[idx].reshape(out[key].shape))
            loss = sum(terms.values())
            opt.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            opt.step()
            sched.step()
            losses.append(loss.item())  # type: ignore[union-attr]
            for k, v in terms.items():
                parts.setdefault(k, []).append(v.item())
        final_loss = float(np.mean(losses))
        final_parts = {k: float(np.mean(v)) for k, v in parts.items()}
        if console is not None:
            acc = f", train acc {correct / n:.3f}" if y_all is not None else ""
            console.print(f"  epoch {epoch + 1}/{epochs}: loss {final_loss:.3f}{acc}")
    model.eval()
    return TrainResult(
        model=model,
        epochs=epochs,
        final_loss=final_loss,
        train_accuracy=correct / max(1, n) if y_all is not None else float("nan"),
        seconds=time.perf_counter() - start,
        final_losses=final_parts,
    )
