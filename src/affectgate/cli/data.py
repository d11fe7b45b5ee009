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

from affectgate.core.errors import AffectgateError

#: Exit codes of ``data validate``.
EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 3

_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


def fail(exc: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
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
    ) -> None:
        """Load a dataset, print counts per split/fold and class, rejected samples and the Great Expectations result.

        Group columns a root ``metadata.csv`` holds are joined where the loader left them empty, as the gate does.
        """
        from affectgate.datasets.base import load_dataset
        from affectgate.datasets.selection import SIDECAR, join_sidecar
        from affectgate.datasets.validation import validate_dataset
        from affectgate.project.settings import Settings

        try:
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
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(report.model_dump_json(indent=2), encoding="utf-8")
        verdict = "[bold green]PASSED[/]" if report.success else "[bold red]FAILED[/]"
        console.print(f"suite {report.suite}: {verdict} (great_expectations {report.gx_version})")
        raise typer.Exit(EXIT_PASSED if report.success else EXIT_FAILED)

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
