"""``affectgate data synth``: synthetic sets in the real benchmark layouts (every file labelled synthetic)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from affectgate.core.errors import AffectgateError
from affectgate.demo.tiny import tiny_synth_config
from affectgate.project.settings import Settings, get_settings

if TYPE_CHECKING:
    pass
from affectgate.cli.common import console, fail

data_app = typer.Typer(
    help="Datasets: generate synthetic sets, validate a dataset (Great Expectations), show DVC versions.",
    no_args_is_help=True,
)


# -- data ----------------------------------------------------------------------------------------
def _synth(settings: Settings, out: Path | None, seed: int, tiny: bool) -> Path:
    from affectgate.datasets.synth import SynthConfig, generate_dfew

    cfg = SynthConfig(seed=seed) if not tiny else tiny_synth_config(seed=seed)
    root = (
        settings.resolve(out) if out is not None else settings.data_dir / ("synth_dfew_tiny" if tiny else "synth_dfew")
    )
    summary = generate_dfew(root=root, config=cfg)
    console.print(
        f"wrote {summary.n_clips} SYNTHETIC clips of {summary.n_subjects} subjects in the DFEW layout to {root}"
    )
    return root


SYNTH_LAYOUTS = ("dfew", "affwild2", "ravdess", "manifest", "engagement")


def _synth_other(settings: Settings, layout: str, out: Path | None, seed: int) -> Path:
    """The non-DFEW synthetic layouts (small by default), each marked synthetic in its datasheet."""
    from affectgate.datasets import synth
    from affectgate.datasets.synth.engagement import EngagementConfig, generate_engagement

    root = settings.resolve(out) if out is not None else settings.data_dir / f"synth_{layout}"
    if layout == "affwild2":
        aw = synth.generate_affwild2(root=root, config=synth.AffWild2SynthConfig(seed=seed))
        what = f"{len(aw.videos)} videos ({aw.n_lines} annotated frame lines, {aw.missing_frames} without an image)"
    elif layout == "ravdess":
        rv = synth.generate_ravdess(root=root, config=synth.AVSynthConfig(seed=seed))
        what = f"{rv.n_recordings} audio-visual recordings of {rv.n_actors} actors"
    elif layout == "manifest":
        mf = synth.generate_manifest_set(root=root, config=synth.ManifestSynthConfig(seed=seed))
        what = f"{mf.n_clips} clips of {mf.n_subjects} subjects with a manifest and datasheet"
    else:
        en = generate_engagement(root=root, config=EngagementConfig(seed=seed))
        what = f"{en.n_clips} engagement clips of {en.n_subjects} subjects ({en.n_train} train / {en.n_test} test)"
    console.print(f"wrote {what}, all SYNTHETIC, in the {layout} layout to {root}")
    return root


@data_app.command("synth")
def data_synth(
    out: Annotated[
        Path | None, typer.Option(help="Output folder; default <data root>/synth_<layout> (dfew: synth_dfew[_tiny]).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed; the same seed writes byte-identical files.")] = 0,
    tiny: Annotated[bool, typer.Option(help="DFEW layout: a tiny set (seconds) instead of the demo size.")] = False,
    layout: Annotated[str, typer.Option(help=f"Dataset layout to write: {', '.join(SYNTH_LAYOUTS)}.")] = "dfew",
) -> None:
    """Generate a synthetic face-video set in a real benchmark layout (frames/videos, labels, metadata, datasheet)."""
    if layout not in SYNTH_LAYOUTS:
        raise fail(AffectgateError(f"unknown layout {layout!r}", fix=f"use one of {', '.join(SYNTH_LAYOUTS)}"))
    try:
        if layout == "dfew":
            _synth(get_settings(), out, seed, tiny)
        else:
            _synth_other(get_settings(), layout, out, seed)
    except AffectgateError as exc:
        raise fail(exc) from None
