"""What every dataset loader returns: one table of samples plus every problem it met, counted.

Each benchmark has its own module (``dfew.py``, ``ferv39k.py``, ``mafw.py``, ``affwild2.py``,
``ravdess.py``, ``cremad.py``, ``manifest.py``) that reads the files exactly as distributed and
returns a :class:`LoadedDataset`. Loaders register themselves with :func:`register_loader`; the
CLI (`affectgate data validate --format F`) and the Great Expectations suites only see this table.

Bad rows are never silently dropped: in ``strict`` mode the first problem raises a
:class:`~affectgate.core.errors.DataError` naming file and line; otherwise it is recorded as a
:class:`Problem` and counted, and the sample is left out of ``samples``.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from affectgate.core.errors import DataError

#: Columns every loader fills (``None``/NaN where the dataset has no such information).
SAMPLE_COLUMNS: tuple[str, ...] = (
    "sample_id",  # unique within the dataset (e.g. DFEW "00025", Aff-Wild2 "video_12/00031")
    "split",  # "train" | "test" | "validation" | "all"
    "fold",  # int fold/set number, or <NA> when the dataset has none
    "media_path",  # frame folder, video file or frame image, relative to the dataset root (posix)
    "label",  # canonical emotion name (see labels.py) or the dataset's own class for >7-class sets
    "valence",  # float in [-1, 1] or NaN
    "arousal",  # float in [-1, 1] or NaN
    "subject_id",  # person id when known (clips of one person are not independent)
)
#: Optional columns loaders add when the dataset has them.
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "labels",  # compound label as "a_b" (MAFW compound)
    "aus",  # action units as a "AU1=0;AU2=1;..." string or NaN
    "frame",  # frame index for frame-level annotations (Aff-Wild2)
    "audio_path",  # audio track relative to the root (RAVDESS, Aff-Wild2 _left/_right share one)
    "skin_tone_group",
    "race",
    "ethnicity",
    "sex",
    "age_band",
    "capture_quarter",
    "consent_basis",
    "annotator_ids",
)


@dataclass(frozen=True)
class Problem:
    """One sample (or line) that could not be used, and why."""

    file: str
    line: int | None
    reason: str
    sample_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


@dataclass
class LoadedDataset:
    """The samples of one dataset (one fold/split selection) and the problems met reading it."""

    format: str
    root: Path
    samples: pd.DataFrame
    label_names: tuple[str, ...]
    problems: list[Problem] = field(default_factory=list)
    #: per-reason counts of samples dropped for a documented reason (e.g. Aff-Wild2 ``-5`` frames)
    invalid_counts: dict[str, int] = field(default_factory=dict)
    special_category: bool = False  # group attributes such as ethnicity/race present
    datasheet: dict | None = None

    def skipped_counts(self) -> dict[str, int]:
        """Problems per reason kind (the text before the first ':' of the reason)."""
        return dict(Counter(p.reason.split(":", 1)[0] for p in self.problems))


def problem_or_raise(*, problems: list[Problem], strict: bool, problem: Problem, fix: str = "") -> None:
    """Raise ``DataError`` in strict mode, otherwise record ``problem``."""
    if strict:
        raise DataError(str(problem), fix=fix)
    problems.append(problem)


def empty_samples() -> pd.DataFrame:
    """An empty samples table with the required columns."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in SAMPLE_COLUMNS})


LoaderFn = Callable[..., LoadedDataset]
_LOADERS: dict[str, LoaderFn] = {}


def register_loader(fmt: str) -> Callable[[LoaderFn], LoaderFn]:
    """Register ``fn(*, root, fold=None, split=None, strict=False) -> LoadedDataset`` as format ``fmt``."""

    def wrap(fn: LoaderFn) -> LoaderFn:
        if fmt in _LOADERS:
            raise ValueError(f"dataset format {fmt!r} is registered twice")
        _LOADERS[fmt] = fn
        return fn

    return wrap


def _load_builtins() -> None:
    import importlib

    for mod in ("dfew", "ferv39k", "mafw", "affwild2", "ravdess", "cremad", "manifest", "engagement"):
        try:
            importlib.import_module(f"affectgate.datasets.{mod}")
        except ModuleNotFoundError as exc:  # a format not written yet is simply not registered
            if exc.name != f"affectgate.datasets.{mod}":
                raise


def dataset_formats() -> tuple[str, ...]:
    """Every registered format name."""
    _load_builtins()
    return tuple(sorted(_LOADERS))


def load_dataset(
    *, fmt: str, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False
) -> LoadedDataset:
    """Load ``root`` with the loader of ``fmt``; an unknown format names the known ones."""
    _load_builtins()
    if fmt not in _LOADERS:
        close = difflib.get_close_matches(fmt, list(_LOADERS), n=1)
        raise DataError(
            f"unknown dataset format {fmt!r}",
            fix=f"did you mean {close[0]!r}?" if close else f"known formats: {', '.join(sorted(_LOADERS))}",
        )
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}", fix="pass the folder that holds the dataset")
    return _LOADERS[fmt](root=root, fold=fold, split=split, strict=strict)
