"""MTCNN face detection in onnxruntime on colour frames: boxes, scores and five landmarks, with a fast pyramid.

The three cascaded networks (Zhang et al., 2016; weights of the facenet-pytorch wheel, MIT) run as the
ONNX files that :mod:`affectgate.zoo.mtcnn_nets` exports once into ``<workspace>/models/mtcnn`` with a
sha256 lock; this module checks every file against the lock before loading it and imports the (torch)
conversion only when the files are missing. No torch here: the gate's path stays torch-free.

Detection follows the reference cascade (P-net proposals over an image pyramid, NMS, box regression,
R-net on 24 px crops, O-net on 48 px crops with landmarks, NMS by the smaller area) with thresholds
0.6 / 0.7 / 0.7 and pyramid factor 0.709. Two things make it fast: the pyramid starts at the smallest
face that can pass the quality bar (``min_face``, e.g. the bar's 32 px: smaller faces are rejected
anyway), so the frame is shrunk by 12 / ``min_face`` before the first P-net pass; and
:func:`detect_near` searches only a window around the previous frame's face (the tracked search).
Input is RGB: MTCNN was trained on colour and loses faces on grey input.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np

from affectgate.core.errors import DataError

NAME = "mtcnn"
#: Detector version recorded per crop and in cache keys: the weights' source and this port's cascade.
VERSION = "facenet-pytorch==2.6.0/onnx-1"
THRESHOLDS = (0.6, 0.7, 0.7)
FACTOR = 0.709
NETS = ("pnet", "rnet", "onet")
LOCK = "mtcnn.lock.json"
_LOCK = threading.Lock()
_SESSIONS: dict[str, tuple[object, object, object]] = {}


def models_dir() -> Path:
    """Where the exported ONNX files live: ``<workspace>/models/mtcnn``."""
    from affectgate.project.settings import get_settings

    return get_settings().workspace_dir / "models" / "mtcnn"


def _verified(folder: Path) -> bool:
    lock = folder / LOCK
    if not lock.is_file():
        return False
    nets = json.loads(lock.read_text(encoding="utf-8")).get("nets", {})
    for name in NETS:
        path = folder / f"{name}.onnx"
        if name not in nets or not path.is_file():
            return False
        if hashlib.sha256(path.read_bytes()).hexdigest() != nets[name]["sha256"]:
            raise DataError(
                f"{path} does not match its sha256 in {lock}",
                fix=f"delete {folder} so that the MTCNN nets are exported again from the facenet-pytorch wheel",
            )
    return True


def sessions(folder: Path | None = None) -> tuple[object, object, object]:
    """The three onnxruntime sessions (P, R, O), checked against the lock; exported once when missing."""
    folder = models_dir() if folder is None else folder
    key = str(folder)
    with _LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
        if not _verified(folder):
            done = next((Path(k) for k in _SESSIONS if _verified(Path(k))), None)
            if done is not None:  # exported already in this process (another workspace): the same locked files
                folder.mkdir(parents=True, exist_ok=True)
                for name in (*(f"{n}.onnx" for n in NETS), LOCK):
                    shutil.copyfile(done / name, folder / name)
            else:
                from affectgate.zoo.mtcnn_nets import convert_mtcnn  # torch: only when the ONNX files are missing

                convert_mtcnn(out=folder)
            if not _verified(folder):
                raise DataError(f"the MTCNN nets in {folder} are incomplete", fix=f"delete {folder} and retry")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # the screening runs one clip per thread
        opts.inter_op_num_threads = 1
        made = tuple(
            ort.InferenceSession(str(folder / f"{n}.onnx"), sess_options=opts, providers=["CPUExecutionProvider"])
            for n in NETS
        )
        _SESSIONS[key] = made  # type: ignore[assignment]
        return made  # type: ignore[return-value]


def _norm(img: np.ndarray) -> np.ndarray:
    """HWC uint8 RGB (or a batch NHWC) -> NCHW float32 in the nets' (x - 127.5) / 128 scale."""
    x = (img.astype(np.float32) - 127.5) * 0.0078125
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (``union``: IoU, ``min``: overlap over the smaller area)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1, yy1 = np.maximum(x1[i], x1[order[1:]]), np.maximum(y1[i], y1[order[1:]])
        xx2, yy2 = np.minimum(x2[i], x2[order[1:]]), np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        denom = np.minimum(area[i], area[order[1:]]) if mode == "min" else area[i] + area[order[1:]] - inter
        order = order[1:][inter / denom <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _bbreg(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out = boxes.copy()
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def _square(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return out


def _crops(img: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """``(N, size, size, 3)`` crops of ``boxes`` (x1, y1, x2, y2; may leave the frame: zero padding), area-resized."""
    h, w = img.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), dtype=np.uint8)
    for k, b in enumerate(np.fix(boxes[:, :4]).astype(np.int64)):
        x1, y1, x2, y2 = int(b[0]), int(b[1]), int(b[2]), int(b[3])
        bw, bh = x2 - x1 + 1, y2 - y1 + 1
        if bw < 1 or bh < 1:
            continue
        patch = np.zeros((bh, bw, 3), dtype=np.uint8)
        sx0, sy0, sx1, sy1 = max(0, x1), max(0, y1), min(w, x2 + 1), min(h, y2 + 1)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        patch[sy0 - y1 : sy1 - y1, sx0 - x1 : sx1 - x1] = img[sy0:sy1, sx0:sx1]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


def _pyramid(h: int, w: int, *, min_face: int, max_face: int | None) -> list[float]:
    scale = 12.0 / min_face
    side = min(h, w) * scale
    scales = []
    while side >= 12:
        if max_face is None or 12.0 / scale <= max_face * 1.5:
            scales.append(scale)
        scale *= FACTOR
        side *= FACTOR
    return scales


def detect(
    rgb: np.ndarray, *, min_face: int = 20, max_face: int | None = None, folder: Path | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces of an RGB uint8 frame: boxes ``(N, 4)`` as x1, y1, x2, y2 (frame pixels), scores ``(N,)`` and
    landmarks ``(N, 5, 2)`` (left eye, right eye, nose, mouth left, mouth right), best score first."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise DataError(f"MTCNN needs an RGB uint8 frame (H, W, 3), got {rgb.dtype} {rgb.shape}")
    pnet, rnet, onet = sessions(folder)
    h, w = rgb.shape[:2]
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))
    found = []
    for scale in _pyramid(h, w, min_face=max(12, min_face), max_face=max_face):
        sh, sw = int(np.ceil(h * scale)), int(np.ceil(w * scale))
        small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)  # shrunk before the P-net
        reg, prob = pnet.run(None, {"image": _norm(small)[None]})  # type: ignore[attr-defined]
        score = prob[0, 1]
        ys, xs = np.nonzero(score >= THRESHOLDS[0])
        if not len(ys):
            continue
        q1x, q1y = np.floor((2 * xs + 1) / scale), np.floor((2 * ys + 1) / scale)
        q2x, q2y = np.floor((2 * xs + 12) / scale), np.floor((2 * ys + 12) / scale)
        boxes = np.stack([q1x, q1y, q2x, q2y, score[ys, xs]], axis=1)
        r = reg[0][:, ys, xs].T
        keep = nms(boxes[:, :4], boxes[:, 4], 0.5)
        found.append(np.concatenate([boxes[keep], r[keep]], axis=1))
    if not found:
        return empty
    allb = np.concatenate(found)
    keep = nms(allb[:, :4], allb[:, 4], 0.7)
    allb = allb[keep]
    boxes = _square(np.concatenate([_bbreg(allb[:, :4], allb[:, 5:9]), allb[:, 4:5]], axis=1))
    # R-net
    reg, prob = rnet.run(None, {"image": _norm(_crops(rgb, boxes, 24))})  # type: ignore[attr-defined]
    ok = prob[:, 1] > THRESHOLDS[1]
    boxes, reg = boxes[ok], reg[ok]
    boxes[:, 4] = prob[ok, 1]
    if not len(boxes):
        return empty
    keep = nms(boxes[:, :4], boxes[:, 4], 0.7)
    boxes = _square(np.concatenate([_bbreg(boxes[keep, :4], reg[keep]), boxes[keep, 4:5]], axis=1))
    # O-net
    reg, marks, prob = onet.run(None, {"image": _norm(_crops(rgb, boxes, 48))})  # type: ignore[attr-defined]
    ok = prob[:, 1] > THRESHOLDS[2]
    boxes, reg, marks = boxes[ok], reg[ok], marks[ok]
    if not len(boxes):
        return empty
    scores = prob[ok, 1]
    bw = boxes[:, 2] - boxes[:, 0] + 1
    bh = boxes[:, 3] - boxes[:, 1] + 1
    px = bw[:, None] * marks[:, :5] + boxes[:, 0:1] - 1
    py = bh[:, None] * marks[:, 5:] + boxes[:, 1:2] - 1
    boxes = _bbreg(boxes[:, :4], reg)
    keep = nms(boxes, scores, 0.7, mode="min")
    keep = keep[np.argsort(-scores[keep])]
    landmarks = np.stack([px[keep], py[keep]], axis=2)
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32), landmarks.astype(np.float32)


def largest(
    boxes: np.ndarray, landmarks: np.ndarray, shape: tuple[int, ...]
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The largest face as an ``(x, y, w, h)`` box clipped to the frame, and its landmarks; None when none."""
    if not len(boxes):
        return None
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    i = int(np.argmax(areas))
    x1, y1 = max(0, int(round(boxes[i, 0]))), max(0, int(round(boxes[i, 1])))
    x2, y2 = min(shape[1], int(round(boxes[i, 2]))), min(shape[0], int(round(boxes[i, 3])))
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return (x1, y1, x2 - x1, y2 - y1), landmarks[i]


def align(frame: np.ndarray, box: tuple[int, int, int, int], landmarks: np.ndarray, *, margin: float) -> np.ndarray:
    """The square face crop (box side x (1 + 2 margin)) rotated about the eyes' midpoint so that the eyes are level."""
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    angle = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    m = cv2.getRotationMatrix2D(((lx + rx) / 2.0, (ly + ry) / 2.0), angle, 1.0)
    m[0, 2] += side / 2.0 - cx
    m[1, 2] += side / 2.0 - cy
    n = max(1, int(round(side)))
    return cv2.warpAffine(frame, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


__all__ = ["NAME", "VERSION", "align", "detect", "largest", "models_dir", "nms", "sessions"]
