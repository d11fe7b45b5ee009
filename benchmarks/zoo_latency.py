"""Latency of every zoo architecture: PyTorch eager vs onnxruntime fp32 and int8, measured in the same run.

Each registered architecture is built with random weights (latency does not depend on the weight
values) at the size given on the command line, exported through ``export_onnx`` (parity-checked)
and quantised through ``quantize_export`` (static QDQ calibrated on random clips for CNNs, dynamic
MatMul for transformer/audio-visual graphs). Then, per runtime: batch-1 p50/p95 latency over
``--repeats`` calls after ``--warmup`` calls, and batched throughput (clips/s at ``--batch``).
The ratio column is the PyTorch eager p50 divided by this row's p50 (> 1 = faster than eager).

    nice -n 10 .venv/bin/python benchmarks/zoo_latency.py --frames 4 --size 32 --threads 1
    .venv/bin/python benchmarks/zoo_latency.py --config paper --threads 2 --no-int8   # paper-size models
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from rich.console import Console
from rich.table import Table

from affectgate.core.errors import AffectgateError
from affectgate.targets.harness import timings
from affectgate.zoo.build import example_inputs
from affectgate.zoo.card import apply_config, load_config, zoo_card
from affectgate.zoo.export import export_onnx
from affectgate.zoo.lookup import list_archs
from affectgate.zoo.quantize import choose_method, quantize_export
from affectgate.zoo.train import build_model

ROOT = Path(__file__).resolve().parents[1]


def measure(
    run: Callable[[dict[str, np.ndarray]], object],
    *,
    one: dict[str, np.ndarray],
    many: dict[str, np.ndarray],
    warmup: int,
    repeats: int,
) -> dict[str, float]:
    """Batch-1 p50/p95 (ms) and batched throughput (clips/s) of one runtime."""
    single = timings(lambda: run(one), warmup=warmup, repeats=repeats)
    batched = timings(lambda: run(many), warmup=1, repeats=max(3, repeats // 5))
    n = len(next(iter(many.values())))
    return {
        "p50_ms": float(np.percentile(single, 50)),
        "p95_ms": float(np.percentile(single, 95)),
        "clips_per_s": float(n / (np.median(batched) / 1e3)),
    }


def ort_runner(path: Path, *, threads: int) -> Callable[[dict[str, np.ndarray]], object]:
    """An onnxruntime CPU session as a callable on input feeds."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    return lambda feed: sess.run(None, feed)


def bench_arch(name: str, *, args: argparse.Namespace, tmp: Path) -> list[dict[str, object]]:
    """Rows (torch eager, ort fp32, ort int8) for one architecture."""
    card = zoo_card(project_root=ROOT, arch=name)
    if args.config == "paper":  # model_zoo/<arch>/paper.yaml: the paper-size model
        config = load_config(path=ROOT / "model_zoo" / name / "paper.yaml")
    else:
        config = {"frames": args.frames, "size": args.size}
        width = card.train.get("width")
        if isinstance(width, float) and width <= 1.0 and args.width is not None:
            config["width"] = args.width
    card = apply_config(card=card, config=config)
    model = build_model(card=card, seed=0).eval()
    names = [card.input.name] + ([card.input.audio.name] if card.input.audio is not None else [])

    def feed(n: int, seed: int) -> dict[str, np.ndarray]:
        clips, audio = example_inputs(card=card, n=n, seed=seed)
        return dict(zip(names, [clips] + ([audio] if audio is not None else []), strict=True))

    one, many = feed(1, 1), feed(args.batch, 2)
    base = {
        "arch": name,
        "technique": card.technique,
        "input": f"{card.input.frames}x{card.input.size}x{card.input.size}" + (" + audio" if card.input.audio else ""),
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
    }
    rows: list[dict[str, object]] = []

    def eager(f: dict[str, np.ndarray]) -> object:
        with torch.inference_mode():
            return model(*(torch.from_numpy(a) for a in f.values()))

    rows.append({**base, "runtime": "torch eager fp32", **measure(eager, one=one, many=many, **_rep(args))})
    parity = feed(3, 0)
    extra = {"parity_audio": parity[names[1]]} if len(names) > 1 else {}
    exp = export_onnx(model=model, card=card, folder=tmp / name, parity_clips=parity[names[0]], **extra)
    fp32 = ort_runner(exp.onnx_path, threads=args.threads)
    rows.append({**base, "runtime": "onnxruntime fp32", **measure(fp32, one=one, many=many, **_rep(args))})
    if args.int8:
        method = choose_method(card=card)
        try:
            calib = feed(16, 3) if method == "static" else None
            q = quantize_export(folder=tmp / name, calibration=calib, method=method, check=many)
            int8 = ort_runner(q.onnx_path, threads=args.threads)
            rows.append(
                {**base, "runtime": f"onnxruntime int8 ({method})", **measure(int8, one=one, many=many, **_rep(args))}
            )
        except AffectgateError as exc:
            rows.append(
                {**base, "runtime": f"onnxruntime int8 ({method})", "error": re.sub(r"/\S+", "…", str(exc))[:80]}
            )
    eager_p50 = float(rows[0]["p50_ms"])  # type: ignore[arg-type]
    for row in rows:
        if "p50_ms" in row:
            row["ratio_vs_eager"] = eager_p50 / float(row["p50_ms"])  # type: ignore[arg-type]
    return rows


def _rep(args: argparse.Namespace) -> dict[str, int]:
    return {"warmup": args.warmup, "repeats": args.repeats}


def main() -> None:
    """Parse arguments, benchmark every (selected) architecture and print one table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--config",
        choices=("tiny", "paper"),
        default="tiny",
        help="tiny: --frames/--size/--width below; paper: each arch's model_zoo/<arch>/paper.yaml",
    )
    parser.add_argument("--frames", type=int, default=4, help="frames per clip (default 4: tiny)")
    parser.add_argument("--size", type=int, default=32, help="frame side in px (default 32: tiny)")
    parser.add_argument("--width", type=float, default=0.25, help="width multiplier for archs that have one")
    parser.add_argument("--archs", nargs="*", default=None, help="architectures (default: every registered one)")
    parser.add_argument("--batch", type=int, default=8, help="batch size of the throughput measurement")
    parser.add_argument("--repeats", type=int, default=30, help="timed batch-1 calls per runtime")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before timing")
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--no-int8", dest="int8", action="store_false", help="skip the int8 variants")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    archs = args.archs or [e.name for e in list_archs()]
    console = Console(width=160)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in archs:
            console.print(f"[dim]benchmarking {name}...[/]")
            rows += bench_arch(name, args=args, tmp=Path(tmp))
    table = Table(
        "arch",
        "technique",
        "input",
        "params (M)",
        "runtime",
        "p50 ms",
        "p95 ms",
        f"clips/s @{args.batch}",
        "x eager p50",
        title=(
            f"zoo latency, CPU, {args.threads} thread(s), random weights, "
            + (
                "paper-size configs (model_zoo/<arch>/paper.yaml)"
                if args.config == "paper"
                else f"{args.frames}x{args.size}x{args.size} clips, width {args.width}"
            )
            + f"; torch {torch.__version__}, onnxruntime {ort.__version__}"
        ),
    )
    for r in rows:
        if "error" in r:
            table.add_row(
                str(r["arch"]),
                str(r["technique"]),
                str(r["input"]),
                f"{r['params_m']:.2f}",
                str(r["runtime"]),
                "-",
                "-",
                "-",
                f"failed: {r['error']}",
            )
            continue
        table.add_row(
            str(r["arch"]),
            str(r["technique"]),
            str(r["input"]),
            f"{r['params_m']:.2f}",
            str(r["runtime"]),
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['clips_per_s']:.1f}",
            f"{r['ratio_vs_eager']:.2f}",
        )
    console.print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
