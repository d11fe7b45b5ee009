"""Face crops for datasets whose media are not already face crops: declared, screened, counted, cached.

Whether a dataset's media are face crops is declared, never guessed from the pixels:

- ``face_cropped: true|false`` in the dataset root's ``datasheet.yaml`` (every affectgate generator
  writes one; a private set's datasheet may say it), else
- the format's default (:data:`FACE_CROPPED_BY_FORMAT`): DFEW's ``clip_224x224``, FERV39k's
  ``2_ClipsforFaceCrop`` and Aff-Wild2's ``cropped_aligned`` are released as face crops; RAVDESS,
  CREMA-D and MAFW clips are full camera frames; a private manifest is taken as cropped unless its
  datasheet says ``face_cropped: false``.

For a set that is not cropped, every sample is read with :func:`affectgate.datasets.media.read_faces`:
every frame is searched by the face detector (MTCNN by default, Haar with ``detector="haar"``;
:mod:`affectgate.datasets.media`) and must pass the face-quality bar (size, sharpness);
frames below it are rejected and counted by reason, and the clip's frames are sampled uniformly over
the frames that passed. :func:`screen_faces` does this for a whole selection before the gate
evaluates: a sample with no frame over the bar is left out of the evaluation and listed (never
guessed); the counts go to the report, the run folder (``face_screening.csv``) and the audit log.

:func:`read_face_clip` caches, per clip, the detected boxes (``<cache>/face_boxes``) and the decoded
crops at the model's frames x size (``<cache>/faces-<key>-<frames>x<size>.npz``), keyed on the clip's
files (name, size, mtime), the bar, the detector and OpenCV: a second evaluation of the same clips
decodes nothing, and a training run and a gate run share the detection.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from affectgate.core.errors import DataError
from affectgate.datasets import media
from affectgate.datasets.loading import read_datasheet

#: Whether a format's media are released as face crops (the default when the datasheet does not say).
FACE_CROPPED_BY_FORMAT: dict[str, bool] = {
    "dfew": True,
    "ferv39k": True,
    "affwild2": True,
    "engagement": True,
    "manifest": True,
    "mafw": False,
    "mafw_compound": False,
    "ravdess": False,
    "cremad": False,
}
SCREENING_FILE = "face_screening.csv"
OUTCOMES = (media.FACE_OK, media.NO_FACE, media.FACE_TOO_SMALL, media.TOO_BLURRY)


def declared_face_cropped(*, fmt: str, root: Path) -> bool:
    """The dataset's declaration: ``face_cropped`` in its ``datasheet.yaml``, else the format's default."""
    sheet = read_datasheet(root=root)
    if sheet is not None and sheet.get("face_cropped") is not None:
        value = sheet["face_cropped"]
        if not isinstance(value, bool):
            raise DataError(
                f"{root / 'datasheet.yaml'}: face_cropped is {value!r}, not true or false",
                fix="say face_cropped: true (media are face crops) or false (detect and crop faces)",
            )
        return value
    return FACE_CROPPED_BY_FORMAT.get(fmt, True)


def _clip_file(*, path: Path, frames: int, size: int, cache: Path, detector: str) -> Path:
    return cache / f"faces-{media.face_cache_key(path=path, track=True, detector=detector)}-{frames}x{size}.npz"


def configured_detector(detector: str | None = None) -> str:
    """``detector``, or the settings' ``face_detector`` (``AFFECTGATE_FACE_DETECTOR``; MTCNN by default)."""
    if detector is not None:
        return detector
    from affectgate.project.settings import get_settings

    return get_settings().face_detector


def read_face_clip(
    *, path: Path, frames: int, size: int, cache: Path | None = None, detector: str | None = None
) -> tuple[np.ndarray | None, dict[str, int]]:
    """``(frames, size, size, 3)`` RGB face crops of an uncropped clip (None when no frame passes) and the counts.

    Exactly :func:`affectgate.datasets.media.read_faces` with the default bar and ``track=True`` (every
    frame searched near the last face, then the whole frame when not found there); with ``cache``,
    through the box cache and a cache of the result (module docstring).
    """
    detector = configured_detector(detector)
    file = (
        _clip_file(path=path, frames=frames, size=size, cache=cache, detector=detector)
        if cache is not None and path.exists()
        else None
    )
    if file is not None and file.is_file():
        try:
            with np.load(file) as z:
                counts = json.loads(str(z["counts"]))
                clip = z["clip"] if z["clip"].size else None
            return clip, {str(k): int(v) for k, v in counts.items()}
        except (OSError, ValueError, KeyError):  # a torn write: read again
            file.unlink(missing_ok=True)
    clip, counts = media.read_faces(
        path=path,
        frames=frames,
        size=size,
        cache=None if cache is None else cache / "face_boxes",
        track=True,
        detector=detector,
    )
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.{id(counts)}.tmp.npz")
        empty = np.zeros((0,), dtype=np.uint8)
        np.savez(tmp, clip=empty if clip is None else clip, counts=np.array(json.dumps(counts)))
        os.replace(tmp, file)
    return clip, counts


def face_clip_or_error(
    *, path: Path, frames: int, size: int, cache: Path | None = None, detector: str | None = None
) -> np.ndarray:
    """:func:`read_face_clip`, raising a DataError naming the clip when none of its frames passes the bar."""
    clip, counts = read_face_clip(path=path, frames=frames, size=size, cache=cache, detector=detector)
    if clip is None:
        raise DataError(
            f"no frame of {path} passes the face-quality bar ({_describe(counts)})",
            fix="leave the clip out of the set (the gate screens and lists such clips), or declare the set "
            "face_cropped: true in its datasheet.yaml if its media are face crops already",
        )
    return clip


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no frames"


class SampleScreening(BaseModel):
    """The face-quality outcome of one sample's frames."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sample_id: str
    counts: dict[str, int] = Field(description="Frames per outcome: ok, no_face, face_too_small, too_blurry.")
    detector: str = Field(default="", description="The face detector and version that produced the crops.")

    @property
    def usable(self) -> bool:
        return self.counts.get(media.FACE_OK, 0) > 0


class FaceScreening(BaseModel):
    """The face screening of a selection: per sample, the frames kept and rejected by reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    samples: tuple[SampleScreening, ...]

    @property
    def detector(self) -> str | None:
        """The detector and version of the crops (one per screening), or None for an empty screening."""
        names = sorted({s.detector for s in self.samples if s.detector})
        return "; ".join(names) or None

    @property
    def frames(self) -> dict[str, int]:
        """Frames per outcome over every sample."""
        total: Counter[str] = Counter()
        for s in self.samples:
            total.update(s.counts)
        return {k: int(total.get(k, 0)) for k in OUTCOMES}

    @property
    def rejected(self) -> tuple[str, ...]:
        """Samples with no frame over the bar (left out of the evaluation)."""
        return tuple(s.sample_id for s in self.samples if not s.usable)

    def summary(self) -> str:
        f = self.frames
        rejected = sum(v for k, v in f.items() if k != media.FACE_OK)
        return (
            f"face crops: {f[media.FACE_OK]} of {sum(f.values())} frames over the bar ({rejected} rejected: "
            + ", ".join(f"{k} {v}" for k, v in f.items() if k != media.FACE_OK)
            + f"); {len(self.rejected)} of {len(self.samples)} samples without a usable face left out"
        )

    def table(self, groups: pd.DataFrame | None = None) -> pd.DataFrame:
        """One row per sample: its id, frames per outcome, whether it was evaluated, and its ``groups`` columns
        (indexed by sample id), so that detector misses concentrated in one group are visible."""
        frame = pd.DataFrame(
            [
                {
                    "sample_id": s.sample_id,
                    **{k: s.counts.get(k, 0) for k in OUTCOMES},
                    "evaluated": s.usable,
                    "detector": s.detector,
                }
                for s in self.samples
            ],
            columns=["sample_id", *OUTCOMES, "evaluated", "detector"],
        )
        if groups is not None and len(frame):
            cols = [c for c in groups.columns if c != "target"]
            frame = frame.join(groups[cols].reindex(frame["sample_id"]).reset_index(drop=True))
        return frame


def screen_faces(
    *,
    samples: list[tuple[str, Path]],
    frames: int,
    size: int,
    cache: Path | None = None,
    workers: int = 2,
    detector: str | None = None,
) -> FaceScreening:
    """Face-crop every ``(sample_id, media path)`` in threads (filling the caches) and count each outcome;
    each sample records the detector and version (``mtcnn`` by default, ``haar``) that produced its crops."""
    detector = configured_detector(detector)
    name = media.detector_id(detector)

    def one(item: tuple[str, Path]) -> SampleScreening:
        _, counts = read_face_clip(path=item[1], frames=frames, size=size, cache=cache, detector=detector)
        return SampleScreening(sample_id=item[0], counts=counts, detector=name)

    if workers <= 1 or len(samples) < 2:
        return FaceScreening(samples=tuple(one(s) for s in samples))
    with ThreadPoolExecutor(max_workers=min(workers, len(samples))) as pool:
        return FaceScreening(samples=tuple(pool.map(one, samples)))


__all__ = [
    "FACE_CROPPED_BY_FORMAT",
    "SCREENING_FILE",
    "FaceScreening",
    "SampleScreening",
    "declared_face_cropped",
    "configured_detector",
    "face_clip_or_error",
    "read_face_clip",
    "screen_faces",
]
