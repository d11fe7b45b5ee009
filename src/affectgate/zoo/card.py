"""Model cards: ``model_zoo/<arch>/card.yaml`` read into :class:`ModelCard` and checked."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from affectgate.core.errors import ModelError
from affectgate.core.records import ModelCard
from affectgate.datasets.labels import CANONICAL_EMOTIONS, EMOTION_VOCABULARY

TRAIN_KEYS = ("width", "dropout", "epochs", "batch_size", "lr", "weight_decay", "train_frames")


def load_card(*, path: Path) -> ModelCard:
    """Read and validate a card; unknown fields and unknown labels are errors naming the file."""
    if not path.is_file():
        raise ModelError(f"model card not found: {path}", fix="write card.yaml next to the model (see model_zoo/)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        card = ModelCard.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[:3]
        raise ModelError(
            f"invalid model card {path}: {' '.join(first)}", fix="compare with model_zoo/*/card.yaml"
        ) from None
    check_labels(card=card, where=f"model card {path}")
    return card


def check_labels(*, card: ModelCard, where: str) -> None:
    """Labels canonical (the emotion vocabulary) and unique; ModelError naming the offenders."""
    unknown = [lbl for lbl in card.labels if lbl not in EMOTION_VOCABULARY]
    if unknown:
        raise ModelError(
            f"{where} has labels outside the canonical set: {unknown}",
            fix=f"use canonical names: {', '.join(CANONICAL_EMOTIONS)} (or a benchmark's native classes: "
            f"{', '.join(EMOTION_VOCABULARY[len(CANONICAL_EMOTIONS) :])})",
        )
    twice = sorted({lbl for lbl in card.labels if card.labels.count(lbl) > 1})
    if twice:
        raise ModelError(
            f"{where} lists {', '.join(twice)} more than once: two output columns cannot both be one emotion",
            fix="write `labels` in the model's output order, each emotion once",
        )


def zoo_card(*, project_root: Path | None, arch: str) -> ModelCard:
    """The card of an architecture: the user project's ``model_zoo/<arch>/card.yaml``, else the built-in one."""
    from affectgate.project.content import available, find

    known = available(project_root=project_root, kind="model_zoo")
    return load_card(path=find(project_root=project_root, kind="model_zoo", name=f"{arch}/card.yaml", available=known))


def apply_config(*, card: ModelCard, config: dict[str, object] | None) -> ModelCard:
    """A card with a size config applied: ``frames``/``size`` change the input spec, other keys the training recipe.

    Demo-size and paper-size configs of one architecture share the card; the exported card records
    the effective values.
    """
    if not config:
        return card
    # Keys the card's own train section declares (temporal, ema_alpha, hidden, depth, ...) may be overridden too.
    unknown = set(config) - {"frames", "size", "fps"} - set(TRAIN_KEYS) - set(card.train)
    if unknown:
        raise ModelError(
            f"unknown config keys {sorted(unknown)} for {card.arch}",
            fix=f"use frames, size, fps or training keys {', '.join(TRAIN_KEYS)}",
        )
    spec = card.input.model_copy(update={k: config[k] for k in ("frames", "size", "fps") if k in config})
    train = {**card.train, **{k: v for k, v in config.items() if k in TRAIN_KEYS or k in card.train}}
    return ModelCard.model_validate({**card.model_dump(), "input": spec.model_dump(), "train": train})


def load_config(*, path: Path | None) -> dict[str, object]:
    """A size config YAML (mapping of overrides), or {} when no path is given."""
    if path is None:
        return {}
    if not path.is_file():
        raise ModelError(f"config file not found: {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ModelError(f"config {path} must be a mapping of overrides")
    return data


def write_card(*, card: ModelCard, path: Path) -> None:
    """Write the effective card (YAML) next to an exported model."""
    path.write_text(yaml.safe_dump(card.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
