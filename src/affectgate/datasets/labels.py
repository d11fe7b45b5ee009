"""Canonical emotion labels and the label maps of the benchmarks.

Every loader and every model card maps its own vocabulary to these canonical names; metrics are
always computed in ``CANONICAL_EMOTIONS`` order.
"""

from __future__ import annotations

from typing import Final

#: Canonical label order used by every metric (alphabetical, as MAFW spells them).
CANONICAL_EMOTIONS: Final[tuple[str, ...]] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)

#: DFEW split CSVs: label 1..7 = Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear.
DFEW_LABELS: Final[dict[int, str]] = {
    1: "happiness",
    2: "sadness",
    3: "neutral",
    4: "anger",
    5: "surprise",
    6: "disgust",
    7: "fear",
}

#: DFEW order as names (index 0 = DFEW label 1).
DFEW_ORDER: Final[tuple[str, ...]] = tuple(DFEW_LABELS[i] for i in range(1, 8))


def canonical_index(name: str) -> int:
    """Index of a canonical label name; raises ``KeyError`` naming the valid labels."""
    try:
        return CANONICAL_EMOTIONS.index(name)
    except ValueError:
        raise KeyError(f"unknown emotion label {name!r}; expected one of {', '.join(CANONICAL_EMOTIONS)}") from None
