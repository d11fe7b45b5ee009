"""One exception type for every user-facing failure: it names the thing and the fix."""

from __future__ import annotations


class AffectgateError(Exception):
    """A failure the user can act on.

    ``what`` names the thing that is wrong, ``fix`` says what to do about it. ``str()`` gives the
    one-line message the CLI prints.
    """

    def __init__(self, what: str, *, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(what if not fix else f"{what} — fix: {fix}")


class DataError(AffectgateError):
    """Bad input data: a missing frame folder, an out-of-range label, a path outside the data root."""


class ModelError(AffectgateError):
    """A missing, corrupt or inconsistent model file or card."""


class PolicyError(AffectgateError):
    """An unknown context, a malformed policy pack or a rule that cannot be evaluated."""


class RegistryError(AffectgateError):
    """The MLflow registry could not be read or written."""
