"""Policy engine: YAML packs with CEL conditions, contexts, the case files, and the pure decide()."""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affectgate.core.errors import PolicyError
from affectgate.core.records import (
    DatasetSpec,
    EvalReport,
    EvalResult,
    InputSpec,
    Measurement,
    ModelCard,
    OutputSpec,
    UseContext,
)
from affectgate.policy import (
    CORE_EVIDENCE_RULE_ID,
    EU_MEMBER_STATES,
    PolicyPack,
    build_facts,
    case_paths,
    decide,
    list_contexts,
    load_case,
    load_context,
    load_pack,
    load_packs,
    run_case,
)
from affectgate.policy.cel import render_value

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
POLICY_SRC = ROOT / "src" / "affectgate" / "policy"
CASES = case_paths(policies_root=POLICIES)
AS_OF = date(2026, 3, 1)


# -- helpers ---------------------------------------------------------------------------------------
def _card(*, output_kinds: tuple[str, ...] = ("discrete_emotion",)) -> ModelCard:
    return ModelCard(
        arch="test_arch",
        technique="2d_cnn_per_frame",
        title="test model",
        labels=("happiness", "sadness"),
        output_kinds=output_kinds,
        input=InputSpec(name="clip", layout="NTCHW", frames=4, size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
        outputs=(OutputSpec(name="probabilities", kind="discrete_emotion", level="clip", activation="softmax"),),
        preprocessing="none",
        intended_use="tests",
        licence="Apache-2.0",
    )


def _m(name: str, value: float | None, *, group: str | None = None, label: str | None = None) -> Measurement:
    return Measurement(name=name, value=value, higher_is_better=True, group=group, label=label, n=10)


def _report(*results: EvalResult, synthetic: bool = False) -> EvalReport:
    return EvalReport(
        run_id="run-1",
        candidate="cand",
        onnx_sha256="0" * 64,
        dataset=DatasetSpec(
            name="synth",
            format="dfew",
            root=Path("/data"),
            fold=1,
            split="test",
            digest="x.dir",
            synthetic=synthetic,
            n_samples=10,
        ),
        target="cpu",
        suite="release",
        suite_version="0.1.0",
        results=results,
        synthetic_data=synthetic,
        created=datetime(2026, 3, 1, tzinfo=UTC),
        affectgate_version="0.1.0",
    )


def _copy_policies(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    return root


def _outcome(decision, rule_id: str):
    return next(o for o in decision.outcomes if o.rule_id == rule_id)


# -- case files ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case_path", CASES, ids=[f"{p.parent.parent.name}/{p.stem}" for p in CASES])
def test_case_file_passes(case_path: Path) -> None:
    """Every case file under policies/*/cases gets the verdict and rule outcomes it expects."""
    ok, message = run_case(case_path=case_path, policies_root=POLICIES)
    assert ok, message


def test_there_are_cases_in_every_pack() -> None:
    """Each default pack folder holds case files."""
    for pack in load_packs(root=POLICIES):
        assert list((POLICIES / pack.name / "cases").glob("*.yaml")), pack.name


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    """Every rule of every pack, and the built-in evidence rule, passes in one case and fails in another."""
    seen: dict[str, set[str]] = defaultdict(set)
    for path in CASES:
        for rule_id, status in load_case(path=path).expect.outcomes.items():
            seen[rule_id].add(status)
    rules = [(CORE_EVIDENCE_RULE_ID, "evaluators failed")]
    rules += [(r.spec.id, r.spec.fails_when) for pack in load_packs(root=POLICIES) for r in pack.rules]
    for rule_id, fails_when in rules:
        needed = {"pass"} if fails_when.strip() == "false" else {"pass", "fail"}  # informational rules never fail
        assert needed <= seen[rule_id], f"{rule_id}: cases expect only {sorted(seen[rule_id])}"


def test_every_rule_cites_an_article_and_an_effective_date() -> None:
    """Every rule cites an article and its effective date is on or after the GDPR's (2018-05-25)."""
    for pack in load_packs(root=POLICIES):
        for rule in pack.rules:
            assert re.search(r"Art\. \d", rule.spec.article), rule.spec.id
            assert rule.spec.effective_from >= date(2018, 5, 25), rule.spec.id


def test_art5_is_effective_from_2_february_2025() -> None:
    """The Art. 5(1)(f) rule is a block rule effective from 2 Feb 2025 with the Art. 99(3) penalty tier."""
    (pack,) = load_packs(root=POLICIES, names=("eu_ai_act",))
    rule = next(r.spec for r in pack.rules if r.spec.id == "euaia.art5_1f.workplace_education")
    assert rule.effective_from == date(2025, 2, 2) and rule.severity == "block"
    assert "Art. 99(3)" in rule.penalty_tier


# -- contexts --------------------------------------------------------------------------------------
def test_all_contexts_load() -> None:
    """The shipped contexts load, each with its file name as id."""
    ids = {c.id for c in list_contexts(root=POLICIES)}
    assert {
        "eu-telehealth",
        "eu-classroom",
        "eu-callcentre-agents",
        "eu-callcentre-customers",
        "eu-elearning-engagement",
        "eu-driver-fatigue",
        "us-ad-testing",
        "eu-meeting-sentiment",
    } <= ids


def test_unknown_field_in_context_names_file_and_field(tmp_path: Path) -> None:
    """A misspelt field in a context YAML is a PolicyError naming the file and field, with a suggestion."""
    root = _copy_policies(tmp_path)
    path = root / "contexts" / "eu-telehealth.yaml"
    path.write_text(path.read_text().replace("sector:", "sectr:"))
    with pytest.raises(PolicyError) as info:
        load_context(root=root, context_id="eu-telehealth")
    assert "eu-telehealth.yaml" in str(info.value) and "'sectr'" in str(info.value)
    assert "did you mean 'sector'" in str(info.value)


def test_unknown_context_id_suggests_the_closest(tmp_path: Path) -> None:
    """An unknown context id is a PolicyError naming it, suggesting the closest id and listing known ones."""
    with pytest.raises(PolicyError) as info:
        load_context(root=POLICIES, context_id="eu-telehealt")
    text = str(info.value)
    assert "'eu-telehealt'" in text and "did you mean 'eu-telehealth'" in text and "eu-classroom" in text


def test_context_id_must_match_its_file_name(tmp_path: Path) -> None:
    """A context whose id differs from its file name is refused."""
    root = _copy_policies(tmp_path)
    (root / "contexts" / "eu-telehealth.yaml").rename(root / "contexts" / "eu-telehealth-copy.yaml")
    with pytest.raises(PolicyError, match="does not match the file name"):
        load_context(root=root, context_id="eu-telehealth-copy")


# -- packs -----------------------------------------------------------------------------------------
def test_unknown_field_in_pack_names_file_rule_and_field(tmp_path: Path) -> None:
    """A misspelt rule field in a pack is a PolicyError naming the file, the rule id and the field."""
    root = _copy_policies(tmp_path)
    path = root / "quality" / "pack.yaml"
    path.write_text(path.read_text().replace("    severity: warn", "    severty: warn"))
    index = [r.spec.id for r in load_pack(folder=POLICIES / "quality").rules].index("quality.synthetic_data.notice")
    with pytest.raises(PolicyError) as info:
        load_pack(folder=root / "quality")
    text = str(info.value)
    assert "pack.yaml" in text and f"rules[{index}].severty" in text and "quality.synthetic_data.notice" in text


def test_cel_syntax_error_is_a_load_error(tmp_path: Path) -> None:
    """A CEL syntax error is a PolicyError at load time naming the file, the rule id and the expression."""
    root = _copy_policies(tmp_path)
    path = root / "quality" / "pack.yaml"
    path.write_text(
        path.read_text().replace(
            "fails_when: 'metrics[\"uar\"] < thresholds.uar_min'", "fails_when: 'metrics[\"uar\"] <'"
        )
    )
    with pytest.raises(PolicyError) as info:
        load_packs(root=root)
    text = str(info.value)
    assert "pack.yaml" in text and "quality.uar_floor" in text and 'metrics["uar"] <' in text and "syntax" in text


def test_cel_syntax_error_in_a_message_placeholder_is_a_load_error(tmp_path: Path) -> None:
    """A broken {{ placeholder }} in a message is caught at load time too."""
    root = _copy_policies(tmp_path)
    path = root / "quality" / "pack.yaml"
    path.write_text(
        path.read_text().replace('message: "Evaluated on SYNTHETIC', 'message: "{{ ) }} Evaluated on SYNTHETIC')
    )
    with pytest.raises(PolicyError, match=r"quality\.synthetic_data\.notice message placeholder"):
        load_pack(folder=root / "quality")


def test_pack_name_must_match_folder(tmp_path: Path) -> None:
    """A pack whose 'pack:' differs from its folder name is refused."""
    root = _copy_policies(tmp_path)
    shutil.copytree(root / "quality", root / "quality2")
    with pytest.raises(PolicyError, match="does not match its folder name"):
        load_pack(folder=root / "quality2")


def test_rule_ids_are_unique_across_packs(tmp_path: Path) -> None:
    """Two packs defining the same rule id cannot be loaded together."""
    root = _copy_policies(tmp_path)
    shutil.copytree(root / "quality", root / "quality2")
    path = root / "quality2" / "pack.yaml"
    path.write_text(path.read_text().replace("pack: quality", "pack: quality2"))
    with pytest.raises(PolicyError, match="defined in both packs"):
        load_packs(root=root, names=("quality", "quality2"))


def test_unknown_pack_suggests_the_closest() -> None:
    """An unknown pack name is a PolicyError suggesting the closest pack."""
    with pytest.raises(PolicyError, match="did you mean 'quality'"):
        load_packs(root=POLICIES, names=("qualty",))


def test_pack_digest_is_sha256_of_the_file_and_changes_with_it(tmp_path: Path) -> None:
    """The pack digest is the file's sha256; editing the file changes it and the decision records it."""
    root = _copy_policies(tmp_path)
    path = root / "quality" / "pack.yaml"
    before = load_pack(folder=root / "quality").digest
    assert before == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_text(path.read_text() + "\n# edited\n")
    after = load_pack(folder=root / "quality").digest
    assert after != before
    packs = load_packs(root=root)
    decision = decide(
        context=load_context(root=root, context_id="eu-telehealth"),
        card=None,
        onnx_outputs=(),
        report=None,
        packs=packs,
        as_of=AS_OF,
    )
    assert decision.pack_digests == {"eu_ai_act": packs[0].digest, "quality": after}


# -- decide() on records ---------------------------------------------------------------------------
def test_missing_metric_is_an_error_outcome_that_keeps_its_severity() -> None:
    """A block rule reading a metric the report lacks is an 'error' that names the missing metric in plain words
    (never the CEL engine's text) and blocks: an errored block rule keeps its severity."""
    report = _report(EvalResult(evaluator="accuracy", status="ok", measurements=(_m("uar", 0.8),)))
    decision = decide(
        context=load_context(root=POLICIES, context_id="eu-telehealth"),
        card=_card(),
        onnx_outputs=("probabilities",),
        report=report,
        packs=load_packs(root=POLICIES),
        as_of=AS_OF,
    )
    outcome = _outcome(decision, "quality.fairness.max_group_gap")
    assert outcome.status == "error"
    assert "quality.fairness.max_group_gap" in outcome.message
    assert "could not be judged because the evaluation report has no metric 'fairness.accuracy_max_gap.ci_low'" in (
        outcome.message.lower()
    )
    for engine_text in ("CELEvalError", "no matching overload", "no such key", "Token("):
        assert engine_text not in outcome.message
    assert decision.verdict == "block"
    assert outcome in decision.reasons


def test_failed_evaluator_fails_core_evidence_rule_and_blocks() -> None:
    """A failed evaluator makes core.evidence.complete fail with its error, and the verdict is block."""
    report = _report(
        EvalResult(evaluator="accuracy", status="ok", measurements=(_m("uar", 0.8),)),
        EvalResult(evaluator="fairness", status="failed", error="ValueError: no attribute has two groups"),
    )
    decision = decide(
        context=load_context(root=POLICIES, context_id="eu-telehealth"),
        card=_card(),
        onnx_outputs=("probabilities",),
        report=report,
        packs=load_packs(root=POLICIES),
        as_of=AS_OF,
    )
    core = decision.outcomes[0]
    assert core.rule_id == CORE_EVIDENCE_RULE_ID and core.pack == "core" and core.severity == "block"
    assert core.status == "fail" and "fairness" in core.message and "no attribute has two groups" in core.message
    assert decision.verdict == "block"


def test_every_rule_yields_an_outcome_in_order() -> None:
    """The decision lists the core rule first, then every rule of every pack in file order."""
    packs = load_packs(root=POLICIES)
    decision = decide(
        context=load_context(root=POLICIES, context_id="us-ad-testing"),
        card=_card(),
        onnx_outputs=(),
        report=None,
        packs=packs,
        as_of=AS_OF,
    )
    expected = [CORE_EVIDENCE_RULE_ID] + [r.spec.id for p in packs for r in p.rules]
    assert [o.rule_id for o in decision.outcomes] == expected
    assert decision.context_id == "us-ad-testing" and decision.as_of == AS_OF


def test_classroom_is_blocked_with_article_and_evidence() -> None:
    """The classroom is blocked by Art. 5(1)(f); the outcome records the sector and purpose it read."""
    decision = decide(
        context=load_context(root=POLICIES, context_id="eu-classroom"),
        card=_card(),
        onnx_outputs=("probabilities",),
        report=None,
        packs=load_packs(root=POLICIES),
        as_of=AS_OF,
    )
    outcome = _outcome(decision, "euaia.art5_1f.workplace_education")
    assert decision.verdict == "block" and outcome.status == "fail"
    assert outcome.article == "Art. 5(1)(f) AI Act" and "students" in outcome.message
    assert outcome.evidence["context.sector"] == "education" and outcome.evidence["context.purpose"] == "other"


def test_build_facts_layout() -> None:
    """build_facts keys metrics as name, name[group], name[label=L]; maps evaluators; merges thresholds."""
    report = _report(
        EvalResult(
            evaluator="accuracy",
            status="ok",
            measurements=(_m("uar", 0.71), _m("recall", 0.5, label="anger"), _m("undefined", None)),
        ),
        EvalResult(evaluator="fairness", status="ok", measurements=(_m("accuracy", 0.6, group="sex=female"),)),
        EvalResult(evaluator="drift", status="skipped", error="no reference window"),
        synthetic=True,
    )
    context = load_context(root=POLICIES, context_id="eu-telehealth").model_copy(
        update={"thresholds": {"uar_min": 0.6}}
    )
    facts = build_facts(
        context=context,
        card=_card(output_kinds=("discrete_emotion", "engagement")),
        onnx_outputs=("probabilities",),
        report=report,
        thresholds={"uar_min": 0.7, "max_group_gap": 0.1},
        as_of=AS_OF,
    )
    variables = facts.variables()
    assert variables["metrics"] == {"uar": 0.71, "recall[label=anger]": 0.5, "accuracy[sex=female]": 0.6}
    assert variables["evaluators"] == {"accuracy": "ok", "fairness": "ok", "drift": "skipped"}
    assert variables["thresholds"] == {"uar_min": 0.6, "max_group_gap": 0.1}
    assert variables["model"] == {
        "arch": "test_arch",
        "output_kinds": ["discrete_emotion", "engagement"],
        "onnx_outputs": ["probabilities"],
        "undeclared_outputs": [],
        "emits_emotion": True,
        "precision": "fp32",
    }
    assert variables["baseline"] is None
    ctx = variables["context"]
    assert isinstance(ctx, dict) and ctx["regions"] == ["DE"] and ctx["oversight_plan"] == "OVS-TELEHEALTH-v2"
    assert variables["as_of"] == "2026-03-01" and variables["synthetic_data"] is True
    assert variables["eu_member_states"] == list(EU_MEMBER_STATES) and len(EU_MEMBER_STATES) == 27
    empty = build_facts(context=None, card=None, onnx_outputs=(), report=None, thresholds={}, as_of=AS_OF)
    assert empty.variables()["metrics"] == {} and empty.variables()["evaluators"] == {}
    assert empty.variables()["model"] is None and empty.variables()["context"] is None


def test_rendering_error_becomes_the_rule_error(tmp_path: Path) -> None:
    """A failing rule whose message cannot be rendered is an 'error' outcome, not a crash."""
    root = tmp_path / "policies"
    (root / "demo").mkdir(parents=True)
    (root / "demo" / "pack.yaml").write_text(
        "pack: demo\nversion: '1'\ntitle: demo\nrules:\n"
        "  - id: demo.render\n    title: t\n    article: 'Art. 1 test'\n    severity: warn\n"
        "    effective_from: 2025-01-01\n    fails_when: 'true'\n"
        "    message: 'value {{ metrics[\"absent\"] }}'\n"
    )
    decision = decide(
        context=load_context(root=POLICIES, context_id="eu-telehealth"),
        card=None,
        onnx_outputs=(),
        report=None,
        packs=load_packs(root=root, names=("demo",)),
        as_of=AS_OF,
    )
    outcome = _outcome(decision, "demo.render")
    assert outcome.status == "error" and "demo.render" in outcome.message and "absent" in outcome.message
    assert decision.verdict == "review"  # an error outranks a warn


def test_render_value_formats_floats_and_lists() -> None:
    """Message values: floats to 3 significant digits, lists joined by ', ', booleans and null as in CEL."""
    assert render_value(0.123456) == "0.123" and render_value(0.7) == "0.7" and render_value(1234.5) == "1230"
    assert render_value(["a", "b"]) == "a, b" and render_value(True) == "true" and render_value(None) == "null"


# -- properties ------------------------------------------------------------------------------------
_KINDS = (
    "discrete_emotion", "valence_arousal", "action_units", "engagement", "fatigue", "pain", "stress", "intentions"
)  # fmt: skip
_OBSERVED = ("workers", "candidates", "students", "pupils", "children", "customers", "patients", "drivers", "public")
_SECTORS = (
    "workplace",
    "education",
    "healthcare",
    "safety",
    "market_research",
    "consumer_app",
    "law_enforcement",
    "research",
)


@functools.cache
def _packs() -> tuple[PolicyPack, ...]:
    return load_packs(root=POLICIES)


_MODALITIES = ("face_video", "voice", "physiological", "keystrokes", "posture", "text")


@st.composite
def _contexts(draw: st.DrawFn, *, regions: st.SearchStrategy[tuple[str, ...]]) -> UseContext:
    return UseContext(
        id="ctx",
        title="generated",
        regions=draw(regions),
        sector=draw(st.sampled_from(_SECTORS)),
        purpose=draw(st.sampled_from(("medical", "safety", "other"))),
        observed=tuple(draw(st.sets(st.sampled_from(_OBSERVED), min_size=1))),
        output_kinds_used=tuple(draw(st.sets(st.sampled_from(_KINDS), min_size=1))),
        input_modalities=tuple(draw(st.sets(st.sampled_from(_MODALITIES), min_size=1))),
        mapped_to_emotions=draw(st.booleans()),
        personal_training_only=draw(st.booleans()),
        gdpr_art9_basis=draw(st.sampled_from((None, "explicit_consent"))),
        dpia_id=draw(st.sampled_from((None, "DPIA-1"))),
        oversight_plan=draw(st.sampled_from((None, "OVS-1"))),
        risk_management_plan=draw(st.sampled_from((None, "RMS-1"))),
        monitoring_plan=draw(st.sampled_from((None, "PMM-1"))),
        log_retention_days=draw(st.sampled_from((90, 183, 365))),
        enforce_early=draw(st.booleans()),
    )


_NON_EU = st.lists(st.sampled_from(("US", "GB", "UK", "CH", "JP", "BR")), min_size=1, max_size=3).map(tuple)
_ANY = st.lists(st.sampled_from(("US", "GB", "EU", *EU_MEMBER_STATES)), min_size=1, max_size=3).map(tuple)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    context=_contexts(regions=_NON_EU),
    used_in=_NON_EU,
    as_of=st.dates(date(2024, 1, 1), date(2028, 12, 31)),
)
def test_outside_the_eu_no_eu_rule_applies(context: UseContext, used_in: tuple[str, ...], as_of: date) -> None:
    """For any context used only outside the EU whose output is declared as used outside it too, no EU rule but
    the scope rules applies; without the output's place (Art. 2(1)(c)) it goes to review, never to allow."""
    declared = context.model_copy(update={"output_used_in": used_in})
    decision = decide(context=declared, card=_card(), onnx_outputs=(), report=None, packs=_packs(), as_of=as_of)
    for outcome in decision.outcomes:
        if outcome.pack == "eu_ai_act" and outcome.rule_id not in ("euaia.scope.eu", "euaia.art2_1c.output_use"):
            assert outcome.status in ("not_applicable", "not_yet_effective"), outcome
    assert decision.verdict == "allow"
    undeclared = decide(context=context, card=_card(), onnx_outputs=(), report=None, packs=_packs(), as_of=as_of)
    assert undeclared.verdict == ("review" if as_of >= date(2025, 2, 2) or context.enforce_early else "allow")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    context=_contexts(regions=_ANY),
    emits=st.sampled_from((("discrete_emotion",), ("engagement",), ("fatigue",))),
)
def test_verdict_follows_the_outcomes(context: UseContext, emits: tuple[str, ...]) -> None:
    """For any context no rule errors, and the verdict is the worst failed severity (warn means allow)."""
    decision = decide(
        context=context,
        card=_card(output_kinds=emits),
        onnx_outputs=(),
        report=None,
        packs=_packs(),
        as_of=AS_OF,
    )
    assert not [o for o in decision.outcomes if o.status == "error"]
    failed = {o.severity for o in decision.outcomes if o.status == "fail"}
    expected = "block" if "block" in failed else "review" if "review" in failed else "allow"
    assert decision.verdict == expected
    art5 = _outcome(decision, "euaia.art5_1f.workplace_education")
    if art5.status == "fail":
        assert context.purpose == "other"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(context=_contexts(regions=_ANY))
def test_prohibited_and_high_risk_exclude_each_other(context: UseContext) -> None:
    """After 2 Dec 2027 an EU emotion recognition use is either prohibited (Art. 5(1)(f) fails) or high-risk
    (the Annex III bundle applies), never both; any other use gets no high-risk rule."""
    decision = decide(context=context, card=None, onnx_outputs=(), report=None, packs=_packs(), as_of=date(2028, 1, 1))
    art5 = _outcome(decision, "euaia.art5_1f.workplace_education").status
    bundle = {_outcome(decision, rule_id).status for rule_id in _HIGH_RISK_RULES}
    if art5 == "pass":
        assert bundle <= {"pass", "fail"}, bundle
    else:
        assert bundle == {"not_applicable"}, (art5, bundle)
    assert not [o for o in decision.outcomes if o.status == "error"]


_HIGH_RISK_RULES = (
    "euaia.art9.risk_management",
    "euaia.art10_2.bias_examination",
    "euaia.art12.logging",
    "euaia.art13.declared_accuracy",
    "euaia.art14.human_oversight",
    "euaia.art15.robustness",
    "euaia.art72.post_market_monitoring",
)


# -- evaluation order, stages, definitions ----------------------------------------------------------
_STAGES = ("scope", "classification", "prohibition", "high_risk", "transparency", "gdpr")


def test_eu_rules_are_evaluated_scope_classification_prohibition_high_risk_transparency_gdpr() -> None:
    """The decision's EU outcomes come in the issue's order: scope, classification, prohibition, high-risk,
    transparency, GDPR, and every stage has at least one rule."""
    (pack,) = load_packs(root=POLICIES, names=("eu_ai_act",))
    assert pack.spec.stages == _STAGES
    stage_of = {r.spec.id: r.spec.stage for r in pack.rules}
    decision = decide(
        context=load_context(root=POLICIES, context_id="eu-callcentre-customers"),
        card=_card(),
        onnx_outputs=("probabilities",),
        report=None,
        packs=(pack,),
        as_of=date(2027, 12, 2),
    )
    stages = [stage_of[o.rule_id] for o in decision.outcomes if o.pack == "eu_ai_act"]
    assert [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]] == list(_STAGES)
    assert stages[0] == "scope" and decision.outcomes[-1].rule_id == "gdpr.art9_2.closed_list"


def test_rule_out_of_stage_order_is_a_load_error(tmp_path: Path) -> None:
    """Moving the GDPR rule before the scope rule is refused at load time, naming the rule and the order."""
    import yaml

    root = _copy_policies(tmp_path)
    path = root / "eu_ai_act" / "pack.yaml"
    data = yaml.safe_load(path.read_text())
    data["rules"] = data["rules"][-1:] + data["rules"][:-1]  # the last GDPR rule first
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(PolicyError) as info:
        load_pack(folder=root / "eu_ai_act")
    assert "euaia.scope.eu" in str(info.value) and "scope -> classification" in str(info.value)


def test_unknown_stage_is_a_load_error_with_a_suggestion(tmp_path: Path) -> None:
    """A rule naming a stage the pack does not declare is refused with the closest stage suggested."""
    root = _copy_policies(tmp_path)
    path = root / "eu_ai_act" / "pack.yaml"
    path.write_text(path.read_text().replace("stage: transparency", "stage: transparancy"))
    with pytest.raises(PolicyError, match="did you mean 'transparency'"):
        load_pack(folder=root / "eu_ai_act")


def test_undefined_definition_is_a_load_error(tmp_path: Path) -> None:
    """A rule reading defs.<name> the pack does not define is refused at load time with a suggestion."""
    root = _copy_policies(tmp_path)
    path = root / "eu_ai_act" / "pack.yaml"
    path.write_text(path.read_text().replace('fails_when: "defs.prohibited"', 'fails_when: "defs.prohibitted"'))
    with pytest.raises(PolicyError) as info:
        load_pack(folder=root / "eu_ai_act")
    assert "euaia.art5_1f.workplace_education" in str(info.value) and "did you mean defs.prohibited" in str(info.value)


def test_definition_reading_a_later_definition_is_a_load_error(tmp_path: Path) -> None:
    """Definitions are evaluated top-down, so one may only read the definitions above it."""
    root = tmp_path / "policies"
    (root / "demo").mkdir(parents=True)
    (root / "demo" / "pack.yaml").write_text(
        "pack: demo\nversion: '1'\ntitle: demo\ndefinitions:\n  a: 'defs.b'\n  b: 'true'\nrules:\n"
        "  - id: demo.r\n    title: t\n    article: 'Art. 1 test'\n    severity: warn\n"
        "    effective_from: 2025-01-01\n    fails_when: 'defs.a'\n    message: m\n"
    )
    with pytest.raises(PolicyError, match="definition a reads defs.b, which is not defined above it"):
        load_pack(folder=root / "demo")


def test_definition_that_cannot_be_evaluated_makes_its_rules_error(tmp_path: Path) -> None:
    """A definition that fails to evaluate is left out; each rule reading it errors and names its cause."""
    root = tmp_path / "policies"
    (root / "demo").mkdir(parents=True)
    (root / "demo" / "pack.yaml").write_text(
        "pack: demo\nversion: '1'\ntitle: demo\ndefinitions:\n  gap: 'metrics[\"absent\"] > 0.1'\nrules:\n"
        "  - id: demo.r\n    title: t\n    article: 'Art. 1 test'\n    severity: warn\n"
        "    effective_from: 2025-01-01\n    fails_when: 'defs.gap'\n    message: m\n"
        "  - id: demo.other\n    title: t\n    article: 'Art. 1 test'\n    severity: warn\n"
        "    effective_from: 2025-01-01\n    fails_when: 'false'\n    message: m\n"
    )
    decision = decide(
        context=load_context(root=POLICIES, context_id="eu-telehealth"),
        card=None,
        onnx_outputs=(),
        report=None,
        packs=load_packs(root=root, names=("demo",)),
        as_of=AS_OF,
    )
    outcome = _outcome(decision, "demo.r")
    assert outcome.status == "error" and "(needed by definition gap)" in outcome.message
    assert "'absent'" in outcome.message and decision.verdict == "review"  # a warn rule's error: review
    assert _outcome(decision, "demo.other").status == "pass"


def test_shared_definitions_are_identical_across_packs() -> None:
    """The classification definitions the quality pack repeats read exactly as in the eu_ai_act pack."""
    eu, quality = load_packs(root=POLICIES)
    eu_defs = {d.name: " ".join(d.program.source.split()) for d in eu.definitions}
    shared = [d for d in quality.definitions if d.name in eu_defs]
    assert {d.name for d in shared} >= {"in_eu", "emotion_recognition", "prohibited", "high_risk"}
    for definition in shared:
        assert " ".join(definition.program.source.split()) == eu_defs[definition.name], definition.name


# -- high-risk bundle and shipped contexts -----------------------------------------------------------
def test_high_risk_rules_apply_from_2_december_2027_with_article_and_penalty() -> None:
    """Every Annex III 1(c) rule cites its article, is effective from 2 Dec 2027 and names the Art. 99(4) tier."""
    (pack,) = load_packs(root=POLICIES, names=("eu_ai_act",))
    bundle = [r.spec for r in pack.rules if r.spec.stage == "high_risk"]
    articles = " ".join(r.article for r in bundle)
    for article in ("Art. 9 ", "Art. 10(2)", "Art. 10(5)", "Art. 12 ", "Art. 13(", "Art. 14 ", "Art. 15(", "Art. 72 "):
        assert article in articles, article
    for rule in bundle:
        assert rule.effective_from == date(2027, 12, 2) and "Art. 99(4)" in rule.penalty_tier, rule.id
        assert "defs.high_risk" in rule.applies_when, rule.id


def test_shipped_high_risk_contexts_declare_the_bundle() -> None:
    """Every shipped context that is high-risk passes the declaration rules (Art. 9, 10(5), 12, 14, 72) from 2027."""
    high_risk = []
    for context in list_contexts(root=POLICIES):
        decision = decide(
            context=context, card=None, onnx_outputs=(), report=None, packs=_packs(), as_of=date(2027, 12, 2)
        )
        if _outcome(decision, "euaia.art9.risk_management").status == "not_applicable":
            continue
        high_risk.append(context.id)
        for rule_id in (
            "euaia.art9.risk_management",
            "euaia.art10_5.special_category_safeguards",
            "euaia.art12.logging",
            "euaia.art14.human_oversight",
            "euaia.art72.post_market_monitoring",
            "euaia.art16.role",
            "euaia.art43.conformity_assessment",
            "euaia.art47_48.declaration_and_ce",
            "euaia.art49.registration",
        ):
            assert _outcome(decision, rule_id).status == "pass", (context.id, rule_id)
    assert set(high_risk) == {"eu-telehealth", "eu-callcentre-customers", "el-exam-proctoring"}


def _release_report(*, war: float = 0.97, uar: float = 0.97) -> EvalReport:
    """What the `release` suite (accuracy + fairness) reports for a good model on the tiny synthetic set."""
    return _report(
        EvalResult(evaluator="accuracy", status="ok", measurements=(_m("war", war), _m("uar", uar))),
        EvalResult(
            evaluator="fairness",
            status="ok",
            measurements=(
                Measurement(
                    name="fairness.accuracy_max_gap", value=0.03, higher_is_better=False, n=10, ci_low=0.0, ci_high=0.07
                ),
                Measurement(name="fairness.accuracy_max_gap.skin_tone_group", value=0.03, higher_is_better=False, n=10),
                Measurement(name="fairness.small_groups", value=0.0, higher_is_better=False, n=10),
            ),
        ),
        synthetic=True,
    )


@pytest.mark.parametrize(("context_id", "expected"), [("eu-telehealth", "allow"), ("us-ad-testing", "allow")])
def test_todays_release_suite_still_allows_a_good_model(context_id: str, expected: str) -> None:
    """On 2 Dec 2026 the release suite's evidence (accuracy + fairness) still allows a good model: the new
    latency/abstention/robustness rules wait for their evaluators or for 2 Dec 2027."""
    decision = decide(
        context=load_context(root=POLICIES, context_id=context_id),
        card=_card(),
        onnx_outputs=("probabilities",),
        report=_release_report(),
        packs=_packs(),
        as_of=date(2026, 12, 2),
    )
    assert decision.verdict == expected, [f"{o.rule_id}: {o.message}" for o in decision.reasons]


def test_release_suite_alone_needs_review_once_the_high_risk_rules_apply() -> None:
    """From 2 Dec 2027 the same report sends high-risk telehealth to review: robustness (Art. 15) and the
    required latency/abstention/robustness evaluators are missing."""
    decision = decide(
        context=load_context(root=POLICIES, context_id="eu-telehealth"),
        card=_card(),
        onnx_outputs=("probabilities",),
        report=_release_report(),
        packs=_packs(),
        as_of=date(2027, 12, 2),
    )
    assert decision.verdict == "review"
    required = _outcome(decision, "quality.evidence.required_evaluators")
    assert required.status == "fail" and "latency, robustness, abstention" in required.message
    assert {o.rule_id for o in decision.reasons if o.severity != "warn"} == {
        "euaia.art15.robustness",
        "quality.evidence.required_evaluators",
    }


def test_new_context_fields_are_optional_and_described() -> None:
    """The fields added for the high-risk bundle and the guideline examples default to None/False, with descriptions."""
    fields = UseContext.model_fields
    for name in ("risk_management_plan", "special_category_safeguards", "monitoring_plan"):
        assert fields[name].default is None and fields[name].description, name
    for name in ("personal_training_only", "require_annotator_agreement"):
        assert fields[name].default is False and fields[name].description, name
    assert fields["input_modalities"].default == ("face_video",)


# -- quality facts ---------------------------------------------------------------------------------
def test_latency_is_read_on_the_context_target() -> None:
    """The latency rule reads latency.p95_ms[target=<context target>] from the report's grouped measurement."""
    latency = EvalResult(
        evaluator="latency",
        status="ok",
        measurements=(
            Measurement(name="latency.p95_ms", value=180.0, higher_is_better=False, n=50, group="target=cpu"),
            Measurement(name="latency.p95_ms", value=12.0, higher_is_better=False, n=50, group="target=gpu"),
        ),
    )
    report = _report(*_release_report().results, latency)
    context = load_context(root=POLICIES, context_id="eu-telehealth")
    decisions = {
        target: decide(
            context=context.model_copy(update={"target": target}),
            card=_card(),
            onnx_outputs=("probabilities",),
            report=report,
            packs=_packs(),
            as_of=AS_OF,
        )
        for target in ("cpu", "gpu", "jetson")
    }
    assert _outcome(decisions["cpu"], "quality.latency.p95").status == "fail"
    assert "180 ms" in _outcome(decisions["cpu"], "quality.latency.p95").message
    assert _outcome(decisions["gpu"], "quality.latency.p95").status == "pass"
    jetson = _outcome(decisions["jetson"], "quality.latency.p95")
    assert jetson.status == "error" and "latency.p95_ms[target=jetson]" in jetson.message


def test_gate_metrics_and_baseline_feed_the_release_rules() -> None:
    """int8.war_drop and regression.uar_delta passed as gate metrics, with the alias holder as baseline, are judged."""
    from affectgate.policy.schema import Baseline

    kwargs = dict(
        context=load_context(root=POLICIES, context_id="eu-telehealth"),
        card=_card(),
        onnx_outputs=("probabilities",),
        report=_release_report(),
        packs=_packs(),
        as_of=AS_OF,
    )
    decision = decide(
        **kwargs,
        precision="int8",
        baseline=Baseline(name="affectgate-test_arch", version="4"),
        gate_metrics={"int8.war_drop": 0.004, "regression.uar_delta": -0.05},
    )
    assert _outcome(decision, "quality.int8.war_drop").status == "pass"
    regression = _outcome(decision, "quality.regression.uar")
    assert regression.status == "fail" and "affectgate-test_arch v4" in regression.message
    assert decision.verdict == "block"
    missing = decide(**kwargs, precision="int8", baseline=Baseline(name="affectgate-test_arch", version="4"))
    assert _outcome(missing, "quality.int8.war_drop").status == "error"
    assert _outcome(missing, "quality.regression.uar").status == "error" and missing.verdict == "block"
    plain = decide(**kwargs)
    assert _outcome(plain, "quality.int8.war_drop").status == "not_applicable"
    assert _outcome(plain, "quality.regression.uar").status == "not_applicable"
    with pytest.raises(PolicyError, match="also in the evaluation report"):
        decide(**kwargs, gate_metrics={"uar": 0.5})


def test_model_facts_read_precision_and_undeclared_outputs() -> None:
    """The int8 card (title marked by `zoo quantize`) gives precision int8; graph outputs the card lacks are listed."""
    from affectgate.policy import model_facts

    card = _card()
    facts = model_facts(card=card, onnx_outputs=("probabilities", "hidden"))
    assert facts is not None and facts.precision == "fp32" and facts.undeclared_outputs == ("hidden",)
    int8 = card.model_copy(update={"title": "test model [int8, static quantisation]"})
    assert model_facts(card=int8, onnx_outputs=("probabilities",)).precision == "int8"
    assert model_facts(card=card, onnx_outputs=(), precision="int8").precision == "int8"


# -- lint ------------------------------------------------------------------------------------------
def test_lint_passes_on_the_shipped_policies() -> None:
    """The shipped packs, contexts and cases have no lint problem."""
    from affectgate.policy.lint import lint_policies

    result = lint_policies(root=POLICIES)
    assert result.ok, result.problems
    assert len(result.contexts) >= 8 and result.n_cases == len(CASES) and result.n_rules >= 28


def test_lint_lists_every_problem(tmp_path: Path) -> None:
    """Lint goes on after a problem: a misspelt context threshold, a wrong case and an uncovered rule are all listed."""
    from affectgate.policy.lint import lint_policies

    root = _copy_policies(tmp_path)
    ctx = root / "contexts" / "eu-telehealth.yaml"
    ctx.write_text(ctx.read_text().replace("thresholds: {}", "thresholds: {uar_mni: 0.6}"))
    case = root / "quality" / "cases" / "kappa_below_floor.yaml"
    case.write_text(case.read_text().replace("verdict: block", "verdict: allow"))
    (root / "quality" / "cases" / "kappa_meets_floor.yaml").unlink()
    bad = root / "contexts" / "eu-broken.yaml"
    bad.write_text(
        (root / "contexts" / "us-ad-testing.yaml").read_text().replace("id: us-ad-testing", "id: eu-broken")
        + "colour: red\n"
    )
    problems = "\n".join(lint_policies(root=root).problems)
    assert "'uar_mni'" in problems and "eu-telehealth.yaml" in problems
    assert "kappa_below_floor.yaml" in problems and "expected 'allow'" in problems
    assert "rule quality.kappa_floor has no case expecting pass" in problems
    assert "eu-broken.yaml" in problems and "'colour'" in problems
    assert len(lint_policies(root=root).problems) >= 4


# -- no Python eval ----------------------------------------------------------------------------------
def test_no_python_eval_or_exec_in_the_policy_package() -> None:
    """No affectgate.policy module calls eval, exec, compile, __import__ or celpy's exec-based runner."""
    forbidden = re.compile(r"(?<![\w.])(eval|exec|compile|__import__)\s*\(|CompiledRunner|\bimportlib\b")
    for path in sorted(POLICY_SRC.glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            assert not forbidden.search(line), f"{path.name}:{number}: {line.strip()}"


def test_only_the_cel_module_imports_celpy() -> None:
    """celpy is imported only by affectgate/policy/cel.py (one adapter for the volatile library)."""
    importers = [
        p.relative_to(ROOT).as_posix()
        for p in sorted((ROOT / "src" / "affectgate").rglob("*.py"))
        if re.search(r"^\s*(import celpy|from celpy)", p.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert importers == ["src/affectgate/policy/cel.py"]
