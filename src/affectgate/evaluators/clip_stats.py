"""Per-clip input statistics for drift monitoring, computed from decoded uint8 RGB clips.

Every statistic is a plain number per clip (a row of a table), so drift can compare its distribution
between a reference window and a current window:

- ``brightness``: mean luma (ITU-R BT.601, OpenCV's RGB->grey) over all pixels and frames, in [0, 1].
- ``contrast``: standard deviation of luma within a frame, averaged over frames, in [0, 0.5].
- ``face_detected``: share of frames in which OpenCV's frontal-face Haar cascade finds a face.
- ``face_size``: fraction of the frame covered by the largest detected face box, averaged over the
  frames with a detection; NaN when no frame has one.
- ``face_quality``: contrast-invariant sharpness of the face crop: ``var(Laplacian(crop)) /
  (20 * var(crop))``, clipped to [0, 1] (0 = perfectly smooth, 1 = the value for white pixel noise,
  whose Laplacian variance is 20 times its variance); averaged over frames with a face, NaN without.
- ``thumb_00..thumb_63``: the clip's mean grey frame shrunk to 8x8 and standardised (zero mean, unit
  std), the raw material of the embedding summary (:func:`embedding_summary`: PCA-2 fitted on the
  reference window). Standardising removes brightness and contrast, which have their own columns, so
  the embedding follows the layout of the frame (face size, position, occlusion).

Face detection runs on the grey frame upscaled to at least ``DETECT_SIDE`` pixels and
histogram-equalised (the cascade's 24-pixel window misses faces in small frames otherwise). On the
synthetic renderings the cascade finds the face in every frame of the light-skin group and in most of
the others, but it misses dark-skinned and darkened (drifted) faces more often; that is the known
weakness of Haar cascades, and ``face_detected`` reports it instead of hiding it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from affectgate.core.errors import ModelError
from affectgate.datasets.clips import read_clips
from affectgate.datasets.dfew import DFEWSample

STAT_COLUMNS: tuple[str, ...] = ("brightness", "contrast", "face_detected", "face_size", "face_quality")
THUMB_SIDE = 8
THUMB_COLUMNS: tuple[str, ...] = tuple(f"thumb_{i:02d}" for i in range(THUMB_SIDE * THUMB_SIDE))
DETECT_SIDE = 128
CASCADE = "haarcascade_frontalface_default.xml"
#: var(Laplacian) / var(x) of i.i.d. pixel noise under OpenCV's 3x3 Laplacian (kernel 0 1 0 / 1 -4 1 / 0 1 0).
_WHITE_NOISE_RATIO = 20.0


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / CASCADE
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise ModelError(
            f"OpenCV could not load the face detector {path}",
            fix="reinstall opencv-python-headless (the Haar cascades ship inside its cv2/data folder)",
        )
    return cascade


def detect_face(grey: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest frontal face in a uint8 grey frame as ``(x, y, w, h)`` in the frame's pixels, or None."""
    h, w = grey.shape
    scale = max(1.0, DETECT_SIDE / min(h, w))
    img = grey if scale == 1.0 else cv2.resize(grey, (round(w * scale), round(h * scale)), cv2.INTER_LINEAR)
    img = cv2.equalizeHist(img)
    side = min(img.shape) // 5
    boxes = _cascade().detectMultiScale(img, scaleFactor=1.1, minNeighbors=3, minSize=(side, side))
    if len(boxes) == 0:
        return None
    x, y, bw, bh = max((tuple(int(v) for v in b) for b in boxes), key=lambda b: b[2] * b[3])
    return (
        int(round(x / scale)),
        int(round(y / scale)),
        max(1, int(round(bw / scale))),
        max(1, int(round(bh / scale))),
    )


def sharpness(crop: np.ndarray) -> float:
    """Contrast-invariant sharpness of a uint8 grey crop in [0, 1]: ``var(Laplacian) / (20 var)``, 0 if flat."""
    x = crop.astype(np.float32) / 255.0
    var = float(x.var())
    if var < 1e-8:
        return 0.0
    lap = cv2.Laplacian(x, cv2.CV_32F, ksize=1)
    return float(np.clip(lap.var() / (_WHITE_NOISE_RATIO * var), 0.0, 1.0))


def _one_clip(clip: np.ndarray) -> list[float]:
    greys = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in clip]
    area = float(greys[0].shape[0] * greys[0].shape[1])
    sizes, qualities = [], []
    for grey in greys:
        box = detect_face(grey)
        if box is None:
            continue
        x, y, w, h = box
        sizes.append(w * h / area)
        qualities.append(sharpness(grey[y : y + h, x : x + w]))
    stack = np.stack(greys).astype(np.float32) / 255.0
    thumb = cv2.resize(stack.mean(axis=0), (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA).ravel()
    thumb = thumb.astype(np.float64)
    thumb = (thumb - thumb.mean()) / max(float(thumb.std()), 1e-6)
    return [
        float(stack.mean()),
        float(stack.reshape(len(greys), -1).std(axis=1).mean()),
        len(sizes) / len(greys),
        float(np.mean(sizes)) if sizes else float("nan"),
        float(np.mean(qualities)) if qualities else float("nan"),
        *thumb.tolist(),
    ]


def clip_statistics(*, clips: np.ndarray, index: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per clip of ``(N, T, H, W, 3)`` uint8 RGB clips: :data:`STAT_COLUMNS` then :data:`THUMB_COLUMNS`."""
    if clips.ndim != 5 or clips.shape[-1] != 3 or clips.dtype != np.uint8:
        raise ValueError(f"clips must be (N, T, H, W, 3) uint8 RGB, got {clips.shape} {clips.dtype}")
    if index is not None and len(index) != len(clips):
        raise ValueError(f"{len(index)} index values for {len(clips)} clips")
    rows = [_one_clip(clip) for clip in clips]
    return pd.DataFrame(
        rows,
        columns=[*STAT_COLUMNS, *THUMB_COLUMNS],
        index=pd.Index(list(index) if index is not None else range(len(clips)), name="video_name"),
        dtype=float,
    )


def sample_statistics(
    *, samples: Sequence[DFEWSample], frames: int = 4, size: int = 112, batch: int = 32, workers: int = 2
) -> pd.DataFrame:
    """:func:`clip_statistics` of dataset clips, decoded ``batch`` at a time; indexed by video_name."""
    parts = [
        clip_statistics(
            clips=read_clips(samples=samples[i : i + batch], frames=frames, size=size, workers=workers),
            index=[s.video_name for s in samples[i : i + batch]],
        )
        for i in range(0, len(samples), batch)
    ]
    if not parts:
        return clip_statistics(clips=np.zeros((0, frames, size, size, 3), dtype=np.uint8), index=[])
    return pd.concat(parts)


def embedding_summary(*, thumbnails: np.ndarray, reference: np.ndarray, components: int = 2) -> np.ndarray:
    """Project standardised thumbnails onto the first ``components`` principal axes of the reference rows.

    ``reference`` is a boolean mask of the rows the PCA is fitted on (the reference window), so a
    current window's shift shows as a shift of its scores.
    """
    from sklearn.decomposition import PCA

    if reference.dtype != bool or reference.shape != (len(thumbnails),):
        raise ValueError("reference must be a boolean mask with one entry per thumbnail")
    if int(reference.sum()) <= components:
        raise ValueError(f"the reference window has {int(reference.sum())} clips; PCA-{components} needs more")
    pca = PCA(n_components=components, random_state=0).fit(thumbnails[reference])
    return pca.transform(thumbnails)


__all__ = [
    "STAT_COLUMNS",
    "THUMB_COLUMNS",
    "clip_statistics",
    "detect_face",
    "embedding_summary",
    "sample_statistics",
    "sharpness",
]
