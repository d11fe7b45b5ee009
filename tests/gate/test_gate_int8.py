"""An int8 variant is its own candidate: separate registry name, its accuracy drop measured against fp32 by the gate."""

from __future__ import annotations

import json
import shutil

import pytest

from affectgate.gate.run import run_gate
from affectgate.gate.workspace import audit_log, registry
from affectgate.zoo.build import quantize_zoo_model
from affectgate.zoo.files import LOCK_NAME
from affectgate.zoo.runtime import load_candidate


@pytest.fixture(scope="module")
def int8_model(built):
    res = quantize_zoo_model(out=built.model, data=built.data, fold=1, n_calib=16, method="static")
    return res.folder


@pytest.mark.e2e
def test_int8_variant_is_a_separate_candidate_with_measured_drop(built, int8_model):
    cand = load_candidate(path=int8_model)
    assert cand.precision == "int8" and cand.name == "affectgate-mobilenet_v2_frame-int8"
    assert cand.fp32_onnx_path == (built.model / "model.onnx").resolve()
    results = run_gate(settings=built.settings, model=str(int8_model), contexts=["us-ad-testing"], data=str(built.data))
    (res,) = results
    assert res.model == "affectgate-mobilenet_v2_frame-int8"
    tags = registry(built.settings).version_tags(name=res.model, version=res.version)
    assert tags["verdict.us-ad-testing"] == res.verdict
    events = [e for e in audit_log(built.settings).events() if e.action == "evaluation.completed"]
    assert events[-1].payload["evaluators"]["int8_drop"] == "ok"
    drop = res.metrics.get("int8.war_drop")
    assert drop is not None and -1.0 <= drop <= 1.0


@pytest.mark.e2e
def test_int8_with_changed_fp32_model_fails_closed(built, int8_model, tmp_path):
    """If the fp32 original changed after quantisation, the drop cannot be measured: evaluator fails, no promotion."""
    fp32 = tmp_path / "fp32"
    q = tmp_path / "fp32_int8"
    shutil.copytree(built.model, fp32)
    shutil.copytree(int8_model, q)
    lock = json.loads((q / LOCK_NAME).read_text())
    lock["fp32_sha256"] = "0" * 64
    (q / LOCK_NAME).write_text(json.dumps(lock))
    (res,) = run_gate(settings=built.settings, model=str(q), contexts=["us-ad-testing"], data=str(built.data))
    assert res.verdict != "allow" and not res.promoted
    assert any("core.evidence.complete" in r and "int8_drop" in r for r in res.reasons), res.reasons
