"""affectgate: evaluate -> check -> decide -> promote (or reject) -> audit, for video emotion models."""

__version__ = "0.1.0"
