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


#: FERV39k class names (the last field of ``4_setups/All_scenes/*.csv`` and the path's emotion folder).
FERV39K_LABELS: Final[dict[str, str]] = {
    "Angry": "anger",
    "Disgust": "disgust",
    "Fear": "fear",
    "Happy": "happiness",
    "Neutral": "neutral",
    "Sad": "sadness",
    "Surprise": "surprise",
}

#: MAFW's 11 single-label classes in the dataset's own order; the first 7 are canonical names, the
#: last 4 have no canonical counterpart and keep their own lowercase names.
MAFW_LABELS: Final[dict[str, str]] = {
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happiness",
    "neutral": "neutral",
    "sadness": "sadness",
    "surprise": "surprise",
    "contempt": "contempt",
    "anxiety": "anxiety",
    "helplessness": "helplessness",
    "disappointment": "disappointment",
}

#: ABAW (Aff-Wild2) EXPR class index -> label, 2021+ editions (8 classes; "Other" keeps its own name).
ABAW_EXPR_LABELS: Final[dict[int, str]] = {
    0: "neutral",
    1: "anger",
    2: "disgust",
    3: "fear",
    4: "happiness",
    5: "sadness",
    6: "surprise",
    7: "other",
}
#: The EXPR file header of the 2021+ editions (8 classes) and of the 2020 edition (7 classes, no Other).
ABAW_EXPR_HEADER: Final[tuple[str, ...]] = (
    "Neutral",
    "Anger",
    "Disgust",
    "Fear",
    "Happiness",
    "Sadness",
    "Surprise",
    "Other",
)
ABAW_EXPR_HEADER_2020: Final[tuple[str, ...]] = ABAW_EXPR_HEADER[:7]
#: The AU file header of the 2021+ editions (12 AUs) and of the 2020 edition (8 AUs).
ABAW_AU_HEADER: Final[tuple[str, ...]] = (
    "AU1",
    "AU2",
    "AU4",
    "AU6",
    "AU7",
    "AU10",
    "AU12",
    "AU15",
    "AU23",
    "AU24",
    "AU25",
    "AU26",
)
ABAW_AU_HEADER_2020: Final[tuple[str, ...]] = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")

#: RAVDESS emotion codes (third field of the file name) -> label; 02 "calm" has no canonical name.
RAVDESS_LABELS: Final[dict[int, str]] = {
    1: "neutral",
    2: "calm",
    3: "happiness",
    4: "sadness",
    5: "anger",
    6: "fear",
    7: "disgust",
    8: "surprise",
}
