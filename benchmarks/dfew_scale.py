"""A DFEW-size set (16,372 clips, 5 folds) through `affectgate data validate` and the gate: wall time and peak memory.

The set is written here in the real DFEW release layout (split CSVs ``video_name,label`` with unpadded
ids and labels 1..7, ``train(single-labeled)`` and ``test(single_labeled)`` folders, 5-digit frame
folders, **no** ``metadata.csv``: no subject ids, no demographics), with tiny frames (``--frames``
jpgs of ``--side`` px per clip; every clip's frames share one encoded image, so writing 16k clips is
quick). The benchmark then runs, each as its own process (peak RSS from ``wait4``):

1. ``affectgate data validate --format dfew ROOT --fold 1 --fairness`` (loader + Great Expectations);
2. ``affectgate gate --suite quick`` and ``--suite release`` on fold 1's test split (3,275 clips at full
   size) with the zoo's fastest model (``mobilenet_v2_frame``, random weights: throughput does not
   depend on weight values) exported at ``--model-frames`` x ``--model-size``;
3. the same gate (quick) again on the unchanged set: the dataset digest comes from dvc-data's state
   cache (``<workspace>/cache/dvc-state``) instead of re-hashing every file.

``--fraction`` runs it on a share of the clips too, so that peak memory can be compared across set sizes
(flat in the number of clips when the data are streamed). Not part of ``make test``::

    nice -n 10 .venv/bin/python benchmarks/dfew_scale.py --fraction 0.25 1.0
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DFEW_CLIPS = 16_372
FOLDS = 5


def write_release(*, root: Path, n_clips: int, frames: int, side: int, seed: int = 0) -> None:
    """``n_clips`` clips in the DFEW release layout, 5 folds (each clip tested in one), no sidecar."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, 8, size=n_clips)
    images = []
    for k in range(7):  # one encoded frame per class (a brightness), so the model sees varied inputs
        img = np.full((side, side, 3), 30 + 30 * k, np.uint8)
        images.append(cv2.imencode(".jpg", img)[1].tobytes())
    frames_root = root / "Clip" / "clip_224x224"
    for i in range(1, n_clips + 1):
        name = f"{i:05d}"
        folder = frames_root / name
        folder.mkdir(parents=True)
        data = images[int(labels[i - 1]) - 1]
        for n in range(1, frames + 1):
            (folder / f"{name}_{n}.jpg").write_bytes(data)
    fold_of = np.arange(n_clips) % FOLDS + 1
    for k in range(1, FOLDS + 1):
        for split, spelling, chosen in (
            ("test", "test(single_labeled)", fold_of == k),
            ("train", "train(single-labeled)", fold_of != k),
        ):
            path = root / "EmoLabel_DataSplit" / spelling / f"set_{k}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["video_name", "label"])
                for i in np.nonzero(chosen)[0]:
                    w.writerow([str(i + 1), int(labels[i])])  # unpadded ids, as released
            del split


def export_model(*, out: Path, frames: int, size: int) -> None:
    """The fastest zoo model, random weights, exported with the zoo's parity check (card, lock)."""
    from affectgate.zoo.build import example_inputs
    from affectgate.zoo.card import apply_config, zoo_card
    from affectgate.zoo.export import export_onnx
    from affectgate.zoo.train import build_model

    card = apply_config(
        card=zoo_card(project_root=ROOT, arch="mobilenet_v2_frame"), config={"frames": frames, "size": size}
    )
    model = build_model(card=card, seed=0).eval()
    clips, _ = example_inputs(card=card, n=2, seed=0)
    export_onnx(model=model, card=card, folder=out, parity_clips=clips, trained_on="random weights (benchmark)")


def run(cmd: list[str], *, env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall s, peak RSS MiB, exit code, last output line) of one command run as its own process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    lines = [x.strip() for x in out.splitlines() if x.strip()]
    why = [x for x in lines if "error" in x.lower() or "verdict" in x.lower() or "PASSED" in x or "FAILED" in x]
    return wall, usage.ru_maxrss / 1024, code, " | ".join((why or lines[-1:])[-3:])[:300]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=DFEW_CLIPS, help="clips of the full-size set (DFEW: 16,372)")
    parser.add_argument("--fraction", type=float, nargs="+", default=[1.0], help="set sizes as shares of --clips")
    parser.add_argument("--frames", type=int, default=4, help="stored frames per clip (>= --model-frames)")
    parser.add_argument("--side", type=int, default=16, help="stored frame side in px")
    parser.add_argument("--model-frames", type=int, default=4)
    parser.add_argument("--model-size", type=int, default=32)
    parser.add_argument("--suites", nargs="+", default=["quick", "release"])
    parser.add_argument("--keep", type=Path, default=None, help="write the set here and keep it (default: temp)")
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "affectgate")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        model = Path(tmp) / "model"
        export_model(out=model, frames=args.model_frames, size=args.model_size)
        rows = []
        for fraction in args.fraction:
            n = max(FOLDS * 2, int(round(args.clips * fraction)))
            ws = Path(tmp) / f"ws-{n}"
            data_root = base / f"data-{n}"
            root = data_root / "dfew"
            if root.exists():
                shutil.rmtree(root)
            start = time.perf_counter()
            write_release(root=root, n_clips=n, frames=args.frames, side=args.side)
            print(f"{n} clips written in {time.perf_counter() - start:.0f}s ({root})", flush=True)
            env = {
                **os.environ,
                "AFFECTGATE_PROJECT_ROOT": str(ROOT),
                "AFFECTGATE_WORKSPACE": str(ws),
                "AFFECTGATE_DATA_ROOT": str(data_root),
                "PREFECT_HOME": str(ws / "prefect"),
            }
            steps = [
                (
                    "data validate --fold 1 --fairness",
                    [exe, "data", "validate", "--format", "dfew", str(root), "--fold", "1", "--fairness"],
                )
            ]
            gate = [
                exe,
                "gate",
                "--plain",
                "--model",
                str(model),
                "--context",
                "eu-telehealth",
                "--data",
                str(root),
                "--fold",
                "1",
            ]
            steps += [(f"gate --suite {s}", [*gate, "--suite", s]) for s in args.suites]
            steps.append(("gate --suite quick again (digest from the state cache)", [*gate, "--suite", "quick"]))
            for label, cmd in steps:
                wall, rss, code, last = run(cmd, env=env)
                rows.append((n, label, wall, rss, code, last))
                print(
                    f"{n:>6} clips | {label:<55} | {wall:7.1f} s | peak {rss:7.0f} MiB | exit {code} | {last}",
                    flush=True,
                )
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
