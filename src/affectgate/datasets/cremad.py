"""CREMA-D metadata (Cao et al., 2014): clip names, per-actor demographics and the crowd's votes.

CREMA-D is real third-party data (Open Database License 1.0 / Database Contents License 1.0). Only
its *metadata* is read here, never downloaded: point ``root`` at a folder holding the official
``SentenceFilenames.csv``, ``VideoDemographics.csv`` and ``summaryTable.csv``.

- A clip name is ``<actor>_<sentence>_<emotion>_<level>`` (e.g. ``1001_IEO_HAP_LO``); the intended
  emotion (ANG DIS FEA HAP NEU SAD) is the target, mapped to canonical labels.
- The actor id (first field) joins ``VideoDemographics.csv``: age (also as an age band like the
  synthetic generator's), sex, race, ethnicity.
- ``summaryTable.csv`` holds the crowd's perceived emotion per modality (``VoiceVote``, ``FaceVote``,
  ``MultiModalVote``; letters A D F H N S). A tie between emotions is written ``A:N``.

Ties are kept, never dropped. :func:`crowd_votes` returns the raw vote string; how a tie is scored is
the predictions-file card's ``tie_policy`` (``affectgate.zoo.external``): ``strict`` (default) scores a
tie as *not* a correct single prediction, ``lenient`` as correct when the target is among the tied
labels. Both count the ties.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd

from affectgate.core.errors import DataError

#: Emotion codes of CREMA-D clip names -> canonical labels.
CREMAD_EMOTIONS: Final[dict[str, str]] = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happiness",
    "NEU": "neutral",
    "SAD": "sadness",
}

#: Vote letters of ``summaryTable.csv`` -> canonical labels.
CREMAD_VOTE_LETTERS: Final[dict[str, str]] = {
    "A": "anger",
    "D": "disgust",
    "F": "fear",
    "H": "happiness",
    "N": "neutral",
    "S": "sadness",
}

#: Intensity codes (XX = unspecified).
CREMAD_LEVELS: Final[tuple[str, ...]] = ("LO", "MD", "HI", "XX")

#: Vote columns of ``summaryTable.csv``, by modality.
VOTE_COLUMNS: Final[dict[str, str]] = {"voice": "VoiceVote", "face": "FaceVote", "audio_visual": "MultiModalVote"}

#: Age bands, as the synthetic generator writes them (``datasets/synth/dfew_layout.py``).
AGE_BANDS: Final[tuple[str, ...]] = ("18-29", "30-44", "45-64", "65+")

FILENAMES_CSV = "SentenceFilenames.csv"
DEMOGRAPHICS_CSV = "VideoDemographics.csv"
SUMMARY_CSV = "summaryTable.csv"


def age_band(age: int) -> str:
    """The age band of an age in years ("<18" below the first band)."""
    if age < 18:
        return "<18"
    if age < 30:
        return "18-29"
    if age < 45:
        return "30-44"
    if age < 65:
        return "45-64"
    return "65+"


def parse_clip_name(name: str, *, where: str = "") -> dict[str, str]:
    """Split ``<actor>_<sentence>_<emotion>_<level>``; a malformed name is a DataError naming it."""
    parts = name.strip().split("_")
    loc = f"{where}: " if where else ""
    if len(parts) != 4 or not parts[0].isdigit() or len(parts[0]) != 4:
        raise DataError(
            f"{loc}clip name {name!r} is not <actor>_<sentence>_<emotion>_<level>",
            fix="use the official CREMA-D names, e.g. 1001_IEO_HAP_LO",
        )
    actor, sentence, emotion, level = parts
    if emotion not in CREMAD_EMOTIONS:
        raise DataError(
            f"{loc}clip {name!r} has emotion code {emotion!r}",
            fix=f"use one of {', '.join(CREMAD_EMOTIONS)}",
        )
    if level not in CREMAD_LEVELS:
        raise DataError(f"{loc}clip {name!r} has level {level!r}", fix=f"use one of {', '.join(CREMAD_LEVELS)}")
    return {"actor_id": actor, "sentence": sentence, "target": CREMAD_EMOTIONS[emotion], "level": level}


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"CREMA-D metadata file not found: {path}", fix="copy it from the official CREMA-D repository")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_demographics(*, root: Path) -> pd.DataFrame:
    """``VideoDemographics.csv`` indexed by actor id: age (int), age_band, sex, race, ethnicity."""
    path = root / DEMOGRAPHICS_CSV
    raw = _read(path)
    need = ["ActorID", "Age", "Sex", "Race", "Ethnicity"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise DataError(f"{path} lacks columns {missing}", fix=f"expected header {need}")
    dup = raw["ActorID"][raw["ActorID"].duplicated()]
    if len(dup):
        raise DataError(f"{path}:{int(dup.index[0]) + 2}: duplicate ActorID {dup.iloc[0]}", fix="one row per actor")
    bad = raw[~raw["Age"].str.strip().str.isdigit()]
    if len(bad):
        raise DataError(f"{path}:{int(bad.index[0]) + 2}: age {bad['Age'].iloc[0]!r}", fix="age in whole years")
    out = pd.DataFrame(
        {
            "age": raw["Age"].astype(int).to_numpy(),
            "sex": raw["Sex"].str.strip().to_numpy(),
            "race": raw["Race"].str.strip().to_numpy(),
            "ethnicity": raw["Ethnicity"].str.strip().to_numpy(),
        },
        index=pd.Index(raw["ActorID"].str.strip(), name="actor_id"),
    )
    out["age_band"] = [age_band(a) for a in out["age"]]
    return out


def load_cremad(*, root: Path) -> pd.DataFrame:
    """One row per clip of ``SentenceFilenames.csv``, indexed by ``sample_id`` (the clip name).

    Columns: ``target`` (intended emotion, canonical), ``subject_id`` (actor id), ``sentence``,
    ``level``, ``age``, ``age_band``, ``sex``, ``race``, ``ethnicity``. Every clip must have its actor
    in the demographics file.
    """
    path = root / FILENAMES_CSV
    raw = _read(path)
    if "Filename" not in raw.columns:
        raise DataError(f"{path} has no Filename column", fix='expected header "Stimulus_Number","Filename"')
    names = raw["Filename"].str.strip()
    dup = names[names.duplicated()]
    if len(dup):
        raise DataError(f"{path}:{int(dup.index[0]) + 2}: duplicate clip {dup.iloc[0]}", fix="one row per clip")
    rows = [parse_clip_name(n, where=f"{path}:{i + 2}") for i, n in enumerate(names)]
    frame = pd.DataFrame(rows, index=pd.Index(names.to_numpy(), name="sample_id"))
    demo = load_demographics(root=root)
    unknown = sorted(set(frame["actor_id"]) - set(demo.index))
    if unknown:
        raise DataError(
            f"{len(unknown)} actors of {path} are not in {root / DEMOGRAPHICS_CSV}: {unknown[:5]}",
            fix="use the matching VideoDemographics.csv",
        )
    frame = frame.join(demo, on="actor_id")
    frame = frame.rename(columns={"actor_id": "subject_id"})
    return frame[["target", "subject_id", "sentence", "level", "age", "age_band", "sex", "race", "ethnicity"]]


def crowd_votes(*, root: Path) -> pd.DataFrame:
    """``summaryTable.csv`` indexed by clip name: raw vote strings (ties as ``A:N``) and agreement levels.

    Columns ``voice``, ``face``, ``audio_visual`` (vote letters) and ``<modality>_level`` (percent of
    raters agreeing, float). Letters are validated; a tie is kept as written.
    """
    path = root / SUMMARY_CSV
    raw = _read(path)
    need = ["FileName", *VOTE_COLUMNS.values()]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise DataError(f"{path} lacks columns {missing}", fix=f"expected columns {need}")
    names = raw["FileName"].str.strip()
    dup = names[names.duplicated()]
    if len(dup):
        raise DataError(f"{path}:{int(dup.index[0]) + 2}: duplicate clip {dup.iloc[0]}", fix="one row per clip")
    out = pd.DataFrame(index=pd.Index(names.to_numpy(), name="sample_id"))
    for modality, col in VOTE_COLUMNS.items():
        votes = raw[col].str.strip()
        for i, vote in enumerate(votes):
            letters = vote.split(":")
            bad = [x for x in letters if x not in CREMAD_VOTE_LETTERS]
            if bad:
                raise DataError(
                    f"{path}:{i + 2}: {col} {vote!r} has letters {bad}",
                    fix=f"votes are {', '.join(CREMAD_VOTE_LETTERS)}, ties joined by ':'",
                )
        out[modality] = votes.to_numpy()
        level_col = col.replace("Vote", "Level")
        if level_col in raw.columns:
            out[f"{modality}_level"] = pd.to_numeric(raw[level_col], errors="coerce").to_numpy()
    return out


# -- registry adapter (``affectgate data validate --format cremad``) -------------------------------
from affectgate.datasets.base import (  # noqa: E402 - the adapter sits below the readers it wraps
    SAMPLE_COLUMNS,
    LoadedDataset,
    register_loader,
)
from affectgate.datasets.loading import read_datasheet  # noqa: E402

#: Where the distributed media of a clip live, relative to the CREMA-D root.
VIDEO_FOLDER, AUDIO_FOLDER = "VideoFlash", "AudioWAV"
#: Datasheet keys that declare the legal basis for the demographics (GDPR Art. 9(2)).
LEGAL_BASIS_KEYS: Final[tuple[str, ...]] = ("consent_basis", "legal_basis")


@register_loader("cremad")
def load_cremad_dataset(
    *, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False
) -> LoadedDataset:
    """CREMA-D as a :class:`LoadedDataset`: one row per clip of ``SentenceFilenames.csv``, split ``all``.

    Wraps :func:`load_cremad` (which already fails on any malformed line, so ``strict`` changes
    nothing). Media paths are the distributed ``VideoFlash/<clip>.flv`` and ``AudioWAV/<clip>.wav``.
    Race, ethnicity, sex and age band make the set special-category; the legal basis is read from
    ``datasheet.yaml`` (``consent_basis`` or ``legal_basis``) in the root and is empty when absent,
    which the governance suite rejects.
    """
    del strict  # load_cremad raises on the first malformed line in every mode
    if fold is not None:
        raise DataError(f"CREMA-D has no folds (asked for fold {fold})", fix="leave out --fold")
    if split not in (None, "all"):
        raise DataError(f"CREMA-D has no {split!r} split", fix="leave out --split (every clip is in 'all')")
    table = load_cremad(root=root)
    sheet = read_datasheet(root=root)
    basis = next((str(sheet[k]) for k in LEGAL_BASIS_KEYS if sheet and sheet.get(k)), None)
    names = table.index.to_numpy()
    samples = pd.DataFrame(
        {
            "sample_id": names,
            "split": "all",
            "fold": pd.array([pd.NA] * len(table), dtype="Int64"),
            "media_path": [f"{VIDEO_FOLDER}/{n}.flv" for n in names],
            "label": table["target"].to_numpy(),
            "valence": float("nan"),
            "arousal": float("nan"),
            "subject_id": table["subject_id"].to_numpy(),
            "audio_path": [f"{AUDIO_FOLDER}/{n}.wav" for n in names],
            "race": table["race"].to_numpy(),
            "ethnicity": table["ethnicity"].to_numpy(),
            "sex": table["sex"].to_numpy(),
            "age_band": table["age_band"].to_numpy(),
            "consent_basis": basis,
        }
    )
    return LoadedDataset(
        format="cremad",
        root=root,
        samples=samples[[*SAMPLE_COLUMNS, *(c for c in samples.columns if c not in SAMPLE_COLUMNS)]],
        label_names=tuple(CREMAD_EMOTIONS.values()),
        special_category=True,
        datasheet=sheet,
    )
