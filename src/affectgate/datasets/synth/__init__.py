"""Synthetic data generators in the real benchmark layouts (labelled synthetic everywhere)."""

from affectgate.datasets.synth.dfew_layout import SynthConfig, SynthSummary, generate_dfew

__all__ = ["SynthConfig", "SynthSummary", "generate_dfew"]
