"""Data loading vs model throughput, measured in the same run: is decoding + face cropping the bottleneck?

Data side: a synthetic DFEW-layout set (frame folders of uncropped face jpgs at ``--stored`` px) read
through the real face-crop path, ``datasets/media.py`` ``read_faces_many`` (``read_faces`` per clip in
a thread pool): decode every frame, face detection (MTCNN, the default, and Haar, in the same run),
the quality bar (face size and sharpness) on
every frame's own pixels, a square crop with margin resized to the card's size; frames that fail the
bar are counted and left out, and a clip without a passing frame is rejected (counted, never
replaced by the whole frame). Then ``zoo/preprocess.py`` ``to_model_input`` per batch of delivered
clips: the tensor the model consumes. Rows (``read_faces`` arguments):

- cold, MTCNN (the default detector: onnxruntime on colour, landmark-aligned crops) on every frame, and
  tracked (``track=True``, the gate's screening); the Haar rows below in the same run, for comparison;
- cold, Haar on every frame at full resolution (``detect_every=1``);
- cold, every frame searched near the previous frame's face at nearly its size, and over the whole frame
  when not found there (``track=True``: how the gate screens sets that are not face-cropped);
- cold, detector once per clip (``detect_every`` = frames per clip; run again on the next frame while
  no face is found), at full resolution and on a copy shrunk to each ``--detect-side``;
- warm, the gate's reader: ``face_screening.read_face_clip`` (the tracked search) through the workspace
  clip cache, filled by one untimed pass as the gate's screening fills it on a set's first evaluation:
  the crops at the model's input size are read back, nothing is decoded or detected; the tensor must
  equal the cold tracked one, or the run stops;
- warm: the default's boxes read from ``read_faces``' box cache (filled by one untimed pass), so the
  detector is skipped but every frame is still decoded, checked against the bar and cropped; the
  tensor must equal the cold one, or the run stops.

``in/s`` counts the clips read, ``out/s`` the clips delivered to the model; ``x model`` is out/s over
the model's clips/s (rejected clips need no model time). Every worker count must give the tensor of
one worker, or the run stops. A row with N threads uses up to N CPU cores; the model uses ``--threads``.

Model side: the zoo's fastest model, ``mobilenet_v2_frame``, built with random weights at the same
input size (throughput does not depend on weight values), exported to ONNX in a temp folder
(parity-checked) and run with onnxruntime on CPU at ``--batch``. It is timed on the tensor of every
data pass right after that pass (so both see the same machine load) and its best clips/s is used.

A last table times each detector's whole-frame search per frame (single-threaded) on the stored frames
and on ``--scene`` x 9/16 camera frames with the face pasted in (how many frames it found a face in).

    nice -n 10 .venv/bin/python benchmarks/data_throughput.py --clips 48 --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from rich.console import Console
from rich.table import Table

from affectgate.core.records import InputSpec, ModelCard
from affectgate.datasets.clips import read_clips
from affectgate.datasets.dfew import load_dfew_split
from affectgate.datasets.face_screening import read_face_clip
from affectgate.datasets.media import read_faces_many
from affectgate.datasets.synth import SynthConfig, generate_dfew
from affectgate.zoo.build import example_inputs
from affectgate.zoo.card import apply_config, zoo_card
from affectgate.zoo.export import export_onnx
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.train import build_model

ROOT = Path(__file__).resolve().parents[1]
ARCH = "mobilenet_v2_frame"


def _deliver(
    results: list[tuple[np.ndarray | None, dict[str, int]]], *, spec: InputSpec, batch: int, start: float, cpu: float
) -> tuple[float, float, np.ndarray, Counter[str], int]:
    """Kept clips as model tensors per batch; (wall s, CPU s since ``start``/``cpu``, tensor, outcomes, kept)."""
    clips = [clip for clip, _ in results if clip is not None]
    tensors = [to_model_input(clips=np.stack(clips[i : i + batch]), spec=spec) for i in range(0, len(clips), batch)]
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    outcomes: Counter[str] = Counter()
    for _, counts in results:
        outcomes.update(counts)
    empty = np.zeros((0, spec.frames, 3, spec.size, spec.size), np.float32)
    return seconds, cpu, np.concatenate(tensors) if tensors else empty, outcomes, len(clips)


def face_pass(
    folders: list[Path],
    *,
    spec: InputSpec,
    batch: int,
    workers: int,
    detect_every: int,
    detect_side: int | None,
    cache: Path | None,
    track: bool = False,
    detector: str = "haar",
) -> tuple[float, float, np.ndarray, Counter[str], int]:
    """One timed pass: read_faces_many + to_model_input per batch.

    Returns (wall seconds, CPU seconds of the whole process, tensor, frame outcomes, clips kept).
    """
    start, cpu = time.perf_counter(), time.process_time()
    results = read_faces_many(
        paths=folders,
        frames=spec.frames,
        size=spec.size,
        detect_every=detect_every,
        detect_side=detect_side,
        cache=cache,
        workers=workers,
        track=track,
        detector=detector,
    )
    return _deliver(results, spec=spec, batch=batch, start=start, cpu=cpu)


def gate_pass(
    folders: list[Path], *, spec: InputSpec, batch: int, workers: int, cache: Path
) -> tuple[float, float, np.ndarray, Counter[str], int]:
    """One timed pass of the gate's reader (read_face_clip through the clip cache) + to_model_input per batch."""
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            pool.map(
                lambda f: read_face_clip(path=f, frames=spec.frames, size=spec.size, cache=cache, detector="mtcnn"),
                folders,
            )
        )
    return _deliver(results, spec=spec, batch=batch, start=start, cpu=cpu)


class Model:
    """The fastest zoo model's ONNX session: :meth:`time` runs a tensor in batches (best clips/s and clips/CPU-s)."""

    def __init__(self, *, card: ModelCard, folder: Path, threads: int, batch: int) -> None:
        model = build_model(card=card, seed=0).eval()
        parity, _ = example_inputs(card=card, n=2, seed=0)
        exp = export_onnx(model=model, card=card, folder=folder, parity_clips=parity)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(exp.onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.name, self.batch, self.best, self.best_cpu = card.input.name, batch, 0.0, 0.0
        self.sess.run(None, {self.name: parity})  # warm-up

    def time(self, tensor: np.ndarray) -> None:
        if len(tensor) < self.batch:  # too few delivered clips for one full batch: not a fair rate
            return
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(tensor), self.batch):
            self.sess.run(None, {self.name: tensor[i : i + self.batch]})
        self.best = max(self.best, len(tensor) / (time.perf_counter() - start))
        self.best_cpu = max(self.best_cpu, len(tensor) / max(time.process_time() - cpu, 1e-9))


Row = tuple[str, str, float, float, float, Counter[str], int]  # stage, workers, in/s, out/s, out/CPU-s, ..


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
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="decoding thread counts")
    parser.add_argument(
        "--detect-side", type=int, nargs="*", default=[84, 48], help="shrunk detector sides in px for the per-clip rows"
    )
    parser.add_argument("--cv-threads", type=int, default=1, help="cv2.setNumThreads (1: parallelism from workers)")
    parser.add_argument("--scene", type=int, default=640, help="width of the camera frames of the detector table")
    args = parser.parse_args()
    cv2.setNumThreads(args.cv_threads)
    card = zoo_card(project_root=ROOT, arch=ARCH)
    config = {k: v for k, v in {"frames": args.frames, "size": args.size}.items() if v is not None}
    card = apply_config(card=card, config=config)
    spec = card.input
    console = Console(width=160)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data" / "synth"
        cfg = SynthConfig(
            seed=0, n_subjects=6, clips_per_subject=8, frames=max(spec.frames, 2), image_size=args.stored, folds=2
        )
        generate_dfew(root=data, config=cfg)
        split = list(load_dfew_split(root=data, fold=1, split="test").samples)
        samples = [split[i % len(split)] for i in range(args.clips)]
        folders = [s.frame_dir for s in samples]
        model = Model(card=card, folder=Path(tmp) / ARCH, threads=args.threads, batch=args.batch)
        boxes = Path(tmp) / "face_boxes"
        default = "cold Haar: detector every frame, full res"
        gate_row = "cold MTCNN: every frame, near the last face first (gate)"
        # name -> (detect_every, detect_side, box cache, track, detector); MTCNN and Haar in the same run
        strategies: dict[str, tuple[int, int | None, Path | None, bool, str]] = {
            default: (1, None, None, False, "haar"),
            "cold MTCNN: detector every frame, full res": (1, None, None, False, "mtcnn"),
            gate_row: (1, None, None, True, "mtcnn"),
            "cold Haar: every frame, near the last face first": (1, None, None, True, "haar"),
            "cold Haar: detector once per clip, full res": (cfg.frames, None, None, False, "haar"),
        }
        for side in args.detect_side:
            name = f"cold Haar: detector once per clip, shrunk to {side} px"
            strategies[name] = (cfg.frames, side, None, False, "haar")
        strategies["warm: Haar boxes of the default from the box cache"] = (1, None, boxes, False, "haar")
        read_faces_many(  # fill the cache
            paths=folders, frames=spec.frames, size=spec.size, cache=boxes, workers=1, detector="haar"
        )
        references: dict[str, np.ndarray] = {}
        for w in args.workers:
            label = f"{w} thread{'s' if w > 1 else ''}"
            best, best_cpu = float("inf"), float("inf")
            for _ in range(args.repeats):
                start, cpu = time.perf_counter(), time.process_time()
                read_clips(samples=samples, frames=spec.frames, size=args.stored, workers=w)
                best = min(best, time.perf_counter() - start)
                best_cpu = min(best_cpu, time.process_time() - cpu)
            n = len(samples)
            rows.append(
                ("decode only (dfew.read_clips: no face crop)", label, n / best, n / best, n / best_cpu, Counter(), -1)
            )
            for name, (every, side, cache, track, detector) in strategies.items():
                times, cpus = [], []
                for _ in range(args.repeats):
                    seconds, cpu, tensor, outcomes, kept = face_pass(
                        folders,
                        spec=spec,
                        batch=args.batch,
                        workers=w,
                        detect_every=every,
                        detect_side=side,
                        cache=cache,
                        track=track,
                        detector=detector,
                    )
                    times.append(seconds)
                    cpus.append(cpu)
                    model.time(tensor)
                    ref = references.setdefault(name, tensor)
                    if not np.array_equal(ref, tensor):
                        raise SystemExit(f"{name}: {label} gave another tensor than 1 worker: unsafe")
                rows.append(
                    (name, label, len(samples) / min(times), kept / min(times), kept / min(cpus), outcomes, kept)
                )
            # the gate's steady state: crops at the model's input size read from the workspace clip cache
            # (datasets/face_screening.read_face_clip, filled by the screening pass of the first gate run)
            gate_cache = Path(tmp) / "clip_cache"
            name = "warm: the gate's face-crop clip cache"
            gate_pass(folders, spec=spec, batch=args.batch, workers=w, cache=gate_cache)  # fill (untimed)
            times, cpus = [], []
            for _ in range(args.repeats):
                seconds, cpu, tensor, outcomes, kept = gate_pass(
                    folders, spec=spec, batch=args.batch, workers=w, cache=gate_cache
                )
                times.append(seconds)
                cpus.append(cpu)
                model.time(tensor)
                if not np.array_equal(references[gate_row], tensor):
                    raise SystemExit("the gate's clip cache gave another tensor than detecting: unsafe")
            rows.append((name, label, len(samples) / min(times), kept / min(times), kept / min(cpus), outcomes, kept))
        if not np.array_equal(references[default], references["warm: Haar boxes of the default from the box cache"]):
            raise SystemExit("the box cache gave another tensor than detecting: unsafe")
        per_frame = detector_ms_per_frame(folders=folders, scene=args.scene, repeats=args.repeats)
    if model.best == 0:
        raise SystemExit(f"no data pass delivered a full batch of {args.batch} clips to time the model on")
    print_table(console, rows=rows, model=model, args=args, n=len(samples), spec=spec)
    table = Table("frames", "detector", "ms / frame (best, 1 thread)", "frames with a face", title="detectors")
    for (where, det), (ms, found, n) in per_frame.items():
        table.add_row(where, det, f"{ms:.2f}", f"{found}/{n}")
    console.print(table)


def detector_ms_per_frame(
    *, folders: list[Path], scene: int, repeats: int
) -> dict[tuple[str, str], tuple[float, int, int]]:
    """Whole-frame search cost of each detector, single-threaded: on the stored frames, and on ``scene`` x 9/16
    ``scene`` camera frames with the face pasted at a third of the height (full-frame search, no tracking)."""
    from affectgate.datasets.media import FaceQuality, _gray, _mtcnn_find, detect_face

    q = FaceQuality()
    stored = [cv2.imread(str(f)) for folder in folders[:16] for f in sorted(folder.glob("*.jpg"))[:2]]
    h = scene * 9 // 16
    scenes = []
    for i, img in enumerate(stored):
        canvas = np.full((h, scene, 3), 100, np.uint8)
        side = h // 3
        face = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
        x, y = (i * 37) % (scene - side), (i * 23) % (h - side)
        canvas[y : y + side, x : x + side] = face
        scenes.append(canvas)
    _mtcnn_find(stored[0], q)  # load the sessions (and export the nets on a first run), untimed
    out: dict[tuple[str, str], tuple[float, int, int]] = {}
    for where, frames in ((f"{stored[0].shape[1]} px stored", stored), (f"{scene}x{h} camera", scenes)):
        for det in ("haar", "mtcnn"):
            best, found = float("inf"), 0
            for _ in range(repeats):
                start, found = time.perf_counter(), 0
                for bgr in frames:
                    box = detect_face(_gray(bgr), quality=q) if det == "haar" else _mtcnn_find(bgr, q)[0]
                    found += box is not None
                best = min(best, time.perf_counter() - start)
            out[(where, det)] = (1000 * best / len(frames), found, len(frames))
    return out


def print_table(
    console: Console, *, rows: list[Row], model: Model, args: argparse.Namespace, n: int, spec: InputSpec
) -> None:
    """The table of rates and outcomes, then the best cold and warm face-crop rows against the model.

    ``/s`` is wall-clock throughput; ``/CPU-s`` divides by the CPU time of the whole process (every
    thread), which a shared machine's load distorts much less: a data row at >= 1.0x per CPU-second
    keeps up with the model when both get the same number of cores.
    """
    table = Table(
        "stage",
        "workers",
        "in clips/s",
        "out clips/s",
        "x model",
        "out clips/CPU-s",
        "x model /CPU-s",
        "clips kept",
        "frame outcomes",
        title=f"data vs model throughput: {n} clips of {spec.frames}x{args.stored}px -> {spec.size}px",
    )
    best: dict[tuple[str, str], tuple[float, str]] = {}  # (cold|warm, wall|CPU) -> (ratio, row)
    for stage, workers, rate_in, out, out_cpu, outcomes, kept in rows:
        total = sum(outcomes.values())
        shares = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(outcomes.items())) if total else "-"
        table.add_row(
            stage,
            workers,
            f"{rate_in:.1f}",
            f"{out:.1f}",
            f"{out / model.best:.2f}",
            f"{out_cpu:.1f}",
            f"{out_cpu / model.best_cpu:.2f}",
            "-" if kept < 0 else f"{kept}/{n}",
            shares,
        )
        kind = stage.split(":")[0]
        if kind not in ("cold", "warm"):
            continue
        for clock, ratio in (("wall clock", out / model.best), ("per CPU-second", out_cpu / model.best_cpu)):
            if ratio > best.get((kind, clock), (0.0, ""))[0]:
                best[(kind, clock)] = (ratio, f"{stage}, {workers}")
    model_row = f"model: {ARCH} onnxruntime fp32 (batch {args.batch}, best pass)"
    table.add_row(model_row, f"{args.threads} thr", "", f"{model.best:.1f}", "1.00", f"{model.best_cpu:.1f}", "1.00")
    console.print(table)
    for (kind, clock), (ratio, name) in best.items():
        verdict = "data loading is NOT the bottleneck" if ratio >= 1 else "data loading IS the bottleneck"
        console.print(f"{kind}, {clock}: best face-crop row ({name}) / model = {ratio:.2f}: {verdict}", highlight=False)


if __name__ == "__main__":
    main()
