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
  :func:`read_faces` crops every frame of a clip that is not already face-cropped and counts rejections;
  :func:`read_faces_many` does it for many clips in a thread pool (OpenCV and PyAV release the GIL,
  and every thread has its own cascade), with the same arrays as one clip after the other.
  The cascade dominates the cost (milliseconds per frame); ``detect_every`` (reuse the box between
  detections), ``detect_side`` (search a shrunk copy) and ``cache`` (a folder of detected boxes, so
  that a clip is searched once and later reads only decode, check the bar and crop) trade it down.
  ``benchmarks/data_throughput.py`` measures each against the zoo's fastest model.

Every failure is a :class:`DataError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from affectgate.core.errors import DataError
from affectgate.datasets.loading import IMAGE_SUFFIXES, frame_key

FACE_OK = "ok"
NO_FACE = "no_face"
FACE_TOO_SMALL = "face_too_small"
TOO_BLURRY = "too_blurry"
CASCADE = "haarcascade_frontalface_default.xml"
#: Face detectors: MTCNN in onnxruntime (the default: colour input, five landmarks, aligned crops) or Haar.
DETECTORS = ("mtcnn", "haar")
DEFAULT_DETECTOR = "mtcnn"


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
    decoded = list(_iter_video(path, fmt="rgb24"))
    if not decoded:
        raise DataError(f"no frames could be decoded from {path}", fix="re-encode or replace the file")
    return decoded


def _iter_video(path: Path, *, fmt: str) -> Iterator[np.ndarray]:
    """The video frames of ``path`` one by one as uint8 ``fmt`` (``rgb24``/``bgr24``) arrays, decoded by PyAV."""
    for frame in _iter_video_frames(path):
        yield _to_ndarray(frame, fmt=fmt, path=path)


def _iter_video_frames(path: Path) -> Iterator[av.VideoFrame]:
    """The decoded (not yet converted) video frames of ``path`` one by one (PyAV, codec threads on)."""
    _check_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path} has no video stream", fix="point at a video file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield from container.decode(stream)
    except av.FFmpegError as exc:
        raise DataError(f"cannot decode video {path}: {exc}", fix="re-encode or replace the file") from None


def _to_ndarray(frame: av.VideoFrame, *, fmt: str, path: Path) -> np.ndarray:
    try:
        return frame.to_ndarray(format=fmt)
    except av.FFmpegError as exc:
        raise DataError(f"cannot convert a frame of {path}: {exc}", fix="re-encode or replace the file") from None


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


def _read_bgr(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:  # say why: missing, 0-byte or undecodable (checked only on failure: no stat per frame)
        _check_file(path)
        raise DataError(f"undecodable frame {path}", fix="re-extract the clip's frames")
    return img


def read_image(path: Path) -> np.ndarray:
    """One frame image as RGB uint8 (0-byte or undecodable files are a DataError naming them)."""
    return cv2.cvtColor(_read_bgr(path), cv2.COLOR_BGR2RGB)


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


def detector_id(detector: str) -> str:
    """The detector and its version, as recorded per crop: ``mtcnn facenet-pytorch==2.6.0/onnx-1`` or ``haar ...``."""
    if detector == "mtcnn":
        from affectgate.datasets.faces import mtcnn

        return f"mtcnn {mtcnn.VERSION}"
    if detector == "haar":
        return f"haar {CASCADE} opencv {cv2.__version__}"
    raise DataError(f"unknown face detector {detector!r}", fix=f"use one of {', '.join(DETECTORS)}")


def _mtcnn_min_face(shape: tuple[int, ...], q: FaceQuality) -> int:
    """The pyramid's smallest face: three quarters of the bar's least side (smaller faces cannot pass it), >= 12."""
    bar = max(q.min_face_px, q.min_face_fraction * min(shape[:2]))
    return max(12, int(0.75 * bar))


#: Five landmarks per face (left eye, right eye, nose, mouth corners) as 10 numbers, or None (Haar).
Marks = tuple[float, ...] | None


def _mtcnn_find(
    bgr: np.ndarray, q: FaceQuality, *, near: Box | None = None, detect_side: int | None = None
) -> tuple[Box | None, Marks]:
    """MTCNN's largest face of a BGR frame (searched on its RGB colours), or near ``near`` at nearly its size."""
    from affectgate.datasets.faces import mtcnn

    ox, oy, f = 0, 0, 1.0
    if near is not None:
        x, y, w, h = near
        side = max(w, h)
        pad = int(round(side * TRACK_PAD))
        ox, oy = max(0, x - pad), max(0, y - pad)
        region = bgr[oy : min(bgr.shape[0], y + h + pad), ox : min(bgr.shape[1], x + w + pad)]
        lo, hi = max(12, int(side * TRACK_SCALE[0])), int(np.ceil(side * TRACK_SCALE[1]))
        if region.shape[0] < lo or region.shape[1] < lo:
            return None, None
        min_face, max_face = lo, hi
    else:
        region, min_face, max_face = bgr, _mtcnn_min_face(bgr.shape, q), None
        if detect_side is not None and max(bgr.shape[:2]) > detect_side:
            f = detect_side / max(bgr.shape[:2])
            region = cv2.resize(
                bgr, (max(1, round(bgr.shape[1] * f)), max(1, round(bgr.shape[0] * f))), interpolation=cv2.INTER_AREA
            )
            min_face = max(12, int(min_face * f))
    rgb = cv2.cvtColor(region, cv2.COLOR_BGR2RGB)
    boxes, _, marks = mtcnn.detect(rgb, min_face=min_face, max_face=max_face)
    if f != 1.0 and len(boxes):
        boxes, marks = boxes / f, marks / f
    if len(boxes):
        boxes = boxes + np.array([ox, oy, ox, oy], dtype=np.float32)
        marks = marks + np.array([ox, oy], dtype=np.float32)
    best = mtcnn.largest(boxes, marks, bgr.shape)
    if best is None:
        return None, None
    box, lm = best
    return box, tuple(round(float(v), 2) for v in lm.reshape(-1))


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian of a grey image (low = blurry)."""
    if gray.dtype == np.uint8:  # exact in int16 (|lap| <= 4 * 255) and ~3x cheaper than float64
        _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_16S))
        return float(std[0, 0]) ** 2
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


Box = tuple[int, int, int, int]


def _check_detect_side(detect_side: int | None) -> None:
    if detect_side is None:
        return
    window = max(_cascade().getOriginalWindowSize())
    if detect_side < window:
        raise DataError(
            f"detect_side={detect_side} px is below the face detector's {window} px window",
            fix=f"use None (full resolution) or a side >= {window}",
        )


def detect_face(gray: np.ndarray, *, quality: FaceQuality | None = None, detect_side: int | None = None) -> Box | None:
    """The largest Haar-cascade face box ``(x, y, w, h)`` of a grey frame, or None.

    ``detect_side``: search a copy of the frame shrunk (INTER_AREA) so that its longer side is at most
    this many pixels and scale the box back to the frame. The cascade's cost grows with the pixels it
    scans, so this is much cheaper on large frames; the price is that a face smaller than about
    24 px x (frame side / ``detect_side``) cannot be found and counts as no face (never as a pass),
    and a face only a few dozen pixels wide in the shrunk copy is missed more often than at full
    resolution (fewer overlapping detections reach ``min_neighbors``). ``None`` searches the frame
    at full resolution.
    """
    q = quality or FaceQuality()
    _check_detect_side(detect_side)
    height, width = gray.shape[:2]
    image, sx, sy = gray, 1.0, 1.0
    if detect_side is not None and max(height, width) > detect_side:
        f = detect_side / max(height, width)
        small = (max(1, round(width * f)), max(1, round(height * f)))
        image = cv2.resize(gray, small, interpolation=cv2.INTER_AREA)
        sx, sy = width / small[0], height / small[1]
    boxes = _cascade().detectMultiScale(image, scaleFactor=q.scale_factor, minNeighbors=q.min_neighbors, minSize=(8, 8))
    if len(boxes) == 0:
        return None
    x, y, w, h = (int(v) for v in max(boxes, key=lambda b: int(b[2]) * int(b[3])))
    if image is gray:
        return x, y, w, h
    x0, y0 = min(width - 1, round(x * sx)), min(height - 1, round(y * sy))
    x1, y1 = min(width, round((x + w) * sx)), min(height, round((y + h) * sy))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


#: A tracked search looks for the face again within this share of the last box's side around it ...
TRACK_PAD = 0.5
#: ... at sizes between these shares of the last box's side (a face moves and scales little frame to frame).
TRACK_SCALE = (0.8, 1.25)


def detect_near(gray: np.ndarray, box: Box, *, quality: FaceQuality | None = None) -> Box | None:
    """The largest Haar face in the window around ``box`` (the previous frame's face), at nearly its size; or None.

    A real detection on this frame's pixels (the cascade must fire with ``min_neighbors`` there), only
    over a smaller region and a narrow band of scales: several times cheaper than :func:`detect_face`
    on the whole frame. None means "not found near": the caller searches the whole frame before it
    decides there is no face.
    """
    q = quality or FaceQuality()
    x, y, w, h = box
    side = max(w, h)
    pad = int(round(side * TRACK_PAD))
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(gray.shape[1], x + w + pad), min(gray.shape[0], y + h + pad)
    lo, hi = max(8, int(side * TRACK_SCALE[0])), int(np.ceil(side * TRACK_SCALE[1]))
    if x1 - x0 < lo or y1 - y0 < lo:
        return None
    boxes = _cascade().detectMultiScale(
        gray[y0:y1, x0:x1], scaleFactor=q.scale_factor, minNeighbors=q.min_neighbors, minSize=(lo, lo), maxSize=(hi, hi)
    )
    if len(boxes) == 0:
        return None
    bx, by, bw, bh = (int(v) for v in max(boxes, key=lambda b: int(b[2]) * int(b[3])))
    return x0 + bx, y0 + by, bw, bh


def _bar(shape: tuple[int, ...], box: Box, face_gray: np.ndarray, q: FaceQuality) -> str:
    """The outcome of the size and sharpness bar for ``box`` in a frame of ``shape`` (``face_gray``: the box's grey)."""
    side = max(box[2], box[3])
    if side < q.min_face_px or side < q.min_face_fraction * min(shape[:2]):
        return FACE_TOO_SMALL
    if sharpness(face_gray) < q.min_sharpness:
        return TOO_BLURRY
    return FACE_OK


def _window(shape: tuple[int, ...], box: Box, q: FaceQuality) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: the square around ``box`` with the margin, clipped to the frame."""
    x, y, w, h = box
    cx, cy, half = x + w / 2, y + h / 2, max(w, h) * (1 + 2 * q.margin) / 2
    x0, y0 = max(0, int(round(cx - half))), max(0, int(round(cy - half)))
    x1, y1 = min(shape[1], int(round(cx + half))), min(shape[0], int(round(cy + half)))
    return x0, y0, x1, y1


def crop_box(
    frame: np.ndarray, gray: np.ndarray, box: Box, *, quality: FaceQuality | None = None
) -> tuple[np.ndarray | None, str]:
    """The face at ``box``, square with a margin, if it passes the size and sharpness bar; else the reason."""
    q = quality or FaceQuality()
    x, y, w, h = box
    reason = _bar(frame.shape, box, gray[y : y + h, x : x + w], q)
    if reason != FACE_OK:
        return None, reason
    x0, y0, x1, y1 = _window(frame.shape, box, q)
    return frame[y0:y1, x0:x1].copy(), FACE_OK


def _rgb_gray(frame: np.ndarray) -> np.ndarray:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise DataError(f"crop_face needs an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def crop_face(
    frame: np.ndarray, *, quality: FaceQuality | None = None, detect_side: int | None = None
) -> tuple[np.ndarray | None, str]:
    """The largest face of an RGB frame, square with a margin, and ``"ok"``; or ``None`` and the rejection reason.

    Reasons: ``no_face``, ``face_too_small`` (below ``min_face_px`` or ``min_face_fraction``),
    ``too_blurry`` (variance of the Laplacian of the face below ``min_sharpness``).
    ``detect_side``: see :func:`detect_face` (the bar is always checked on the full-resolution pixels).
    """
    gray = _rgb_gray(frame)
    box = detect_face(gray, quality=quality, detect_side=detect_side)
    if box is None:
        return None, NO_FACE
    return crop_box(frame, gray, box, quality=quality)


def _iter_lazy(path: Path, files: list[Path] | None = None) -> Iterator[Callable[[], np.ndarray]]:
    """The frames of a video or frame folder (``files``: its frames, listed already) one by one, in order.

    Each is a call that returns the frame as BGR uint8 (OpenCV's order: no full-frame conversion);
    a frame whose pixels are not needed is never read (jpg/png) or converted (video).
    """
    if path.is_dir():
        for file in files if files is not None else frame_files(path):
            yield partial(_read_bgr, file)
        return
    n = 0
    for n, frame in enumerate(_iter_video_frames(path), start=1):  # noqa: B007
        yield partial(_to_ndarray, frame, fmt="bgr24", path=path)
    if n == 0:
        raise DataError(f"no frames could be decoded from {path}", fix="re-encode or replace the file")


def _listing(folder: Path) -> tuple[list[Path], list[tuple[str, int, int]]]:
    """A frame folder's frames in order (as :func:`frame_files`) and every entry's (name, size, mtime), in one scan."""
    if not folder.is_dir():
        raise DataError(f"frame folder not found: {folder}", fix="restore the clip's frames or fix the path")
    with os.scandir(folder) as it:
        entries = [(e.name, (st := e.stat()).st_size, st.st_mtime_ns) for e in it]
    files = [folder / name for name, _, _ in entries if name.lower().endswith(IMAGE_SUFFIXES)]
    if not files:
        raise DataError(f"empty frame folder {folder} (no {', '.join(IMAGE_SUFFIXES)} frames)", fix="restore them")
    return sorted(files, key=lambda p: frame_key(p.name)), sorted(entries)


def _gray(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def _check_read(*, frames: int, size: int, detect_every: int, detect_side: int | None, track: bool = False) -> None:
    if track and detect_every != 1:
        raise DataError("track searches every frame near the last face", fix="use track with detect_every=1")
    if frames < 1 or size < 1:
        raise DataError(f"cannot sample {frames} frames of {size}x{size} px", fix="frames and size must be >= 1")
    if detect_every < 1:
        raise DataError(f"detect_every={detect_every}", fix="detect on every frame (1) or every k-th frame (k > 1)")
    _check_detect_side(detect_side)


def face_cache_key(
    *,
    path: Path,
    quality: FaceQuality | None = None,
    detect_every: int = 1,
    detect_side: int | None = None,
    track: bool = False,
    detector: str = DEFAULT_DETECTOR,
) -> str:
    """Cache key of a clip's face boxes: its files (name, size, mtime), the bar, the detector (and version),
    OpenCV and the search."""
    if path.is_dir():
        entries = _listing(path)[1]
    else:
        st = path.stat()
        entries = [(path.name, st.st_size, st.st_mtime_ns)]
    return _key(path, entries, quality or FaceQuality(), detect_every, detect_side, track, detector)


def _key(
    path: Path,
    entries: list[tuple[str, int, int]],
    q: FaceQuality,
    detect_every: int,
    detect_side: int | None,
    track: bool = False,
    detector: str = "haar",
) -> str:
    raw = [
        os.path.abspath(path),
        entries,
        CASCADE if detector == "haar" else detector_id(detector),
        cv2.__version__,
        q.model_dump(mode="json"),
        detect_every,
        detect_side,
    ]
    if track:  # keys of the untracked searches stay as they were
        raw.append(["track", TRACK_PAD, list(TRACK_SCALE)])
    return hashlib.sha256(json.dumps(raw).encode("utf-8")).hexdigest()[:32]


def _load_boxes(file: Path) -> tuple[list[Box | None], list[Marks]] | None:
    """The boxes (and MTCNN landmarks) cached in ``file``, or None when there is none (a torn or foreign file is
    removed)."""
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        raw, raw_marks = data["boxes"], data.get("landmarks") or [None] * len(data["boxes"])
        boxes: list[Box | None] = []
        marks: list[Marks] = []
        for b, m in zip(raw, raw_marks, strict=True):
            if b is not None and not (len(b) == 4 and all(isinstance(v, int) for v in b)):
                raise ValueError(f"bad box {b!r}")
            if m is not None and not (len(m) == 10 and all(isinstance(v, int | float) for v in m)):
                raise ValueError(f"bad landmarks {m!r}")
            boxes.append(None if b is None else (b[0], b[1], b[2], b[3]))
            marks.append(None if m is None else tuple(float(v) for v in m))
        return boxes, marks
    except (OSError, ValueError, KeyError, TypeError):
        file.unlink(missing_ok=True)
        return None


def _save_boxes(file: Path, boxes: list[Box | None], marks: list[Marks] | None = None) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    data: dict[str, object] = {"boxes": [None if b is None else list(b) for b in boxes]}
    if marks is not None and any(m is not None for m in marks):
        data["landmarks"] = [None if m is None else list(m) for m in marks]
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, file)


def _faces(
    path: Path,
    *,
    files: list[Path] | None,
    q: FaceQuality,
    detect_every: int,
    detect_side: int | None,
    cached: tuple[list[Box | None], list[Marks]] | None,
    track: bool = False,
    detector: str = "haar",
) -> tuple[list[np.ndarray], Counter[str], list[Box | None], list[Marks]]:
    """Crops (BGR, not resized) of the frames that pass the bar, the count per outcome and each frame's box.

    With ``cached`` boxes the detector is not run: frame ``i`` uses ``cached[i]`` (a frame beyond
    them gets None, and the caller sees the length differ), and a frame cached without a face is
    counted without being decoded.
    """
    counts: Counter[str] = Counter()
    kept: list[np.ndarray] = []
    boxes: list[Box | None] = []
    all_marks: list[Marks] = []
    box: Box | None = None
    marks: Marks = None
    seen: tuple[int, ...] = ()
    for i, decode in enumerate(_iter_lazy(path, files)):
        gray = None
        if cached is not None:
            box = cached[0][i] if i < len(cached[0]) else None
            marks = cached[1][i] if i < len(cached[1]) else None
            img = decode() if box is not None else None
        elif detector == "mtcnn":  # colour frames; tracked: near the last face first, then the whole frame
            img = decode()
            near = box if track and box is not None and img.shape == seen else None
            found = _mtcnn_find(img, q, near=near) if near is not None else (None, None)
            if found[0] is None and (track or box is None or i % detect_every == 0 or img.shape != seen):
                found = _mtcnn_find(img, q, detect_side=detect_side)
            elif found[0] is None:
                found = (box, marks)  # reused between detections (detect_every > 1)
            (box, marks), seen = found, img.shape
        else:
            marks = None
            img = decode()
            if track:  # search near the last face first, then the whole frame: every frame is searched
                gray = _gray(img)
                near = detect_near(gray, box, quality=q) if box is not None and img.shape == seen else None
                box = near if near is not None else detect_face(gray, quality=q, detect_side=detect_side)
                seen = img.shape
            elif box is None or i % detect_every == 0 or img.shape != seen:  # a box is reused on same-size frames
                gray = _gray(img)
                box, seen = detect_face(gray, quality=q, detect_side=detect_side), img.shape
        boxes.append(box)
        all_marks.append(marks)
        if box is None or img is None:
            counts[NO_FACE] += 1
            continue
        x, y, w, h = box
        face = img[y : y + h, x : x + w]
        reason = _bar(img.shape, box, gray[y : y + h, x : x + w] if gray is not None else _gray(face), q)
        counts[reason] += 1
        if reason == FACE_OK and marks is not None:  # five landmarks: rotate so that the eyes are level
            from affectgate.datasets.faces.mtcnn import align

            kept.append(align(img, box, np.asarray(marks, dtype=np.float32).reshape(5, 2), margin=q.margin))
        elif reason == FACE_OK:
            x0, y0, x1, y1 = _window(img.shape, box, q)
            kept.append(img[y0:y1, x0:x1].copy())  # BGR, full size: the caller resizes only the sampled crops
    return kept, counts, boxes, all_marks


def read_faces(
    *,
    path: Path,
    frames: int,
    size: int,
    quality: FaceQuality | None = None,
    detect_every: int = 1,
    detect_side: int | None = None,
    cache: Path | None = None,
    track: bool = False,
    detector: str = DEFAULT_DETECTOR,
) -> tuple[np.ndarray | None, dict[str, int]]:
    """Face crops of a video or frame folder that is not already cropped, and the count per outcome.

    ``detector``: ``mtcnn`` (the default: MTCNN in onnxruntime on the colour frame, the crop rotated on its
    five landmarks so that the eyes are level) or ``haar`` (OpenCV's cascade on grey, an axis-aligned crop).

    Every frame is checked; ``frames`` crops are then sampled uniformly over the frames that passed
    the bar (``None`` when none did). The counts (``ok`` and each rejection reason) sum to the frames seen.
    ``detect_every=k`` runs the face detector on every k-th frame (and whenever there is no box yet)
    and reuses the last box in between: the detector dominates the cost, and a face moves little
    within a few frames. Every frame still passes the size and sharpness bar on its own pixels, and a
    frame is only rejected as ``no_face`` after the detector searched it.
    ``detect_side``: the detector searches a shrunk copy of the frame (see :func:`detect_face`).
    ``track``: every frame is searched, first near the previous frame's face at nearly its size
    (:func:`detect_near`, several times cheaper), and over the whole frame when it is not found there,
    so a frame is ``no_face`` only after a full search (the gate's screening reads this way).
    ``cache``: a folder of detected boxes, one small JSON per clip under :func:`face_cache_key` (the
    clip's files with size and mtime, the bar, the cascade, the OpenCV version, ``detect_every`` and
    ``detect_side``). A later read of the same clip skips only the detector: it still decodes every
    frame, checks the bar on its pixels and crops, and gives the same arrays and counts. The boxes do
    not depend on ``frames`` or ``size``, so one detection pass serves every model input.

    Frames are decoded one at a time in OpenCV's BGR order; only the grey image the detector needs and
    the final ``size`` x ``size`` crops are converted, and only the sampled crops are resized, which
    gives the same crops as :func:`crop_face` on the RGB frame. The defaults (``detect_every=1``,
    ``detect_side=None``) give exactly ``crop_face`` on every frame.
    """
    _check_read(frames=frames, size=size, detect_every=detect_every, detect_side=detect_side, track=track)
    detector_id(detector)  # an unknown detector is a DataError before anything is read
    q = quality or FaceQuality()
    file, files = None, None
    if cache is not None and path.exists():  # a missing path is reported by the reading below
        if path.is_dir():
            files, entries = _listing(path)  # one scan for the frames and the key
        else:
            st = path.stat()
            entries = [(path.name, st.st_size, st.st_mtime_ns)]
        file = cache / f"{_key(path, entries, q, detect_every, detect_side, track, detector)}.json"
    search = partial(
        _faces,
        path,
        files=files,
        q=q,
        detect_every=detect_every,
        detect_side=detect_side,
        track=track,
        detector=detector,
    )
    cached = _load_boxes(file) if file is not None else None
    kept, counts, boxes, marks = search(cached=cached)
    if cached is not None and len(cached[0]) != len(boxes):  # a stale entry: detect again
        cached = None
        kept, counts, boxes, marks = search(cached=None)
    if file is not None and cached is None:
        _save_boxes(file, boxes, marks)
    if not kept:
        return None, dict(counts)
    idx = _sample_index(len(kept), frames).tolist()
    fitted = {i: _fit(kept[i], size) for i in set(idx)}  # resize only the sampled crops, each once
    clip = np.stack([fitted[i] for i in idx])
    rgb = cv2.cvtColor(clip.reshape(frames * size, size, 3), cv2.COLOR_BGR2RGB)  # one call for the clip
    return rgb.reshape(frames, size, size, 3), dict(counts)


def read_faces_many(
    *,
    paths: Sequence[Path],
    frames: int,
    size: int,
    quality: FaceQuality | None = None,
    detect_every: int = 1,
    detect_side: int | None = None,
    cache: Path | None = None,
    workers: int = 2,
    track: bool = False,
    detector: str = DEFAULT_DETECTOR,
) -> list[tuple[np.ndarray | None, dict[str, int]]]:
    """:func:`read_faces` of every path, in order, decoded by ``workers`` threads.

    Decoding (cv2, PyAV) and the cascade release the GIL, and every thread has its own cascade (a
    shared one is not thread-safe), so the results are the arrays and counts of one clip after the
    other. The first clip that fails raises its :class:`DataError`.
    """
    if workers < 1:
        raise DataError(f"workers={workers}", fix="use 1 or more decoding threads")
    _check_read(frames=frames, size=size, detect_every=detect_every, detect_side=detect_side, track=track)

    def one(path: Path) -> tuple[np.ndarray | None, dict[str, int]]:
        return read_faces(
            path=path,
            frames=frames,
            size=size,
            quality=quality,
            detect_every=detect_every,
            detect_side=detect_side,
            cache=cache,
            track=track,
            detector=detector,
        )

    if workers == 1 or len(paths) < 2:
        return [one(p) for p in paths]
    with ThreadPoolExecutor(max_workers=min(workers, len(paths))) as pool:
        return list(pool.map(one, paths))
