"""Data governance: the dfew/cremad adapters and the Great Expectations suites of datasets/validation.py."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectgate.core.errors import DataError
from affectgate.datasets.base import SAMPLE_COLUMNS, LoadedDataset, Problem, dataset_formats, load_dataset
from affectgate.datasets.dfew import DFEWSample
from affectgate.datasets.validation import (
    GROUP_ATTRIBUTES,
    ValidationReport,
    check_no_group_features,
    dataset_kind,
    declared_group_attributes,
    validate_dataset,
    validate_for_gate,
)

ROOT = Path(__file__).resolve().parents[2]
CREMAD = ROOT.parent / "shared" / "conformance" / "crema-d"


def tiny_config():  # noqa: ANN201 - SynthConfig
    """Six subjects, two clips each, two 32-px frames, two folds: 12 clips in well under a second."""
    from affectgate.demo.tiny import tiny_synth_config

    return tiny_synth_config().model_copy(
        update={"n_subjects": 6, "clips_per_subject": 2, "frames": 2, "image_size": 32, "folds": 2}
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A tiny synthetic DFEW set under <tmp>/data/tiny (the data root is <tmp>/data)."""
    from affectgate.datasets.synth import generate_dfew

    root = tmp_path_factory.mktemp("gov") / "data" / "tiny"
    generate_dfew(root=root, config=tiny_config())
    return root


def failed(report: ValidationReport) -> dict[str, tuple[str, ...]]:
    """Failed checks -> their examples."""
    return {e.check: e.unexpected_examples for e in report.failures()}


# -- adapters -----------------------------------------------------------------------------------
def test_dfew_adapter_reads_every_clip_once_with_metadata(tiny: Path) -> None:
    """Without a fold, the dfew adapter returns each clip once (fold = its test set) with metadata columns."""
    assert {"dfew", "cremad"} <= set(dataset_formats())
    loaded = load_dataset(fmt="dfew", root=tiny)
    s = loaded.samples
    assert list(s.columns[: len(SAMPLE_COLUMNS)]) == list(SAMPLE_COLUMNS)
    assert len(s) == 12 and s["sample_id"].is_unique
    assert set(s["split"]) == {"test"} and set(s["fold"].astype(int)) == {1, 2}
    meta = pd.read_csv(tiny / "metadata.csv", dtype=str).set_index("video_name")
    row = s.iloc[0]
    assert row["subject_id"] == meta.loc[row["sample_id"], "subject_id"]
    assert row["skin_tone_group"] == meta.loc[row["sample_id"], "skin_tone_group"]
    assert row["consent_basis"] == "explicit_consent"
    assert row["media_path"] == f"Clip/clip_224x224/{row['sample_id']}"
    assert loaded.special_category and loaded.datasheet and loaded.datasheet["synthetic"] is True
    assert s["valence"].isna().all() and not loaded.problems


def test_dfew_adapter_fold_and_split_selection(tiny: Path) -> None:
    """fold=N gives its disjoint train and test splits; split narrows it; a missing fold or a fold-less train fails."""
    both = load_dataset(fmt="dfew", root=tiny, fold=1).samples
    assert set(both["split"]) == {"train", "test"} and both["sample_id"].is_unique
    test = load_dataset(fmt="dfew", root=tiny, fold=1, split="test").samples
    assert set(test["split"]) == {"test"} and len(test) < len(both)
    with pytest.raises(DataError, match="fold 3 does not exist"):
        load_dataset(fmt="dfew", root=tiny, fold=3)
    with pytest.raises(DataError, match="overlap"):
        load_dataset(fmt="dfew", root=tiny, split="train")


def test_dfew_adapter_records_a_rejected_split_unless_strict(tiny: Path, tmp_path: Path) -> None:
    """A split CSV that load_dfew_split rejects is one recorded problem (suite fails); strict mode raises it."""
    root = tmp_path / "data" / "bad"
    shutil.copytree(tiny, root)
    csv = root / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_2.csv"
    csv.write_text(csv.read_text(encoding="utf-8") + "99999,9\n", encoding="utf-8")
    loaded = load_dataset(fmt="dfew", root=root)
    assert len(loaded.problems) == 1 and "set_2.csv" in loaded.problems[0].file
    assert "not an integer 1..7" in loaded.problems[0].reason
    assert set(loaded.samples["fold"].astype(int)) == {1}  # the rejected split's clips are left out
    report = validate_dataset(loaded=loaded, data_root=tmp_path / "data")
    assert not report.success and report.n_loader_problems == 1
    assert "set_2.csv" in failed(report)["no samples rejected by the loader"][0]
    with pytest.raises(DataError, match="not an integer 1..7"):
        load_dataset(fmt="dfew", root=root, strict=True)


@pytest.mark.skipif(not CREMAD.is_dir(), reason="CREMA-D conformance metadata not present")
def test_cremad_adapter_real_metadata_needs_a_legal_basis(tmp_path: Path) -> None:
    """Real CREMA-D: 7442 clips of 91 actors, special-category; the suite fails only on the missing legal basis."""
    loaded = load_dataset(fmt="cremad", root=CREMAD)
    s = loaded.samples
    assert len(s) == 7442 and s["subject_id"].nunique() == 91 and loaded.special_category
    assert set(s["label"]) == set(loaded.label_names) and set(s["split"]) == {"all"}
    assert s.loc[s["sample_id"] == "1001_IEO_NEU_XX", "media_path"].item() == "VideoFlash/1001_IEO_NEU_XX.flv"
    assert {"race", "ethnicity", "sex", "age_band"} <= set(s.columns)
    report = validate_dataset(loaded=loaded, data_root=CREMAD.parent, fairness=True)
    assert not report.success
    assert list(failed(report)) == ["consent/legal basis present (special-category data, GDPR Art. 9)"]
    assert set(report.required_groups) == {"race", "ethnicity", "sex", "age_band"}
    # the same files with a datasheet declaring the legal basis pass
    copy = tmp_path / "data" / "crema-d"
    copy.mkdir(parents=True)
    for name in ("SentenceFilenames.csv", "VideoDemographics.csv"):
        shutil.copy(CREMAD / name, copy / name)
    (copy / "datasheet.yaml").write_text("consent_basis: explicit_consent\n", encoding="utf-8")
    ok = validate_dataset(loaded=load_dataset(fmt="cremad", root=copy), data_root=tmp_path / "data", fairness=True)
    assert ok.success, ok.summary()
    with pytest.raises(DataError, match="no folds"):
        load_dataset(fmt="cremad", root=CREMAD, fold=1)


# -- suites -------------------------------------------------------------------------------------
def test_synthetic_set_passes_with_fairness(tiny: Path) -> None:
    """The synthetic set passes the categorical suite, groups required, with real GX results for every check."""
    report = validate_dataset(loaded=load_dataset(fmt="dfew", root=tiny), data_root=tiny.parent, fairness=True)
    assert report.success, report.summary()
    assert report.suite == "affectgate.dfew.categorical" and report.kind == "categorical"
    assert report.gx_version.startswith("1.")
    assert set(report.required_groups) == {"skin_tone_group", "sex", "age_band"}
    kinds = {e.expectation for e in report.expectations if e.source == "great_expectations"}
    assert {
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_not_be_null",
        "expect_table_row_count_to_be_between",
    } <= kinds
    assert all(e.element_count == 12 for e in report.expectations if e.column)
    assert ValidationReport.model_validate_json(report.model_dump_json()) == report


def _edit(loaded: LoadedDataset, fn: Callable[[pd.DataFrame], None], **changes: object) -> LoadedDataset:
    samples = loaded.samples.copy()
    fn(samples)
    return dataclasses.replace(loaded, samples=samples, **changes)


def _set(col: str, value: object, row: int = 0) -> Callable[[pd.DataFrame], None]:
    def fn(s: pd.DataFrame) -> None:
        s[col] = s[col].astype(object)
        s.at[row, col] = value

    return fn


def _duplicate_first_id(s: pd.DataFrame) -> None:
    s.at[1, "sample_id"] = s.at[0, "sample_id"]


@pytest.mark.parametrize(
    ("edit", "check", "example"),
    [
        (_set("label", "contempt"), "label in the label map", "label='contempt'"),
        (_set("label", None), "label present", "label=None"),
        (_duplicate_first_id, "no duplicate sample ids", None),
        (_set("subject_id", None), "subject ids present", "subject_id=None"),
        (_set("media_path", "../../../etc"), "media path inside the data root", "media_path='../../../etc'"),
        (_set("split", "dev"), "split is one of train/test/validation/all", "split='dev'"),
        (
            _set("consent_basis", None),
            "consent/legal basis present (special-category data, GDPR Art. 9)",
            "consent_basis=None",
        ),
        (_set("skin_tone_group", None), "group attribute skin_tone_group present (fairness requested)", "None"),
    ],
)
def test_each_rule_fails_and_names_the_sample(tiny: Path, edit, check: str, example: str | None) -> None:
    """Breaking one rule on one sample fails exactly that check, with the sample id and value as example."""
    loaded = load_dataset(fmt="dfew", root=tiny)
    example = example if example is not None else loaded.samples.at[0, "sample_id"]
    bad = _edit(loaded, edit)
    report = validate_dataset(loaded=bad, data_root=tiny.parent, fairness=True)
    assert not report.success
    fails = failed(report)
    assert list(fails) == [check], report.summary()
    assert any(example in ex for ex in fails[check]), fails[check]
    outcome = next(e for e in report.expectations if e.check == check)
    assert outcome.unexpected_count == (2 if check == "no duplicate sample ids" else 1)


def test_symlink_out_of_the_data_root_fails(tiny: Path, tmp_path: Path) -> None:
    """A media path that is a symlink leaving the data root fails the inside-root check (paths are resolved)."""
    data = tmp_path / "data"
    data.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (data / "link").symlink_to(outside, target_is_directory=True)
    loaded = load_dataset(fmt="dfew", root=tiny)
    moved = dataclasses.replace(loaded, root=data, samples=loaded.samples.assign(media_path="link/clip"))
    report = validate_dataset(loaded=moved, data_root=data)
    assert "media path inside the data root" in failed(report)
    ok = dataclasses.replace(loaded, root=data, samples=loaded.samples.assign(media_path="real/clip"))
    assert "media path inside the data root" not in failed(validate_dataset(loaded=ok, data_root=data))


def _synthetic(fmt: str, **cols: object) -> LoadedDataset:
    n = len(next(iter(cols.values())))
    base = {
        "sample_id": [f"v/{i:05d}" for i in range(n)],
        "split": ["train"] * n,
        "fold": pd.array([pd.NA] * n, dtype="Int64"),
        "media_path": [f"frames/v/{i:05d}.jpg" for i in range(n)],
        "label": [None] * n,
        "valence": [np.nan] * n,
        "arousal": [np.nan] * n,
        "subject_id": ["v"] * n,
    }
    base.update(cols)
    return LoadedDataset(
        format=fmt, root=Path("/data/x"), samples=pd.DataFrame(base), label_names=("anger", "happiness")
    )


def test_va_suite_allows_the_invalid_marker_and_rejects_out_of_range() -> None:
    """VA suite: values in [-1, 1] and -5 pass; 1.5 and a lone valence fail, naming the sample."""
    good = _synthetic("affwild2", valence=[0.5, -5.0, -1.0], arousal=[0.1, -5.0, 1.0])
    assert dataset_kind(loaded=good) == "va"
    report = validate_dataset(loaded=good, data_root=Path("/data"))
    assert report.success, report.summary()
    bad = _synthetic("affwild2", valence=[0.5, 1.5, 0.2], arousal=[0.1, 0.0, np.nan])
    fails = failed(validate_dataset(loaded=bad, data_root=Path("/data")))
    assert set(fails) == {
        "valence in [-1, 1] or the invalid marker -5",
        "valence and arousal given together",
        "every sample annotated (label, valence/arousal or action units)",  # the lone valence row
    }
    assert fails["valence in [-1, 1] or the invalid marker -5"] == ("v/00001: valence=1.5",)


def test_au_and_manifest_suites() -> None:
    """AU suite checks the AU<n>=0|1 format; frame-level kinds need one annotation per row (label, VA or AUs)."""
    au = _synthetic("affwild2", aus=["AU1=0;AU2=1", "AU1=2;AU2=0", None], label=[None, None, "anger"])
    assert dataset_kind(loaded=au) == "au"
    assert list(failed(validate_dataset(loaded=au, data_root=Path("/data")))) == ["action units written AU<n>=0|1"]
    man = _synthetic("manifest", label=["anger", None], valence=[np.nan, np.nan], arousal=[np.nan, np.nan])
    assert dataset_kind(loaded=man) == "manifest"
    fails = failed(validate_dataset(loaded=man, data_root=Path("/data")))
    check = "every sample annotated (label, valence/arousal or action units)"
    assert list(fails) == [check] and fails[check][0].startswith("v/00001")


def test_empty_dataset_and_loader_problems_fail() -> None:
    """No samples fails the row-count expectation; recorded loader problems fail and are listed."""
    empty = _synthetic("manifest", label=[])
    assert "at least one sample" in failed(validate_dataset(loaded=empty, data_root=Path("/data")))
    probs = dataclasses.replace(
        _synthetic("mafw", label=["anger"]),
        problems=[Problem(file="labels.txt", line=7, reason="unknown label: 'contemptt'")],
    )
    report = validate_dataset(loaded=probs, data_root=Path("/data"))
    assert failed(report) == {"no samples rejected by the loader": ("labels.txt:7: unknown label: 'contemptt'",)}


def test_group_columns_make_a_set_special_category() -> None:
    """A filled group attribute needs a consent basis even when the loader did not flag special-category data."""
    plain = _synthetic("manifest", label=["anger", "happiness"], ethnicity=["a", None])
    assert not plain.special_category
    report = validate_dataset(loaded=plain, data_root=Path("/data"))
    assert report.special_category
    assert "consent/legal basis present (special-category data, GDPR Art. 9)" in failed(report)


def test_fairness_without_group_columns_fails() -> None:
    """Fairness requested on a set that carries no group attribute at all fails."""
    report = validate_dataset(loaded=_synthetic("mafw", label=["anger"]), data_root=Path("/data"), fairness=True)
    assert "group attributes present (fairness requested)" in failed(report)


def test_validate_for_gate_requires_the_fairness_attributes(tiny: Path) -> None:
    """validate_for_gate loads by format and requires every fairness attribute the suite names."""
    from affectgate.evaluators import load_suite
    from affectgate.gate.prepare import fairness_attributes

    attrs = fairness_attributes(load_suite(folder=ROOT / "evaluators", name="release"))
    assert "skin_tone_group" in attrs
    report = validate_for_gate(fmt="dfew", root=tiny, data_root=tiny.parent, fairness_attributes=attrs)
    assert report.success and report.fairness and report.required_groups == tuple(attrs)
    blocked = validate_for_gate(fmt="dfew", root=tiny, data_root=tiny.parent, fairness_attributes=["ethnicity"])
    assert not blocked.success
    with pytest.raises(DataError, match="unknown dataset format"):
        validate_for_gate(fmt="dfw", root=tiny, data_root=tiny.parent)


# -- group attributes never reach training ------------------------------------------------------
def test_check_no_group_features() -> None:
    """A group attribute (built-in or datasheet-declared, any case) among training features raises; pixels pass."""
    check_no_group_features(feature_columns=["pixels", "label"])
    for leaked in (*GROUP_ATTRIBUTES, "Ethnicity"):
        with pytest.raises(DataError, match="training features"):
            check_no_group_features(feature_columns=["pixels", leaked])
    declared = declared_group_attributes(
        datasheet={"group_attributes": ["skin_type"], "sensitive_attributes": "dialect"}
    )
    assert declared == ("skin_type", "dialect")
    with pytest.raises(DataError, match="dialect"):
        check_no_group_features(feature_columns=["pixels", "dialect"], group_columns=declared)


def test_training_inputs_carry_no_group_attribute(tiny: Path) -> None:
    """What `zoo train` reads per clip (DFEWSample: id, label, frame folder) holds no group attribute.

    The loaded table does carry them (for bias measurement), so the check is not vacuous.
    """
    import inspect

    from affectgate.zoo import build

    src = inspect.getsource(build.train_zoo_model)
    assert "load_metadata" not in src and "metadata" not in src  # training never joins metadata.csv
    check_no_group_features(feature_columns=DFEWSample.model_fields)
    with pytest.raises(DataError):
        check_no_group_features(feature_columns=load_dataset(fmt="dfew", root=tiny).samples.columns)
