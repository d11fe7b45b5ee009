"""Canonical emotion labels, the wider emotion vocabulary, label spaces and the label maps of the benchmarks.

Every loader and every model card maps its own vocabulary to these names. The seven
``CANONICAL_EMOTIONS`` are what every 7-class benchmark (DFEW, FERV39k, AFEW) shares;
``EMOTION_VOCABULARY`` adds the classes a benchmark's native label space has beyond them (MAFW's
contempt, anxiety, helplessness, disappointment). A model card's labels decide the *label space* it
is scored in (:func:`label_space`): the canonical seven plus the card's vocabulary classes, in
vocabulary order. Metrics are computed over that space, never over a library default.
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


#: MAFW's four classes beyond the canonical seven (Liu et al., ACM MM 2022), in MAFW's own order.
MAFW_EXTRA_EMOTIONS: Final[tuple[str, ...]] = ("contempt", "anxiety", "helplessness", "disappointment")

#: Every emotion name a model card may list: the canonical seven, then the native classes of benchmarks
#: whose label space is wider (MAFW's 11 = this vocabulary, in MAFW's order).
EMOTION_VOCABULARY: Final[tuple[str, ...]] = (*CANONICAL_EMOTIONS, *MAFW_EXTRA_EMOTIONS)


def label_space(labels: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The label space a model with these card labels is scored in, in vocabulary order.

    The canonical seven always belong to it (a canonical class a model lacks is a class it never
    predicts); vocabulary classes beyond them join when the card lists them. A 7-class card's space is
    ``CANONICAL_EMOTIONS``; an 11-class MAFW card's space is MAFW's 11 classes. A name outside the
    vocabulary raises ``KeyError`` naming the valid ones.
    """
    unknown = [lbl for lbl in labels if lbl not in EMOTION_VOCABULARY]
    if unknown:
        raise KeyError(f"unknown emotion labels {unknown}; expected names from {', '.join(EMOTION_VOCABULARY)}")
    return tuple(lbl for lbl in EMOTION_VOCABULARY if lbl in CANONICAL_EMOTIONS or lbl in labels)


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
