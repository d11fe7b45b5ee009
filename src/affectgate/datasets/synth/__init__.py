"""Synthetic data generators in the real benchmark layouts (labelled synthetic everywhere)."""

from affectgate.datasets.synth.affwild2_layout import AffWild2SynthConfig, AffWild2SynthSummary, generate_affwild2
from affectgate.datasets.synth.av_layout import AVSynthConfig, AVSynthSummary, generate_ravdess, load_ravdess
from affectgate.datasets.synth.dfew_layout import SynthConfig, SynthSummary, generate_dfew
from affectgate.datasets.synth.manifest_layout import ManifestSynthConfig, ManifestSynthSummary, generate_manifest_set

__all__ = [
    "AVSynthConfig",
    "AVSynthSummary",
    "AffWild2SynthConfig",
    "AffWild2SynthSummary",
    "ManifestSynthConfig",
    "ManifestSynthSummary",
    "SynthConfig",
    "SynthSummary",
    "generate_affwild2",
    "generate_dfew",
    "generate_manifest_set",
    "generate_ravdess",
    "load_ravdess",
]
