"""Synthetic data generators in the real benchmark layouts (labelled synthetic everywhere)."""

from affectgate.datasets.synth.av_layout import AVSynthConfig, AVSynthSummary, generate_ravdess, load_ravdess
from affectgate.datasets.synth.dfew_layout import SynthConfig, SynthSummary, generate_dfew

__all__ = [
    "AVSynthConfig",
    "AVSynthSummary",
    "SynthConfig",
    "SynthSummary",
    "generate_dfew",
    "generate_ravdess",
    "load_ravdess",
]
