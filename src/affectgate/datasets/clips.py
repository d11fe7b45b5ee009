"""Decode samples of any format into model-input clips: frame folders, video files, frame images and face crops.

Every reader returns uint8 RGB ``(frames, size, size, 3)`` sampled uniformly over the clip; the
workspace's clip cache (``cache/clips``) keeps decoded clips so every evaluation of the same media
after the first skips decoding.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from affectgate.core.errors import DataError
from affectgate.datasets.loading import IMAGE_SUFFIXES, frame_key

if TYPE_CHECKING:
    from affectgate.datasets.dfew import DFEWSample


def read_clip(*, frame_dir: Path, frames: int, size: int) -> np.ndarray:
    """``(frames, size, size, 3)`` uint8 RGB: frames sampled uniformly (linspace) over the clip's image frames.

    Frames are the folder's ``.jpg``/``.jpeg``/``.png`` files (:data:`IMAGE_SUFFIXES`, any case), in the
    order of their last number (:func:`~affectgate.datasets.loading.frame_key`), then their name.
    """
    if frames < 1 or size < 1:
        raise DataError(f"cannot sample {frames} frames of {size}x{size} px", fix="frames and size must be >= 1")
    files = sorted(
        (p for p in frame_dir.iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES)), key=lambda p: frame_key(p.name)
    )
    if not files:
        raise DataError(
            f"empty frame folder {frame_dir} (no {', '.join(IMAGE_SUFFIXES)} frames)", fix="restore the clip's frames"
        )
    if len(files) < frames:
        # sampling would repeat frames: the model would be scored on evidence it was never meant to see
        raise DataError(
            f"clip {frame_dir} has {len(files)} frame(s) but the model reads {frames}: too short to evaluate",
            fix=f"restore the clip's frames, or remove {frame_dir.name} from the split CSV (a clip needs at least "
            f"{frames} frames for this model)",
        )
    idx = np.linspace(0, len(files) - 1, num=frames).round().astype(int)
    out = np.empty((frames, size, size, 3), dtype=np.uint8)
    cache: dict[int, np.ndarray] = {}
    for t, i in enumerate(idx.tolist()):
        if i not in cache:
            f = files[i]
            data = f.read_bytes()
            if not data:
                raise DataError(f"0-byte frame {f}", fix="re-extract the clip's frames")
            if not image_complete(name=f.name, data=data):
                raise DataError(
                    f"truncated frame {f} ({len(data)} bytes, no end-of-image marker: the file was cut short)",
                    fix="re-extract the clip's frames (a partly decoded frame is never evaluated)",
                )
            img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise DataError(f"undecodable frame {f}", fix="re-extract the clip's frames")
            if img.shape[0] != size or img.shape[1] != size:
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            cache[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        out[t] = cache[i]
    return out


def image_complete(*, name: str, data: bytes) -> bool:
    """False for a JPEG without its end-of-image marker or a PNG without its IEND chunk (a cut-short file).

    OpenCV decodes a truncated JPEG without an error (grey rows where the data stopped), so the bytes are
    checked first. Trailing padding after the marker (zeros, whitespace) is allowed.
    """
    lower = name.lower()
    tail = data.rstrip(b"\x00\r\n\t ")
    if lower.endswith((".jpg", ".jpeg")):
        return tail.endswith(b"\xff\xd9")
    if lower.endswith(".png"):
        return b"IEND" in tail[-16:]
    return True


def clip_cache_key(*, frame_dir: Path, frames: int, size: int, state_dir: Path | None = None) -> str:
    """Cache key of a decoded clip: the sampling and every frame file's name and *content* digest.

    Content, not sizes and mtimes: frames replaced by others of the same size and mtime change the key.
    Digests are remembered in ``state_dir`` per file state (:mod:`affectgate.datasets.content_hash`).
    """
    from affectgate.datasets.content_hash import file_digest

    entries = sorted((p.name, file_digest(p, state_dir=state_dir)) for p in frame_dir.iterdir() if p.is_file())
    raw = repr((frames, size, entries)).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()[:32]


def read_clip_cached(*, frame_dir: Path, frames: int, size: int, cache: Path | None) -> np.ndarray:
    """:func:`read_clip`, through a folder of decoded clips (``.npy``) when ``cache`` is given.

    A changed, added or removed frame file changes the key, so a stale entry is never read.
    """
    if cache is None:
        return read_clip(frame_dir=frame_dir, frames=frames, size=size)
    if not frame_dir.is_dir():  # read_clip names the problem
        return read_clip(frame_dir=frame_dir, frames=frames, size=size)
    path = cache / f"{clip_cache_key(frame_dir=frame_dir, frames=frames, size=size, state_dir=cache)}.npy"
    return cached_array(path, lambda: read_clip(frame_dir=frame_dir, frames=frames, size=size))


def cached_array(path: Path, make: Callable[[], np.ndarray]) -> np.ndarray:
    """The array stored at ``path`` (``.npy``), else ``make()`` stored there atomically (a torn file is remade)."""
    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):  # a torn write: decode again
            path.unlink(missing_ok=True)
    array = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)
    return array


def read_clips(
    *, samples: Sequence[DFEWSample], frames: int, size: int, workers: int = 2, cache: Path | None = None
) -> np.ndarray:
    """``(N, frames, size, size, 3)`` uint8, decoded in a thread pool (cv2 releases the GIL).

    ``cache``: a folder of decoded clips (the workspace's ``cache/clips``) so that every evaluation of
    the same frames after the first skips JPEG decoding.
    """
    if not samples:
        return np.zeros((0, frames, size, size, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        clips = list(pool.map(lambda s: _read_sample(s, frames=frames, size=size, cache=cache), samples))
    return np.stack(clips)


def _read_sample(sample: DFEWSample, *, frames: int, size: int, cache: Path | None) -> np.ndarray:
    """A DFEW frame folder as before; a video file, frame image or uncropped clip (other formats) via selection."""
    media = sample.frame_dir
    face_crop = bool(getattr(sample, "face_crop", False))  # a MediaSample of a set that is not face-cropped
    if media.is_file() or face_crop:
        return read_media_clip(path=media, frames=frames, size=size, face_crop=face_crop, cache=cache)
    return read_clip_cached(frame_dir=media, frames=frames, size=size, cache=cache)


def read_media_clip(
    *, path: Path, frames: int, size: int, face_crop: bool = False, cache: Path | None = None
) -> np.ndarray:
    """``(frames, size, size, 3)`` uint8 RGB of a video file, a frame folder or one frame image (repeated).

    ``face_crop``: the media are full frames; the face crops that pass the quality bar are read instead
    (:func:`affectgate.datasets.face_screening.face_clip_or_error`, cached under ``cache``).
    """
    from affectgate.datasets import media

    if face_crop:
        from affectgate.datasets.face_screening import face_clip_or_error

        return face_clip_or_error(path=path, frames=frames, size=size, cache=cache)
    if path.is_dir():
        return media.read_frame_folder(path=path, frames=frames, size=size)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        img = media.read_image(path)
        if img.shape[0] != size or img.shape[1] != size:  # the same resize as every other frame reader
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        return np.repeat(img[None], frames, axis=0)
    if cache is None or not path.is_file():  # read_video names a missing file
        return media.read_video(path=path, frames=frames, size=size)
    from affectgate.datasets.content_hash import file_digest

    raw = json.dumps([file_digest(path, state_dir=cache), frames, size])
    file = cache / f"video-{hashlib.sha256(raw.encode()).hexdigest()[:32]}.npy"  # changed content changes the key
    return cached_array(file, lambda: media.read_video(path=path, frames=frames, size=size))
