"""External candidates: predictions files + user cards, the CREMA-D loader, user-exported ONNX files.

The conformance test at the end runs on the real CREMA-D metadata when ``../shared/conformance/crema-d``
(or ``$AFFECTGATE_CONFORMANCE_DIR/crema-d``) exists and is skipped otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import yaml
from onnx import TensorProto, helper

from affectgate.core.errors import DataError, ModelError
from affectgate.datasets.cremad import CREMAD_VOTE_LETTERS, VOTE_COLUMNS, age_band, crowd_votes, load_cremad
from affectgate.datasets.labels import CANONICAL_EMOTIONS
from affectgate.evaluators.lookup import run_evaluator
from affectgate.zoo.external import TIE, UNMAPPED, load_predictions_file

# --- tiny CREMA-D-format fixture (exact official formats, a few lines) ---------------------------------

FILENAMES = (
    '"Stimulus_Number","Filename"\n1,"1001_IEO_NEU_XX"\n2,"1001_IEO_HAP_LO"\n3,"1002_DFA_ANG_XX"\n4,"1002_DFA_SAD_XX"\n'
)
DEMOGRAPHICS = (
    '"ActorID","Age","Sex","Race","Ethnicity"\n'
    '1001,51,"Male","Caucasian","Not Hispanic"\n'
    '1002,21,"Female","African American","Not Hispanic"\n'
)
SUMMARY = (
    '"","FileName","VoiceVote","VoiceLevel","FaceVote","FaceLevel","MultiModalVote","MultiModalLevel"\n'
    '"1","1001_IEO_NEU_XX","N","69.1","N","92.22","N","64.78"\n'
    '"2","1001_IEO_HAP_LO","N","71.67","H","57","H","57.38"\n'
    '"3","1002_DFA_ANG_XX","A:N","50","A","80","A","90"\n'
    '"4","1002_DFA_SAD_XX","S","60","N:S","50","D","40"\n'
)


@pytest.fixture
def crema(tmp_path: Path) -> Path:
    root = tmp_path / "crema-d"
    root.mkdir()
    (root / "SentenceFilenames.csv").write_text(FILENAMES)
    (root / "VideoDemographics.csv").write_text(DEMOGRAPHICS)
    (root / "summaryTable.csv").write_text(SUMMARY)
    return root


def _card(tmp_path: Path, name: str = "card.yaml", **fields: object) -> Path:
    card = {
        "vendor": "Test vendor",
        "source": "unit test export",
        "kind": "label",
        "columns": {"id": "FileName", "label": "FaceVote"},
        "labels": dict(CREMAD_VOTE_LETTERS),
        "tie_separator": ":",
        "intended_use": "tests only",
        **fields,
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(card))
    return path


def test_cremad_loader_parses_names_demographics_and_votes(crema):
    ds = load_cremad(root=crema)
    assert list(ds.index) == ["1001_IEO_NEU_XX", "1001_IEO_HAP_LO", "1002_DFA_ANG_XX", "1002_DFA_SAD_XX"]
    assert list(ds["target"]) == ["neutral", "happiness", "anger", "sadness"]
    assert list(ds["subject_id"]) == ["1001", "1001", "1002", "1002"]
    assert list(ds["race"]) == ["Caucasian", "Caucasian", "African American", "African American"]
    assert list(ds["age_band"]) == ["45-64", "45-64", "18-29", "18-29"]
    votes = crowd_votes(root=crema)
    assert votes.loc["1002_DFA_ANG_XX", "voice"] == "A:N"  # ties kept as written
    assert votes.loc["1001_IEO_NEU_XX", "face_level"] == pytest.approx(92.22)
    assert age_band(17) == "<18" and age_band(65) == "65+"


def test_cremad_bad_name_and_vote_letter_are_named(crema):
    (crema / "summaryTable.csv").write_text(SUMMARY.replace('"A:N"', '"A:X"'))
    with pytest.raises(DataError, match=r"summaryTable.csv:4.*'X'"):
        crowd_votes(root=crema)
    (crema / "SentenceFilenames.csv").write_text(FILENAMES.replace("1002_DFA_SAD_XX", "1002_DFA_BOR_XX"))
    with pytest.raises(DataError, match=r"SentenceFilenames.csv:5.*'BOR'"):
        load_cremad(root=crema)


def test_label_file_with_tie_strict_and_lenient(crema, tmp_path):
    ds = load_cremad(root=crema)
    strict = load_predictions_file(
        card_path=_card(tmp_path, columns={"id": "FileName", "label": "VoiceVote"}),
        dataset=ds,
        file=crema / "summaryTable.csv",
    )
    frame = strict.predictions
    assert strict.ties == 1 and strict.n_rows == 4 and strict.missing == ()
    assert list(frame["pred"]) == ["neutral", "neutral", TIE, "sadness"]
    assert list(frame["tie"]) == [False, False, True, False]
    assert frame.loc[2, "p_anger"] == pytest.approx(0.5) and frame.loc[2, "p_neutral"] == pytest.approx(0.5)
    probs = frame[[f"p_{lbl}" for lbl in CANONICAL_EMOTIONS]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0)
    for col in ("sample_id", "target", "pred", "confidence", "subject_id", "race", "sex", "age_band"):
        assert col in frame.columns
    acc = run_evaluator(name="accuracy", predictions=frame, params={})
    assert acc.status == "ok", acc.error
    war = next(m for m in acc.measurements if m.name == "war")
    assert war.value == pytest.approx(2 / 4) and war.n == 4  # the tie is counted, and counted wrong
    lenient = load_predictions_file(
        card_path=_card(tmp_path, columns={"id": "FileName", "label": "VoiceVote"}, tie_policy="lenient"),
        dataset=ds,
        file=crema / "summaryTable.csv",
    )
    assert list(lenient.predictions["pred"]) == ["neutral", "neutral", "anger", "sadness"]
    fair = run_evaluator(
        name="fairness",
        predictions=lenient.predictions,
        params={
            "attributes": ["race", "sex"],
            "gated_attributes": ["race"],
            "min_group_size": 1,
            "min_group_subjects": 1,
        },
    )
    assert fair.status == "ok", fair.error


def test_unknown_vendor_label_names_file_line_label_and_fix(crema, tmp_path):
    (tmp_path / "aws.csv").write_text("id,emotion\n1001_IEO_NEU_XX,CALM\n1001_IEO_HAP_LO,HAPPY\n")
    card = _card(tmp_path, columns={"id": "id", "label": "emotion"}, labels={"CALM": "neutral"}, file="aws.csv")
    with pytest.raises(DataError, match=r"aws.csv line 3: label 'HAPPY'.*fix: add `HAPPY:") as err:
        load_predictions_file(card_path=card, dataset=load_cremad(root=crema), allow_missing=True)
    assert "labels:" in err.value.fix


def test_unmapped_vendor_label_is_counted_not_dropped(crema, tmp_path):
    (tmp_path / "aws.csv").write_text("id,emotion\n1001_IEO_NEU_XX,CALM\n1001_IEO_HAP_LO,CONFUSED\n")
    card = _card(
        tmp_path, columns={"id": "id", "label": "emotion"}, labels={"CALM": "neutral", "CONFUSED": None}, file="aws.csv"
    )
    res = load_predictions_file(card_path=card, dataset=load_cremad(root=crema), allow_missing=True)
    assert res.unmapped == 1 and list(res.predictions["pred"]) == ["neutral", UNMAPPED]
    assert res.missing == ("1002_DFA_ANG_XX", "1002_DFA_SAD_XX")


def test_duplicate_id_and_unknown_id_are_errors(crema, tmp_path):
    ds = load_cremad(root=crema)
    (tmp_path / "p.csv").write_text("FileName,FaceVote\n1001_IEO_NEU_XX,N\n1001_IEO_HAP_LO,H\n1001_IEO_NEU_XX,H\n")
    with pytest.raises(DataError, match=r"p.csv line 4: duplicate sample id '1001_IEO_NEU_XX' \(first at p.csv line 2"):
        load_predictions_file(card_path=_card(tmp_path, file="p.csv"), dataset=ds, allow_missing=True)
    (tmp_path / "p.csv").write_text("FileName,FaceVote\n1001_IEO_NEU_XX,N\n9999_XXX_ANG_XX,H\n")
    with pytest.raises(DataError, match=r"line 3: sample id '9999_XXX_ANG_XX' is not in the dataset"):
        load_predictions_file(card_path=_card(tmp_path, file="p.csv"), dataset=ds, allow_missing=True)


def test_missing_samples_are_an_error_unless_allowed(crema, tmp_path):
    ds = load_cremad(root=crema)
    (tmp_path / "p.csv").write_text("FileName,FaceVote\n1001_IEO_NEU_XX,N\n")
    with pytest.raises(DataError, match=r"no prediction for 3 of 4 dataset samples.*1001_IEO_HAP_LO"):
        load_predictions_file(card_path=_card(tmp_path, file="p.csv"), dataset=ds)
    res = load_predictions_file(card_path=_card(tmp_path, file="p.csv"), dataset=ds, allow_missing=True)
    assert len(res.missing) == 3 and len(res.predictions) == 1


def _prob_card(tmp_path: Path, file: str) -> Path:
    return _card(
        tmp_path,
        kind="probabilities",
        file=file,
        columns={"id": "clip", "probabilities": {"ANGRY": "p_angry", "CALM": "p_calm", "SAD": "p_sad"}},
        labels={"ANGRY": "anger", "CALM": "neutral", "SAD": "sadness"},
    )


def test_probability_file_checks_nan_and_sum(crema, tmp_path):
    ds = load_cremad(root=crema).iloc[:2]
    good = pd.DataFrame(
        {
            "clip": ["1001_IEO_NEU_XX", "1001_IEO_HAP_LO"],
            "p_angry": [0.1, 0.7],
            "p_calm": [0.8, 0.2],
            "p_sad": [0.1, 0.1],
        }
    )
    good.to_parquet(tmp_path / "p.parquet", index=False)
    res = load_predictions_file(card_path=_prob_card(tmp_path, "p.parquet"), dataset=ds)
    assert list(res.predictions["pred"]) == ["neutral", "anger"]
    assert res.predictions.loc[0, "p_neutral"] == pytest.approx(0.8) and res.predictions.loc[0, "p_fear"] == 0.0
    assert res.predictions["confidence"].tolist() == pytest.approx([0.8, 0.7])
    (tmp_path / "p.csv").write_text(
        "clip,p_angry,p_calm,p_sad\n1001_IEO_NEU_XX,0.1,,0.1\n1001_IEO_HAP_LO,0.7,0.2,0.1\n"
    )
    with pytest.raises(DataError, match=r"p.csv line 2: probability '' in column p_calm"):
        load_predictions_file(card_path=_prob_card(tmp_path, "p.csv"), dataset=ds)
    (tmp_path / "p.csv").write_text(
        "clip,p_angry,p_calm,p_sad\n1001_IEO_NEU_XX,0.1,0.8,0.1\n1001_IEO_HAP_LO,0.5,0.2,0.1\n"
    )
    with pytest.raises(DataError, match=r"p.csv line 3: probabilities sum to 0.8000"):
        load_predictions_file(card_path=_prob_card(tmp_path, "p.csv"), dataset=ds)


def test_valence_arousal_file(crema, tmp_path):
    ds = load_cremad(root=crema).iloc[:2]
    (tmp_path / "va.csv").write_text("clip,v,a\n1001_IEO_NEU_XX,0.1,-0.2\n1001_IEO_HAP_LO,0.9,0.4\n")
    card = _card(
        tmp_path,
        kind="valence_arousal",
        file="va.csv",
        labels={},
        columns={"id": "clip", "valence": "v", "arousal": "a"},
    )
    res = load_predictions_file(card_path=card, dataset=ds)
    assert res.predictions["valence"].tolist() == pytest.approx([0.1, 0.9])
    (tmp_path / "va.csv").write_text("clip,v,a\n1001_IEO_NEU_XX,0.1,-0.2\n1001_IEO_HAP_LO,9,0.4\n")
    with pytest.raises(DataError, match=r"va.csv line 3: valence '9'"):
        load_predictions_file(card_path=card, dataset=ds)


def test_invalid_card_is_a_model_error(tmp_path):
    card = _card(tmp_path, columns={"id": "FileName"})
    with pytest.raises(ModelError, match=r"card.yaml.*columns.label"):
        load_predictions_file(card_path=card, dataset=pd.DataFrame({"target": []}))
    card = _card(tmp_path, labels={"A": "angry"})
    with pytest.raises(ModelError, match="non-canonical"):
        load_predictions_file(card_path=card, dataset=pd.DataFrame({"target": []}))


# --- an ONNX file exported elsewhere + a user-written model card --------------------------------------


def _foreign_onnx(path: Path, classes: int) -> None:
    """A tiny graph built with onnx.helper (no affectgate export, no lock file): mean-pool -> linear -> softmax."""
    rng = np.random.default_rng(0)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [3, classes], rng.normal(size=3 * classes).astype(np.float32))
    nodes = [
        helper.make_node("ReduceMean", ["clip"], ["pooled"], axes=[1, 3, 4], keepdims=0),
        helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "vendor_model",
        [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["N", 4, 3, 16, 16])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _user_model_card(folder: Path, labels: list[str]) -> None:
    card = {
        "arch": "vendor_model",
        "technique": "external",
        "title": "A model exported by a vendor",
        "labels": labels,
        "output_kinds": ["discrete_emotion"],
        "input": {
            "name": "clip",
            "layout": "NTCHW",
            "frames": 4,
            "size": 16,
            "mean": [0.5, 0.5, 0.5],
            "std": [0.25, 0.25, 0.25],
        },
        "outputs": [{"name": "probabilities", "kind": "discrete_emotion", "level": "clip", "activation": "softmax"}],
        "preprocessing": "uniform frame sampling, resize, scale to [0, 1], normalise",
        "intended_use": "tests only",
        "licence": "vendor licence",
    }
    (folder / "card.yaml").write_text(yaml.safe_dump(card))


def test_user_card_and_foreign_onnx_accepted_and_checked(tmp_path):
    from affectgate.zoo.runtime import load_candidate, open_session

    folder = tmp_path / "vendor"
    folder.mkdir()
    _foreign_onnx(folder / "model.onnx", classes=7)
    _user_model_card(folder, list(CANONICAL_EMOTIONS))
    cand = load_candidate(path=folder, name="vendor-model")
    assert cand.onnx_outputs == ("probabilities",)
    out, _ = open_session(candidate=cand, threads=1).run(batch=np.zeros((2, 4, 3, 16, 16), dtype=np.float32))
    assert out["probabilities"].shape == (2, 7)
    assert np.allclose(out["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    _user_model_card(folder, list(CANONICAL_EMOTIONS[:6]))
    with pytest.raises(ModelError, match=r"has 7 classes but the card lists 6 labels") as err:
        load_candidate(path=folder)
    assert "labels" in err.value.fix


# --- conformance: the CREMA-D crowd as three external candidates (real data) --------------------------


def _conformance_dir() -> Path | None:
    env = os.environ.get("AFFECTGATE_CONFORMANCE_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "conformance"
    return base / "crema-d" if (base / "crema-d" / "summaryTable.csv").is_file() else None


CREMA_D = _conformance_dir()


@pytest.mark.skipif(
    CREMA_D is None,
    reason="real CREMA-D metadata not found (../shared/conformance/crema-d or "
    "$AFFECTGATE_CONFORMANCE_DIR/crema-d); conformance test skipped",
)
def test_cremad_crowd_as_three_candidates(tmp_path):
    assert CREMA_D is not None
    ds = load_cremad(root=CREMA_D)
    votes = crowd_votes(root=CREMA_D)
    n_files = sum(1 for _ in (CREMA_D / "SentenceFilenames.csv").open()) - 1
    assert len(ds) == n_files == len(votes)
    wars: dict[str, float] = {}
    for modality, col in VOTE_COLUMNS.items():
        card = _card(
            tmp_path,
            name=f"{modality}.yaml",
            vendor="CREMA-D crowd",
            source=f"human raters, summaryTable.csv {col}",
            file=str(CREMA_D / "summaryTable.csv"),
            columns={"id": "FileName", "label": col},
        )
        res = load_predictions_file(card_path=card, dataset=ds)
        assert res.n_rows == len(ds) == len(res.predictions) and res.missing == ()
        assert res.ties == int(votes[modality].str.contains(":").sum()) > 0
        acc = run_evaluator(name="accuracy", predictions=res.predictions, params={})
        assert acc.status == "ok", acc.error
        war = next(m for m in acc.measurements if m.name == "war")
        assert war.n == len(ds)
        wars[modality] = float(war.value)
        fair = run_evaluator(
            name="fairness",
            predictions=res.predictions,
            params={"attributes": ["race", "sex"], "gated_attributes": ["race"], "bootstrap_resamples": 100},
        )
        assert fair.status == "ok", fair.error
        gap = next(m for m in fair.measurements if m.name == "fairness.accuracy_max_gap.race")
        assert gap.value is not None and gap.ci_low is not None and gap.ci_low <= gap.value <= gap.ci_high
        groups = {m.group for m in fair.measurements if m.group and m.group.startswith("race=")}
        assert groups == {f"race={r}" for r in ds["race"].unique()}
    # The CREMA-D paper's ordering of human recognition rates: voice < face < audio-visual.
    assert wars["voice"] < wars["face"] < wars["audio_visual"]
