"""Train a zoo architecture on a DFEW-layout set and export it: the recipe behind `affectgate zoo train`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from affectgate.datasets.dfew import load_dfew_split, read_clips
from affectgate.datasets.digest import dir_digest
from affectgate.errors import ModelError
from affectgate.zoo.card import apply_config, zoo_card
from affectgate.zoo.export import ExportResult, export_onnx
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.registry import get_arch
from affectgate.zoo.train import TrainResult, train_classifier

CHECKPOINT = "model.pt"


@dataclass(frozen=True)
class BuildResult:
    """Training and export outcome."""

    train: TrainResult
    export: ExportResult
    n_train: int


def train_zoo_model(
    *, project_root: Path, arch: str, data: Path, fold: int, out: Path, seed: int, threads: int = 2,
    config: dict[str, object] | None = None, console: Console | None = None,
) -> TrainResult:
    """Train ``arch`` on the train split of ``data`` (DFEW layout, fold ``fold``); save the checkpoint in ``out``.

    ``config`` overrides the card's input size and training recipe (e.g. a tiny config for tests);
    it is stored in the checkpoint so export uses the same values.
    """
    card = apply_config(card=zoo_card(project_root=project_root, arch=arch), config=config)
    get_arch(arch)
    split = load_dfew_split(root=data, fold=fold, split="train")
    clips = read_clips(samples=split.samples, frames=card.input.frames, size=card.input.size, workers=threads)
    targets = np.asarray([card.labels.index(s.label) for s in split.samples])
    result = train_classifier(card=card, clips=clips, targets=targets, seed=seed, threads=threads, console=console)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"arch": arch, "state_dict": result.model.state_dict(), "trained_on": dir_digest(root=data), "fold": fold,
         "config": dict(config or {})},
        out / CHECKPOINT,
    )
    return result


def export_zoo_model(*, project_root: Path, arch: str, out: Path, seed: int = 0) -> ExportResult:
    """Export the checkpoint in ``out`` to ONNX with a parity check on fixed (seeded) clips."""
    ckpt_path = out / CHECKPOINT
    if not ckpt_path.is_file():
        raise ModelError(f"no trained checkpoint at {ckpt_path}", fix=f"run `affectgate zoo train {arch}` first")
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    card = apply_config(card=zoo_card(project_root=project_root, arch=arch), config=ckpt.get("config"))
    arch_kwargs = {k: card.train[k] for k in ("width", "dropout") if k in card.train}
    model = get_arch(arch).build(num_classes=len(card.labels), **arch_kwargs)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(4, card.input.frames, card.input.size, card.input.size, 3), dtype=np.uint8)
    parity = to_model_input(clips=raw, spec=card.input)
    return export_onnx(
        model=model,
        card=card,
        folder=out,
        parity_clips=parity,
        trained_on=str(ckpt.get("trained_on", "")),
    )
