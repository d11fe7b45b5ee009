"""``affectgate zoo``: list, cards, train, export and quantise the model zoo's architectures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from affectgate.core.errors import AffectgateError
from affectgate.datasets.selection import gate_formats
from affectgate.project.settings import get_settings

if TYPE_CHECKING:
    from affectgate.core.records import ModelCard
from affectgate.cli.common import console, fail
from affectgate.cli.synth import SYNTH_LAYOUTS

zoo_app = typer.Typer(help="Model zoo: list, cards, train, export and quantise architectures.", no_args_is_help=True)


# -- zoo -----------------------------------------------------------------------------------------
@zoo_app.command("list")
def zoo_list() -> None:
    """List registered architectures, their technique, output kinds, input spec and export state."""
    from affectgate.zoo.card import zoo_card
    from affectgate.zoo.lookup import list_archs

    settings = get_settings()
    table = Table("arch", "technique", "outputs", "input", "exported")
    for entry in list_archs():
        card = zoo_card(project_root=settings.project_root, arch=entry.name)
        models = settings.models_dir if settings.has_workspace else None  # outside a project: nothing exported
        exported = models is not None and (models / entry.name / "model.onnx").is_file()
        int8 = models is not None and (models / f"{entry.name}_int8" / "model.onnx").is_file()
        spec = card.input
        table.add_row(
            entry.name,
            entry.technique,
            ", ".join(card.output_kinds),
            f"{spec.frames}x{spec.size}x{spec.size} {spec.layout}" + (" + audio" if spec.audio else ""),
            ("yes" if exported else "no") + (" + int8" if int8 else ""),
        )
    console.print(table)


@zoo_app.command("card")
def zoo_card_command(arch: Annotated[str, typer.Argument(help="Architecture id (see `affectgate zoo list`).")]) -> None:
    """Print an architecture's model card (model_zoo/ARCH/card.yaml) as validated YAML."""
    import yaml

    from affectgate.zoo.card import zoo_card
    from affectgate.zoo.lookup import get_arch

    settings = get_settings()
    try:
        get_arch(arch)
        card = zoo_card(project_root=settings.project_root, arch=arch)
    except AffectgateError as exc:
        raise fail(exc) from None
    console.print(yaml.safe_dump(card.model_dump(mode="json"), sort_keys=False), highlight=False, markup=False)


#: ``zoo train --format`` help: DFEW (the default, :func:`train_zoo_model`) or any other registered loader format.
_TRAIN_FORMAT_HELP = (
    "Dataset format of --data, a registered loader: "
    + ", ".join(gate_formats())
    + ". dfew trains emotion classifiers; av_fusion needs audio (ravdess), engagement an engagement set."
)


def _train_format_problem(*, arch: str, card: ModelCard, data_format: str) -> AffectgateError | None:
    """Why ``arch`` (its ``card``) cannot train on a ``data_format`` set, naming the format it needs; else None."""
    from affectgate.core.errors import DataError

    kinds = card.output_kinds
    if card.input.audio is not None and data_format == "dfew":
        return DataError(
            f"{arch} needs audio: --format ravdess (an audio-visual set); a DFEW-layout set has frames only",
            fix=f"affectgate zoo train {arch} --format ravdess --data PATH "
            "(affectgate data synth --layout ravdess writes a synthetic one)",
        )
    if "discrete_emotion" not in kinds and "engagement" in kinds and data_format != "engagement":
        return DataError(
            f"{arch} needs an engagement set: --format engagement (per-frame head pose, gaze, eye openness and "
            f"clip attention); a {data_format} set has no engagement signals",
            fix=f"affectgate zoo train {arch} --format engagement --data PATH "
            "(affectgate data synth --layout engagement writes a synthetic one)",
        )
    if "discrete_emotion" in kinds and data_format == "engagement":
        return DataError(
            f"{arch} is an emotion classifier; an engagement set has no class labels to train it on",
            fix="train it on a labelled set: --format dfew (default), mafw, ravdess, manifest, ...",
        )
    return None


@zoo_app.command("train")
def zoo_train(
    arch: Annotated[str, typer.Argument(help="Architecture id (see `affectgate zoo list`).")],
    data: Annotated[
        Path | None,
        typer.Option(help="Dataset folder; default data/synth_dfew (dfew) or <data root>/synth_<format>."),
    ] = None,
    data_format: Annotated[str, typer.Option("--format", help=_TRAIN_FORMAT_HELP)] = "dfew",
    fold: Annotated[
        int | None,
        typer.Option(
            help="Fold whose train split is used (DFEW set_N, RAVDESS/MAFW fold, manifest fold column); "
            "default: the format's (DFEW 1)."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML of overrides: frames, size, epochs, lr, ...")] = None,
    folds: Annotated[
        str | None,
        typer.Option(
            help="Train a model family: 'all' (every fold the set has) or a list such as 1,2,3; each fold's model "
            "is trained on its fold's train split and exported to <models>/<arch>_family/fold_<k>, with family.yaml "
            "(gate it with --model <that folder>: each fold scored on its own test split)."
        ),
    ] = None,
) -> None:
    """Train an architecture briefly on a dataset's train split (CPU); writes a checkpoint to the workspace.

    --format dfew (default) trains the emotion classifiers on a DFEW-layout set; any other registered
    format is read through its loader (av_fusion: --format ravdess, engagement: --format engagement).
    --folds all trains and exports one model per fold (a family for the cross-fold protocol).
    """
    import math

    from affectgate.core.errors import DataError
    from affectgate.zoo.build import train_on_format, train_zoo_model
    from affectgate.zoo.card import load_config, zoo_card
    from affectgate.zoo.lookup import get_arch

    settings = get_settings()
    try:
        if data_format not in gate_formats():
            raise DataError(
                f"unknown dataset format {data_format!r}", fix=f"--format is one of {', '.join(gate_formats())}"
            )
        get_arch(arch)
        card = zoo_card(project_root=settings.project_root, arch=arch)
        problem = _train_format_problem(arch=arch, card=card, data_format=data_format)
        if problem is not None:
            raise problem
        if data is None:
            if data_format != "dfew" and data_format not in SYNTH_LAYOUTS:
                raise DataError(f"--format {data_format} needs --data", fix="pass the dataset folder with --data")
            data = Path("data/synth_dfew") if data_format == "dfew" else settings.data_dir / f"synth_{data_format}"
        if folds is not None:
            if fold is not None:
                raise DataError("--fold and --folds together", fix="pass --folds all (a family) or --fold N (one)")
            family = _train_family(
                arch=arch, data=settings.resolve(data), data_format=data_format, folds=folds, config=config
            )
            console.print(f"model family {family}: gate it with `affectgate gate --model {family.parent} ...`")
            return
        if data_format == "dfew":
            res = train_zoo_model(
                project_root=settings.project_root,
                arch=arch,
                data=settings.resolve(data),
                fold=1 if fold is None else fold,
                out=settings.models_dir / arch,
                seed=settings.seed,
                threads=settings.ort_threads,
                config=load_config(path=config),
                console=console,
            )
        else:
            from affectgate.datasets.selection import resolve_selection

            try:
                res = train_on_format(
                    project_root=settings.project_root,
                    arch=arch,
                    data=settings.resolve(data),
                    data_format=data_format,
                    fold=resolve_selection(fmt=data_format, fold=fold, split="train")[0],
                    out=settings.models_dir / arch,
                    seed=settings.seed,
                    threads=settings.ort_threads,
                    config=load_config(path=config),
                    console=console,
                )
            except ValueError as exc:  # e.g. a label that is not one of the card's classes
                raise DataError(
                    f"cannot train {arch} on the {data_format} set {data}: {exc}",
                    fix=f"the train split's labels must be the card's classes ({', '.join(card.labels)})",
                ) from None
    except AffectgateError as exc:
        raise fail(exc) from None
    score = (
        f"train accuracy {res.train_accuracy:.3f}"
        if math.isfinite(res.train_accuracy)
        else f"final loss {res.final_loss:.4f}"  # no class targets (engagement signals)
    )
    console.print(f"trained {arch}: {res.epochs} epochs in {res.seconds:.1f}s, {score}")


def _family_folds(*, data: Path, data_format: str, folds: str) -> list[int]:
    """The fold numbers of ``--folds``: 'all' = every fold the set's split files name, else a comma list."""
    from affectgate.core.errors import DataError
    from affectgate.datasets.base import load_dataset

    if folds.strip().lower() != "all":
        try:
            return sorted({int(x) for x in folds.split(",") if x.strip()})
        except ValueError:
            raise DataError(
                f"--folds {folds!r} is not 'all' or a list of fold numbers", fix="e.g. --folds 1,2,3"
            ) from None
    loaded = load_dataset(fmt=data_format, root=data)
    present = sorted({int(k) for k in loaded.samples["fold"].dropna()})
    if len(present) < 2:
        raise DataError(
            f"the {data_format} set {data} has {len(present)} fold(s): a family needs at least two",
            fix="train one model with --fold N, or pass a set with fold split files",
        )
    return present


def _train_family(*, arch: str, data: Path, data_format: str, folds: str, config: Path | None) -> Path:
    """Train and export one model per fold into ``<models>/<arch>_family/fold_<k>``; write family.yaml."""
    from affectgate.gate.family import write_family
    from affectgate.zoo.build import export_zoo_model, train_on_format, train_zoo_model
    from affectgate.zoo.card import load_config

    settings = get_settings()
    root = settings.models_dir / f"{arch}_family"
    out: dict[int, Path] = {}
    for k in _family_folds(data=data, data_format=data_format, folds=folds):
        out[k] = root / f"fold_{k}"
        kwargs = dict(
            project_root=settings.project_root,
            arch=arch,
            data=data,
            fold=k,
            out=out[k],
            seed=settings.seed,
            threads=settings.ort_threads,
            config=load_config(path=config),
            console=console,
        )
        res = (
            train_zoo_model(**kwargs)  # type: ignore[arg-type]
            if data_format == "dfew"
            else train_on_format(data_format=data_format, **kwargs)  # type: ignore[arg-type]
        )
        console.print(f"fold {k}: trained {arch} on fold {k}'s train split, {res.epochs} epochs in {res.seconds:.1f}s")
        export_zoo_model(project_root=settings.project_root, arch=arch, out=out[k], seed=settings.seed)
    return write_family(root=root, name=f"{arch}-{data_format}-folds", folds=out)


@zoo_app.command("export")
def zoo_export(
    arch: Annotated[str, typer.Argument(help="Architecture id.")],
    frames: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Pretrained baselines (fer_minixception) only: frames per clip the graph reads (default: the "
            "card's); at most the frames the evaluated clips hold.",
        ),
    ] = None,
) -> None:
    """Export a trained architecture (or a pretrained baseline) to ONNX with a torch parity check and a sha256 lock."""
    from affectgate.zoo.build import export_zoo_model

    settings = get_settings()
    try:
        res = export_zoo_model(
            project_root=settings.project_root,
            arch=arch,
            out=settings.models_dir / arch,
            seed=settings.seed,
            frames=frames,
        )
    except AffectgateError as exc:
        raise fail(exc) from None
    console.print(f"exported {res.onnx_path}")
    console.print(f"  parity max abs diff torch vs onnxruntime: {res.parity_max_abs_diff:.2e}")
    console.print(f"  sha256 {res.sha256}")


@zoo_app.command("quantize")
def zoo_quantize(
    arch: Annotated[str, typer.Argument(help="Architecture id (exported first with `affectgate zoo export`).")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="Set whose train split gives the static calibration clips; default data/synth_dfew (dfew) or "
            "<data root>/synth_<format>."
        ),
    ] = None,
    data_format: Annotated[
        str, typer.Option("--format", help="Dataset format of --data (a registered loader; default dfew).")
    ] = "dfew",
    fold: Annotated[
        int | None, typer.Option(help="Fold whose train split gives calibration clips; default: the format's.")
    ] = None,
    n_calib: Annotated[int, typer.Option(help="Number of calibration clips (static quantisation).")] = 32,
    method: Annotated[
        str, typer.Option(help="auto (static QDQ for CNNs, dynamic MatMul for transformer/AV), static or dynamic.")
    ] = "auto",
) -> None:
    """Int8 variant of an exported model: model.int8.onnx next to it and a separate candidate folder ARCH_int8."""
    from affectgate.core.errors import DataError
    from affectgate.datasets.selection import resolve_selection
    from affectgate.zoo.build import quantize_zoo_model

    settings = get_settings()
    if method not in ("auto", "static", "dynamic"):
        raise fail(ValueError(f"--method must be auto, static or dynamic, not {method!r}"))
    try:
        if data_format not in gate_formats():
            raise DataError(
                f"unknown dataset format {data_format!r}", fix=f"--format is one of {', '.join(gate_formats())}"
            )
        if data is None:
            data = Path("data/synth_dfew") if data_format == "dfew" else settings.data_dir / f"synth_{data_format}"
        res = quantize_zoo_model(
            out=settings.models_dir / arch,
            data=settings.resolve(data),
            fold=resolve_selection(fmt=data_format, fold=fold, split="train")[0],
            n_calib=n_calib,
            method=method,
            seed=settings.seed,
            threads=settings.ort_threads,
            data_format=data_format,
        )
    except AffectgateError as exc:
        raise fail(exc) from None
    console.print(f"int8 ({res.method}) {res.sidecar_path} -> candidate folder {res.folder}")
    console.print(f"  size {res.fp32_bytes / 1e6:.2f} MB fp32 -> {res.int8_bytes / 1e6:.2f} MB int8")
    agree = "n/a" if res.top1_agreement is None else f"{res.top1_agreement:.3f}"
    console.print(f"  max abs diff vs fp32 on calibration clips: {res.max_abs_diff:.2e}, top-1 agreement {agree}")
    console.print(f"  sha256 {res.sha256}")
