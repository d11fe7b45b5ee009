"""Model cards: ``model_zoo/<arch>/card.yaml`` read into :class:`ModelCard` and checked."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.errors import ModelError
from affectgate.records import ModelCard


def load_card(*, path: Path) -> ModelCard:
    """Read and validate a card; unknown fields and unknown labels are errors naming the file."""
    if not path.is_file():
        raise ModelError(f"model card not found: {path}", fix="write card.yaml next to the model (see model_zoo/)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        card = ModelCard.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[:3]
        raise ModelError(f"invalid model card {path}: {' '.join(first)}", fix="compare with model_zoo/*/card.yaml") from None
    unknown = [lbl for lbl in card.labels if lbl not in CANONICAL_EMOTIONS]
    if unknown:
        raise ModelError(
            f"model card {path} has labels outside the canonical set: {unknown}",
            fix=f"use canonical names: {', '.join(CANONICAL_EMOTIONS)}",
        )
    return card


def zoo_card(*, project_root: Path, arch: str) -> ModelCard:
    """The card of a built-in architecture."""
    return load_card(path=project_root / "model_zoo" / arch / "card.yaml")
