"""Media decoding for the loaders: videos (PyAV), frame folders, audio tracks, face crops with a quality bar.

- :func:`read_video` decodes mp4/avi/flv/gif/... with PyAV and samples ``frames`` frames uniformly
  over the clip (``np.linspace`` over the decoded frames, rounded), the same rule as
  :func:`affectgate.datasets.dfew.read_clip` uses for frame folders, so a clip gives the same frames
  whether it is stored as a video or as its extracted frames.
- :func:`read_frame_folder` does the same for a folder of jpg/png frames.
- :func:`extract_audio` decodes a file's first audio track as mono float32 at a given rate (for fusion).
- :func:`crop_face` finds the largest face with OpenCV's Haar cascade (shipped in
  opencv-python-headless) and applies a quality bar: no face, a face smaller than the bar, or a face
  too blurry (variance of the Laplacian) is rejected with its reason — never guessed.
  :func:`read_faces` crops every frame of a clip that is not already face-cropped and counts rejections.

Every failure is a :class:`DataError` naming the file.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import av
import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from affectgate.datasets.loading import IMAGE_SUFFIXES, frame_key
from affectgate.errors import DataError

FACE_OK = "ok"
NO_FACE = "no_face"
FACE_TOO_SMALL = "face_too_small"
TOO_BLURRY = "too_blurry"
CASCADE = "haarcascade_frontalface_default.xml"


class FaceQuality(BaseModel):
    """The bar a detected face must pass to be used."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    min_face_px: int = Field(default=32, ge=1, description="Least face side in pixels.")
    min_face_fraction: float = Field(
        default=0.15, ge=0, le=1, description="Least face side as a share of the frame's shorter side."
    )
    min_sharpness: float = Field(
        default=15.0, ge=0, description="Least variance of the Laplacian of the grey face crop (blur check)."
    )
    margin: float = Field(default=0.15, ge=0, le=1, description="Border added around the detected box, per side.")
    scale_factor: float = Field(default=1.1, gt=1, description="Haar cascade image-pyramid step.")
    min_neighbors: int = Field(default=4, ge=0, description="Haar cascade detections needed to accept a box.")


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"media file not found: {path}", fix="restore the file or fix the path")
    if path.stat().st_size == 0:
        raise DataError(f"0-byte media file {path}", fix="re-copy or re-encode the file")


def _sample_index(n: int, frames: int) -> np.ndarray:
    return np.linspace(0, n - 1, num=frames).round().astype(int)


def _fit(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _decode_rgb(path: Path) -> list[np.ndarray]:
    """Every video frame of ``path`` as RGB uint8 arrays (a corrupt or frame-less file is a DataError)."""
    _check_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path} has no video stream", fix="point at a video file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except av.FFmpegError as exc:
        raise DataError(f"cannot decode video {path}: {exc}", fix="re-encode or replace the file") from None
    if not decoded:
        raise DataError(f"no frames could be decoded from {path}", fix="re-encode or replace the file")
    return decoded


def read_video(*, path: Path, frames: int, size: int) -> np.ndarray:
    """``(frames, size, size, 3)`` uint8 RGB: ``frames`` frames sampled uniformly over the decoded video."""
    if frames < 1 or size < 1:
        raise DataError(f"cannot sample {frames} frames of {size}x{size} px", fix="frames and size must be >= 1")
    decoded = _decode_rgb(path)
    idx = _sample_index(len(decoded), frames)
    return np.stack([_fit(decoded[i], size) for i in idx.tolist()])


def frame_files(folder: Path) -> list[Path]:
    """The image frames of a folder in frame order (by the last number in the name)."""
    if not folder.is_dir():
        raise DataError(f"frame folder not found: {folder}", fix="restore the clip's frames or fix the path")
    files = [p for p in folder.iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES)]
    if not files:
        raise DataError(f"empty frame folder {folder} (no {', '.join(IMAGE_SUFFIXES)} frames)", fix="restore them")
    return sorted(files, key=lambda p: frame_key(p.name))


def read_image(path: Path) -> np.ndarray:
    """One frame image as RGB uint8 (0-byte or undecodable files are a DataError naming them)."""
    _check_file(path)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"undecodable frame {path}", fix="re-extract the clip's frames")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_frame_folder(*, path: Path, frames: int, size: int) -> np.ndarray:
    """``(frames, size, size, 3)`` uint8 RGB sampled uniformly over a folder of jpg/png frames."""
    if frames < 1 or size < 1:
        raise DataError(f"cannot sample {frames} frames of {size}x{size} px", fix="frames and size must be >= 1")
    files = frame_files(path)
    idx = _sample_index(len(files), frames)
    cache: dict[int, np.ndarray] = {}
    out = np.empty((frames, size, size, 3), dtype=np.uint8)
    for t, i in enumerate(idx.tolist()):
        if i not in cache:
            cache[i] = _fit(read_image(files[i]), size)
        out[t] = cache[i]
    return out


def extract_audio(*, path: Path, sample_rate: int) -> np.ndarray:
    """The first audio track of ``path`` as mono float32 in [-1, 1] at ``sample_rate`` Hz (1-D)."""
    if sample_rate < 1:
        raise DataError(f"sample rate {sample_rate} Hz", fix="use a positive sample rate, e.g. 16000")
    _check_file(path)
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise DataError(
                    f"{path} has no audio track", fix="use the file with the audio (RAVDESS modality 01/03)"
                )
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as exc:
        raise DataError(f"cannot decode the audio of {path}: {exc}", fix="re-encode or replace the file") from None
    if not chunks:
        raise DataError(f"no audio samples could be decoded from {path}", fix="re-encode or replace the file")
    return np.clip(np.concatenate(chunks).astype(np.float32), -1.0, 1.0)


_LOCAL = threading.local()


def _cascade() -> cv2.CascadeClassifier:
    """One Haar classifier per thread: a shared CascadeClassifier is not thread-safe (boxes differ under threads)."""
    cascade = getattr(_LOCAL, "cascade", None)
    if cascade is not None:
        return cascade
    path = Path(cv2.data.haarcascades) / CASCADE
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise DataError(f"cannot load the Haar cascade {path}", fix="reinstall opencv-python-headless")
    _LOCAL.cascade = cascade
    return cascade


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian of a grey image (low = blurry)."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


Box = tuple[int, int, int, int]


def detect_face(gray: np.ndarray, *, quality: FaceQuality | None = None) -> Box | None:
    """The largest Haar-cascade face box ``(x, y, w, h)`` of a grey frame, or None."""
    q = quality or FaceQuality()
    boxes = _cascade().detectMultiScale(gray, scaleFactor=q.scale_factor, minNeighbors=q.min_neighbors, minSize=(8, 8))
    if len(boxes) == 0:
        return None
    x, y, w, h = (int(v) for v in max(boxes, key=lambda b: int(b[2]) * int(b[3])))
    return x, y, w, h


def crop_box(
    frame: np.ndarray, gray: np.ndarray, box: Box, *, quality: FaceQuality | None = None
) -> tuple[np.ndarray | None, str]:
    """The face at ``box``, square with a margin, if it passes the size and sharpness bar; else the reason."""
    q = quality or FaceQuality()
    x, y, w, h = box
    side = max(w, h)
    if side < q.min_face_px or side < q.min_face_fraction * min(frame.shape[:2]):
        return None, FACE_TOO_SMALL
    if sharpness(gray[y : y + h, x : x + w]) < q.min_sharpness:
        return None, TOO_BLURRY
    cx, cy, half = x + w / 2, y + h / 2, side * (1 + 2 * q.margin) / 2
    x0, y0 = max(0, int(round(cx - half))), max(0, int(round(cy - half)))
    x1, y1 = min(frame.shape[1], int(round(cx + half))), min(frame.shape[0], int(round(cy + half)))
    return frame[y0:y1, x0:x1].copy(), FACE_OK


def _rgb_gray(frame: np.ndarray) -> np.ndarray:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise DataError(f"crop_face needs an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def crop_face(frame: np.ndarray, *, quality: FaceQuality | None = None) -> tuple[np.ndarray | None, str]:
    """The largest face of an RGB frame, square with a margin, and ``"ok"``; or ``None`` and the rejection reason.

    Reasons: ``no_face``, ``face_too_small`` (below ``min_face_px`` or ``min_face_fraction``),
    ``too_blurry`` (variance of the Laplacian of the face below ``min_sharpness``).
    """
    gray = _rgb_gray(frame)
    box = detect_face(gray, quality=quality)
    if box is None:
        return None, NO_FACE
    return crop_box(frame, gray, box, quality=quality)


def read_faces(
    *, path: Path, frames: int, size: int, quality: FaceQuality | None = None, detect_every: int = 1
) -> tuple[np.ndarray | None, dict[str, int]]:
    """Face crops of a video or frame folder that is not already cropped, and the count per outcome.

    Every frame is checked; ``frames`` crops are then sampled uniformly over the frames that passed
    the bar (``None`` when none did). The counts (``ok`` and each rejection reason) sum to the frames seen.
    ``detect_every=k`` runs the face detector on every k-th frame (and whenever there is no box yet)
    and reuses the last box in between: the detector dominates the cost, and a face moves little
    within a few frames. Every frame still passes the size and sharpness bar on its own pixels.
    """
    if frames < 1 or size < 1:
        raise DataError(f"cannot sample {frames} frames of {size}x{size} px", fix="frames and size must be >= 1")
    if detect_every < 1:
        raise DataError(f"detect_every={detect_every}", fix="detect on every frame (1) or every k-th frame (k > 1)")
    images = [read_image(p) for p in frame_files(path)] if path.is_dir() else _decode_rgb(path)
    counts: Counter[str] = Counter()
    kept: list[np.ndarray] = []
    box: Box | None = None
    for i, img in enumerate(images):
        gray = _rgb_gray(img)
        if box is None or i % detect_every == 0:
            box = detect_face(gray, quality=quality)
        if box is None:
            counts[NO_FACE] += 1
            continue
        crop, reason = crop_box(img, gray, box, quality=quality)
        counts[reason] += 1
        if crop is not None:
            kept.append(_fit(crop, size))
    if not kept:
        return None, dict(counts)
    return np.stack([kept[i] for i in _sample_index(len(kept), frames).tolist()]), dict(counts)
