"""Aff-Wild2 / ABAW loader (Kollias et al.): frame-level valence-arousal, expression and action-unit labels.

As distributed: one txt per video under ``VA_Estimation_Challenge``, ``EXPR_Classification_Challenge``
(``EXPR_Recognition_Challenge`` in some editions) and ``AU_Detection_Challenge``, each with
``Train_Set/`` and ``Validation_Set/`` (the folders may sit directly under the root or one level down,
e.g. ``Third ABAW Annotations/``). Line 1 is a header, line ``i + 1`` annotates frame ``i`` =
``cropped_aligned/<video>/<i:05d>.jpg``.

- VA: header ``valence,arousal``; floats in [-1, 1]; ``-5`` marks an invalid frame.
- EXPR: header ``Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other`` (7 classes, no Other,
  in the 2020 edition); one class index per line; ``-1`` = ignore.
- AU: header ``AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26`` (2020: ``AU1,AU2,AU4,AU6,
  AU12,AU15,AU20,AU25``); 0/1 per AU; ``-1`` = invalid frame.

One sample per annotated frame (``sample_id`` = ``<video>/<i:05d>``), with the tasks that annotate it
merged: ``label`` (EXPR), ``valence``/``arousal`` (VA), ``aus`` (AU). Invalid values (``-5``, ``-1``)
and annotated frames without a cropped face image (the face was not found; allowed) are documented
drops counted in ``invalid_counts``, never problems. ``_left``/``_right`` videos (two people in one
video) are separate subjects that share the audio track of the base video (``audio_path``), looked up
in ``videos/``, ``raw_videos/``, ``batch1/``, ``batch2/`` or the root.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from affectgate.core.errors import DataError
from affectgate.datasets.base import LoadedDataset, register_loader
from affectgate.datasets.labels import (
    ABAW_AU_HEADER,
    ABAW_AU_HEADER_2020,
    ABAW_EXPR_HEADER,
    ABAW_EXPR_HEADER_2020,
    ABAW_EXPR_LABELS,
)
from affectgate.datasets.loading import (
    IMAGE_SUFFIXES,
    REASON_DUPLICATE,
    REASON_HEADER,
    REASON_MALFORMED,
    REASON_MISMATCH,
    REASON_VALUE,
    VIDEO_SUFFIXES,
    Collector,
    check_choice,
    media_problem,
    parse_float,
    read_datasheet,
    read_text_lines,
    samples_from_columns,
)

TASK_DIRS: dict[str, tuple[str, ...]] = {
    "va": ("VA_Estimation_Challenge",),
    "expr": ("EXPR_Classification_Challenge", "EXPR_Recognition_Challenge"),
    "au": ("AU_Detection_Challenge",),
}
SPLIT_DIRS = {"train": "Train_Set", "validation": "Validation_Set"}
FRAMES_DIR = "cropped_aligned"
VIDEO_DIRS = ("videos", "raw_videos", "batch1", "batch2", "batch3", ".")
VA_HEADER = ("valence", "arousal")
VA_INVALID = -5.0
EXPR_IGNORE = -1
AU_INVALID = -1
_SIDE = re.compile(r"_(left|right)$")
_INT = re.compile(r"-?\d+")


def base_video(video: str) -> str:
    """The video a ``_left``/``_right`` annotation belongs to (its audio track)."""
    return _SIDE.sub("", video)


def annotation_root(root: Path) -> Path:
    """The folder holding the challenge folders: ``root`` or one of its direct subfolders."""
    for cand in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        if any((cand / d).is_dir() for dirs in TASK_DIRS.values() for d in dirs):
            return cand
    wanted = ", ".join(d for dirs in TASK_DIRS.values() for d in dirs)
    raise DataError(f"no Aff-Wild2 annotation folder under {root}", fix=f"expected one of {wanted} under the root")


def _task_dir(base: Path, task: str) -> Path | None:
    return next((base / d for d in TASK_DIRS[task] if (base / d).is_dir()), None)


def _audio_index(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in VIDEO_DIRS:
        folder = root / d
        if not folder.is_dir():
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            stem, dot, ext = entry.name.rpartition(".")
            if dot and f".{ext.lower()}" in (*VIDEO_SUFFIXES, ".wav") and entry.is_file():
                out.setdefault(stem, (folder / entry.name).relative_to(root).as_posix())
    return out


def _header(cells: list[str], options: tuple[tuple[str, ...], ...]) -> tuple[str, ...] | None:
    norm = tuple(c.strip().lower() for c in cells)
    return next((o for o in options if tuple(x.lower() for x in o) == norm), None)


class _Frames:
    """Annotated frames of one video: frame index -> fields, with the split and file of each task."""

    def __init__(self, split: str) -> None:
        self.split = split
        self.fields: dict[int, dict[str, object]] = {}


def _read_task(
    *,
    task: str,
    path: Path,
    lines: list[str],
    frames: _Frames,
    col: Collector,
    invalid: Counter[str],
    editions: dict[str, tuple[str, ...]],
) -> None:
    options: tuple[tuple[str, ...], ...] = {
        "va": (VA_HEADER,),
        "expr": (ABAW_EXPR_HEADER, ABAW_EXPR_HEADER_2020),
        "au": (ABAW_AU_HEADER, ABAW_AU_HEADER_2020),
    }[task]
    header = _header(lines[0].split(","), options) if lines else None
    known = editions.get(task)
    if header is None or (known is not None and header != known):
        expected = " or ".join(",".join(o) for o in ((known,) if known else options))
        col.bad(
            file=path,
            line=1,
            kind=REASON_HEADER,
            detail=f"header is {lines[0] if lines else ''!r}, expected {expected!r}",
            sample_id=path.stem,
            fix="restore the ABAW header line (one edition per task)",
        )
        return
    editions[task] = header
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    n_classes = len(header)
    for i, text in enumerate(lines[1:], start=1):
        line_no = i + 1
        cells = [c.strip() for c in text.split(",")]
        sid = f"{path.stem}/{i:05d}"
        want = 2 if task == "va" else (1 if task == "expr" else n_classes)
        if len(cells) != want or any(not c for c in cells):
            col.bad(
                file=path,
                line=line_no,
                kind=REASON_MALFORMED,
                detail=f"expected {want} comma-separated value(s), got {text!r}",
                sample_id=sid,
            )
            continue
        if task == "va":
            v, a = parse_float(cells[0]), parse_float(cells[1])
            if v is None or a is None:
                col.bad(
                    file=path, line=line_no, kind=REASON_VALUE, detail=f"non-numeric or NaN {text!r}", sample_id=sid
                )
                continue
            if v == VA_INVALID or a == VA_INVALID:
                invalid["va_invalid_-5"] += 1
                continue
            if not (-1.0 <= v <= 1.0 and -1.0 <= a <= 1.0):
                col.bad(
                    file=path,
                    line=line_no,
                    kind=REASON_VALUE,
                    detail=f"valence/arousal {text!r} outside [-1, 1] (and not the -5 invalid marker)",
                    sample_id=sid,
                )
                continue
            frames.fields.setdefault(i, {}).update(valence=v, arousal=a)
        elif task == "expr":
            if not _INT.fullmatch(cells[0]) or not (int(cells[0]) == EXPR_IGNORE or 0 <= int(cells[0]) < n_classes):
                col.bad(
                    file=path,
                    line=line_no,
                    kind=REASON_VALUE,
                    detail=f"expression {cells[0]!r} is not -1 or a class index 0..{n_classes - 1}",
                    sample_id=sid,
                )
                continue
            if int(cells[0]) == EXPR_IGNORE:
                invalid["expr_ignore_-1"] += 1
                continue
            frames.fields.setdefault(i, {})["label"] = ABAW_EXPR_LABELS[int(cells[0])]
        else:
            if any(c not in ("0", "1", "-1") for c in cells):
                col.bad(
                    file=path,
                    line=line_no,
                    kind=REASON_VALUE,
                    detail=f"action units {text!r} are not 0, 1 or -1",
                    sample_id=sid,
                )
                continue
            if any(c == str(AU_INVALID) for c in cells):
                invalid["au_invalid_-1"] += 1
                continue
            frames.fields.setdefault(i, {})["aus"] = ";".join(f"{h}={c}" for h, c in zip(header, cells, strict=True))


@register_loader("affwild2")
def load_affwild2(
    *, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False
) -> LoadedDataset:
    """Read every challenge's annotation files for ``split`` (None = train and validation), merged per frame."""
    check_choice(name="Aff-Wild2 split", value=split, allowed=SPLIT_DIRS)
    if fold is not None:
        raise DataError(
            f"Aff-Wild2 has no fold {fold}", fix="Aff-Wild2 has Train_Set and Validation_Set; leave fold unset"
        )
    base = annotation_root(root)
    col = Collector(strict=strict)
    invalid: Counter[str] = Counter()
    editions: dict[str, tuple[str, ...]] = {}
    videos: dict[str, _Frames] = {}
    first_seen: dict[tuple[str, str], Path] = {}
    for task in TASK_DIRS:
        tdir = _task_dir(base, task)
        if tdir is None:
            continue
        for name in [split] if split else list(SPLIT_DIRS):
            sdir = tdir / SPLIT_DIRS[name]
            if not sdir.is_dir():
                continue
            for path in sorted(sdir.glob("*.txt")):
                video = path.stem
                if (task, video) in first_seen:
                    col.bad(
                        file=path,
                        line=None,
                        kind=REASON_DUPLICATE,
                        detail=f"video {video} is annotated again for {task} (first in {first_seen[(task, video)]})",
                        sample_id=video,
                        fix="a video belongs to one split per challenge",
                    )
                    continue
                first_seen[(task, video)] = path
                frames = videos.setdefault(video, _Frames(name))
                if frames.split != name:
                    col.bad(
                        file=path,
                        line=None,
                        kind=REASON_MISMATCH,
                        detail=f"video {video} is in {SPLIT_DIRS[name]} here but in {SPLIT_DIRS[frames.split]} "
                        "for another challenge",
                        sample_id=video,
                    )
                    continue
                lines = read_text_lines(path=path, encoding="utf-8", collector=col)
                if lines is None:
                    continue
                _read_task(
                    task=task, path=path, lines=lines, frames=frames, col=col, invalid=invalid, editions=editions
                )
    if not first_seen:
        raise DataError(f"no annotation files (*.txt) for split {split or 'any'} under {base}", fix="check the root")
    audio = _audio_index(root)
    cols: dict[str, list[object]] = {
        c: []
        for c in (
            "sample_id",
            "split",
            "fold",
            "media_path",
            "label",
            "valence",
            "arousal",
            "subject_id",
            "aus",
            "frame",
        )
    }
    cols["audio_path"] = []
    for video in sorted(videos):
        frames = videos[video]
        if not frames.fields:
            continue
        folder = root / FRAMES_DIR / video
        bad = media_problem(path=folder, root=root, folder=True)
        if bad is not None:
            col.bad(file=folder, line=None, kind=bad[0], detail=bad[1], sample_id=video)
            continue
        present = {e.name for e in os.scandir(folder) if e.name.lower().endswith(IMAGE_SUFFIXES)}
        audio_path = audio.get(base_video(video))
        for i in sorted(frames.fields):
            fname = f"{i:05d}.jpg"
            if fname not in present:
                invalid["frame_missing"] += 1
                continue
            f = frames.fields[i]
            cols["sample_id"].append(f"{video}/{i:05d}")
            cols["split"].append(frames.split)
            cols["fold"].append(None)
            cols["media_path"].append(f"{FRAMES_DIR}/{video}/{fname}")
            cols["label"].append(f.get("label"))
            cols["valence"].append(f.get("valence"))
            cols["arousal"].append(f.get("arousal"))
            cols["subject_id"].append(video)
            cols["aus"].append(f.get("aus"))
            cols["frame"].append(i)
            cols["audio_path"].append(audio_path)
    expr = editions.get("expr", ABAW_EXPR_HEADER)
    return LoadedDataset(
        format="affwild2",
        root=root,
        samples=samples_from_columns(cols),
        label_names=tuple(ABAW_EXPR_LABELS[k] for k in range(len(expr))),
        problems=col.problems,
        invalid_counts=dict(sorted(invalid.items())),
        datasheet=read_datasheet(root=root),
    )
