"""Experiment: audio-visual fusion vs the same video encoder alone on the synthetic RAVDESS-layout set.

Run (CPU; numbers go to docs/experiments/av_fusion.md by hand):

    nice -n 10 .venv/bin/python docs/experiments/av_fusion.py --data /tmp/h2/ravdess_synth --out /tmp/h2/av.json

The data is generated with ``generate_ravdess(AVSynthConfig(seed=0))`` (24 actors, 1248
recordings, faces with low expressiveness) when ``--data`` does not exist. Actor-disjoint split:
metadata folds != ``--test-fold`` train, the test fold is scored. Both variants use
``av_fusion``'s build with the same seed, epochs, batch size and optimiser; the video-only variant
is ``use_audio=False`` (same per-frame CNN + temporal block, no audio branch, no fusion).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from affectgate.datasets.synth import AVSynthConfig, generate_ravdess, load_ravdess
from affectgate.zoo.card import zoo_card
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.pretrain import fine_tune, predict
from affectgate.zoo.registry import get_arch

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    """Train both variants, score the test actors, write a JSON of measured numbers."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/tmp/affectgate_av/ravdess_synth"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/affectgate_av/av.json"))
    ap.add_argument("--test-fold", type=int, default=4)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.data / "datasheet.yaml").is_file():
        generate_ravdess(root=args.data, config=AVSynthConfig(seed=0))
    card = zoo_card(project_root=ROOT, arch="av_fusion")
    spec = card.input
    t0 = time.perf_counter()
    meta, clips_u8, mels = load_ravdess(
        root=args.data, frames=spec.frames, size=spec.size, audio=spec.audio, workers=args.threads
    )
    load_s = time.perf_counter() - t0
    clips = to_model_input(clips=clips_u8, spec=spec)
    y = np.asarray([card.labels.index(e) for e in meta.emotion])
    test = (meta.fold == args.test_fold).to_numpy()
    cfg = card.train
    runs = []
    for seed in args.seeds:
        res = {}
        for variant, use_audio in (("video_only", False), ("av_fusion", True)):
            torch.manual_seed(seed)
            model = get_arch("av_fusion").build(
                num_classes=len(card.labels),
                width=cfg["width"],
                dropout=float(cfg["dropout"]),
                use_audio=use_audio,
            )
            audio = mels if use_audio else None
            ft = fine_tune(
                model=model,
                clips=clips[~test],
                targets=y[~test],
                audio=audio[~test] if audio is not None else None,
                epochs=args.epochs,
                batch_size=int(cfg["batch_size"]),
                lr=float(cfg["lr"]),
                weight_decay=float(cfg["weight_decay"]),
                seed=seed,
                threads=args.threads,
                log=True,
            )
            pred = predict(model=ft.model, clips=clips[test], audio=audio[test] if audio is not None else None)
            res[variant] = {
                "test_war": float(accuracy_score(y[test], pred)),
                "test_uar": float(balanced_accuracy_score(y[test], pred)),
                "train_seconds": ft.seconds,
                "final_train_loss": ft.epoch_losses[-1],
                "params": int(sum(p.numel() for p in model.parameters())),
            }
            print(seed, variant, res[variant], flush=True)
        runs.append({"seed": seed, **res})
    summary = {
        "data": str(args.data),
        "synthetic": True,
        "n_train": int((~test).sum()),
        "n_test": int(test.sum()),
        "test_fold": args.test_fold,
        "epochs": args.epochs,
        "input": f"{spec.frames}x{spec.size}x{spec.size} + log-mel {spec.audio.n_mels}x{mels.shape[-1]}",
        "load_seconds": load_s,
        "torch": torch.__version__,
        "threads": args.threads,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
