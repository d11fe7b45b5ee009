"""RAVDESS loader (Livingstone & Russo, 2018): 24 actors, 7-field file names, 6-fold actor-independent protocol.

As distributed: ``Actor_XX/`` folders (directly under the root, or inside the per-archive folders such
as ``Video_Speech_Actor_01/Actor_01/``) holding ``MM-CC-EE-II-SS-RR-AA.mp4`` (modality 01 full AV or
02 video-only) and ``03-CC-EE-II-SS-RR-AA.wav`` (audio-only). Fields: modality, vocal channel
(01 speech, 02 song), emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful,
07 disgust, 08 surprised), intensity (01 normal, 02 strong; neutral has no strong), statement,
repetition, actor (odd = male, even = female).

One sample per recording (channel, emotion, intensity, statement, repetition, actor): ``media_path``
is the video-only file when present, else the full-AV file, else the audio-only file;
``audio_path`` (for fusion) is the audio-only wav, else the full-AV mp4. Emotion 02 keeps its own
label ``calm``.

Protocol: 6 actor-independent folds of 4 consecutive actors (fold k tests actors 4k-3..4k, two male
and two female); ``fold`` None reads every recording with ``fold`` = the fold that tests its actor.
"""

from __future__ import annotations

import re
from pathlib import Path

from affectgate.core.errors import DataError
from affectgate.datasets.base import LoadedDataset, register_loader
from affectgate.datasets.labels import CANONICAL_EMOTIONS, RAVDESS_LABELS
from affectgate.datasets.loading import (
    REASON_DUPLICATE,
    REASON_MISMATCH,
    REASON_NAME,
    Collector,
    check_choice,
    media_problem,
    read_datasheet,
    rel_posix,
    samples_frame,
)

#: RAVDESS emotion codes with a canonical name (02 = calm has none; the synthetic generator skips it).
RAVDESS_EMOTIONS: dict[int, str] = {k: v for k, v in RAVDESS_LABELS.items() if v in CANONICAL_EMOTIONS}
RAVDESS_CODE = {v: k for k, v in RAVDESS_EMOTIONS.items()}
NAME_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
FULL_AV, VIDEO_MODALITY, AUDIO_MODALITY = 1, 2, 3
SPEECH, SONG = 1, 2
N_FOLDS = 6
ACTORS_PER_FOLD = 4
MEDIA_SUFFIX = {FULL_AV: ".mp4", VIDEO_MODALITY: ".mp4", AUDIO_MODALITY: ".wav"}
_ACTOR_DIR = re.compile(r"^Actor_(\d{2})$")


def ravdess_name(*, modality: int, emotion: int, intensity: int, statement: int, repetition: int, actor: int) -> str:
    """The 7-field RAVDESS stem, e.g. ``02-01-06-01-02-01-12`` (channel 01 = speech)."""
    return f"{modality:02d}-{SPEECH:02d}-{emotion:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}"


def parse_ravdess_name(stem: str) -> dict[str, int | str]:
    """Fields of a RAVDESS file stem; a DataError for names that break the convention."""
    m = NAME_RE.match(stem)
    if m is None:
        raise DataError(
            f"{stem!r} is not a RAVDESS file name",
            fix="expected modality-channel-emotion-intensity-statement-repetition-actor, e.g. 02-01-06-01-02-01-12",
        )
    modality, channel, emotion, intensity, statement, repetition, actor = (int(g) for g in m.groups())
    if emotion not in RAVDESS_LABELS:
        raise DataError(f"{stem!r}: emotion code {emotion:02d} is not a RAVDESS code (01..08)")
    return {
        "modality": modality,
        "channel": channel,
        "emotion_code": emotion,
        "emotion": RAVDESS_LABELS[emotion],
        "intensity": intensity,
        "statement": statement,
        "repetition": repetition,
        "actor": actor,
        "sex": "male" if actor % 2 == 1 else "female",
    }


def ravdess_fold(actor: int) -> int:
    """The fold (1..6) whose test split holds ``actor`` (4 consecutive actors per fold)."""
    return (actor - 1) // ACTORS_PER_FOLD % N_FOLDS + 1


def _name_problem(fields: dict[str, int | str], suffix: str) -> str | None:
    modality, channel, intensity = fields["modality"], fields["channel"], fields["intensity"]
    if modality not in MEDIA_SUFFIX:
        return f"modality {modality:02d} is not 01 (AV), 02 (video) or 03 (audio)"
    if MEDIA_SUFFIX[int(modality)] != suffix:
        return f"modality {modality:02d} must be a {MEDIA_SUFFIX[int(modality)]} file"
    if channel not in (SPEECH, SONG):
        return f"vocal channel {channel:02d} is not 01 (speech) or 02 (song)"
    if intensity not in (1, 2):
        return f"intensity {intensity:02d} is not 01 or 02"
    if intensity == 2 and fields["emotion"] == "neutral":
        return "neutral has no strong (02) intensity"
    if not (1 <= int(fields["statement"]) <= 2 and int(fields["repetition"]) >= 1 and int(fields["actor"]) >= 1):
        return "statement must be 01/02, repetition and actor >= 01"
    return None


def actor_dirs(root: Path) -> list[Path]:
    """``Actor_XX`` folders directly under ``root`` or one level down, sorted by path."""
    found = [p for p in [*root.glob("Actor_*"), *root.glob("*/Actor_*")] if p.is_dir() and _ACTOR_DIR.match(p.name)]
    return sorted(found)


@register_loader("ravdess")
def load_ravdess_dataset(
    *, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False
) -> LoadedDataset:
    """Read every ``Actor_XX`` folder; ``fold`` k selects the actor-independent train/test split of fold k."""
    check_choice(name="RAVDESS split", value=split, allowed=("train", "test"))
    if fold is not None and not 1 <= fold <= N_FOLDS:
        raise DataError(f"RAVDESS has no fold {fold}", fix=f"the actor-independent protocol has folds 1..{N_FOLDS}")
    if fold is None and split is not None:
        raise DataError(f"RAVDESS {split} split without a fold", fix=f"pass a fold 1..{N_FOLDS}")
    dirs = actor_dirs(root)
    if not dirs:
        raise DataError(f"no Actor_XX folders under {root}", fix="point at the folder holding Actor_01 .. Actor_24")
    col = Collector(strict=strict)
    recordings: dict[tuple[int, ...], dict[int, Path]] = {}
    seen: dict[str, Path] = {}
    for folder in dirs:
        folder_actor = int(_ACTOR_DIR.match(folder.name).group(1))  # type: ignore[union-attr]
        for path in sorted(folder.iterdir()):
            suffix = path.suffix.lower()
            if suffix not in (".mp4", ".wav"):
                continue
            try:
                fields = parse_ravdess_name(path.stem)
            except DataError as exc:
                col.bad(file=path, line=None, kind=REASON_NAME, detail=exc.what, sample_id=path.stem, fix=exc.fix)
                continue
            why = _name_problem(fields, suffix)
            if why is None and fields["actor"] != folder_actor:
                why = f"actor {fields['actor']:02d} in the name but the file is in {folder.name}"
            if why is not None:
                col.bad(file=path, line=None, kind=REASON_MISMATCH, detail=why, sample_id=path.stem)
                continue
            if path.name in seen:
                col.bad(
                    file=path,
                    line=None,
                    kind=REASON_DUPLICATE,
                    detail=f"{path.name} also at {seen[path.name]}",
                    sample_id=path.stem,
                    fix="keep one copy of each recording",
                )
                continue
            bad = media_problem(path=path, root=root, folder=False)
            if bad is not None:
                col.bad(file=path, line=None, kind=bad[0], detail=bad[1], sample_id=path.stem)
                continue
            seen[path.name] = path
            key = tuple(
                int(fields[k]) for k in ("actor", "channel", "emotion_code", "intensity", "statement", "repetition")
            )
            recordings.setdefault(key, {})[int(fields["modality"])] = path
    rows: list[dict[str, object]] = []
    for key in sorted(recordings):
        files = recordings[key]
        actor, _, emotion_code = key[0], key[1], key[2]
        actor_fold = ravdess_fold(actor)
        if fold is None:
            row_split, row_fold = "all", actor_fold
        else:
            row_split, row_fold = ("test" if actor_fold == fold else "train"), fold
            if split is not None and row_split != split:
                continue
        media = files.get(VIDEO_MODALITY) or files.get(FULL_AV) or files[AUDIO_MODALITY]
        audio = files.get(AUDIO_MODALITY) or files.get(FULL_AV)
        rows.append(
            {
                "sample_id": media.stem,
                "split": row_split,
                "fold": row_fold,
                "media_path": rel_posix(path=media, root=root),
                "label": RAVDESS_LABELS[emotion_code],
                "valence": None,
                "arousal": None,
                "subject_id": f"Actor_{actor:02d}",
                "audio_path": rel_posix(path=audio, root=root) if audio is not None else None,
                "sex": "male" if actor % 2 == 1 else "female",
            }
        )
    return LoadedDataset(
        format="ravdess",
        root=root,
        samples=samples_frame(rows),
        label_names=tuple(RAVDESS_LABELS.values()),
        problems=col.problems,
        datasheet=read_datasheet(root=root),
    )
