"""Part C of `make demo`: the model zoo side by side through the same gate.

Every emotion-classifier technique of the zoo (per-frame 2D CNNs, the (2+1)D CNN, CNN+GRU and the
MAE-DFER-style video transformer) is trained on the tiny balanced synthetic set, exported to ONNX,
quantised to int8 and each variant is gated as its own candidate for the same contexts. The int8
variants' accuracy drop is measured by the gate (evaluator ``int8_drop``), not assumed.

Training configs here are demo-size (seconds to a minute each on 2 cores); paper-size configs live
in each card and in ``docs/zoo.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from affectgate.pipeline import GateResult
from affectgate.settings import Settings

#: Demo-size training configs for the tiny set (4 frames at 48 px). mobilenet_v2_frame is trained in part B.
ZOO_DEMO_CONFIGS: dict[str, dict[str, object]] = {
    "resnet18_frame": {"frames": 4, "size": 48, "epochs": 20, "train_frames": 2},
    "r2plus1d_18": {"frames": 4, "size": 48, "epochs": 15},
    "cnn_gru": {"frames": 4, "size": 48, "epochs": 40},
    "mae_dfer": {"frames": 4, "size": 48, "epochs": 60},
}
ZOO_DEMO_CONTEXTS: tuple[str, ...] = ("eu-telehealth", "us-ad-testing")


@dataclass(frozen=True)
class ZooRow:
    """One candidate's line in the side-by-side table."""

    arch: str
    technique: str
    precision: str
    train_seconds: float | None
    onnx_mb: float
    results: tuple[GateResult, ...]


GateFn = Callable[..., list[GateResult]]


def run_zoo_comparison(
    *,
    settings: Settings,
    data: Path,
    fp32_models: dict[str, Path],
    gate: GateFn,
    console: Console,
    contexts: tuple[str, ...] = ZOO_DEMO_CONTEXTS,
    configs: dict[str, dict[str, object]] | None = None,
) -> list[ZooRow]:
    """Train + export the zoo's classifiers not in ``fp32_models``, quantise every one, gate all variants.

    ``fp32_models`` maps arch ids to export folders already trained on ``data`` (part B's CNN);
    ``gate(model=..., contexts=..., data=...)`` runs the release gate (Prefect flow or plain).
    """
    from affectgate.zoo.build import export_zoo_model, quantize_zoo_model, train_zoo_model
    from affectgate.zoo.card import zoo_card

    configs = ZOO_DEMO_CONFIGS if configs is None else configs
    folders: dict[str, tuple[Path, float | None]] = {a: (p, None) for a, p in fp32_models.items()}
    for arch, config in configs.items():
        out = settings.models_dir / f"{arch}_balanced"
        console.print(f"[bold]{arch}[/]: train ({config})")
        res = train_zoo_model(
            project_root=settings.project_root,
            arch=arch,
            data=data,
            fold=1,
            out=out,
            seed=settings.seed,
            threads=settings.ort_threads,
            config=config,
        )
        exp = export_zoo_model(project_root=settings.project_root, arch=arch, out=out, seed=settings.seed)
        console.print(
            f"  trained in {res.seconds:.0f}s; ONNX parity max abs diff {exp.parity_max_abs_diff:.1e}; "
            f"{exp.onnx_path.stat().st_size / 1e6:.2f} MB"
        )
        folders[arch] = (out, res.seconds)
    rows: list[ZooRow] = []
    for arch, (fp32_dir, seconds) in folders.items():
        q = quantize_zoo_model(out=fp32_dir, data=data, fold=1, n_calib=32, seed=settings.seed)
        console.print(
            f"[bold]{arch}[/]: int8 ({q.method}) {q.fp32_bytes / 1e6:.2f} -> {q.int8_bytes / 1e6:.2f} MB; gating both"
        )
        technique = zoo_card(project_root=settings.project_root, arch=arch).technique
        for precision, folder in (("fp32", fp32_dir), ("int8", q.folder)):
            results = gate(model=str(folder), contexts=list(contexts), data=str(data))
            rows.append(
                ZooRow(
                    arch=arch,
                    technique=technique,
                    precision=precision,
                    train_seconds=seconds if precision == "fp32" else None,
                    onnx_mb=(folder / "model.onnx").stat().st_size / 1e6,
                    results=tuple(results),
                )
            )
    return rows


def print_zoo_table(rows: list[ZooRow], *, console: Console) -> None:
    """The side-by-side table: technique, precision, accuracy, fairness gap, int8 drop, verdict per context."""
    if not rows:
        return
    contexts = [r.context_id for r in rows[0].results]

    def fmt(v: float | None, digits: int = 3) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    table = Table(
        "arch",
        "technique",
        "prec.",
        "MB",
        "train s",
        "WAR",
        "UAR",
        "gap (95% CI)",
        "int8 drop",
        *contexts,
        title="Model zoo through the release gate (SYNTHETIC tiny set, fold 1 test split)",
    )
    for row in rows:
        m = row.results[0].metrics
        lo, hi = m.get("fairness.accuracy_max_gap.ci_low"), m.get("fairness.accuracy_max_gap.ci_high")
        verdicts = []
        for r in row.results:
            style = {"allow": "green", "block": "red"}.get(r.verdict, "yellow")
            verdicts.append(f"[{style}]{r.verdict}[/]" + (f" v{r.version}" if r.promoted else ""))
        table.add_row(
            row.arch,
            row.technique,
            row.precision,
            f"{row.onnx_mb:.2f}",
            fmt(row.train_seconds, 0) if row.train_seconds is not None else "-",
            fmt(m.get("war")),
            fmt(m.get("uar")),
            f"{fmt(m.get('fairness.accuracy_max_gap'))} ({fmt(lo)}-{fmt(hi)})",
            fmt(m.get("int8.war_drop")) if row.precision == "int8" else "-",
            *verdicts,
        )
    console.print(table)
    for row in rows:
        for r in row.results:
            if r.reasons:
                console.print(f"[bold]{row.arch} {row.precision}[/] {r.context_id} ({r.verdict}):")
                for reason in r.reasons:
                    console.print(f"  - {reason}", soft_wrap=False)
