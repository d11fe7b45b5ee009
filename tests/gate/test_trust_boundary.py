"""The gate's trust boundary, attacked: each attack ends in exit 3 or a block with its cause named, and no alias moves.

Attacks: a run folder's decision file edited from block to review; a sign-off of an audited block; gating
on the model's own training split; frames replaced by others of the same size and mtime behind the clip
cache; a card listing a label twice; a model whose class dimension is symbolic and wider or narrower than
the card; frames of any extension symlinked out of the data root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from _dashboard_fixtures import copy_workspace, dashboard_env, gated_workspace, mlflow_uri_restored
from _latency_helpers import FRAMES, SIZE, tiny_split
from affectgate.cli import app
from affectgate.core.errors import DataError, ModelError
from affectgate.datasets.clips import read_clip, read_clip_cached
from affectgate.datasets.dfew import load_dfew_split
from affectgate.gate.runs import INTEGRITY_RULE, list_runs
from affectgate.gate.workspace import audit_log, registry
from affectgate.oversight.queue import ReviewError, review_items
from affectgate.oversight.signoff import sign_off
from affectgate.project.settings import get_settings
from affectgate.zoo.card import apply_config, write_card, zoo_card
from affectgate.zoo.runtime import load_candidate, open_session

runner = CliRunner()
MODEL = "affectgate-mobilenet_v2_frame"
CONTEXTS = ("eu-telehealth", "us-ad-testing", "eu-classroom")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base(built, tmp_path_factory):
    """The session's gated (demo) workspace; its release run blocked eu-classroom (Art. 5(1)(f))."""
    return gated_workspace(built=built, base=tmp_path_factory.mktemp("dash"))


@pytest.fixture()
def ws(base, tmp_path):
    with mlflow_uri_restored():
        yield copy_workspace(base, tmp_path / "ws")


def _aliases(ws) -> dict[str, str | None]:  # noqa: ANN001
    reg = registry(ws.settings)
    return {c: reg.alias_version(name=MODEL, context_id=c) for c in CONTEXTS}


def _blocked_classroom(ws) -> Path:  # noqa: ANN001
    for run in list_runs(settings=ws.settings):
        for d in run.decisions:
            if d.context_id == "eu-classroom" and d.verdict == "block":
                return run.folder / "decision.eu-classroom.json"
    raise AssertionError("no blocked eu-classroom decision in the gated workspace")


# -- decisions are re-derived from the audit log --------------------------------------------------------
def test_decision_file_edited_to_review_is_a_block_finding_and_cannot_be_signed(ws):
    """A block edited to review in the run folder: no review item, a named finding, sign-off refused, no alias."""
    path = _blocked_classroom(ws)
    before = _aliases(ws)
    data = json.loads(path.read_text())
    data["verdict"] = "review"
    path.write_text(json.dumps(data, indent=2))
    run_id = path.parent.name

    assert all(i.context_id != "eu-classroom" or i.run_id != run_id for i in review_items(settings=ws.settings))
    run = next(r for r in list_runs(settings=ws.settings) if r.folder == path.parent)
    shown = next(d for d in run.decisions if d.context_id == "eu-classroom")
    assert shown.verdict == "block" and shown.outcomes[0].rule_id == INTEGRITY_RULE
    assert any("does not match the audited decision.made" in f for f in run.findings)
    with pytest.raises(ReviewError, match=r"audited verdict .* is 'block'"):
        sign_off(
            settings=ws.settings,
            run_id=run_id,
            context_id="eu-classroom",
            approver="dpo",
            role="compliance-officer",
            decision="approve",
            reason="the file says review",
        )
    with dashboard_env(ws):  # the same through the CLI: exit 3, the cause named
        res = runner.invoke(
            app,
            ["review", "sign", "--run", run_id, "--context", "eu-classroom", "--decision", "approve"]
            + ["--reason", "x", "--user", "dpo", "--password", "dpo-demo"],
        )
        listed = runner.invoke(app, ["review", "list"])
    assert res.exit_code == 3 and "audited verdict" in res.output and "'block'" in res.output, res.output
    assert "eu-classroom" not in listed.output or run_id not in listed.output
    assert _aliases(ws) == before
    assert audit_log(ws.settings).verify().ok


def test_decision_file_without_audit_event_or_with_a_broken_log_is_untrusted(ws):
    """A decision file the gate never audited, and any decision while the chain does not verify, count as block."""
    path = _blocked_classroom(ws)
    forged = path.with_name("decision.us-forged.json")
    forged.write_text(path.read_text().replace('"eu-classroom"', '"us-forged"').replace('"block"', '"allow"'))
    run = next(r for r in list_runs(settings=ws.settings) if r.folder == path.parent)
    assert next(d for d in run.decisions if d.context_id == "us-forged").verdict == "block"
    assert any("no decision.made event" in f for f in run.findings)
    lines = ws.settings.audit_path.read_text().splitlines(keepends=True)
    ws.settings.audit_path.write_text("".join(lines[:3] + lines[4:]))  # one event deleted
    with pytest.raises(ReviewError, match="does not verify"):
        review_items(settings=ws.settings)
    assert all(d.verdict == "block" for r in list_runs(settings=ws.settings) for d in r.decisions)


def test_the_model_trainer_cannot_sign_off(ws):
    """Whoever trained or exported the model (lineage in the audit event) is refused like the submitter."""
    item = review_items(settings=ws.settings)[0]
    assert item.trained_by and item.exported_by  # the lock of the session's model names them
    before = _aliases(ws)
    with pytest.raises(ReviewError, match="trained this model"):
        sign_off(
            settings=ws.settings,
            run_id=item.run_id,
            context_id=item.context_id,
            approver=item.trained_by,
            role="compliance-officer",
            decision="approve",
            reason="my own model",
        )
    assert _aliases(ws) == before


def test_submitter_is_recorded_in_report_registry_and_audit(base):
    """The submitter (here the demo --submitter `engineer`) is in the report, the version's tags and the audit event."""
    item = next(i for i in review_items(settings=base.settings) if i.submitter == "engineer")
    report = json.loads((base.settings.runs_dir / item.run_id / "report.json").read_text())
    assert (report["submitter"], report["submitter_kind"], report["submitter_method"]) == (
        "engineer",
        "human",
        "demo-flag",
    )
    with mlflow_uri_restored():
        tags = registry(base.settings).version_tags(name=MODEL, version=item.version)
    assert f"submitter.{item.context_id}" in tags
    started = next(
        e
        for e in audit_log(base.settings).events()
        if e.action == "evaluation.started" and e.payload["run_id"] == item.run_id
    )
    assert started.actor == "engineer" and started.payload["submitter"]["method"] == "demo-flag"


# -- the gate's own inputs ----------------------------------------------------------------------------
@pytest.fixture()
def fresh(built, tmp_path, monkeypatch):
    """A fresh, non-demo workspace over the session's data (the session's CI identity unless a test drops it)."""
    monkeypatch.setenv("AFFECTGATE_WORKSPACE", str(tmp_path / "fresh"))
    get_settings.cache_clear()
    with mlflow_uri_restored():
        yield get_settings()
    get_settings.cache_clear()


def _gate(model: Path | str, data: Path, *extra: str):
    return runner.invoke(
        app, ["gate", "--plain", "--model", str(model), "--data", str(data), "--context", "eu-telehealth", *extra]
    )


def _promotions(settings) -> list[str]:  # noqa: ANN001
    if not settings.audit_path.is_file():
        return []
    return [e.subject for e in audit_log(settings).events() if e.action in ("promotion", "alias.moved")]


def test_gating_on_the_training_split_is_refused(built, fresh):
    """--split train of the set the model was trained on: exit 3 naming the overlap, nothing evaluated or promoted."""
    res = _gate(built.model, built.data, "--split", "train", "--fold", "1")
    assert res.exit_code == 3, res.output
    assert "evaluation on training data refused" in res.output and "were used to train the model" in res.output
    assert _promotions(fresh) == [] and not fresh.runs_dir.exists()
    lock = json.loads((built.model / "model.lock.json").read_text())
    assert lock["train_samples"] and lock["trained_by"] and lock["exported_by"]


def test_training_fit_report_runs_on_training_data_and_never_promotes(built, fresh):
    """The training_fit suite may read the training split; every decision on it is a block (exit 1), no alias."""
    res = _gate(built.model, built.data, "--split", "train", "--fold", "1", "--suite", "training_fit")
    assert res.exit_code == 1, res.output
    run = next(iter(list_runs(settings=fresh)))
    decision = next(d for d in run.decisions if d.context_id == "eu-telehealth")
    assert decision.verdict == "block" and any(o.rule_id == "gate.training_fit" for o in decision.outcomes)
    assert _promotions(fresh) == []


def test_service_identity_alone_sends_the_release_to_review(built, fresh, monkeypatch):
    """Without a person's token the gate's service identity submits: review with that reason (exit != 0), no alias."""
    for key in ("AFFECTGATE_OIDC_TOKEN", "AFFECTGATE_OIDC_JWKS_FILE"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    res = _gate(built.model, built.data)
    assert res.exit_code in (1, 2), res.output
    run = next(iter(list_runs(settings=get_settings())))
    decision = next(d for d in run.decisions if d.context_id == "eu-telehealth")
    outcome = next(o for o in decision.outcomes if o.rule_id == "gate.submitter_identity")
    assert outcome.status == "fail" and "service identity 'affectgate-gate'" in outcome.message
    assert decision.verdict in ("review", "block") and run.report.submitter_kind == "service"
    assert _promotions(get_settings()) == []
    monkeypatch.setenv("AFFECTGATE_SUBMITTER", "mallory")  # a bare name outside the demo
    get_settings.cache_clear()
    res = _gate(built.model, built.data)
    assert res.exit_code == 3 and "accepted only in the demo workspace" in res.output, res.output


# -- cards checked against the graph at run time --------------------------------------------------------
def _symbolic_model(folder: Path, *, classes: int, labels: list[str] | None = None) -> Path:
    """An ONNX model whose class dim is symbolic ('classes') in the graph and ``classes`` wide at run time."""
    card = apply_config(
        card=zoo_card(project_root=ROOT, arch="mobilenet_v2_frame"), config={"frames": FRAMES, "size": SIZE}
    )
    if labels is not None:
        card = card.model_copy(update={"labels": tuple(labels)})
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((3, classes)).astype(np.float32), "w")
    spatial = numpy_helper.from_array(np.asarray([3, 4], dtype=np.int64), "spatial")
    time_axis = numpy_helper.from_array(np.asarray([1], dtype=np.int64), "time")
    nodes = [
        helper.make_node("ReduceMean", ["clip", "spatial"], ["colour"], keepdims=0),
        helper.make_node("MatMul", ["colour", "w"], ["frame_logits"]),
        helper.make_node("ReduceMean", ["frame_logits", "time"], ["clip_logits"], keepdims=0),
        helper.make_node("Softmax", ["clip_logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "symbolic",
        [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["batch", FRAMES, 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", "classes"]),
            helper.make_tensor_value_info("frame_logits", TensorProto.FLOAT, ["batch", FRAMES, "classes"]),
        ],
        initializer=[weight, spatial, time_axis],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    write_card(card=card, path=folder / "card.yaml")
    return folder


@pytest.mark.parametrize("classes", [9, 5])
def test_symbolic_class_dimension_is_checked_on_the_first_batch(tmp_path, classes):
    """A graph with a symbolic class dim passes the load check; its first batch of the wrong width is a ModelError."""
    cand = load_candidate(path=_symbolic_model(tmp_path / "m", classes=classes))
    session = open_session(candidate=cand, threads=1)
    batch = np.zeros((2, FRAMES, 3, SIZE, SIZE), dtype=np.float32)
    with pytest.raises(ModelError, match=rf"shape \(2, {classes}\) at run time but the card lists 7 labels"):
        session.run(batch=batch)


def test_symbolic_nine_class_model_is_refused_by_the_gate(built, fresh):
    """Through the CLI: a 9-class output behind a 7-label card exits 3 naming the shape; nothing is promoted."""
    folder = _symbolic_model(fresh.data_dir / ".." / "nine", classes=9)
    res = _gate(folder, built.data)
    assert res.exit_code == 3 and "at run time but the card lists 7 labels" in res.output, res.output
    assert _promotions(fresh) == []


def test_card_with_a_duplicate_label_is_refused(tmp_path):
    """`happiness` twice and no `fear`: the card is refused naming the duplicate."""
    labels = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "happiness"]
    with pytest.raises(ModelError, match="lists happiness more than once"):
        load_candidate(path=_symbolic_model(tmp_path / "m", classes=7, labels=labels))


# -- the clip cache is keyed by content --------------------------------------------------------------------
def _png(path: Path, value: int | None, *, seed: int = 0) -> None:
    img = np.full((SIZE, SIZE, 3), value, np.uint8) if value is not None else None
    if img is None:
        img = np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img, [cv2.IMWRITE_PNG_COMPRESSION, 0])  # stored: the same size whatever the pixels


def test_frames_replaced_with_same_size_and_mtime_are_not_served_from_the_cache(tmp_path):
    """Grey frames of the same size and mtime as the originals change the cache key: the new pixels are read."""
    clip, cache = tmp_path / "clip", tmp_path / "cache"
    clip.mkdir()
    for i in range(1, 5):
        _png(clip / f"{i}.png", None, seed=i)
    first = read_clip_cached(frame_dir=clip, frames=4, size=SIZE, cache=cache)
    stats = {p: p.stat() for p in clip.iterdir()}
    for p, st in stats.items():
        _png(p, 128)  # grey, written in place
        assert p.stat().st_size == st.st_size
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime restored
    again = read_clip_cached(frame_dir=clip, frames=4, size=SIZE, cache=cache)
    assert not np.array_equal(again, first)
    assert np.array_equal(again, read_clip(frame_dir=clip, frames=4, size=SIZE))
    assert len(list(cache.glob("*.npy"))) == 2


# -- media paths stay inside the data root -------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".png", ".jpeg", ".PNG", ".webp"])
def test_frame_of_any_extension_symlinked_outside_the_root_is_refused(tmp_path, suffix):
    """A frame symlinked out of the dataset root is refused whatever its extension (not only .jpg)."""
    root = tmp_path / "root"
    tiny_split(root, clips=2)
    secret = tmp_path / f"secret{suffix}"
    secret.write_bytes(b"a private picture outside the data root")
    (root / "Clip" / "clip_224x224" / "00001" / f"00001_9{suffix}").symlink_to(secret)
    with pytest.raises(DataError, match="outside the dataset root"):
        load_dfew_split(root=root, fold=1, split="test")
