"""Region codes, schema hints, user-project overlays (tighten only), the gate's lint, engine errors in words."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from affectgate.core.errors import PolicyError
from affectgate.core.records import UseContext
from affectgate.core.regions import EU_MEMBER_STATES, resolve_region
from affectgate.policy import (
    PolicyLintError,
    check_for_gate,
    decide,
    lint_project,
    load_context,
    load_packs,
)
from affectgate.project.content import builtin_dir, origin_of

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
EU_PACK = yaml.safe_load((POLICIES / "eu_ai_act" / "pack.yaml").read_text())


def _context(**update: object) -> UseContext:
    base = load_context(root=POLICIES, context_id="eu-telehealth")
    return base.model_copy(update=update)


# -- regions ---------------------------------------------------------------------------------------
def test_region_codes_resolve_from_iso_and_the_eus_own_codes() -> None:
    """EL is Greece in the EU, GR too; NO is an EEA EFTA state; GB/UK are outside; 27 member states."""
    assert resolve_region("EL").iso == "GR" and resolve_region("EL").eu
    assert resolve_region("GR").eu and resolve_region("UK").iso == "GB" and not resolve_region("UK").eu
    norway = resolve_region("NO")
    assert norway.eea_efta and not norway.eu and norway.name == "Norway"
    assert len(EU_MEMBER_STATES) == 27 and all(resolve_region(c).eu for c in EU_MEMBER_STATES)


def test_unknown_or_lower_case_region_is_a_policy_error_naming_the_field(tmp_path: Path) -> None:
    """An unknown code never silently switches the Act off: the context is refused, naming regions[i]."""
    root = tmp_path / "policies"
    (root / "contexts").mkdir(parents=True)
    text = (POLICIES / "contexts" / "eu-telehealth.yaml").read_text()
    for code, expected in (("XX", "unknown region code 'XX'"), ("de", "must be upper case: write 'DE'")):
        (root / "contexts" / "eu-telehealth.yaml").write_text(text.replace("regions: [DE]", f"regions: [{code}]"))
        with pytest.raises(PolicyError) as info:
            load_context(root=root, context_id="eu-telehealth")
        assert "field 'regions[0]'" in str(info.value) and expected in str(info.value)


def test_yaml_no_boolean_gets_the_quote_hint(tmp_path: Path) -> None:
    """regions: [NO] reads as false in YAML: the error says to quote it, and no misleading 'too short' clause."""
    root = tmp_path / "policies"
    (root / "contexts").mkdir(parents=True)
    text = (POLICIES / "contexts" / "eu-telehealth.yaml").read_text()
    (root / "contexts" / "eu-telehealth.yaml").write_text(
        text.replace("regions: [DE]", "regions: [NO]").replace("[discrete_emotion]", "[hapiness]")
    )
    with pytest.raises(PolicyError) as info:
        load_context(root=root, context_id="eu-telehealth")
    assert "regions: ['NO']" in info.value.fix and "quote" in info.value.fix
    assert "at least 1 item" not in str(info.value)
    assert "'pain', 'stress' or 'intentions'" in str(info.value)


def test_new_context_facts_default_to_unknown() -> None:
    """Facts the issue added default to None (unknown: the engine asks) or to the unfavourable value."""
    fields = UseContext.model_fields
    for name in (
        "output_used_in",
        "role",
        "relationship",
        "annex_iii_uses",
        "medical_evidence",
        "safety_evidence",
        "exclusion",
        "exclusion_evidence",
        "law_enforcement_authorisation",
        "conformity_assessment",
        "eu_declaration_of_conformity",
        "eu_database_registration",
        "minors_impact_assessment",
    ):
        assert fields[name].default is None and fields[name].description, name
    assert fields["ce_marking"].default is False


# -- new rules: article, date, vectors ----------------------------------------------------------------
_NEW_RULES = (
    "euaia.art2_1c.output_use",
    "euaia.scope.eea",
    "euaia.art2.exclusion",
    "euaia.annex_iii.uses_declared",
    "euaia.art5_1f.exception_evidence",
    "euaia.art5_1f.relationship",
    "euaia.art9_9.minors",
    "euaia.art16.role",
    "euaia.art43.conformity_assessment",
    "euaia.art47_48.declaration_and_ce",
    "euaia.art49.registration",
    "gdpr.art9_2.closed_list",
)


def test_every_new_rule_has_an_article_a_date_and_three_vectors() -> None:
    """Each rule the issue added cites its article, has effective_from, and >= 3 cases (pass, fail and an edge)."""
    from affectgate.policy import case_paths, load_case

    statuses: dict[str, list[str]] = {rule_id: [] for rule_id in _NEW_RULES}
    for path in case_paths(policies_root=POLICIES):
        for rule_id, status in load_case(path=path).expect.outcomes.items():
            if rule_id in statuses:
                statuses[rule_id].append(status)
    by_id = {r["id"]: r for r in EU_PACK["rules"]}
    for rule_id, seen in statuses.items():
        assert "Art. " in by_id[rule_id]["article"] and by_id[rule_id]["effective_from"], rule_id
        assert {"pass", "fail"} <= set(seen) and len(seen) >= 3, (rule_id, seen)


# -- engine errors in plain words; errored block rules block ----------------------------------------
def test_an_or_over_a_missing_metric_reads_as_a_missing_fact() -> None:
    """`a || b` over a missing metric (celpy: 'no matching overload for _||_') is reported as the missing metric."""
    from affectgate.policy.engine import Facts, decide_facts

    packs = load_packs(root=POLICIES, names=("quality",))
    facts = Facts(
        context=_context(),
        model=None,
        metrics={"uar": 0.8, "war": 0.8, "fairness.accuracy_max_gap.ci_low": 0.0},
        evaluators={"accuracy": "ok", "fairness": "ok"},
        evaluator_errors={},
        thresholds={k: v for p in packs for k, v in p.defaults.items()},
        as_of=date(2026, 12, 2),
        synthetic_data=False,
        has_report=True,
    )
    decision = decide_facts(facts=facts, packs=packs)
    outcome = next(o for o in decision.outcomes if o.rule_id == "quality.fairness.gap_inconclusive")
    assert outcome.status == "error" and outcome.message.startswith("Could not be judged because")
    assert "no metric 'fairness.accuracy_max_gap.ci_high'" in outcome.message
    assert "overload" not in outcome.message and "CELEvalError" not in outcome.message
    assert outcome.evidence["missing facts"]


# -- overlays ----------------------------------------------------------------------------------------
def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "policies").mkdir(parents=True)
    (project / "contexts").mkdir()
    (project / "affectgate.toml").write_text("")
    return project


def _overlay(project: Path, pack: str, text: str) -> Path:
    folder = project / "policies" / pack
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pack.yaml"
    path.write_text(text)
    return path


_EXTRA_RULE = """
  - id: acme.notice.signed
    stage: transparency
    title: The exposure notice is signed off by the works council
    article: "Art. 50(3) AI Act; Acme policy 12"
    severity: review
    effective_from: 2025-01-01
    applies_when: "defs.eu_emotion_recognition"
    fails_when: "!context.exposure_notice"
    message: "No signed notice."
"""


def test_user_pack_adds_a_rule_and_tightens_a_threshold(tmp_path: Path) -> None:
    """A user pack of a built-in name overlays it: its new rule joins its stage, a tighter threshold wins,
    the digest covers both files and the rule's origin is the user file."""
    project = _project(tmp_path)
    eu = _overlay(project, "eu_ai_act", "pack: eu_ai_act\nversion: '1'\ntitle: Acme\nrules:" + _EXTRA_RULE)
    _overlay(project, "quality", "pack: quality\nversion: '1'\ntitle: Acme\ndefaults:\n  uar_min: 0.75\n")
    packs = load_packs(project_root=project)
    eu_pack, quality = packs
    ids = [r.spec.id for r in eu_pack.rules]
    assert ids.index("acme.notice.signed") == ids.index("euaia.art50_3.exposure_notice") + 1
    assert quality.defaults["uar_min"] == 0.75
    assert eu_pack.spec.version.endswith("+1") and eu_pack.overlay == eu
    assert eu_pack.digest != load_packs(root=POLICIES, names=("eu_ai_act",))[0].digest
    assert origin_of(path=eu_pack.file_of("acme.notice.signed"), project_root=project) == (
        "user project: policies/eu_ai_act/pack.yaml"
    )
    assert origin_of(path=eu_pack.file_of("euaia.art12.logging"), project_root=project).startswith(
        "built-in affectgate"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"fails_when": "false"}, "fails_when changed"),
        ({"severity": "review"}, "severity lowered from block to review"),
        ({"effective_from": "2030-01-01"}, "effective_from postponed"),
    ],
)
def test_user_pack_cannot_loosen_a_built_in_legal_rule(tmp_path: Path, change: dict, expected: str) -> None:
    """Replacing Art. 5(1)(f) with a looser rule is refused, naming the rule id and the user file; lint lists it."""
    project = _project(tmp_path)
    rule = next(r for r in EU_PACK["rules"] if r["id"] == "euaia.art5_1f.workplace_education")
    loose = {**rule, **change}
    path = _overlay(
        project,
        "eu_ai_act",
        yaml.safe_dump({"pack": "eu_ai_act", "version": "1", "title": "Acme", "rules": [loose]}, sort_keys=False),
    )
    with pytest.raises(PolicyError) as info:
        load_packs(project_root=project)
    text = str(info.value)
    assert "euaia.art5_1f.workplace_education" in text and str(path) in text and expected in text
    assert "built-in legal rule" in text
    assert any("euaia.art5_1f.workplace_education" in p for p in lint_project(project_root=project).problems)


def test_user_pack_cannot_loosen_a_threshold_or_redefine_a_definition(tmp_path: Path) -> None:
    """A looser built-in threshold and a redefined legal definition are refused with the file named."""
    project = _project(tmp_path)
    _overlay(project, "quality", "pack: quality\nversion: '1'\ntitle: Acme\ndefaults:\n  uar_min: 0.5\n")
    _overlay(project, "eu_ai_act", "pack: eu_ai_act\nversion: '1'\ntitle: Acme\ndefinitions:\n  prohibited: 'false'\n")
    problems = "\n".join(lint_project(project_root=project).problems)
    assert "threshold uar_min=0.5 loosens the built-in uar_min=0.7" in problems
    assert "definition 'prohibited' redefines the built-in one" in problems


def test_user_context_wins_and_unknown_ids_list_what_exists(tmp_path: Path) -> None:
    """A user context with a built-in id overrides it (origin: the user file); an unknown id lists both roots' ids."""
    project = _project(tmp_path)
    text = (POLICIES / "contexts" / "eu-telehealth.yaml").read_text().replace("regions: [DE]", "regions: [AT]")
    (project / "contexts" / "eu-telehealth.yaml").write_text(text)
    (project / "contexts" / "acme-kiosk.yaml").write_text(
        (POLICIES / "contexts" / "us-ad-testing.yaml").read_text().replace("id: us-ad-testing", "id: acme-kiosk")
    )
    assert load_context(project_root=project, context_id="eu-telehealth").regions == ("AT",)
    assert load_context(project_root=None, context_id="eu-telehealth").regions == ("DE",)
    with pytest.raises(PolicyError) as info:
        load_context(project_root=project, context_id="acme-kiosq")
    assert "did you mean 'acme-kiosk'" in info.value.fix and "eu-classroom" in info.value.fix


# -- the gate lints what it loads ----------------------------------------------------------------------
def test_gate_check_refuses_a_misspelt_field_in_a_definition(tmp_path: Path) -> None:
    """A misspelt context field inside the `prohibited` definition does not gate: PolicyLintError names it."""
    root = tmp_path / "policies"
    shutil.copytree(builtin_dir("packs"), root)
    for pack in ("eu_ai_act", "quality"):
        path = root / pack / "pack.yaml"
        path.write_text(path.read_text().replace("!context.personal_training_only", "!context.personal_trainig_only"))
    packs = load_packs(root=root)
    with pytest.raises(PolicyLintError) as info:
        check_for_gate(packs=packs, contexts=(load_context(root=POLICIES, context_id="eu-classroom"),))
    assert "context.personal_trainig_only" in str(info.value) and "did you mean context.personal_training_only" in str(
        info.value
    )
    check_for_gate(packs=load_packs(root=POLICIES), contexts=())  # the shipped packs lint


def test_errored_prohibition_blocks_rather_than_reviews(tmp_path: Path) -> None:
    """If the Art. 5(1)(f) rule cannot be judged (a definition errors), the block rule blocks: never review."""
    root = tmp_path / "policies"
    shutil.copytree(builtin_dir("packs"), root)
    path = root / "eu_ai_act" / "pack.yaml"
    path.write_text(path.read_text().replace("&& !context.personal_training_only", '&& !metrics["absent"]'))
    decision = decide(
        context=load_context(root=POLICIES, context_id="eu-classroom"),
        card=None,
        onnx_outputs=(),
        report=None,
        packs=load_packs(root=root, names=("eu_ai_act",)),
        as_of=date(2026, 12, 2),
    )
    art5 = next(o for o in decision.outcomes if o.rule_id == "euaia.art5_1f.workplace_education")
    assert art5.status == "error" and decision.verdict == "block"
    assert "there is no evaluation report yet (metric 'absent') (needed by definition prohibited)" in art5.message
