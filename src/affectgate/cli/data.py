"""``affectgate data validate`` and ``affectgate data status`` (registered on the ``data`` sub-app by cli.py).

``validate`` exits 0 when the governance suite passes, 1 when it fails, 3 when the dataset cannot be
loaded at all. It validates what the gate evaluates: the loader's samples with the group columns of an
affectgate ``metadata.csv`` sidecar joined (:func:`affectgate.datasets.selection.join_sidecar`).
``status`` lists which dataset version (DVC digest) every run's report used.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from affectgate.cli.common import FaceDetectorOption, use_setting
from affectgate.core.errors import AffectgateError

#: Exit codes of ``data validate``.
EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 3

_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


def fail(exc: Exception) -> typer.Exit:
    """A user's error on stderr (:func:`affectgate.cli.common.print_error`) and the exit (3) that ends the command."""
    from affectgate.cli.common import print_error

    print_error(exc)
    return typer.Exit(EXIT_ERROR)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _counts_table(samples, label_names: tuple[str, ...]) -> Table:  # noqa: ANN001 - a pandas DataFrame
    """Samples per split/fold (rows) and class (columns)."""
    labels = list(label_names) + sorted(
        {str(x) for x in samples["label"].dropna().unique()} - set(label_names), key=str
    )
    table = Table("split", "fold", *labels, "no label", "total", title="samples per split/fold and class")
    if not len(samples):
        return table
    keys = samples[["split", "fold"]].astype(str).replace({"<NA>": "-", "nan": "-"})
    for (split, fold), part in samples.groupby([keys["split"], keys["fold"]], sort=True):
        counts = part["label"].astype(object).value_counts(dropna=True)
        table.add_row(
            split,
            fold,
            *(str(int(counts.get(lab, 0))) for lab in labels),
            str(int(part["label"].isna().sum())),
            str(len(part)),
        )
    return table


def _sidecar_joined(before, after) -> tuple[list[str], int]:  # noqa: ANN001 - pandas DataFrames
    """The sidecar columns :func:`join_sidecar` filled on some sample, and how many samples gained a value."""
    from affectgate.datasets.selection import SIDECAR_COLUMNS

    columns: list[str] = []
    gained = None
    for col in SIDECAR_COLUMNS:
        if col not in after.columns:
            continue
        now = after[col].notna().to_numpy()
        new = now & ~before[col].notna().to_numpy() if col in before.columns else now
        if new.any():
            columns.append(col)
            gained = new if gained is None else gained | new
    return columns, (0 if gained is None else int(gained.sum()))


def check_fix(*, expectation: str, check: str, column: str | None, fmt: str, root: Path, data_root: Path) -> str:
    """The fix of one failed validation check, naming the file, column or command that repairs it."""
    from affectgate.datasets.validation import SIDECAR_FIX

    validate = f"affectgate data validate --format {fmt} {root}"
    if expectation == "loader_problems":
        return (
            "repair the lines listed under 'rejected samples/lines' (file:line and reason each); "
            f"`{validate} --strict` stops at the first one"
        )
    if expectation == "group_columns_present" or check.startswith("group attribute"):
        what = f"{column} " if column and not column.startswith("_") else "the group attributes "
        return (
            f"fill {what}for every sample: {SIDECAR_FIX}; or gate with a suite without a fairness evaluator "
            "(fairness then stays unjudged and the policy decides what that means)"
        )
    if column == "subject_id":
        return f"{SIDECAR_FIX}; a release without subject identity: declare `subjects: unknown` in datasheet.yaml"
    if column in ("_media_inside_data_root", "_audio_inside_data_root"):
        return (
            f"keep the dataset and its media under the data root ({data_root}; AFFECTGATE_DATA_ROOT or --data-root): "
            "media paths must be relative, without '..' or links out of it"
        )
    if check == "at least one sample":
        return f"the selection is empty: check --fold/--split (`{validate}` without them lists every fold and split)"
    if column == "sample_id":
        return "name each sample once: remove the duplicate or empty ids listed from the split/manifest files"
    if column == "split":
        return "use the split names train, test, validation or all in the split/manifest files"
    if check == "label present":
        return "give every sample a class label, or select a split whose samples are all labelled"
    if check == "label in the label map":
        return (
            "map the classes listed: `label_map:` in datasheet.yaml (class: a label of the model's space, or null to "
            "leave it out, the dropped share is reported) or `--label-map CLASS=drop` on `affectgate gate`"
        )
    if column in ("valence", "arousal", "_va_paired"):
        return "valence/arousal are in [-1, 1], both or neither per row; mark an invalid frame with -5 (ABAW)"
    if column == "aus":
        return "write action units as AU<n>=0|1 joined by ';' (e.g. AU1=0;AU2=1), -1 to ignore one"
    if column == "attention":
        return "attention is a fraction in [0, 1]: rescale the annotation"
    if column == "_annotated":
        return "every row needs a label, valence/arousal or action units: annotate or remove the rows listed"
    if column == "consent_basis":
        return (
            "declare the legal basis for special-category data: `legal_basis:` in datasheet.yaml (GDPR Art. 9(2), "
            "e.g. explicit consent) or a consent_basis column per sample"
        )
    return f"fix the rows listed, then rerun `{validate}`"


def face_screening_rows(*, loaded, settings, frames: int, size: int):  # noqa: ANN001, ANN201 - LoadedDataset, Settings
    """The face screening of a set that is not face crops (as the gate does before evaluating it)."""
    from affectgate.datasets.face_screening import screen_faces
    from affectgate.datasets.selection import eval_split

    split = eval_split(loaded=loaded, fold=None, split=None)
    present = [(x.video_name, x.frame_dir) for x in split.samples if x.frame_dir.exists()]
    return screen_faces(
        samples=present,
        frames=frames,
        size=size,
        cache=settings.clip_cache_dir,
        workers=settings.ort_threads,
        detector=settings.face_detector,
    )


def register(data_app: typer.Typer) -> None:
    """Add the dataset governance commands to ``data_app``."""

    @data_app.command("validate")
    def data_validate(
        path: Annotated[Path, typer.Argument(help="Dataset folder.")],
        fmt: Annotated[
            str,
            typer.Option(
                "--format", help="Dataset format: dfew, ferv39k, mafw, affwild2, ravdess, cremad or manifest."
            ),
        ],
        fold: Annotated[int | None, typer.Option(help="Fold/set to load (default: every fold).")] = None,
        split: Annotated[str | None, typer.Option(help="Split to load (default: every split).")] = None,
        strict: Annotated[bool, typer.Option(help="Stop at the first bad line instead of counting it.")] = False,
        fairness: Annotated[
            bool, typer.Option(help="A fairness evaluator will run: require group attributes on every sample.")
        ] = False,
        group: Annotated[
            list[str] | None, typer.Option(help="Group attribute required on every sample (repeatable).")
        ] = None,
        data_root: Annotated[
            Path | None, typer.Option(help="Root every media path must stay inside (default: AFFECTGATE_DATA_ROOT).")
        ] = None,
        json_out: Annotated[Path | None, typer.Option("--json", help="Also write the result as JSON here.")] = None,
        faces: Annotated[
            bool,
            typer.Option(
                "--faces/--no-faces",
                help="For a set that is not face crops (MAFW, RAVDESS, CREMA-D, datasheet face_cropped: false): "
                "detect faces as the gate does and report the clips kept and left out (--no-faces skips it).",
            ),
        ] = True,
        face_frames: Annotated[int, typer.Option(help="Frames sampled per clip for the face screening.")] = 8,
        face_size: Annotated[int, typer.Option(help="Face-crop size in pixels for the face screening.")] = 112,
        face_detector: FaceDetectorOption = None,
    ) -> None:
        """Load a dataset, print counts per split/fold and class, rejected samples and the Great Expectations result.

        Group columns a root ``metadata.csv`` holds are joined where the loader left them empty, as the gate does.
        Every failed check prints its own fix. A set that is not face crops is screened for faces (as the gate
        does): clips with no face over the quality bar are listed and fail the validation.
        """
        from affectgate.datasets.base import load_dataset
        from affectgate.datasets.selection import SIDECAR, join_sidecar
        from affectgate.datasets.validation import validate_dataset
        from affectgate.project.settings import Settings

        try:
            use_setting("face_detector", face_detector)
            settings = Settings()
            root = settings.resolve(path) if not path.is_absolute() else path
            droot = settings.resolve(data_root) if data_root is not None else settings.data_dir
            raw = load_dataset(fmt=fmt, root=root, fold=fold, split=split, strict=strict)
            loaded = join_sidecar(loaded=raw)  # the groups the gate evaluates with (select_for_gate joins them too)
            report = validate_dataset(
                loaded=loaded, data_root=droot, require_groups=list(group or []), fairness=fairness or bool(group)
            )
        except AffectgateError as exc:
            raise fail(exc) from None
        console.print(f"[bold]{fmt}[/] {root}: {len(loaded.samples)} samples", highlight=False)
        joined, n_joined = _sidecar_joined(raw.samples, loaded.samples)
        if joined:
            console.print(
                f"group columns joined from {SIDECAR}: {', '.join(joined)} ({n_joined}/{len(loaded.samples)} samples)",
                highlight=False,
                markup=False,
            )
        console.print(_counts_table(loaded.samples, loaded.label_names))
        if loaded.invalid_counts:
            console.print(
                "invalid samples dropped by rule: "
                + ", ".join(f"{k}: {v}" for k, v in sorted(loaded.invalid_counts.items())),
                highlight=False,
            )
        if loaded.problems:
            console.print(f"[bold red]{len(loaded.problems)} rejected samples/lines[/]:", highlight=False)
            for reason, n in sorted(loaded.skipped_counts().items()):
                console.print(f"  {reason}: {n}", highlight=False, markup=False)
            for problem in loaded.problems[:10]:
                console.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)
        else:
            console.print("rejected samples/lines: 0")
        table = Table("check", "column", "result", "failing", "examples", title=f"Great Expectations: {report.suite}")
        for e in report.expectations:
            table.add_row(
                e.check,
                e.column or "",
                "pass" if e.success else "FAIL",
                f"{e.unexpected_count}/{e.element_count}",
                "; ".join(e.unexpected_examples[:3]) + (f" [error: {e.error}]" if e.error else ""),
            )
        console.print(table)
        for note in report.notes:  # stated assumptions (each clip its own cluster) and how to lift them
            console.print(f"NOTE: {note}", highlight=False, markup=False, soft_wrap=True)
        for e in report.failures():
            fix = check_fix(
                expectation=e.expectation, check=e.check, column=e.column, fmt=fmt, root=root, data_root=droot
            )
            console.print(f"[bold]fix[/] ({e.check}): {fix}", highlight=False, soft_wrap=True)
        faces_ok = True
        from affectgate.datasets.face_screening import declared_face_cropped

        try:
            cropped = declared_face_cropped(fmt=fmt, root=root)
        except AffectgateError as exc:
            raise fail(exc) from None
        if cropped:
            console.print("face screening: not needed (the set is declared face crops)")
        elif not faces:
            console.print("face screening: skipped (--no-faces); the gate still screens every clip it evaluates")
        elif len(loaded.samples):
            screening = face_screening_rows(loaded=loaded, settings=settings, frames=face_frames, size=face_size)
            left = screening.rejected
            kept = len(screening.samples) - len(left)
            console.print(
                f"face screening (the media are not face crops): {kept} of {len(screening.samples)} clips kept, "
                f"{len(left)} left out (no frame over the quality bar); {screening.summary()}; detector: "
                + ", ".join(sorted({x.detector for x in screening.samples})),
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            if left:
                console.print("  left out: " + ", ".join(left[:10]) + (" …" if len(left) > 10 else ""), markup=False)
            faces_ok = kept > 0
            if not faces_ok:
                console.print(
                    "[bold]fix[/] (face screening): no clip shows a face the gate can use: check that the media show "
                    "faces, or declare face_cropped: true in datasheet.yaml if they are face crops already",
                    highlight=False,
                    soft_wrap=True,
                )
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(report.model_dump_json(indent=2), encoding="utf-8")
        passed = report.success and faces_ok
        verdict = "[bold green]PASSED[/]" if passed else "[bold red]FAILED[/]"
        console.print(f"suite {report.suite}: {verdict} (great_expectations {report.gx_version})")
        raise typer.Exit(EXIT_PASSED if passed else EXIT_FAILED)

    @data_app.command("status")
    def data_status() -> None:
        """Show which dataset version (DVC digest) each run's report used, the git/DVC state and the DVC remote."""
        from affectgate.datasets.digest import dir_digest
        from affectgate.datasets.versions import DVC_FILE, dvc_remotes, git_state, read_dvc_file, run_data_versions
        from affectgate.project.settings import Settings

        try:
            settings = Settings()
            project = settings.root
            pointer = read_dvc_file(path=project / DVC_FILE)
            rows = run_data_versions(runs_dir=settings.runs_dir, project_root=project)
            remotes = dvc_remotes(project_root=project)
        except AffectgateError as exc:
            raise fail(exc) from None
        console.print(f"project: {project}  git: {git_state(project_root=project)}", highlight=False)
        if pointer is None:
            console.print(f"{DVC_FILE}: none (data/ is not tracked; run `dvc add data`)")
        else:
            tracked = project / pointer.path
            now = dir_digest(root=tracked) if tracked.is_dir() else None
            sync = "missing (run `dvc pull`)" if now is None else ("in sync" if now == pointer.md5 else "CHANGED")
            console.print(
                f"{DVC_FILE}: {pointer.path}/ md5 {pointer.md5} ({pointer.nfiles} files); workspace {sync}",
                highlight=False,
            )
        if not remotes:
            console.print("DVC remote: none configured (dvc remote add -d local ../.affectgate/dvc-remote)")
        for r in remotes:
            console.print(f"DVC remote {r.name}{' (default)' if r.default else ''}: {r.url} -> {r.resolved}")
        table = Table(
            "run",
            "candidate",
            "dataset",
            "digest",
            f"in {DVC_FILE}",
            "= folder now",
            title=f"dataset version per run ({settings.runs_dir})",
        )
        for row in rows:
            if row.error:
                table.add_row(row.run_id, "?", "?", "", "-", "-")
                continue
            table.add_row(
                row.run_id, row.candidate, row.dataset, row.digest, _yes_no(row.in_dvc), _yes_no(row.matches_current)
            )
        console.print(table)
        for row in rows:
            if row.error:
                console.print(f"unreadable report: {row.error}", highlight=False, markup=False, soft_wrap=True)
        if not rows:
            console.print("no runs yet (affectgate gate ... writes one per evaluation)")
