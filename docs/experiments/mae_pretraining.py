"""Experiment: MAE pre-training + fine-tuning vs training from scratch with few labels (synthetic DFEW).

Run (CPU, ~minutes; numbers go to docs/experiments/mae_pretraining.md by hand):

    nice -n 10 .venv/bin/python docs/experiments/mae_pretraining.py --data /tmp/h2/dfew_synth --out /tmp/h2/mae.json

The data is generated with ``affectgate.datasets.synth.generate_dfew`` (SynthConfig(seed=0,
image_size=64)) when ``--data`` does not exist. Pre-training reads the clips of the fold's train
split WITHOUT labels; fine-tuning and the scratch baseline see the same ``--label-fraction`` of the
train labels (stratified per class) with the same seed, epochs and optimiser; both are scored on
the fold's test split (subject-disjoint).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from affectgate.datasets.dfew import load_dfew_split, read_clips
from affectgate.datasets.synth import SynthConfig, generate_dfew
from affectgate.zoo.card import zoo_card
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.pretrain import PretrainResult, encoder_state, fine_tune, predict, pretrain_mae
from affectgate.zoo.registry import get_arch

ROOT = Path(__file__).resolve().parents[2]


def few_labels(targets: np.ndarray, *, fraction: float, seed: int) -> np.ndarray:
    """Indices of a class-stratified subset holding ``fraction`` of the labels (at least 1 per class)."""
    rng = np.random.default_rng([seed, 99])
    keep = []
    for k in np.unique(targets):
        idx = np.flatnonzero(targets == k)
        keep.extend(rng.choice(idx, size=max(1, round(fraction * len(idx))), replace=False).tolist())
    return np.sort(np.asarray(keep))


def main() -> None:
    """Run the comparison and write a JSON of measured numbers."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/tmp/affectgate_mae/dfew_synth"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/affectgate_mae/mae.json"))
    ap.add_argument("--fold", type=int, default=1)
    ap.add_argument("--label-fraction", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--pretrain-epochs", type=int, default=40)
    ap.add_argument("--finetune-epochs", type=int, default=40)
    ap.add_argument("--mask-ratio", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3, help="fine-tuning peak learning rate")
    ap.add_argument("--probe", action="store_true", help="train only the head (frozen encoder): a linear probe")
    ap.add_argument("--encoder-cache", type=Path, default=None, help="load/save the pre-trained encoder (per seed)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.data / "datasheet.yaml").is_file():
        generate_dfew(root=args.data, config=SynthConfig(seed=0, image_size=64))
    card = zoo_card(project_root=ROOT, arch="mae_dfer")
    spec = card.input
    train = load_dfew_split(root=args.data, fold=args.fold, split="train")
    test = load_dfew_split(root=args.data, fold=args.fold, split="test")
    x_train_u8 = read_clips(samples=train.samples, frames=spec.frames, size=spec.size, workers=args.threads)
    x_test = to_model_input(
        clips=read_clips(samples=test.samples, frames=spec.frames, size=spec.size, workers=args.threads), spec=spec
    )
    y_train = np.asarray([card.labels.index(s.label) for s in train.samples])
    y_test = np.asarray([card.labels.index(s.label) for s in test.samples])
    x_train = to_model_input(clips=x_train_u8, spec=spec)
    build = get_arch("mae_dfer").build
    k = len(card.labels)
    runs = []
    for seed in args.seeds:
        sub = few_labels(y_train, fraction=args.label_fraction, seed=seed)
        torch.manual_seed(seed)
        enc = build(num_classes=k)
        pre = None
        cache = args.encoder_cache.with_suffix(f".seed{seed}.pt") if args.encoder_cache else None
        if args.pretrain_epochs > 0 and cache is not None and cache.is_file():
            saved = torch.load(cache, weights_only=False)
            enc.load_state_dict(saved["state"])
            pre = PretrainResult(encoder=enc, epoch_losses=tuple(saved["losses"]), seconds=saved["seconds"])
        elif args.pretrain_epochs > 0:  # 0 = scratch reference only
            pre = pretrain_mae(
                encoder=enc,
                clips=x_train_u8,  # unlabelled: no targets are passed
                spec=spec,
                epochs=args.pretrain_epochs,
                ratio=args.mask_ratio,
                seed=seed,
                threads=args.threads,
                log=True,
            )
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"state": enc.state_dict(), "losses": pre.epoch_losses, "seconds": pre.seconds}, cache)
        results = {}
        for variant in ("mae_pretrained", "scratch") if pre is not None else ("scratch",):
            torch.manual_seed(seed)
            model = build(num_classes=k)
            if pre is not None and variant == "mae_pretrained":
                missing, _ = model.load_state_dict(encoder_state(pre.encoder), strict=False)
                assert set(missing) == {"head.weight", "head.bias"}, missing
            if args.probe:
                for name, prm in model.named_parameters():
                    prm.requires_grad = name.startswith("head.")
            ft = fine_tune(
                model=model,
                clips=x_train[sub],
                targets=y_train[sub],
                epochs=args.finetune_epochs,
                lr=args.lr,
                seed=seed,
                threads=args.threads,
            )
            pred = predict(model=ft.model, clips=x_test)
            results[variant] = {
                "test_war": float(accuracy_score(y_test, pred)),
                "test_uar": float(balanced_accuracy_score(y_test, pred)),
                "finetune_seconds": ft.seconds,
                "final_train_loss": ft.epoch_losses[-1],
            }
            print(seed, variant, results[variant], flush=True)
        runs.append(
            {
                "seed": seed,
                "n_labelled": int(len(sub)),
                "pretrain_seconds": pre.seconds if pre else 0.0,
                "pretrain_loss_first_last": [pre.epoch_losses[0], pre.epoch_losses[-1]] if pre else [],
                **results,
            }
        )
    summary = {
        "data": str(args.data),
        "synthetic": True,
        "fold": args.fold,
        "n_train_clips_unlabelled": int(len(x_train)),
        "n_test": int(len(x_test)),
        "label_fraction": args.label_fraction,
        "pretrain_epochs": args.pretrain_epochs,
        "finetune_epochs": args.finetune_epochs,
        "mask_ratio": args.mask_ratio,
        "probe": args.probe,
        "finetune_lr": args.lr,
        "input": f"{spec.frames}x{spec.size}x{spec.size}",
        "torch": torch.__version__,
        "threads": args.threads,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
    }
    for variant in ("mae_pretrained", "scratch") if args.pretrain_epochs > 0 else ("scratch",):
        for m in ("test_war", "test_uar"):
            vals = [r[variant][m] for r in runs]
            summary[f"{variant}_{m}_mean"] = float(np.mean(vals))
            summary[f"{variant}_{m}_std"] = float(np.std(vals))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
