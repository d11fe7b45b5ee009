"""MAFW loader (Liu et al., ACM MM 2022): 10,045 clips, 11 single-label classes, compound labels, 5 folds.

As distributed: ``Train & Test Set/{single,compound}/{no_caption,with_caption}/set_{1..5}/{train,test}.txt``.
A ``no_caption`` line is ``00025.mp4 anger`` (space-separated); a compound label joins classes with
``_`` (``00025.mp4 anger_sadness``). The ``with_caption`` files are tab-separated
``00025.mp4<TAB>anger<TAB><caption>`` and encoded in cp1252, not UTF-8. Clips are
``data/clips/00025.mp4`` (or extracted frames ``data/frames/00025/``; ``clips/`` and ``frames/`` at the
root are accepted too).

Classes: anger, disgust, fear, happiness, neutral, sadness, surprise (canonical) and contempt,
anxiety, helplessness, disappointment (MAFW's own names, kept). Format ``mafw`` reads the single-label
sets, ``mafw_compound`` the compound sets (``label`` and ``labels`` hold the compound class ``a_b``).
``fold`` None reads the test split of every set present (each clip once, ``fold`` = its test set); the
``no_caption`` files are read when present, else the ``with_caption`` ones (adding ``caption``).
"""

from __future__ import annotations

from pathlib import Path

from affectgate.core.errors import DataError
from affectgate.datasets.base import LoadedDataset, register_loader
from affectgate.datasets.labels import MAFW_LABELS
from affectgate.datasets.loading import (
    REASON_DUPLICATE,
    REASON_LABEL,
    REASON_MALFORMED,
    REASON_MISSING,
    REASON_OUTSIDE,
    Collector,
    check_choice,
    media_problem,
    read_datasheet,
    read_text_lines,
    relative_path_problem,
    samples_frame,
)

SETS_DIR = "Train & Test Set"
N_FOLDS = 5
CAPTION_ENCODING = "cp1252"
VARIANTS = ("no_caption", "with_caption")
CLIP_DIRS = ("data/clips", "clips")
FRAME_DIRS = ("data/frames", "frames")
LABEL_FIX = f"MAFW classes are {', '.join(MAFW_LABELS)} (compound labels joined by '_')"


def split_dir(*, root: Path, task: str, fold: int) -> tuple[Path, bool]:
    """The ``set_<fold>`` folder to read and whether it is the with-caption variant."""
    base = root / SETS_DIR / task
    for variant, captions in (("no_caption", False), ("with_caption", True)):
        folder = base / variant / f"set_{fold}"
        if folder.is_dir():
            return folder, captions
    raise DataError(
        f"no MAFW {task} split folder for set_{fold} under {base}",
        fix=f"expected '{SETS_DIR}/{task}/no_caption/set_{fold}/train.txt' (or with_caption) under the dataset root",
    )


def n_sets(*, root: Path, task: str) -> int:
    """Number of consecutive ``set_1``, ``set_2``, ... folders present (either caption variant)."""
    k = 0
    while k < N_FOLDS and any((root / SETS_DIR / task / v / f"set_{k + 1}").is_dir() for v in VARIANTS):
        k += 1
    return k


def _media(root: Path, clip: str) -> tuple[str | None, tuple[str, str] | None]:
    """The clip's media path relative to the root (video file, else frame folder) and any problem with it."""
    stem = clip.rsplit(".", 1)[0]
    for d in CLIP_DIRS:
        if (root / d / clip).exists():
            return f"{d}/{clip}", media_problem(path=root / d / clip, root=root, folder=False)
    for d in FRAME_DIRS:
        if (root / d / stem).exists():
            return f"{d}/{stem}", media_problem(path=root / d / stem, root=root, folder=True)
    return None, (REASON_MISSING, f"clip {clip} is in none of {', '.join(CLIP_DIRS + FRAME_DIRS)}")


def _parse_label(raw: str, *, compound: bool) -> str | None:
    parts = raw.strip().lower().split("_") if compound else [raw.strip().lower()]
    if not parts or any(p not in MAFW_LABELS for p in parts) or len(set(parts)) != len(parts):
        return None
    if not compound and len(parts) != 1:
        return None
    return "_".join(MAFW_LABELS[p] for p in parts)


def load_mafw(
    *, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False, compound: bool = False
) -> LoadedDataset:
    """Read MAFW's split files for one set (or every set's test split) and check every clip's media."""
    task = "compound" if compound else "single"
    check_choice(name="MAFW split", value=split, allowed=("train", "test"))
    if fold is not None and not 1 <= fold <= N_FOLDS:
        raise DataError(f"MAFW has no fold {fold}", fix=f"folds are set_1..set_{N_FOLDS}")
    if fold is None and split == "train":
        raise DataError("MAFW train split without a fold", fix="pass a fold (1..5): every clip trains in four folds")
    if fold is None:
        plan = [(k, "test") for k in range(1, n_sets(root=root, task=task) + 1)]
        if not plan:
            split_dir(root=root, task=task, fold=1)  # raises, naming the expected folder
    else:
        plan = [(fold, s) for s in ([split] if split else ["train", "test"])]
    col = Collector(strict=strict)
    rows: list[dict[str, object]] = []
    seen: dict[str, str] = {}
    any_caption = False
    for k, name in plan:
        folder, captions = split_dir(root=root, task=task, fold=k)
        any_caption |= captions
        path = folder / f"{name}.txt"
        if not path.is_file():
            raise DataError(f"MAFW split file not found: {path}", fix=f"expected {name}.txt in {folder}")
        encoding = CAPTION_ENCODING if captions else "utf-8"
        for line_no, text in enumerate(read_text_lines(path=path, encoding=encoding, collector=col) or [], start=1):
            if not text.strip():
                continue
            cells = (
                [c.strip() for c in text.split("\t")] if "\t" in text else text.split(maxsplit=2 if captions else -1)
            )
            if len(cells) < 2 or (not captions and len(cells) != 2) or not cells[0] or not cells[1]:
                col.bad(
                    file=path,
                    line=line_no,
                    kind=REASON_MALFORMED,
                    detail=f"expected '<clip>.mp4 <label>', got {text!r}",
                    fix="one clip per line: clip file name and label",
                )
                continue
            clip, raw_label = cells[0], cells[1]
            why = relative_path_problem(clip)
            if why is None and "/" in clip:
                why = f"{clip!r} is not a bare clip file name"
            if why is not None:
                col.bad(file=path, line=line_no, kind=REASON_OUTSIDE, detail=why, sample_id=clip)
                continue
            sid = clip.rsplit(".", 1)[0]
            label = _parse_label(raw_label, compound=compound)
            if label is None:
                col.bad(
                    file=path, line=line_no, kind=REASON_LABEL, detail=f"{raw_label!r}", sample_id=sid, fix=LABEL_FIX
                )
                continue
            key = f"{name}:{sid}"
            if key in seen:
                col.bad(
                    file=path,
                    line=line_no,
                    kind=REASON_DUPLICATE,
                    detail=f"clip {clip} is listed again (first at {seen[key]})",
                    sample_id=sid,
                    fix="a clip appears once per split (and in one test set)",
                )
                continue
            seen[key] = f"{path}:{line_no}"
            media, bad = _media(root, clip)
            if bad is not None:
                col.bad(file=path, line=line_no, kind=bad[0], detail=bad[1], sample_id=sid)
                continue
            row: dict[str, object] = {
                "sample_id": sid,
                "split": name,
                "fold": k,
                "media_path": media,
                "label": label,
                "valence": None,
                "arousal": None,
                "subject_id": None,
            }
            if compound:
                row["labels"] = label
            if captions:
                row["caption"] = cells[2] if len(cells) > 2 else ""
            rows.append(row)
    label_names = tuple(sorted({str(r["label"]) for r in rows})) if compound else tuple(MAFW_LABELS.values())
    return LoadedDataset(
        format="mafw_compound" if compound else "mafw",
        root=root,
        samples=samples_frame(rows, extra=("caption",) if any_caption else ()),
        label_names=label_names,
        problems=col.problems,
        datasheet=read_datasheet(root=root),
    )


@register_loader("mafw")
def load_mafw_single(
    *, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False
) -> LoadedDataset:
    """MAFW single-label sets (11 classes)."""
    return load_mafw(root=root, fold=fold, split=split, strict=strict, compound=False)


@register_loader("mafw_compound")
def load_mafw_compound(
    *, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False
) -> LoadedDataset:
    """MAFW compound sets (``label`` = compound class ``a_b``)."""
    return load_mafw(root=root, fold=fold, split=split, strict=strict, compound=True)
