"""`affectgate policy check | explain | lint`: outcomes with articles, exit codes, models, reports, lint."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import onnx
import pytest
import yaml
from onnx import TensorProto, helper
from typer.testing import CliRunner

from affectgate.cli.policy import EXIT_CODES, EXIT_ERROR, app
from affectgate.core.records import DatasetSpec, EvalReport, EvalResult, Measurement
from affectgate.policy import load_packs

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def _export(folder: Path, *, outputs: tuple[str, ...], kind: str, quantised: bool = False) -> Path:
    """A tiny export folder: card.yaml + model.onnx whose graph has ``outputs`` (no lock file)."""
    folder.mkdir(parents=True)
    card = yaml.safe_load((ROOT / "model_zoo" / "mobilenet_v2_frame" / "card.yaml").read_text())
    card["output_kinds"] = [kind]
    card["outputs"] = [{"name": outputs[0], "kind": kind, "level": "clip", "activation": "none"}]
    card["labels"] = card["labels"] if kind == "discrete_emotion" else []
    (folder / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    x = helper.make_tensor_value_info("clip", TensorProto.FLOAT, [1, 8, 3, 64, 64])
    nodes = [helper.make_node("ReduceMean", ["clip"], ["pooled"], keepdims=0)]
    initializers = []
    if quantised:
        initializers = [
            helper.make_tensor("scale", TensorProto.FLOAT, [], [0.1]),
            helper.make_tensor("zero", TensorProto.UINT8, [], [0]),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["pooled", "scale", "zero"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"]),
        ]
    source = "dq" if quantised else "pooled"
    nodes += [helper.make_node("Identity", [source], [name]) for name in outputs]
    ys = [helper.make_tensor_value_info(name, TensorProto.FLOAT, []) for name in outputs]
    graph = helper.make_graph(nodes, "tiny", [x], ys, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(folder / "model.onnx"))
    return folder


def _report_json(path: Path, *, sha: str, uar: float = 0.8) -> Path:
    ms = (
        Measurement(name="war", value=0.82, higher_is_better=True, n=40),
        Measurement(name="uar", value=uar, higher_is_better=True, n=40),
    )
    fair = (
        Measurement(
            name="fairness.accuracy_max_gap", value=0.03, higher_is_better=False, n=40, ci_low=0.0, ci_high=0.06
        ),
        Measurement(name="fairness.small_groups", value=0.0, higher_is_better=False, n=40),
    )
    report = EvalReport(
        run_id="run-cli",
        candidate="affectgate-mobilenet_v2_frame",
        onnx_sha256=sha,
        dataset=DatasetSpec(
            name="synth",
            format="dfew",
            root=Path("/data"),
            fold=1,
            split="test",
            digest="x.dir",
            synthetic=True,
            n_samples=40,
        ),
        target="cpu",
        suite="release",
        suite_version="0.2.0",
        results=(
            EvalResult(evaluator="accuracy", status="ok", measurements=ms),
            EvalResult(evaluator="fairness", status="ok", measurements=fair),
        ),
        synthetic_data=True,
        created=datetime(2026, 12, 2, tzinfo=UTC),
        affectgate_version="0.1.0",
    )
    path.write_text(report.model_dump_json(indent=2))
    return path


# -- check -----------------------------------------------------------------------------------------
def test_exit_codes_match_the_gate() -> None:
    """policy check uses the gate's exit codes: 0 allow, 1 block, 2 review, 3 error."""
    from affectgate.gate.results import EXIT_BLOCKED, EXIT_PROMOTED, EXIT_REVIEW
    from affectgate.gate.results import EXIT_ERROR as GATE_ERROR

    assert EXIT_CODES == {"allow": EXIT_PROMOTED, "block": EXIT_BLOCKED, "review": EXIT_REVIEW}
    assert EXIT_ERROR == GATE_ERROR


def test_check_prints_every_rule_with_article_verdict_and_digests() -> None:
    """check prints every rule id with article, severity, effective date and status, the verdict and pack digests."""
    res = _run("check", "--context", "eu-classroom", "--as-of", "2026-12-02")
    assert res.exit_code == 1, res.output
    packs = load_packs(root=POLICIES)
    for rule in (r.spec for p in packs for r in p.rules):
        assert rule.id in res.output, rule.id
    assert "core.evidence.complete" in res.output
    assert "Art. 5(1)(f) AI Act" in res.output and "2025-02-02" in res.output and "block" in res.output
    assert "verdict: block for eu-classroom as of 2026-12-02" in res.output
    assert "PROHIBITED" in res.output
    for pack in packs:
        assert f"pack {pack.name} sha256 {pack.digest}" in res.output


@pytest.mark.parametrize(
    ("context", "as_of", "code"),
    [
        ("eu-telehealth", "2026-12-02", 0),
        ("us-ad-testing", "2026-12-02", 0),
        ("eu-meeting-sentiment", "2026-12-02", 1),
        ("eu-callcentre-customers", "2027-12-02", 2),
    ],
)
def test_check_exit_code_follows_the_verdict(context: str, as_of: str, code: int) -> None:
    """Allowed contexts exit 0, prohibited ones 1, and high-risk customer analytics without evidence after
    2 Dec 2027 exits 2 (review)."""
    res = _run("check", "--context", context, "--as-of", as_of, "--json")
    assert res.exit_code == code, res.output
    decision = json.loads(res.output)
    assert decision["verdict"] == {0: "allow", 1: "block", 2: "review"}[code]
    assert decision["pack_digests"].keys() == {"eu_ai_act", "quality"}


def test_check_unknown_context_exits_3_with_a_suggestion() -> None:
    """An unknown context id exits 3 and suggests the closest."""
    res = _run("check", "--context", "eu-telehealt")
    assert res.exit_code == 3
    assert "did you mean 'eu-telehealth'" in res.output


def test_check_bad_date_exits_3() -> None:
    """A malformed --as-of exits 3 naming the expected format."""
    res = _run("check", "--context", "eu-telehealth", "--as-of", "02/12/2027")
    assert res.exit_code == 3 and "YYYY-MM-DD" in res.output


def test_check_with_a_zoo_arch_reads_its_card() -> None:
    """--model with a zoo arch id reads model_zoo/<arch>/card.yaml (no graph) and judges the outputs against the use."""
    res = _run(
        "check", "--context", "eu-elearning-engagement", "--model", "mobilenet_v2_frame", "--as-of", "2026-12-02"
    )
    assert res.exit_code == 1, res.output
    assert "card only" in res.output and "euaia.model.outputs_match_use" in res.output
    decision = json.loads(
        _run(
            "check",
            "--context",
            "eu-elearning-engagement",
            "--model",
            "mobilenet_v2_frame",
            "--as-of",
            "2026-12-02",
            "--json",
        ).output
    )
    outcome = next(o for o in decision["outcomes"] if o["rule_id"] == "euaia.model.outputs_match_use")
    assert outcome["status"] == "fail" and "discrete_emotion" in outcome["message"]


def test_check_unknown_model_exits_3_with_a_suggestion() -> None:
    """An --model that is neither a folder nor an arch exits 3 suggesting the closest architecture."""
    res = _run("check", "--context", "eu-telehealth", "--model", "mobilenet_v2_frme")
    assert res.exit_code == 3 and "did you mean 'mobilenet_v2_frame'" in res.output


def test_check_reads_onnx_outputs_from_the_graph(tmp_path: Path) -> None:
    """An export whose graph has an output its card does not declare is refused for an engagement-only context."""
    folder = _export(tmp_path / "gaze", outputs=("engagement", "hidden_logits"), kind="engagement")
    res = _run(
        "check", "--context", "eu-elearning-engagement", "--model", str(folder), "--as-of", "2026-12-02", "--json"
    )
    assert res.exit_code == 1, res.output
    outcome = next(o for o in json.loads(res.output)["outcomes"] if o["rule_id"] == "euaia.model.outputs_match_use")
    assert outcome["status"] == "fail" and "hidden_logits" in outcome["message"]
    clean = _export(tmp_path / "gaze_clean", outputs=("engagement",), kind="engagement")
    res = _run("check", "--context", "eu-elearning-engagement", "--model", str(clean), "--as-of", "2026-12-02")
    assert res.exit_code == 0, res.output
    assert "ONNX outputs read from the graph" in res.output


def test_check_with_a_report_judges_quality_and_int8_from_the_graph(tmp_path: Path) -> None:
    """--report feeds the quality rules; a quantised graph makes the int8 rule apply (and error without its drop)."""
    from affectgate.zoo.files import sha256_file

    fp32 = _export(tmp_path / "fp32", outputs=("probabilities",), kind="discrete_emotion")
    report = _report_json(tmp_path / "report.json", sha=sha256_file(fp32 / "model.onnx"))
    res = _run(
        "check",
        "--context",
        "eu-telehealth",
        "--model",
        str(fp32),
        "--report",
        str(report),
        "--as-of",
        "2026-12-02",
        "--json",
    )
    assert res.exit_code == 0, res.output
    by_id = {o["rule_id"]: o for o in json.loads(res.output)["outcomes"]}
    assert (
        by_id["quality.uar_floor"]["status"] == "pass" and by_id["quality.int8.war_drop"]["status"] == "not_applicable"
    )
    int8 = _export(tmp_path / "int8", outputs=("probabilities",), kind="discrete_emotion", quantised=True)
    report8 = _report_json(tmp_path / "report8.json", sha=sha256_file(int8 / "model.onnx"))
    res = _run(
        "check",
        "--context",
        "eu-telehealth",
        "--model",
        str(int8),
        "--report",
        str(report8),
        "--as-of",
        "2026-12-02",
        "--json",
    )
    assert res.exit_code == 1, res.output  # the int8 rule (block) cannot be judged: it blocks
    by_id = {o["rule_id"]: o for o in json.loads(res.output)["outcomes"]}
    assert (
        by_id["quality.int8.war_drop"]["status"] == "error"
        and "int8.war_drop" in by_id["quality.int8.war_drop"]["message"]
    )


def test_check_refuses_a_report_of_another_model(tmp_path: Path) -> None:
    """A report whose ONNX digest differs from --model's exits 3: the evidence is about another model."""
    folder = _export(tmp_path / "m", outputs=("probabilities",), kind="discrete_emotion")
    report = _report_json(tmp_path / "report.json", sha="f" * 64)
    res = _run("check", "--context", "eu-telehealth", "--model", str(folder), "--report", str(report))
    assert res.exit_code == 3 and "not the model" in res.output
    assert "ffffffffffff" in res.output and "mobilenet_v2_frame" in res.output and "--model" in res.output


def test_check_refuses_a_report_of_another_zoo_arch(tmp_path: Path) -> None:
    """--model ARCH with the report of another architecture exits 3 naming both identities."""
    report = _report_json(tmp_path / "report.json", sha="0" * 64)  # candidate affectgate-mobilenet_v2_frame
    res = _run("check", "--context", "eu-telehealth", "--model", "cnn_gru", "--report", str(report))
    assert res.exit_code == 3, res.output
    assert "affectgate-mobilenet_v2_frame" in res.output and "cnn_gru" in res.output
    res = _run("check", "--context", "eu-telehealth", "--model", "mobilenet_v2_frame", "--report", str(report))
    assert res.exit_code in (0, 1, 2), res.output


def test_explain_context_shows_the_deciding_facts_in_words() -> None:
    """explain --context prints each outcome with the declared facts that decided it, in plain words."""
    res = _run("explain", "--context", "eu-platform-drivers", "--as-of", "2026-12-02")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "observed persons: drivers in the consumer_app sector; relationship to the deployer: platform_worker" in text
    assert "→ workers, candidates or students of the deployer (Art. 5(1)(f))" in text
    assert "euaia.art5_1f.workplace_education [fail, block]" in text
    assert "built-in affectgate" in text and "policies/contexts/eu-platform-drivers.yaml" in text


def test_lint_and_explain_show_where_rules_and_contexts_come_from() -> None:
    """lint lists each pack and context with its origin; explain names the rule's source file."""
    res = _run("lint")
    assert res.exit_code == 0, res.output
    assert "context el-exam-proctoring: built-in affectgate" in res.output
    res = _run("explain", "euaia.art5_1f.relationship")
    assert res.exit_code == 0 and "built-in affectgate" in res.output and "eu_ai_act/pack.yaml" in res.output


def test_check_low_uar_report_blocks(tmp_path: Path) -> None:
    """A report below the UAR floor blocks (exit 1) and the reason names the rule and article."""
    report = _report_json(tmp_path / "report.json", sha="0" * 64, uar=0.55)
    res = _run("check", "--context", "eu-telehealth", "--report", str(report), "--as-of", "2026-12-02")
    assert res.exit_code == 1, res.output
    assert "quality.uar_floor (Art. 15(1)" in res.output and "SYNTHETIC" in res.output


def test_policy_is_wired_into_the_root_cli() -> None:
    """`affectgate policy lint` runs through the root app."""
    from affectgate.cli import app as root_app

    res = runner.invoke(root_app, ["policy", "lint"])
    assert res.exit_code == 0, res.output
    assert "OK" in res.output


# -- explain ---------------------------------------------------------------------------------------
def test_explain_prints_the_rule_definitions_and_cases() -> None:
    """explain prints title, article, severity, penalty tier, effective date, conditions, messages, cases."""
    res = _run("explain", "euaia.art12.logging")
    assert res.exit_code == 0, res.output
    for text in (
        "Automatic logs are kept for at least six months",
        "Art. 12 and Art. 26(6) AI Act",
        "block (a failure blocks the release)",
        "Art. 99(4)",
        "2027-12-02",
        "context.log_retention_days < 183",
        "defs.high_risk",
        "defs.prohibited",
        "eu_ai_act/high_risk_bundle_missing: fail",
        "eu_ai_act/high_risk_bundle_complete: pass",
        "stage high_risk",
    ):
        assert text in res.output, text


def test_explain_lists_thresholds_of_a_quality_rule() -> None:
    """explain shows the default thresholds a quality rule reads."""
    res = _run("explain", "quality.abstention.rejection_rate")
    assert res.exit_code == 0 and "rejection_rate_min=0.05" in res.output and "rejection_rate_max=0.1" in res.output


def test_explain_unknown_rule_suggests() -> None:
    """An unknown rule id exits 1 and suggests the closest ids."""
    res = _run("explain", "euaia.art5_1f.workplace")
    assert res.exit_code == 1 and "did you mean 'euaia.art5_1f.workplace_education'" in res.output


# -- lint ------------------------------------------------------------------------------------------
def test_lint_ok_on_shipped_policies() -> None:
    """lint exits 0 on the shipped folder and prints the pack digests."""
    res = _run("lint")
    assert res.exit_code == 0, res.output
    assert "OK: 2 packs" in res.output and "10 contexts" in res.output and "sha256" in res.output


def test_lint_lists_each_problem_and_exits_1(tmp_path: Path) -> None:
    """lint exits 1 and lists a CEL syntax error, an unknown context field and an uncovered rule, one per line."""
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    pack = root / "quality" / "pack.yaml"
    pack.write_text(
        pack.read_text().replace(
            "fails_when: 'metrics[\"war\"] < thresholds.war_min'", "fails_when: 'metrics[\"war\"] <'"
        )
    )
    ctx = root / "contexts" / "eu-telehealth.yaml"
    ctx.write_text(ctx.read_text().replace("monitoring_plan:", "monitoring_plna:"))
    (root / "eu_ai_act" / "cases" / "guideline_personal_training.yaml").unlink()
    res = _run("lint", "--policies", str(root))
    assert res.exit_code == 1, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("  - ")]
    text = "\n".join(lines)
    assert "quality.war_floor" in text and "syntax" in text
    assert "'monitoring_plna'" in text and "did you mean 'monitoring_plan'" in text
    assert "euaia.art5_1f.personal_training has no case expecting fail" in text
    assert len(lines) >= 3
