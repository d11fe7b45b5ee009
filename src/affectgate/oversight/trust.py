"""Evidence the gate re-derives instead of trusting: evaluation data must not be the model's training data.

The export folder's ``model.lock.json`` records what trained the weights (``trained_on``: the dataset
digest; ``train_samples``, ``train_fold``, ``train_split``: the training selection, copied from the
training record ``training.json``). Gating on those samples measures fit, not generalisation (a WAR of
1.000 on the training split of the synthetic set), so the gate refuses it before anything is evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from affectgate.core.errors import AffectgateError


class EvidenceError(AffectgateError):
    """Evidence the gate will not decide on: the evaluation data overlaps the model's training data."""


def read_lock(folder: Path) -> dict[str, object]:
    """The export folder's lock file as a mapping (empty when missing or unreadable)."""
    path = folder / "model.lock.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def training_overlap(
    *, lock: dict[str, object], digest: str, sample_ids: Sequence[str], split: str | None, fold: int | None
) -> str | None:
    """Why the selection is (part of) the training data, or None when it is held out as far as the lock tells.

    Same dataset digest as at training and any evaluated sample id among the training samples: overlap.
    A lock without the sample list (older exports, int8 variants) falls back to the selection: the
    same digest, the ``train`` split and the training fold (when recorded) count as the training data.
    Different data (another digest) is not compared by id: ids of different sets may coincide.
    """
    trained_on = str(lock.get("trained_on") or "")
    if not trained_on or trained_on != digest:
        return None
    train = lock.get("train_samples")
    if isinstance(train, list) and train:
        seen = set(map(str, train))
        shared = sorted(s for s in map(str, sample_ids) if s in seen)
        if not shared:
            return None
        head = ", ".join(shared[:5]) + (" ..." if len(shared) > 5 else "")
        return (
            f"{len(shared)} of {len(sample_ids)} evaluated samples were used to train the model "
            f"(dataset digest {digest[:12]}… matches its lock; e.g. {head})"
        )
    train_fold = lock.get("train_fold")
    same_fold = train_fold is None or fold is None or train_fold == fold
    if split == str(lock.get("train_split") or "train") and same_fold:
        where = f" fold {fold}" if fold is not None else ""
        return f"the{where} {split} split of the dataset the model was trained on (digest {digest[:12]}… in its lock)"
    return None


def check_training_overlap(
    *, folder: Path, digest: str, sample_ids: Sequence[str], split: str | None, fold: int | None
) -> None:
    """EvidenceError when the selection overlaps the training data recorded in ``folder``'s lock."""
    why = training_overlap(lock=read_lock(folder), digest=digest, sample_ids=sample_ids, split=split, fold=fold)
    if why is not None:
        raise EvidenceError(
            f"evaluation on training data refused: {why}; a model's fit to its own training data says nothing about "
            "its accuracy, nothing was evaluated or promoted",
            fix="gate on held-out data (e.g. --split test, or another fold than the one the model was trained on)",
        )
