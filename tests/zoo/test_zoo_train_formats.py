"""`affectgate zoo train --format`: every architecture trains on the dataset format it needs, through the CLI.

``--format dfew`` (the default) keeps the DFEW path (:func:`affectgate.zoo.build.train_zoo_model`, the
same weights); any other registered format goes through the loader registry
(:func:`affectgate.zoo.build.train_on_format`). An architecture that cannot train on DFEW (av_fusion needs
audio, engagement needs an engagement set) is refused with the format to use, exit 3, no traceback.
Tiny sets and configs: seconds on 2 CPU cores. One workspace for the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.project.settings import Settings
from conftest import own_workspace

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@dataclass(frozen=True)
class Space:
    settings: Settings
    data: Path
    configs: Path


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Iterator[Space]:
    """A workspace and data root of its own (like test_gate_av_engagement's), shared by this module's tests."""
    tmp = tmp_path_factory.mktemp("zoo_train")
    with pytest.MonkeyPatch.context() as mp, own_workspace(tmp, mp) as settings:
        (tmp / "configs").mkdir()
        yield Space(settings=settings, data=tmp / "data", configs=tmp / "configs")


def _config(space: Space, name: str, values: dict[str, object]) -> Path:
    path = space.configs / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dfew_set(space) -> Path:
    from affectgate.datasets.synth import SynthConfig, generate_dfew

    root = space.data / "synth_dfew_micro"
    cfg = SynthConfig(
        seed=0, n_subjects=6, clips_per_subject=2, frames=4, image_size=32, folds=2, minority_subject_fraction=1 / 3
    )
    generate_dfew(root=root, config=cfg)
    return root


@pytest.fixture(scope="module")
def engagement_set(space) -> Path:
    from affectgate.datasets.synth.engagement import EngagementConfig, generate_engagement

    root = space.data / "synth_engagement_micro"
    cfg = EngagementConfig(seed=0, n_subjects=6, clips_per_subject=2, frames=4, image_size=32, test_fraction=0.5)
    generate_engagement(root=root, config=cfg)
    return root


def _train(*args: str):
    return runner.invoke(app, ["zoo", "train", *args])


def test_engagement_trains_on_an_engagement_set_and_exports(space, engagement_set):
    """`zoo train engagement --format engagement` trains on the train split's signals; `zoo export` then works."""
    from affectgate.datasets.selection import select_for_gate
    from affectgate.zoo.build import CHECKPOINT
    from affectgate.zoo.runtime import load_candidate

    config = _config(space, "engagement", {"frames": 4, "size": 32, "epochs": 2, "batch_size": 8})
    res = _train("engagement", "--format", "engagement", "--data", str(engagement_set), "--config", str(config))
    assert res.exit_code == 0, res.output
    assert "trained engagement: 2 epochs in" in res.output and "final loss" in res.output, res.output
    assert "Traceback" not in res.output
    out = space.settings.models_dir / "engagement"
    ckpt = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)
    assert ckpt["arch"] == "engagement" and ckpt["fold"] is None  # the engagement set has no folds
    assert ckpt["config"] == {"frames": 4, "size": 32, "epochs": 2, "batch_size": 8}
    _, train = select_for_gate(fmt="engagement", root=engagement_set, split="train")
    assert len(train.samples) == 6  # 3 train subjects x 2 clips (test_fraction 0.5)

    exp = runner.invoke(app, ["zoo", "export", "engagement"])
    assert exp.exit_code == 0, exp.output
    assert "exported" in exp.output and "parity max abs diff" in exp.output
    cand = load_candidate(path=out)
    assert cand.card.arch == "engagement" and cand.card.input.size == 32 and cand.card.input.frames == 4


def test_av_fusion_trains_on_a_ravdess_set_with_the_fold_passed_through(space):
    """`zoo train av_fusion --format ravdess`: fold 1 by default (the gate's default), --fold passes through."""
    from affectgate.datasets.synth.av_layout import AVSynthConfig, generate_ravdess
    from affectgate.zoo.build import CHECKPOINT

    data = space.data / "synth_ravdess_micro"
    cfg = AVSynthConfig(seed=3, n_actors=8, statements=1, repetitions=1, frames=4, image_size=32, seconds=1.0)
    generate_ravdess(root=data, config=cfg)
    config = _config(space, "av_fusion", {"frames": 4, "size": 32, "epochs": 1, "width": 8})
    ckpt = space.settings.models_dir / "av_fusion" / CHECKPOINT
    for extra, fold in (((), 1), (("--fold", "2"), 2)):
        res = _train("av_fusion", "--format", "ravdess", "--data", str(data), "--config", str(config), *extra)
        assert res.exit_code == 0, res.output
        assert "trained av_fusion: 1 epochs in" in res.output and "train accuracy" in res.output, res.output
        assert torch.load(ckpt, map_location="cpu", weights_only=True)["fold"] == fold


def test_dfew_default_keeps_the_dfew_path(space, dfew_set):
    """Without --format the DFEW path runs as before: the same weights as train_zoo_model on the same fold."""
    from affectgate.zoo.build import CHECKPOINT, train_zoo_model

    values = {"frames": 4, "size": 32, "epochs": 1, "train_frames": 2}
    config = _config(space, "mobilenet", values)
    res = _train("mobilenet_v2_frame", "--data", str(dfew_set), "--config", str(config), "--fold", "2")
    assert res.exit_code == 0, res.output
    assert "trained mobilenet_v2_frame: 1 epochs in" in res.output and "train accuracy" in res.output
    cli_ckpt = torch.load(
        space.settings.models_dir / "mobilenet_v2_frame" / CHECKPOINT, map_location="cpu", weights_only=True
    )
    assert cli_ckpt["fold"] == 2
    ref = space.configs / "ref"
    train_zoo_model(
        project_root=ROOT,
        arch="mobilenet_v2_frame",
        data=dfew_set,
        fold=2,
        out=ref,
        seed=space.settings.seed,
        threads=space.settings.ort_threads,
        config=values,
    )
    ref_ckpt = torch.load(ref / CHECKPOINT, map_location="cpu", weights_only=True)
    assert cli_ckpt["trained_on"] == ref_ckpt["trained_on"]
    for k, v in ref_ckpt["state_dict"].items():
        assert torch.equal(cli_ckpt["state_dict"][k], v), k


@pytest.mark.parametrize(
    ("arch", "extra", "needed"),
    [
        ("av_fusion", (), "--format ravdess"),
        ("av_fusion", ("--format", "dfew"), "--format ravdess"),
        ("engagement", (), "--format engagement"),
    ],
)
def test_arch_that_cannot_train_on_dfew_names_the_format(space, dfew_set, arch, extra, needed):
    """av_fusion / engagement on a DFEW set: exit 3 with the format to use, no traceback, nothing written."""
    ckpt = space.settings.models_dir / arch / "model.pt"
    before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
    res = _train(arch, "--data", str(dfew_set), *extra)
    assert res.exit_code == 3, res.output
    text = res.output.replace("\n", " ")
    assert needed in text and "Traceback" not in text, res.output
    if arch == "av_fusion":
        assert "av_fusion needs audio: --format ravdess" in text
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert (ckpt.stat().st_mtime_ns if ckpt.exists() else None) == before


def test_classifier_on_an_engagement_set_is_refused(space, engagement_set):
    """An emotion classifier on a set without class labels: exit 3 naming why, not a ValueError."""
    res = _train("mobilenet_v2_frame", "--format", "engagement", "--data", str(engagement_set))
    assert res.exit_code == 3, res.output
    assert "no class labels" in res.output.replace("\n", " ") and "Traceback" not in res.output


def test_unknown_format_is_refused(space, dfew_set):
    """An unregistered --format: exit 3 naming the registered formats."""
    from affectgate.datasets.selection import gate_formats

    res = _train("mobilenet_v2_frame", "--format", "dfew2", "--data", str(dfew_set))
    assert res.exit_code == 3, res.output
    text = res.output.replace("\n", " ")
    assert "unknown dataset format 'dfew2'" in text and "Traceback" not in text
    assert all(fmt in text for fmt in gate_formats())
