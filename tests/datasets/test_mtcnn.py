"""MTCNN, the default face detector: the wheel's weights in onnxruntime (sha256-locked), colour input, aligned crops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest

from _loader_fixtures import write_video
from affectgate.core.errors import DataError
from affectgate.datasets import media
from affectgate.datasets.face_screening import screen_faces
from affectgate.datasets.faces import mtcnn

#: A real photograph (Grace Hopper, public domain) shipped in matplotlib's sample data: one frontal face.
PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def nets(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mtcnn")
    mtcnn.sessions(folder)  # exported once from the facenet-pytorch wheel (or copied from this process' export)
    return folder


def _photo() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)


def test_exported_nets_are_sha256_locked_and_a_changed_file_is_refused(nets: Path, tmp_path: Path) -> None:
    """The lock lists each net's sha256; a tampered ONNX file is a DataError naming the fix, never loaded."""
    lock = json.loads((nets / mtcnn.LOCK).read_text())
    assert lock["source"] == "facenet-pytorch==2.6.0" and set(lock["nets"]) == {"pnet", "rnet", "onet"}
    assert all(v["parity_max_abs_diff"] <= 1e-4 for v in lock["nets"].values())
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in nets.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "rnet.onnx").write_bytes((bad / "rnet.onnx").read_bytes() + b"x")
    with pytest.raises(DataError) as info:
        mtcnn.sessions(bad)
    assert "sha256" in info.value.what and "delete" in info.value.fix


def test_finds_the_face_in_a_real_photograph_with_landmarks(nets: Path) -> None:
    """One face in the photograph, its box around the face, eyes above the nose above the mouth."""
    boxes, scores, marks = mtcnn.detect(_photo(), min_face=32, folder=nets)
    assert len(boxes) == 1 and scores[0] > 0.99
    x1, y1, x2, y2 = boxes[0]
    assert 140 < x1 < 200 and 80 < y1 < 140 and 320 < x2 < 380 and 300 < y2 < 360, boxes[0]
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = marks[0]
    assert lx < rx and max(ly, ry) < ny < min(mly, mry) and x1 < lx < x2 and y1 < ly < y2


def test_grey_input_is_refused(nets: Path) -> None:
    """MTCNN runs on colour frames: a grey frame is a DataError, not a silent miss."""
    with pytest.raises(DataError):
        mtcnn.detect(cv2.cvtColor(_photo(), cv2.COLOR_RGB2GRAY), folder=nets)


def test_alignment_levels_the_eyes(nets: Path) -> None:
    """A face rotated by 15 degrees comes out of the aligned crop with its eyes level (re-detected)."""
    img = _photo()
    h, w = img.shape[:2]
    rotated = cv2.warpAffine(img, cv2.getRotationMatrix2D((w / 2, h / 2), 15, 1.0), (w, h))
    boxes, _, marks = mtcnn.detect(rotated, min_face=32, folder=nets)
    best = mtcnn.largest(boxes, marks, rotated.shape)
    assert best is not None
    (lx, ly), (rx, ry) = best[1][:2]
    assert abs(np.degrees(np.arctan2(ry - ly, rx - lx))) > 10  # tilted before
    crop = mtcnn.align(rotated, best[0], best[1], margin=0.3)
    _, _, again = mtcnn.detect(crop, min_face=32, folder=nets)
    (lx, ly), (rx, ry) = again[0][:2]
    assert abs(np.degrees(np.arctan2(ry - ly, rx - lx))) < 4


def test_screening_records_the_detector_per_crop(nets: Path, tmp_path: Path, monkeypatch) -> None:
    """The screening table names the detector and version of every sample's crops; Haar stays available."""
    monkeypatch.setattr(mtcnn, "models_dir", lambda: nets)
    photo = cv2.cvtColor(_photo(), cv2.COLOR_RGB2BGR)
    frames = [cv2.resize(photo, (256, 300)) for _ in range(3)]
    video = write_video(tmp_path / "clip.mp4", [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames], fps=4)
    by_mtcnn = screen_faces(samples=[("a", video)], frames=2, size=32, workers=1, detector="mtcnn")
    assert by_mtcnn.samples[0].counts.get("ok") == 3
    assert by_mtcnn.detector == f"mtcnn {mtcnn.VERSION}"
    assert by_mtcnn.table()["detector"].tolist() == [f"mtcnn {mtcnn.VERSION}"]
    by_haar = screen_faces(samples=[("a", video)], frames=2, size=32, workers=1, detector="haar")
    assert by_haar.detector is not None and by_haar.detector.startswith("haar ")
    with pytest.raises(DataError):
        media.read_faces(path=video, frames=2, size=32, detector="retinaface")


def test_detection_imports_no_torch() -> None:
    """The detector module (the gate's path) loads onnxruntime, never torch."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import affectgate.datasets.faces.mtcnn, affectgate.datasets.media"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "torch" not in loaded
