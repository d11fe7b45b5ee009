"""Data governance before evaluation: Great Expectations suites over a :class:`LoadedDataset`.

This module is the only one that imports Great Expectations (DESIGN habit 6); GX results are
converted to :class:`ValidationReport` at the boundary. One suite per dataset *kind*:

- ``categorical``: every sample has a label, and it is in the dataset's label map;
- ``va``: valence and arousal in [-1, 1] (or the ``-5`` invalid marker of Aff-Wild2), both or neither;
- ``au``: action units as ``AU<n>=0|1`` pairs;
- ``manifest``: a private set described by a manifest (label and VA checks where filled);
- ``engagement``: engagement-signal clips without emotion labels (the clip attention in [0, 1]).

Frame-level multi-task sets (VA, AU, manifest kinds) also need every row to carry at least one
annotation (a label, a valence/arousal pair or action units).

Every suite also checks: at least one sample, unique non-empty ``sample_id``, ``subject_id`` present
(clips of one person are not independent) — unless the release has no subject identity at all (DFEW and
FERV39k as distributed, or a datasheet saying ``subjects: unknown``): then the check records the
assumption that each clip is its own cluster (:data:`CLUSTER_ASSUMPTION`), stated in the report and in
every interval that depends on it; a set with *some* subject ids missing still fails. Every media path inside
the data root (after symlinks
and ``..``), the split names, ``consent_basis`` present when the set holds special-category
attributes (GDPR Art. 9; the loader's flag, or any group attribute filled), and the group
attributes present when a fairness evaluator is requested. A set that carries no group attribute at all
(DFEW, FERV39k) makes fairness *unjudgeable*: recorded (``fairness_judgeable`` false, with how to add a
``metadata.csv`` sidecar), not failed here; the quality policy sends it to human review, never a pass.
Problems the loader already recorded (rejected lines, unknown labels) make the result fail too.

Group attributes measure bias only: :func:`check_no_group_features` fails when one of them is among
a model's training features (GDPR Art. 9, AI Act Art. 10(5)).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from affectgate.core.errors import DataError
from affectgate.core.records import Record
from affectgate.datasets.base import LoadedDataset, load_dataset
from affectgate.datasets.paths import is_outside

DatasetKind = Literal["categorical", "va", "au", "manifest", "engagement"]

#: Attributes that describe a person's group; used to measure bias, never as model features.
GROUP_ATTRIBUTES: tuple[str, ...] = ("skin_tone_group", "race", "ethnicity", "sex", "age_band")
#: Datasheet keys that may declare further group attributes of a dataset.
DATASHEET_GROUP_KEYS: tuple[str, ...] = ("group_attributes", "sensitive_attributes")
#: Split names a loader may write.
SPLITS: tuple[str, ...] = ("train", "test", "validation", "all")
#: Aff-Wild2's marker of a frame without a valid VA annotation.
VA_INVALID = -5.0
#: An action-unit cell written by the loaders: ``AU1=0;AU2=1;...``.
AU_PATTERN = r"^AU[0-9]+=[01](?:;AU[0-9]+=[01])*$"
#: Examples of unexpected values kept per expectation.
MAX_EXAMPLES = 5
#: Loader formats whose public release has no subject identity (no person ids, no demographics).
RELEASES_WITHOUT_SUBJECTS: tuple[str, ...] = ("dfew", "ferv39k")
#: The assumption every subject-clustered interval makes when the release has no subject ids.
CLUSTER_RULE = (
    "each clip is treated as its own cluster (clips of one person are correlated, so intervals resampled or "
    "computed per clip may be too narrow)"
)
CLUSTER_ASSUMPTION = f"no subject ids in the release: {CLUSTER_RULE}"
#: How to give a set without subjects or groups its subject ids and group attributes.
SIDECAR_FIX = (
    "add a metadata.csv sidecar in the dataset root: one row per clip, columns video_name (or sample_id), "
    "subject_id, and the group attributes (skin_tone_group, sex, age_band) plus consent_basis; "
    "see docs/datasets.md"
)


class ExpectationOutcome(Record):
    """The outcome of one check of a suite."""

    check: str = Field(description="What is checked, in words (e.g. 'label in the label map').")
    expectation: str = Field(description="GX expectation type, or 'loader_problems' / 'group_columns_present'.")
    column: str | None = Field(default=None, description="Column checked, when the check is about one column.")
    source: Literal["great_expectations", "loader", "affectgate"] = Field(
        description="Who judged: a GX expectation, the loader's recorded problems, or affectgate itself."
    )
    success: bool = Field(description="True when the check passed.")
    element_count: int = Field(ge=0, description="Rows (or problems) looked at.")
    unexpected_count: int = Field(ge=0, description="Rows that failed the check.")
    unexpected_examples: tuple[str, ...] = Field(default=(), description="A few failing rows: 'sample_id: value'.")
    error: str | None = Field(default=None, description="Exception GX raised evaluating the expectation, if any.")
    note: str | None = Field(
        default=None, description="An assumption or limit the check records (e.g. each clip its own cluster)."
    )


class ValidationReport(Record):
    """The governance suite's result for one dataset selection; attached to the gate report and audit log."""

    suite: str = Field(description="Suite name: 'affectgate.<format>.<kind>'.")
    kind: DatasetKind = Field(description="Dataset kind the suite was built for.")
    dataset_format: str = Field(description="Loader format, e.g. 'dfew'.")
    root: str = Field(description="Dataset root folder.")
    data_root: str = Field(description="Data root every media path must stay inside.")
    n_samples: int = Field(ge=0, description="Samples validated.")
    special_category: bool = Field(description="Group attributes (GDPR Art. 9 special-category data) present.")
    fairness: bool = Field(description="A fairness evaluator was requested (group attributes required).")
    required_groups: tuple[str, ...] = Field(default=(), description="Group attributes required to be present.")
    expectations: tuple[ExpectationOutcome, ...] = Field(description="Every check, in suite order.")
    n_loader_problems: int = Field(ge=0, description="Samples/lines the loader rejected.")
    invalid_counts: dict[str, int] = Field(
        default_factory=dict, description="Samples dropped for a documented reason (e.g. Aff-Wild2 -5 frames)."
    )
    success: bool = Field(description="True only when every check passed.")
    gx_version: str = Field(description="Great Expectations version that ran the suite.")
    subjects: Literal["known", "unknown"] = Field(
        default="known",
        description="'unknown' when the release has no subject identity (DFEW, FERV39k, `subjects: unknown`).",
    )
    cluster_assumption: str | None = Field(
        default=None,
        description="With subjects unknown: the stated assumption that each clip is its own cluster.",
    )
    fairness_judgeable: bool = Field(
        default=True,
        description="False when fairness was requested but the set carries no group attribute at all.",
    )
    notes: tuple[str, ...] = Field(default=(), description="Assumptions and limits, each with how to lift it.")

    def failures(self) -> tuple[ExpectationOutcome, ...]:
        """The checks that failed."""
        return tuple(e for e in self.expectations if not e.success)

    def summary(self) -> str:
        """One line: suite, verdict and the failed checks."""
        notes = "".join(f"; NOTE: {n}" for n in self.notes)
        if self.success:
            return f"{self.suite}: passed {len(self.expectations)} checks on {self.n_samples} samples{notes}"
        failed = "; ".join(f"{e.check} ({e.unexpected_count} failing)" for e in self.failures())
        return f"{self.suite}: FAILED {len(self.failures())} of {len(self.expectations)} checks: {failed}{notes}"


# -- helpers ------------------------------------------------------------------------------------
def declared_group_attributes(*, datasheet: dict | None) -> tuple[str, ...]:
    """Group attributes a datasheet declares (``group_attributes`` / ``sensitive_attributes`` lists)."""
    out: list[str] = []
    for key in DATASHEET_GROUP_KEYS:
        value = (datasheet or {}).get(key)
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            out.extend(str(v) for v in value)
    return tuple(dict.fromkeys(out))


def check_no_group_features(*, feature_columns: Iterable[str], group_columns: Iterable[str] = ()) -> None:
    """Raise ``DataError`` when a group attribute is among a model's training features.

    Group attributes are :data:`GROUP_ATTRIBUTES` plus ``group_columns`` (e.g. those a datasheet
    declares, see :func:`declared_group_attributes`). Names are compared case-insensitively.
    """
    groups = {g.lower() for g in (*GROUP_ATTRIBUTES, *group_columns)}
    leaked = sorted({f for f in feature_columns if f.lower() in groups})
    if leaked:
        raise DataError(
            f"group attributes {leaked} are among the model's training features",
            fix="group attributes (ethnicity, race, sex, age, skin tone) may only measure bias "
            "(GDPR Art. 9, AI Act Art. 10(5)); drop them from the training inputs",
        )


def subject_identity(*, loaded: LoadedDataset) -> Literal["known", "unknown"]:
    """'unknown' when no sample has a subject id and the release is known to carry none.

    A release carries none when its format is one of :data:`RELEASES_WITHOUT_SUBJECTS` or its
    ``datasheet.yaml`` says ``subjects: unknown``. Anything else is 'known' (and a missing id fails).
    """
    s = loaded.samples
    if "subject_id" in s.columns and s["subject_id"].notna().any():
        return "known"
    return "unknown" if released_without_identity(loaded=loaded) else "known"


def released_without_identity(*, loaded: LoadedDataset) -> bool:
    """True for a release documented to carry no subject identity (and so no demographics either)."""
    declared = str((loaded.datasheet or {}).get("subjects", "")).strip().lower() == "unknown"
    return declared or loaded.format in RELEASES_WITHOUT_SUBJECTS


def special_category(*, loaded: LoadedDataset) -> bool:
    """True when the loader says so or any group attribute (built-in or datasheet-declared) is filled."""
    groups = (*GROUP_ATTRIBUTES, *declared_group_attributes(datasheet=loaded.datasheet))
    return loaded.special_category or any(_has(loaded.samples, g) for g in groups)


def dataset_kind(*, loaded: LoadedDataset) -> DatasetKind:
    """The suite a dataset gets: manifest by format, else AU, VA or categorical by its filled columns."""
    s = loaded.samples
    if loaded.format == "manifest":
        return "manifest"
    if loaded.format == "engagement":
        return "engagement"
    if "aus" in s.columns and s["aus"].notna().any():
        return "au"
    if s["valence"].notna().any() or s["arousal"].notna().any():
        return "va"
    return "categorical"


def _has(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and bool(frame[column].notna().any())


def _inside(paths: pd.Series, *, root: Path, data_root: Path) -> np.ndarray:
    """Per row: the path (relative to ``root``) is filled and resolves inside ``data_root``."""
    out = np.zeros(len(paths), dtype=bool)
    for i, rel in enumerate(paths.tolist()):
        if isinstance(rel, str) and rel:
            out[i] = not is_outside(path=root / rel, root=data_root)
    return out


class _Check:
    """One expectation to run: the GX expectation plus how to describe its failures."""

    def __init__(self, *, check: str, expectation: Any, column: str | None, show: str | None = None) -> None:
        self.check, self.expectation, self.column = check, expectation, column
        self.show = show if show is not None else column  # column whose value an example shows


def _build_checks(
    *,
    frame: pd.DataFrame,
    loaded: LoadedDataset,
    kind: DatasetKind,
    groups: Sequence[str],
    gx: Any,
    subjects_known: bool = True,
) -> list[_Check]:
    """The suite's expectations for ``frame`` (already holding the computed boolean columns)."""
    e = gx.expectations
    checks = [
        _Check(check="at least one sample", expectation=e.ExpectTableRowCountToBeBetween(min_value=1), column=None),
        _Check(
            check="sample_id present",
            expectation=e.ExpectColumnValuesToNotBeNull(column="sample_id"),
            column="sample_id",
        ),
        _Check(
            check="no duplicate sample ids",
            expectation=e.ExpectColumnValuesToBeUnique(column="sample_id"),
            column="sample_id",
        ),
        _Check(
            check="split is one of " + "/".join(SPLITS),
            expectation=e.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
            column="split",
        ),
        _Check(
            check="media path inside the data root",
            expectation=e.ExpectColumnValuesToBeInSet(column="_media_inside_data_root", value_set=[True]),
            column="_media_inside_data_root",
            show="media_path",
        ),
    ]
    if subjects_known:
        checks.insert(
            3,
            _Check(
                check="subject ids present",
                expectation=e.ExpectColumnValuesToNotBeNull(column="subject_id"),
                column="subject_id",
            ),
        )
    if "audio_path" in frame.columns:
        checks.append(
            _Check(
                check="audio path inside the data root",
                expectation=e.ExpectColumnValuesToBeInSet(column="_audio_inside_data_root", value_set=[True]),
                column="_audio_inside_data_root",
                show="audio_path",
            )
        )
    if kind == "categorical" or _has(frame, "label"):
        if kind == "categorical":
            checks.append(
                _Check(
                    check="label present", expectation=e.ExpectColumnValuesToNotBeNull(column="label"), column="label"
                )
            )
        checks.append(
            _Check(
                check="label in the label map",
                expectation=e.ExpectColumnValuesToBeInSet(column="label", value_set=list(loaded.label_names)),
                column="label",
            )
        )
    if kind == "va" or _has(frame, "valence") or _has(frame, "arousal"):
        for col in ("valence", "arousal"):
            checks.append(
                _Check(
                    check=f"{col} in [-1, 1] or the invalid marker {VA_INVALID:g}",
                    expectation=e.ExpectColumnValuesToBeBetween(
                        column=col,
                        min_value=-1.0,
                        max_value=1.0,
                        row_condition=f"{col}!={VA_INVALID}",
                        condition_parser="pandas",
                    ),
                    column=col,
                )
            )
        checks.append(
            _Check(
                check="valence and arousal given together",
                expectation=e.ExpectColumnValuesToBeInSet(column="_va_paired", value_set=[True]),
                column="_va_paired",
                show="valence",
            )
        )
    if kind == "au" or _has(frame, "aus"):
        checks.append(
            _Check(
                check="action units written AU<n>=0|1",
                expectation=e.ExpectColumnValuesToMatchRegex(column="aus", regex=AU_PATTERN),
                column="aus",
            )
        )
    if kind == "engagement":
        checks.append(
            _Check(
                check="attention in [0, 1]",
                expectation=e.ExpectColumnValuesToBeBetween(column="attention", min_value=0.0, max_value=1.0),
                column="attention",
            )
        )
    if kind != "categorical":  # frame-level multi-task sets: each row carries at least one annotation
        checks.append(
            _Check(
                check="every sample annotated (label, valence/arousal or action units)",
                expectation=e.ExpectColumnValuesToBeInSet(column="_annotated", value_set=[True]),
                column="_annotated",
                show="media_path",
            )
        )
    if special_category(loaded=loaded):
        checks.append(
            _Check(
                check="consent/legal basis present (special-category data, GDPR Art. 9)",
                expectation=e.ExpectColumnValuesToNotBeNull(column="consent_basis"),
                column="consent_basis",
            )
        )
    for g in groups:
        checks.append(
            _Check(
                check=f"group attribute {g} present (fairness requested)",
                expectation=e.ExpectColumnValuesToNotBeNull(column=g),
                column=g,
            )
        )
    return checks


def _frame_for_gx(*, loaded: LoadedDataset, data_root: Path, groups: Sequence[str]) -> pd.DataFrame:
    """The samples with absent checked columns added empty and the computed boolean columns."""
    s = loaded.samples.reset_index(drop=True)
    frame = pd.DataFrame(index=s.index)
    keep = [
        "sample_id",
        "split",
        "media_path",
        "label",
        "valence",
        "arousal",
        "subject_id",
        "aus",
        "audio_path",
        "consent_basis",
        "attention",
        *groups,
    ]
    for col in dict.fromkeys(keep):
        if col in s.columns:
            frame[col] = s[col].astype(object).where(s[col].notna(), None) if s[col].dtype == object else s[col]
        elif col not in ("aus", "audio_path", "attention"):
            frame[col] = pd.Series([None] * len(s), index=s.index, dtype=object)
    frame["_media_inside_data_root"] = _inside(frame["media_path"], root=loaded.root, data_root=data_root)
    if "audio_path" in frame.columns:
        filled = frame["audio_path"].notna().to_numpy()
        inside = _inside(frame["audio_path"], root=loaded.root, data_root=data_root)
        frame["_audio_inside_data_root"] = np.where(filled, inside, True)
    va = frame[["valence", "arousal"]].apply(pd.to_numeric, errors="coerce")
    frame["_va_paired"] = (va["valence"].isna() == va["arousal"].isna()).to_numpy()
    has_label = frame["label"].notna()
    has_aus = frame["aus"].notna() if "aus" in frame.columns else pd.Series(False, index=frame.index)
    has_att = frame["attention"].notna() if "attention" in frame.columns else pd.Series(False, index=frame.index)
    annotated = has_label | (va["valence"].notna() & va["arousal"].notna()) | has_aus | has_att
    frame["_annotated"] = annotated.to_numpy()
    return frame


def _gx_module() -> Any:
    """Great Expectations, imported offline and quiet (no analytics, no progress bars)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # read by GX at import/context creation; never phone home
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return gx


def _examples(result: dict, frame: pd.DataFrame, show: str | None) -> tuple[str, ...]:
    out: list[str] = []
    for idx in (result.get("partial_unexpected_index_list") or [])[:MAX_EXAMPLES]:
        if idx not in frame.index:
            continue
        sid = frame.at[idx, "sample_id"]
        value = frame.at[idx, show] if show is not None and show in frame.columns else None
        value = value.item() if isinstance(value, np.generic) else value
        sid_text = "<no id>" if sid is None or (isinstance(sid, float) and np.isnan(sid)) else str(sid)
        out.append(sid_text if show in (None, "sample_id") else f"{sid_text}: {show}={value!r}")
    if not out:
        out = [repr(v) for v in (result.get("partial_unexpected_list") or [])[:MAX_EXAMPLES]]
    return tuple(out)


def _run_gx(*, frame: pd.DataFrame, checks: list[_Check], suite_name: str, gx: Any) -> list[ExpectationOutcome]:
    """Run the checks as one GX suite on an ephemeral context; outcomes in suite order."""
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    batch_def = (
        context.data_sources.add_pandas("affectgate")
        .add_dataframe_asset("samples")
        .add_batch_definition_whole_dataframe("all_samples")
    )
    suite = gx.ExpectationSuite(name=suite_name)
    for i, chk in enumerate(checks):
        chk.expectation.meta = {"affectgate_check": i}
        suite.add_expectation(chk.expectation)
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite)
    )
    result = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
    )
    by_index: dict[int, Any] = {}
    for r in result.results:
        meta = r.expectation_config.meta or {}
        by_index[int(meta["affectgate_check"])] = r
    outcomes: list[ExpectationOutcome] = []
    for i, chk in enumerate(checks):
        r = by_index.get(i)
        if r is None:  # fail closed: a check GX did not report is a failed check
            outcomes.append(
                ExpectationOutcome(
                    check=chk.check,
                    expectation=chk.expectation.expectation_type,
                    column=chk.column,
                    source="great_expectations",
                    success=False,
                    element_count=len(frame),
                    unexpected_count=len(frame),
                    error="Great Expectations returned no result for this expectation",
                )
            )
            continue
        res = dict(r.result or {})
        info = r.exception_info or {}
        if "raised_exception" not in info:  # keyed per metric when an exception was raised
            errors = [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
        else:
            errors = [info.get("exception_message")] if info.get("raised_exception") else []
        error = "; ".join(str(x) for x in errors if x) or None
        if chk.column is None:  # table-level: row count
            unexpected = 0 if r.success else 1
            examples = () if r.success else (f"observed {res.get('observed_value')!r}",)
            count = len(frame)
        else:
            unexpected = int(res.get("unexpected_count") or 0)
            count = int(res.get("element_count") or len(frame))
            examples = _examples(res, frame, chk.show)
        outcomes.append(
            ExpectationOutcome(
                check=chk.check,
                expectation=chk.expectation.expectation_type,
                column=chk.column,
                source="great_expectations",
                success=bool(r.success) and error is None,
                element_count=count,
                unexpected_count=unexpected if error is None else max(unexpected, 1),
                unexpected_examples=examples,
                error=error,
            )
        )
    return outcomes


# -- public entry points ------------------------------------------------------------------------
def validate_dataset(
    *, loaded: LoadedDataset, data_root: Path, require_groups: Sequence[str] = (), fairness: bool = False
) -> ValidationReport:
    """Run the governance suite of ``loaded``'s kind with Great Expectations; never raises on bad data.

    ``require_groups`` are group attributes that must be filled for every sample (checked when
    ``fairness`` is True, or whenever given); with ``fairness`` and no list, every group attribute
    the dataset carries (:data:`GROUP_ATTRIBUTES` plus those its datasheet declares) is required,
    and a dataset with none fails. Loader problems make the result fail and are listed.
    """
    gx = _gx_module()
    kind = dataset_kind(loaded=loaded)
    declared = declared_group_attributes(datasheet=loaded.datasheet)
    groups = list(dict.fromkeys(require_groups))
    if fairness and not groups:
        groups = [g for g in (*GROUP_ATTRIBUTES, *declared) if g in loaded.samples.columns]
    subjects = subject_identity(loaded=loaded)
    notes: list[str] = []
    # a release that carries no identity or group attribute at all (DFEW, FERV39k, `subjects: unknown`):
    # fairness is unjudgeable, and the policy sends it to review; any other set without groups fails
    candidates = groups or [*GROUP_ATTRIBUTES, *declared]
    unjudgeable = (
        (fairness or bool(groups))
        and subjects == "unknown"
        and not any(_has(loaded.samples, g) for g in (*candidates, *GROUP_ATTRIBUTES))
    )
    checked_groups = [] if unjudgeable else groups
    frame = _frame_for_gx(loaded=loaded, data_root=data_root, groups=groups)
    suite_name = f"affectgate.{loaded.format}.{kind}"
    checks = _build_checks(
        frame=frame, loaded=loaded, kind=kind, groups=checked_groups, gx=gx, subjects_known=subjects == "known"
    )
    outcomes = _run_gx(frame=frame, checks=checks, suite_name=suite_name, gx=gx)
    if subjects == "unknown":
        why = (
            f"the {loaded.format} release has no subject ids"
            if loaded.format in RELEASES_WITHOUT_SUBJECTS
            else "the datasheet says subjects: unknown"
        )
        outcomes.insert(
            3,
            ExpectationOutcome(
                check="subject ids: none in the release, each clip its own cluster",
                expectation="subject_identity_unknown",
                column="subject_id",
                source="affectgate",
                success=True,
                element_count=len(frame),
                unexpected_count=0,
                note=f"{why}: {CLUSTER_RULE}",
            ),
        )
        notes.append(f"{why}: {CLUSTER_RULE}; to lift it, {SIDECAR_FIX}")
    if unjudgeable:
        listed = ", ".join(candidates)
        outcomes.append(
            ExpectationOutcome(
                check="group attributes: none in the set, fairness unjudgeable (policy: human review)",
                expectation="group_attributes_absent",
                source="affectgate",
                success=True,
                element_count=len(frame),
                unexpected_count=0,
                unexpected_examples=(f"none of {listed} is filled for any sample",),
                note="fairness cannot be judged without group attributes; the quality policy sends the "
                "release to review (quality.fairness.unjudgeable), never a pass",
            )
        )
        notes.append(f"fairness unjudgeable: none of {listed} is filled; to judge it, {SIDECAR_FIX}")
    failed_on = {o.column for o in outcomes if not o.success}
    if "subject_id" in failed_on:
        notes.append(
            f"subject ids missing: {SIDECAR_FIX}; or, if the set has no subject identity at all, declare "
            "`subjects: unknown` in datasheet.yaml (each clip is then treated as its own cluster)"
        )
    if failed_on & {*groups} or (fairness and not groups and not unjudgeable):
        notes.append(f"group attributes missing: {SIDECAR_FIX}")
    if fairness and not groups and not unjudgeable:
        outcomes.append(
            ExpectationOutcome(
                check="group attributes present (fairness requested)",
                expectation="group_columns_present",
                source="affectgate",
                success=False,
                element_count=len(frame),
                unexpected_count=len(frame),
                unexpected_examples=(f"none of {', '.join((*GROUP_ATTRIBUTES, *declared))} is a column",),
            )
        )
    problems = loaded.problems
    outcomes.append(
        ExpectationOutcome(
            check="no samples rejected by the loader",
            expectation="loader_problems",
            source="loader",
            success=not problems,
            element_count=len(problems) + len(frame),
            unexpected_count=len(problems),
            unexpected_examples=tuple(str(p) for p in problems[:MAX_EXAMPLES]),
        )
    )
    return ValidationReport(
        suite=suite_name,
        kind=kind,
        dataset_format=loaded.format,
        root=str(loaded.root),
        data_root=str(data_root),
        n_samples=len(frame),
        special_category=special_category(loaded=loaded),
        fairness=fairness,
        required_groups=tuple(groups),
        expectations=tuple(outcomes),
        n_loader_problems=len(problems),
        invalid_counts=dict(loaded.invalid_counts),
        success=all(o.success for o in outcomes),
        gx_version=str(gx.__version__),
        subjects=subjects,
        cluster_assumption=CLUSTER_ASSUMPTION if subjects == "unknown" else None,
        fairness_judgeable=not unjudgeable,
        notes=tuple(notes),
    )


def validate_for_gate(
    *,
    fmt: str,
    root: Path,
    data_root: Path,
    fairness_attributes: Sequence[str] = (),
    fold: int | None = None,
    split: str | None = None,
) -> ValidationReport:
    """Load ``root`` with the ``fmt`` loader and run its suite, as the gate does before evaluation.

    ``fairness_attributes`` are the attributes of the suite's fairness evaluator (empty when the
    suite has none); each must be filled for every sample. The caller blocks the gate when
    ``success`` is False and attaches the report to the EvalReport's run folder and the audit log.
    Loading errors (a missing folder, an unknown format) raise ``DataError``.
    """
    loaded = load_dataset(fmt=fmt, root=root, fold=fold, split=split)
    return validate_dataset(
        loaded=loaded,
        data_root=data_root,
        require_groups=list(fairness_attributes),
        fairness=bool(fairness_attributes),
    )


__all__ = [
    "CLUSTER_ASSUMPTION",
    "GROUP_ATTRIBUTES",
    "RELEASES_WITHOUT_SUBJECTS",
    "SIDECAR_FIX",
    "DatasetKind",
    "ExpectationOutcome",
    "ValidationReport",
    "check_no_group_features",
    "dataset_kind",
    "special_category",
    "subject_identity",
    "declared_group_attributes",
    "validate_dataset",
    "validate_for_gate",
]
