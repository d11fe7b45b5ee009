"""Data loading vs model throughput, measured in the same run: is decoding the bottleneck?

Data side, per clip of a synthetic DFEW-layout set (frame folders of jpgs): decode the card's
``frames`` frames (``datasets/dfew.py`` ``read_clip`` at the stored resolution), face crop every
frame (``datasets/media.py`` ``crop_face``: OpenCV Haar cascade + quality bar; a frame without an
accepted face falls back to the whole frame, counted), resize to the card's size, then preprocess
(``zoo/preprocess.py`` ``to_model_input``). Clips/s with 1 and 2 decoding workers; every worker
count must give tensors identical to the single-worker pass, or the run stops.

Workers are processes by default (``--pool process``, forked, one Haar cascade each). ``--pool
thread`` shares ``media.py``'s single cached cascade between threads: OpenCV's
``CascadeClassifier.detectMultiScale`` is not thread-safe (measured: 19-21 of 48 frames got
different boxes with 2 threads), which the identity check catches.

Model side: the zoo's fastest model, ``mobilenet_v2_frame``, built with random weights at the same
input size (throughput does not depend on weight values), exported to ONNX in a temp folder
(parity-checked) and run with onnxruntime on CPU at ``--batch``: clips/s.

The ratio data/model > 1 means loading keeps up with the model.

    nice -n 10 .venv/bin/python benchmarks/data_throughput.py --clips 48 --threads 1
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from rich.console import Console
from rich.table import Table

from affectgate.datasets.dfew import DFEWSample, load_dfew_split, read_clip
from affectgate.datasets.media import CASCADE, FaceQuality, crop_face
from affectgate.datasets.synth import SynthConfig, generate_dfew
from affectgate.records import InputSpec
from affectgate.zoo.build import example_inputs
from affectgate.zoo.card import apply_config, zoo_card
from affectgate.zoo.export import export_onnx
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.train import build_model

ROOT = Path(__file__).resolve().parents[1]
ARCH = "mobilenet_v2_frame"


def load_clip(sample: DFEWSample, *, spec: InputSpec, stored: int) -> tuple[np.ndarray, Counter[str]]:
    """Decode, face-crop and resize one clip: ``(frames, size, size, 3)`` uint8 and the crop outcomes."""
    frames = read_clip(frame_dir=sample.frame_dir, frames=spec.frames, size=stored)
    out = np.empty((spec.frames, spec.size, spec.size, 3), dtype=np.uint8)
    outcomes: Counter[str] = Counter()
    for t, frame in enumerate(frames):
        crop, reason = crop_face(frame)
        outcomes[reason] += 1
        out[t] = cv2.resize(crop if crop is not None else frame, (spec.size, spec.size), interpolation=cv2.INTER_AREA)
    return out, outcomes


_CASCADES: dict[int, cv2.CascadeClassifier] = {}


def _own_cascade() -> cv2.CascadeClassifier:
    """A Haar cascade per process (workers are forked processes; never shared between threads)."""
    import os

    pid = os.getpid()
    if pid not in _CASCADES:
        _CASCADES[pid] = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / CASCADE))
    return _CASCADES[pid]


def load_clip_once(sample: DFEWSample, *, spec: InputSpec, stored: int) -> tuple[np.ndarray, Counter[str]]:
    """Detect the face once per clip (middle frame at half resolution) and crop every frame with that box.

    The size bar of :class:`FaceQuality` applies (blur is not checked); a clip without an accepted
    face is used whole and counted. A proposal for ``media.read_faces``, measured against per-frame crops.
    """
    q = FaceQuality()
    frames = read_clip(frame_dir=sample.frame_dir, frames=spec.frames, size=stored)
    grey = cv2.cvtColor(frames[len(frames) // 2], cv2.COLOR_RGB2GRAY)
    half = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_AREA)
    boxes = _own_cascade().detectMultiScale(
        half, scaleFactor=q.scale_factor, minNeighbors=q.min_neighbors, minSize=(q.min_face_px // 2,) * 2
    )
    reason, window = "no_face", None
    if len(boxes):
        x, y, w, h = (2 * int(v) for v in max(boxes, key=lambda b: int(b[2]) * int(b[3])))
        side = max(w, h)
        if side < q.min_face_px or side < q.min_face_fraction * min(grey.shape):
            reason = "face_too_small"
        else:
            cx, cy, r = x + w / 2, y + h / 2, side * (1 + 2 * q.margin) / 2
            window = (max(0, round(cx - r)), max(0, round(cy - r)), round(cx + r), round(cy + r))
            reason = "ok"
    out = np.empty((spec.frames, spec.size, spec.size, 3), dtype=np.uint8)
    for t, frame in enumerate(frames):
        crop = frame if window is None else frame[window[1] : window[3], window[0] : window[2]]
        out[t] = cv2.resize(crop, (spec.size, spec.size), interpolation=cv2.INTER_AREA)
    return out, Counter({reason: len(frames)})


def decode_clip(sample: DFEWSample, *, spec: InputSpec, stored: int) -> np.ndarray:
    """Decode only: the clip's sampled frames at the stored resolution."""
    return read_clip(frame_dir=sample.frame_dir, frames=spec.frames, size=stored)


Mapper = Callable[[Callable, Iterable], Iterator]


@contextmanager
def mapper(*, workers: int, pool: str) -> Iterator[Mapper]:
    """An ordered ``map`` over ``workers``: in-process for 1, else a warmed-up process or thread pool."""
    if workers == 1:
        yield map
        return
    executor: Executor
    if pool == "process":
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    else:
        executor = ThreadPoolExecutor(max_workers=workers)
    with executor:
        list(executor.map(abs, range(workers * 2)))  # start the workers before timing
        yield partial(executor.map, chunksize=1)


def data_pass(  # noqa: ANN201
    samples: list[DFEWSample], *, run: Mapper, loader: Callable, spec: InputSpec, stored: int, batch: int
):
    """One pass: decode + crop + resize per clip via ``run``, preprocess per batch; (seconds, tensor, outcomes)."""
    start = time.perf_counter()
    outcomes: Counter[str] = Counter()
    tensors: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    for clip, counts in run(partial(loader, spec=spec, stored=stored), samples):
        outcomes.update(counts)
        pending.append(clip)
        if len(pending) == batch:
            tensors.append(to_model_input(clips=np.stack(pending), spec=spec))
            pending = []
    if pending:
        tensors.append(to_model_input(clips=np.stack(pending), spec=spec))
    return time.perf_counter() - start, np.concatenate(tensors), outcomes


def decode_only(samples: list[DFEWSample], *, run: Mapper, spec: InputSpec, stored: int) -> float:
    """Seconds to decode the frames of every clip (no crop, no preprocessing)."""
    start = time.perf_counter()
    list(run(partial(decode_clip, spec=spec, stored=stored), samples))
    return time.perf_counter() - start


def main() -> None:
    """Generate a small synthetic set, time the data pipeline and the model, print one table and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=48, help="clips timed (the test split of fold 1, cycled)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default: the card's)")
    parser.add_argument("--size", type=int, default=None, help="model input side in px (default: the card's)")
    parser.add_argument("--stored", type=int, default=112, help="side of the stored synthetic frames in px")
    parser.add_argument("--batch", type=int, default=16, help="clips per preprocessing and onnxruntime batch")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per row (the best is reported)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="decoding worker counts")
    parser.add_argument("--pool", choices=("process", "thread"), default="process", help="kind of worker pool")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one OpenCV thread per worker: parallelism comes from the workers
    card = zoo_card(project_root=ROOT, arch=ARCH)
    config = {k: v for k, v in {"frames": args.frames, "size": args.size}.items() if v is not None}
    card = apply_config(card=card, config=config)
    spec = card.input
    console = Console(width=160)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data" / "synth"
        cfg = SynthConfig(
            seed=0, n_subjects=6, clips_per_subject=8, frames=max(spec.frames, 2), image_size=args.stored, folds=2
        )
        generate_dfew(root=data, config=cfg)
        split = list(load_dfew_split(root=data, fold=1, split="test").samples)
        samples = [split[i % len(split)] for i in range(args.clips)]
        rows: list[tuple[str, int | str, float]] = []
        strategies = {
            "decode + face crop every frame (media.crop_face) + preprocess": load_clip,
            "decode + face crop once per clip (box reused) + preprocess": load_clip_once,
        }
        references: dict[str, np.ndarray] = {}
        outcomes: dict[str, Counter[str]] = {}
        data_best = 0.0
        for w in args.workers:
            label = f"{w} {args.pool if w > 1 else ''}".strip()
            with mapper(workers=w, pool=args.pool) as run:
                best = min(decode_only(samples, run=run, spec=spec, stored=args.stored) for _ in range(args.repeats))
                rows.append(("decode only", label, len(samples) / best))
                for name, loader in strategies.items():
                    times = []
                    for _ in range(args.repeats):
                        seconds, tensor, outcomes[name] = data_pass(
                            samples, run=run, loader=loader, spec=spec, stored=args.stored, batch=args.batch
                        )
                        times.append(seconds)
                        ref = references.setdefault(name, tensor)
                        if not np.array_equal(ref, tensor):
                            raise SystemExit(f"{name}: {label} workers gave other tensors than 1 worker: unsafe")
                    rate = len(samples) / min(times)
                    data_best = max(data_best, rate)
                    rows.append((name, label, rate))
        reference = next(iter(references.values()))

        model = build_model(card=card, seed=0).eval()
        parity, _ = example_inputs(card=card, n=2, seed=0)
        exp = export_onnx(model=model, card=card, folder=Path(tmp) / ARCH, parity_clips=parity)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(exp.onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        batches = [reference[i : i + args.batch] for i in range(0, len(reference), args.batch)]
        sess.run(None, {spec.name: batches[0]})  # warm-up
        model_times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for b in batches:
                sess.run(None, {spec.name: b})
            model_times.append(time.perf_counter() - start)
        model_rate = len(reference) / min(model_times)
        rows.append((f"model: {ARCH} onnxruntime fp32 (batch {args.batch})", f"{args.threads} thr", model_rate))

    table = Table(
        "stage",
        "workers",
        "clips/s",
        "x model",
        title=f"data vs model throughput: {len(samples)} clips of {spec.frames}x{args.stored}px -> {spec.size}px",
    )
    for stage, workers, rate in rows:
        table.add_row(stage, str(workers), f"{rate:.1f}", f"{rate / model_rate:.2f}")
    console.print(table)
    for name, counts in outcomes.items():
        total = sum(counts.values())
        shares = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(counts.items()))
        console.print(f"face crop outcomes of frames, {name.split('(')[0].strip()}: {shares}", highlight=False)
    ratio = data_best / model_rate
    verdict = "data loading is NOT the bottleneck" if ratio >= 1 else "data loading IS the bottleneck"
    console.print(f"best data pipeline / model throughput = {ratio:.2f}: {verdict}", highlight=False)


if __name__ == "__main__":
    main()
