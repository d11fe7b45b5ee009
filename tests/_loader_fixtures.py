"""Tiny media writers for the loader tests: jpg frames (cv2) and mp4/avi files with an optional audio track (PyAV)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from affectgate.core.errors import DataError
from affectgate.datasets.base import LoadedDataset


def write_jpg(path: Path, value: int = 128, size: int = 16) -> Path:
    """A flat grey ``size``x``size`` jpg (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size, size, 3), value, np.uint8))
    return path


def write_bytes(path: Path, data: bytes = b"\x00\x00\x00\x18ftypmp42") -> Path:
    """A file with ``data`` (parents created): stands in for media the loader only locates, never decodes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_video(
    path: Path,
    frames: list[np.ndarray],
    *,
    fps: int = 10,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
) -> Path:
    """An MPEG-4 video of RGB ``frames`` (mp4 or avi by suffix) with an optional mono AAC track."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as box:
        vs = box.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        stream_a = None
        if audio is not None:
            stream_a = box.add_stream("aac", rate=sample_rate)
            stream_a.layout = "mono"
        for img in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                box.mux(pkt)
        for pkt in vs.encode():
            box.mux(pkt)
        if stream_a is not None and audio is not None:
            wave = audio.astype(np.float32)
            for k in range(0, len(wave), 1024):
                fr = av.AudioFrame.from_ndarray(wave[None, k : k + 1024].copy(), format="fltp", layout="mono")
                fr.sample_rate, fr.pts = sample_rate, k
                for pkt in stream_a.encode(fr):
                    box.mux(pkt)
            for pkt in stream_a.encode():
                box.mux(pkt)
    return path


def assert_strict_and_lenient(
    load, *, file_name: str, line: int | None, kind: str, n_good: int, sample_id: str | None = None
) -> LoadedDataset:
    """Strict mode raises a DataError naming the file (and line); lenient mode counts one problem of ``kind``."""
    with pytest.raises(DataError) as err:
        load(strict=True)
    msg = str(err.value)
    where = f"{file_name}:{line}" if line is not None else file_name
    assert where in msg, msg
    assert kind in msg, msg
    ds = load(strict=False)
    assert ds.skipped_counts() == {kind: 1}, ds.problems
    assert len(ds.problems) == 1 and ds.problems[0].line == line
    assert Path(ds.problems[0].file).name == file_name
    if sample_id is not None:
        assert ds.problems[0].sample_id == sample_id
    assert len(ds.samples) == n_good
    return ds
