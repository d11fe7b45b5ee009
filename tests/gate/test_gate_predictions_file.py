"""Predictions-file candidates in the gate: a card YAML as ``--model``, no model session, registered as artifacts.

The conformance test gates the real CREMA-D crowd votes (face only, voice only, audio-visual) as three
candidates on the real CREMA-D metadata, sliced by the actors' demographics; it runs when
``../shared/conformance/crema-d`` (or ``$AFFECTGATE_CONFORMANCE_DIR/crema-d``) exists and is skipped
otherwise. Nothing here trains or runs a model: each test uses its own workspace.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.datasets.cremad import CREMAD_VOTE_LETTERS, VOTE_COLUMNS
from affectgate.gate.workspace import audit_log, registry
from affectgate.project.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
CONTEXTS = ("--context", "eu-telehealth", "--context", "us-ad-testing")
NOT_APPLICABLE = "not applicable to a predictions-file candidate"


def _conformance_dir() -> Path | None:
    env = os.environ.get("AFFECTGATE_CONFORMANCE_DIR")
    base = Path(env) if env else ROOT.parent / "shared" / "conformance"
    return base / "crema-d" if (base / "crema-d" / "summaryTable.csv").is_file() else None


CREMA_D = _conformance_dir()
SKIP_REASON = (
    "real CREMA-D metadata not found (../shared/conformance/crema-d or $AFFECTGATE_CONFORMANCE_DIR/crema-d); "
    "predictions-file gate conformance test skipped"
)


@dataclass(frozen=True)
class Space:
    """An isolated workspace and data root."""

    settings: Settings
    data: Path


@pytest.fixture
def space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Space]:
    env = {
        "AFFECTGATE_PROJECT_ROOT": str(ROOT),
        "AFFECTGATE_WORKSPACE": str(tmp_path / "ws"),
        "AFFECTGATE_DATA_ROOT": str(tmp_path / "data"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    (tmp_path / "data").mkdir()
    yield Space(settings=get_settings(), data=tmp_path / "data")
    get_settings.cache_clear()


def _card(folder: Path, *, modality: str, file: str) -> Path:
    col = VOTE_COLUMNS[modality]
    card = {
        "vendor": "CREMA-D crowd",
        "source": f"human raters, summaryTable.csv {col}",
        "kind": "label",
        "file": file,
        "columns": {"id": "FileName", "label": col},
        "labels": dict(CREMAD_VOTE_LETTERS),
        "tie_separator": ":",
        "tie_policy": "strict",
        "intended_use": "Reference ceiling of human perception; not a deployable model.",
    }
    path = folder / f"crowd_{modality}.card.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False), encoding="utf-8")
    return path


def _crema_copy(space: Space, *, datasheet: bool) -> Path:
    """The CREMA-D metadata under the data root, with the user's datasheet stating the legal basis."""
    assert CREMA_D is not None
    root = space.data / "crema-d"
    root.mkdir()
    for name in ("SentenceFilenames.csv", "VideoDemographics.csv", "summaryTable.csv"):
        shutil.copy(CREMA_D / name, root / name)
    if datasheet:
        sheet = {
            "name": "CREMA-D metadata",
            "synthetic": False,
            "legal_basis": "consent of the CREMA-D actors to research use; Open Database License 1.0",
        }
        (root / "datasheet.yaml").write_text(yaml.safe_dump(sheet), encoding="utf-8")
    return root


def _gate(*args: str):
    return runner.invoke(app, ["gate", "--plain", *args], catch_exceptions=False)


def _metric(report: dict, name: str, group: str | None = None) -> dict:
    return next(m for r in report["results"] for m in r["measurements"] if m["name"] == name and m["group"] == group)


@pytest.mark.e2e
@pytest.mark.skipif(CREMA_D is None, reason=SKIP_REASON)
def test_cremad_crowd_votes_through_the_gate(space, capsys):
    """The three crowd modalities are gated on CREMA-D by race/ethnicity; the model evaluators are skipped, named."""
    root = _crema_copy(space, datasheet=True)
    cards = space.data.parent / "cards"
    cards.mkdir()
    found: dict[str, dict[str, float]] = {}
    for modality in VOTE_COLUMNS:
        card = _card(cards, modality=modality, file=str(root / "summaryTable.csv"))
        res = _gate(
            "--model",
            str(card),
            *CONTEXTS,
            "--data",
            str(root),
            "--format",
            "cremad",
            "--suite",
            "release_demographics",
        )
        assert res.exit_code in (0, 1, 2), res.output
        run = max(space.settings.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)
        report = json.loads((run / "report.json").read_text())
        ds = report["dataset"]
        assert (ds["format"], ds["fold"], ds["split"], ds["synthetic"]) == ("cremad", None, "all", False)
        n = sum(1 for _ in (root / "SentenceFilenames.csv").open()) - 1
        assert ds["n_samples"] == n and report["candidate"] == f"affectgate-external-crowd_{modality}"
        status = {r["evaluator"]: (r["status"], r["error"]) for r in report["results"]}
        for name in ("accuracy", "abstention", "fairness"):
            assert status[name][0] == "ok", status[name]
        for name in ("robustness", "latency", "int8_drop"):
            assert status[name][0] == "skipped" and NOT_APPLICABLE in status[name][1], status[name]
        war, uar = _metric(report, "war"), _metric(report, "uar")
        assert war["n"] == n
        found[modality] = {"war": war["value"], "uar": uar["value"]}
        # sliced by the actors' real demographics: every race in VideoDemographics.csv is a group
        demo = pd.read_csv(root / "VideoDemographics.csv", dtype=str)
        races = {
            m["group"] for r in report["results"] for m in r["measurements"] if (m["group"] or "").startswith("race=")
        }
        assert races == {f"race={r.strip()}" for r in demo["Race"]}
        assert "fairness.accuracy_max_gap.ethnicity" in {
            m["name"] for r in report["results"] for m in r["measurements"]
        }
        # registered with the predictions file and card as artifacts, not an ONNX model
        assert sorted(p.name for p in (run / "candidate").iterdir()) == sorted([card.name, "summaryTable.csv"])
        reg = registry(space.settings)
        version = reg.client.get_model_version(report["candidate"], "1")
        assert version.source.endswith("/candidate") and version.tags["technique"] == "external_predictions"
        decision = json.loads((run / "decision.eu-telehealth.json").read_text())
        core = next(o for o in decision["outcomes"] if o["rule_id"] == "core.evidence.complete")
        assert core["status"] == "pass" and NOT_APPLICABLE in core["message"]  # skipped is named, not a crash
        if decision["verdict"] != "allow":
            assert "not set" in res.output or "unchanged" in res.output
    # The CREMA-D paper's ordering of human recognition rates: voice < face < audio-visual.
    assert found["voice"]["war"] < found["face"]["war"] < found["audio_visual"]["war"]
    with capsys.disabled():
        print(
            "\nCREMA-D crowd through the gate:", {k: {m: round(v, 4) for m, v in d.items()} for k, d in found.items()}
        )
    chain = audit_log(space.settings).verify()
    assert chain.ok, chain.problems


@pytest.mark.e2e
@pytest.mark.skipif(CREMA_D is None, reason=SKIP_REASON)
def test_cremad_without_a_legal_basis_fails_closed(space):
    """CREMA-D's demographics are special-category data: without a datasheet's legal basis the gate exits 3."""
    root = _crema_copy(space, datasheet=False)
    card = _card(space.data.parent, modality="face", file=str(root / "summaryTable.csv"))
    res = _gate(
        "--model", str(card), *CONTEXTS, "--data", str(root), "--format", "cremad", "--suite", "release_demographics"
    )
    assert res.exit_code == 3 and "consent/legal basis present" in res.output.replace("\n", " "), res.output
    assert not space.settings.runs_dir.exists() or not any(space.settings.runs_dir.iterdir())
    last = audit_log(space.settings).events()[-1]
    assert last.action == "gate.error" and "data validation failed" in last.payload["error"]


def _tiny_cremad(root: Path) -> Path:
    """Four CREMA-D clips in the official metadata formats (the unit test of test_external_candidates.py)."""
    root.mkdir()
    (root / "SentenceFilenames.csv").write_text(
        '"Stimulus_Number","Filename"\n1,"1001_IEO_NEU_XX"\n2,"1001_IEO_HAP_LO"\n3,"1002_DFA_ANG_XX"\n'
        '4,"1002_DFA_SAD_XX"\n'
    )
    (root / "VideoDemographics.csv").write_text(
        '"ActorID","Age","Sex","Race","Ethnicity"\n1001,51,"Male","Caucasian","Not Hispanic"\n'
        '1002,21,"Female","African American","Not Hispanic"\n'
    )
    (root / "summaryTable.csv").write_text(
        '"","FileName","VoiceVote","VoiceLevel","FaceVote","FaceLevel","MultiModalVote","MultiModalLevel"\n'
        '"1","1001_IEO_NEU_XX","N","69.1","N","92.22","N","64.78"\n'
        '"2","1001_IEO_HAP_LO","N","71.67","H","57","H","57.38"\n'
        '"3","1002_DFA_ANG_XX","A:N","50","A","80","A","90"\n'
        '"4","1002_DFA_SAD_XX","S","60","N:S","50","D","40"\n'
    )
    (root / "datasheet.yaml").write_text("legal_basis: consent (unit-test fixture)\n")
    return root


def test_evaluate_a_predictions_file_on_a_tiny_cremad_fixture(space):
    """`affectgate evaluate` reads a predictions card (detected by its schema) and scores the file, no ONNX needed."""
    root = _tiny_cremad(space.data / "crema-tiny")
    card = _card(space.data.parent, modality="face", file=str(root / "summaryTable.csv"))
    args = ["evaluate", "--candidate", str(card), "--dataset", str(root), "--data-format", "cremad"]
    res = runner.invoke(app, [*args, "--suite", "release_demographics", "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 1, res.output  # 4 clips of 2 actors: fairness cannot be judged (a failed result)
    report = json.loads(res.output[res.output.index("{") :])
    fairness = next(r for r in report["results"] if r["evaluator"] == "fairness")
    assert fairness["status"] == "failed" and "cannot be judged" in fairness["error"]
    assert report["dataset"]["format"] == "cremad" and report["dataset"]["n_samples"] == 4
    assert _metric(report, "war")["value"] == pytest.approx(3 / 4)  # the sad clip's tie N:S is wrong (strict)
    skipped = {r["evaluator"] for r in report["results"] if r["status"] == "skipped"}
    assert {"robustness", "latency", "int8_drop"} <= skipped
    version = registry(space.settings).client.get_model_version("affectgate-external-crowd_face", "1")
    assert version.source.endswith("/candidate") and version.tags["predictions_file"] == "summaryTable.csv"
    # a predictions file naming a clip the dataset lacks is an error before anything is evaluated
    (root / "bad.csv").write_text("FileName,VoiceVote\n9999_XXX_ANG_XX,A\n")
    bad = _card(space.data, modality="voice", file=str(root / "bad.csv"))
    args[2] = str(bad)
    res = runner.invoke(app, [*args, "--suite", "release_demographics"], catch_exceptions=False)
    assert res.exit_code == 3 and "not in the dataset" in res.output.replace("\n", " "), res.output
