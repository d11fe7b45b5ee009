"""``affectgate demo``: the main job on embedded defaults (synthesize, train, export, gate for several contexts)."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from affectgate.core.errors import AffectgateError
from affectgate.gate.results import GateResult
from affectgate.project.settings import Settings, get_settings

if TYPE_CHECKING:
    pass
from affectgate.cli.common import console, fail
from affectgate.cli.gate import print_results, run_gate_command
from affectgate.cli.synth import _synth
from affectgate.demo.tiny import DEMO_ARCH, DEMO_CONTEXTS, TINY_TRAIN_CONFIG

commands = typer.Typer()  # top-level commands; attached to the app in affectgate.cli


# -- demo ----------------------------------------------------------------------------------------
def _demo_phase(settings: Settings, *, tiny: bool, out: Path, plain: bool, tag: str) -> list[GateResult]:
    """One candidate through the whole job: synthesize, train, export, gate for the demo contexts."""
    from affectgate.zoo.build import export_zoo_model, train_zoo_model

    console.rule(f"{tag}1/4 synthetic data (DFEW layout{', tiny, bias and drift knobs off' if tiny else ''})")
    root = _synth(settings, None, settings.seed, tiny)
    console.rule(f"{tag}2/4 train {DEMO_ARCH} on the train split of fold 1")
    res = train_zoo_model(
        project_root=settings.project_root,
        arch=DEMO_ARCH,
        data=root,
        fold=1,
        out=out,
        seed=settings.seed,
        threads=settings.ort_threads,
        config=TINY_TRAIN_CONFIG if tiny else None,
        console=console,
    )
    console.print(f"trained in {res.seconds:.1f}s")
    console.rule(f"{tag}3/4 export to ONNX (parity vs torch)")
    exp = export_zoo_model(project_root=settings.project_root, arch=DEMO_ARCH, out=out, seed=settings.seed)
    console.print(f"{exp.onnx_path}: parity max abs diff {exp.parity_max_abs_diff:.2e}, sha256 {exp.sha256[:16]}…")
    console.rule(f"{tag}4/4 release gate" + ("" if plain else " (Prefect flow)"))
    results = run_gate_command(
        settings=settings,
        model=str(out),
        contexts=list(DEMO_CONTEXTS),
        data=str(root),
        fold=1,
        suite="release",
        as_of=None,
        plain=plain,
    )
    print_results(results, settings=settings)
    return results


@commands.command("demo")
def demo(
    tiny: Annotated[bool, typer.Option(help="Only part B: the tiny balanced set (about 2 minutes).")] = False,
    plain: Annotated[bool, typer.Option(help="Run the gate without Prefect.")] = False,
    zoo: Annotated[
        bool, typer.Option(help="Part C: every classifier technique and its int8 variant through the gate.")
    ] = True,
) -> None:
    """The main job on embedded defaults: synthesize data, train + export, gate for several contexts.

    Part A trains on the demo-size set whose bias knobs under-represent one skin-tone group and lower
    its image quality (and whose last quarter drifts): the gate measures what that does to fairness.
    Part B trains on a tiny set with those knobs off: a candidate that can pass on its measured numbers.
    """
    settings = get_settings()
    from affectgate.oversight.identity import mark_demo_workspace

    mark_demo_workspace(settings)  # public demo users and --submitter names are accepted here, nowhere else
    started = time.perf_counter()
    try:
        if not tiny:
            _demo_phase(settings, tiny=False, out=settings.models_dir / DEMO_ARCH, plain=plain, tag="A ")
        balanced = settings.models_dir / f"{DEMO_ARCH}_balanced"
        _demo_phase(settings, tiny=True, out=balanced, plain=plain, tag="" if tiny else "B ")
        if zoo and not tiny:
            from affectgate.demo.zoo import PRETRAINED_BASELINES, SIGNAL_DEMOS, print_zoo_table, run_zoo_comparison

            console.rule("C the model zoo side by side: five techniques' classifiers, fp32 and int8, same gate")
            rows = run_zoo_comparison(
                settings=settings,
                data=settings.data_dir / "synth_dfew_tiny",
                fp32_models={DEMO_ARCH: balanced},
                gate=partial(run_gate_command, settings=settings, fold=1, suite="release", as_of=None, plain=plain),
                console=console,
                signal_models=SIGNAL_DEMOS,
                pretrained=PRETRAINED_BASELINES,
            )
            print_zoo_table(rows, console=console)
    except AffectgateError as exc:
        raise fail(exc) from None
    from affectgate.gate.workspace import audit_log

    chain = audit_log(settings).verify()
    console.print(f"audit chain: {'verified' if chain.ok else 'BROKEN'} ({chain.n_events} events)")
    console.print(f"demo finished in {time.perf_counter() - started:.0f}s; dashboard: make dashboard")
