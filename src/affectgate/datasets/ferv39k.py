"""FERV39k loader (Wang et al., CVPR 2022): 38,935 clips of 22 scenes, 7 classes, one train/test split.

As distributed: ``4_setups/All_scenes/{train_All,test_All}.csv``, space-separated, no header, one clip
per line ``<Scene>/<Emotion>/<id> <Emotion>`` (e.g. ``Action/Sad/0010 Sad``); the face-cropped frames
of that clip are in ``2_ClipsforFaceCrop/<Scene>/<Emotion>/<id>/``.

Quirks handled: a header line (re-saved copies often gain one, e.g. ``path label``) is tolerated on
the first line only; blank lines are ignored; the emotion folder of the path must agree with the label
column; a clip listed twice (within or across the two files) is a duplicate.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from affectgate.core.errors import DataError
from affectgate.datasets.base import LoadedDataset, register_loader
from affectgate.datasets.labels import CANONICAL_EMOTIONS, FERV39K_LABELS
from affectgate.datasets.loading import (
    REASON_DUPLICATE,
    REASON_LABEL,
    REASON_MALFORMED,
    REASON_MISMATCH,
    REASON_OUTSIDE,
    Collector,
    check_choice,
    media_problem,
    read_datasheet,
    read_text_lines,
    relative_path_problem,
    samples_frame,
)

SETUP_DIR = Path("4_setups") / "All_scenes"
FRAMES_DIR = "2_ClipsforFaceCrop"
SPLIT_FILES = {"train": "train_All.csv", "test": "test_All.csv"}
_BY_LOWER = {k.lower(): v for k, v in FERV39K_LABELS.items()}
LABEL_FIX = f"labels are {', '.join(FERV39K_LABELS)}"


def _label(raw: str) -> str | None:
    return _BY_LOWER.get(raw.strip().lower())


def _looks_like_header(cells: list[str]) -> bool:
    return len(cells) == 2 and "/" not in cells[0] and _label(cells[1]) is None


@register_loader("ferv39k")
def load_ferv39k(
    *, root: Path, fold: int | None = None, split: str | None = None, strict: bool = False
) -> LoadedDataset:
    """Read FERV39k's split files and check every clip's frame folder (``split`` None = train and test)."""
    check_choice(name="FERV39k split", value=split, allowed=SPLIT_FILES)
    if fold not in (None, 1):
        raise DataError(f"FERV39k has no fold {fold}", fix="FERV39k has one train/test split; leave fold unset")
    col = Collector(strict=strict)
    rows: list[dict[str, object]] = []
    seen: dict[str, str] = {}
    frames_root = root / FRAMES_DIR
    for name in [split] if split else list(SPLIT_FILES):
        path = root / SETUP_DIR / SPLIT_FILES[name]
        if not path.is_file():
            raise DataError(
                f"FERV39k {name} split file not found: {path}",
                fix=f"expected {SETUP_DIR.as_posix()}/{SPLIT_FILES[name]} under the dataset root",
            )
        lines = read_text_lines(path=path, encoding="utf-8", collector=col)
        for line_no, text in enumerate(lines or [], start=1):
            cells = text.split()
            if not cells:
                continue
            if line_no == 1 and _looks_like_header(cells):
                continue
            if len(cells) != 2:
                col.bad(
                    file=path,
                    line=line_no,
                    kind=REASON_MALFORMED,
                    detail=f"expected '<Scene>/<Emotion>/<id> <Emotion>', got {text!r}",
                    fix="one clip per line, path and label separated by a space",
                )
                continue
            rel, raw_label = cells
            sid = rel
            why = relative_path_problem(rel)
            if why is not None:
                col.bad(file=path, line=line_no, kind=REASON_OUTSIDE, detail=why, sample_id=sid)
                continue
            parts = PurePosixPath(rel).parts
            if len(parts) != 3:
                col.bad(
                    file=path,
                    line=line_no,
                    kind=REASON_MALFORMED,
                    detail=f"clip path {rel!r} is not <Scene>/<Emotion>/<id>",
                    sample_id=sid,
                )
                continue
            label = _label(raw_label)
            if label is None:
                col.bad(
                    file=path, line=line_no, kind=REASON_LABEL, detail=f"{raw_label!r}", sample_id=sid, fix=LABEL_FIX
                )
                continue
            if _label(parts[1]) != label:
                col.bad(
                    file=path,
                    line=line_no,
                    kind=REASON_MISMATCH,
                    detail=f"the path's emotion folder {parts[1]!r} disagrees with the label {raw_label!r}",
                    sample_id=sid,
                )
                continue
            where = f"{path.name}:{line_no}"
            if sid in seen:
                col.bad(
                    file=path,
                    line=line_no,
                    kind=REASON_DUPLICATE,
                    detail=f"clip {sid} is listed again (first at {seen[sid]})",
                    sample_id=sid,
                    fix="each clip may appear once across train_All.csv and test_All.csv",
                )
                continue
            seen[sid] = where
            bad = media_problem(path=frames_root / rel, root=root, folder=True)
            if bad is not None:
                col.bad(file=path, line=line_no, kind=bad[0], detail=bad[1], sample_id=sid)
                continue
            rows.append(
                {
                    "sample_id": sid,
                    "split": name,
                    "fold": None,
                    "media_path": f"{FRAMES_DIR}/{rel}",
                    "label": label,
                    "valence": None,
                    "arousal": None,
                    "subject_id": None,
                    "scene": parts[0],
                }
            )
    return LoadedDataset(
        format="ferv39k",
        root=root,
        samples=samples_frame(rows, extra=("scene",)),
        label_names=CANONICAL_EMOTIONS,
        problems=col.problems,
        datasheet=read_datasheet(root=root),
    )
