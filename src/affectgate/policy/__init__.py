"""Policy engine: declarative YAML packs with CEL conditions, and a pure ``decide()``.

``load_packs`` / ``load_context`` read a ``policies/`` folder or resolve a project (user files first, then
built-in; a user pack overlays the built-in pack of its name, tightening only); ``decide`` turns a context,
a model card and an evaluation report into a :class:`~affectgate.core.records.PolicyDecision` with every rule's outcome.
"""

from __future__ import annotations

from affectgate.policy.cases import case_paths, decide_case, load_case, run_case
from affectgate.policy.engine import (
    CORE_EVIDENCE_RULE_ID,
    EU_MEMBER_STATES,
    Facts,
    ModelFacts,
    assemble_facts,
    build_facts,
    decide,
    decide_facts,
    model_facts,
    pack_thresholds,
    report_metrics,
    verdict_of,
)
from affectgate.policy.lint import PolicyLintError, check_for_gate, lint_project
from affectgate.policy.loader import (
    DEFAULT_PACKS,
    CompiledRule,
    PolicyPack,
    available_packs,
    file_digest,
    list_contexts,
    load_context,
    load_pack,
    load_packs,
    load_project_pack,
    overlay_pack,
    project_pack_names,
)
from affectgate.policy.schema import PackSpec, PolicyCase, RuleSpec

__all__ = [
    "CORE_EVIDENCE_RULE_ID",
    "DEFAULT_PACKS",
    "EU_MEMBER_STATES",
    "CompiledRule",
    "Facts",
    "ModelFacts",
    "PackSpec",
    "PolicyCase",
    "PolicyLintError",
    "PolicyPack",
    "RuleSpec",
    "assemble_facts",
    "available_packs",
    "build_facts",
    "case_paths",
    "check_for_gate",
    "decide",
    "decide_case",
    "decide_facts",
    "file_digest",
    "list_contexts",
    "load_case",
    "load_context",
    "load_pack",
    "lint_project",
    "load_packs",
    "load_project_pack",
    "model_facts",
    "overlay_pack",
    "pack_thresholds",
    "project_pack_names",
    "report_metrics",
    "run_case",
    "verdict_of",
]
