"""Validate the whole ``policies/`` folder: packs, contexts and cases, collecting every problem.

Loading stops at the first problem of a file; :func:`lint_policies` goes on to the next file, so one run
lists everything that is wrong. Checks beyond the schemas: every ``thresholds.<key>`` a rule reads is a
default of its pack, every threshold a context overrides is known to some pack, definitions shared by
packs are identical, and every rule has a passing and a failing case (informational rules: a passing one).
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from affectgate.core.errors import AffectgateError, PolicyError
from affectgate.core.records import UseContext
from affectgate.policy.cases import case_paths, load_case, run_case
from affectgate.policy.engine import CORE_EVIDENCE_RULE_ID
from affectgate.policy.loader import (
    CONTEXTS_FOLDER,
    PolicyPack,
    available_packs,
    context_path,
    load_context,
    load_pack,
    load_project_pack,
    pack_folders,
    rule_sources,
)
from affectgate.policy.schema import PolicyCase
from affectgate.project import content

_THRESHOLD_REFERENCE = re.compile(r"\bthresholds\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class LintReport:
    """What was checked and every problem found (empty = the folder is valid)."""

    packs: tuple[PolicyPack, ...]
    contexts: tuple[UseContext, ...]
    n_cases: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def n_rules(self) -> int:
        """Number of rules in the valid packs."""
        return sum(len(p.rules) for p in self.packs)


class PolicyLintError(PolicyError):
    """The packs or contexts a gate would decide with do not lint: the gate does not run (exit 3)."""


def lint_policies(*, root: Path) -> LintReport:
    """Check every pack, context and case under ``root``; never raises for a problem in a file."""
    problems: list[str] = []
    packs = _lint_packs(root=root, problems=problems)
    for pack in packs:
        problems.extend(cel_reference_problems(pack=pack))
    known_thresholds = {key for pack in packs for key in pack.defaults}
    contexts = _lint_contexts(root=root, problems=problems, known_thresholds=known_thresholds)
    cases = _lint_cases(
        root=root, problems=problems, known_thresholds=known_thresholds, valid_packs={p.name for p in packs}
    )
    if packs:
        _lint_coverage(packs=packs, cases=cases, problems=problems)
    return LintReport(packs=tuple(packs), contexts=tuple(contexts), n_cases=len(cases), problems=tuple(problems))


def lint_project(*, project_root: Path | None) -> LintReport:
    """Lint what a project decides with: built-in packs overlaid by the user's, user and built-in contexts, cases.

    Built-in cases run against the built-in content (they are its test vectors); the user's cases
    (``policies/<pack>/cases/*.yaml`` in the project) run against the project's resolved content.
    """
    problems: list[str] = []
    packs: list[PolicyPack] = []
    for name in sorted(pack_folders(project_root=project_root)):
        try:
            packs.append(load_project_pack(project_root=project_root, name=name))
        except AffectgateError as exc:
            problems.append(str(exc))
    _check_packs(packs=packs, problems=problems)
    for pack in packs:
        problems.extend(cel_reference_problems(pack=pack))
    known_thresholds = {key for pack in packs for key in pack.defaults}
    contexts: list[UseContext] = []
    for context_id in content.available(project_root=project_root, kind="contexts"):
        try:
            path = context_path(project_root=project_root, context_id=context_id)
            context = load_context(project_root=project_root, context_id=context_id)
        except AffectgateError as exc:
            problems.append(str(exc))
            continue
        problems.extend(_unknown_thresholds(context=context, where=str(path), known=known_thresholds))
        contexts.append(context)
    builtin = content.builtin_dir("packs")
    cases = _lint_cases(
        root=builtin, problems=problems, known_thresholds=known_thresholds, valid_packs={p.name for p in packs}
    )
    user_roots = [r.path for r in content.roots(project_root=project_root, kind="packs") if r.origin == "user"]
    for user_root in user_roots:
        cases += _lint_cases(
            root=user_root,
            problems=problems,
            known_thresholds=known_thresholds,
            valid_packs={p.name for p in packs},
            project_root=project_root,
        )
    if packs:
        _lint_coverage(packs=packs, cases=cases, problems=problems)
    return LintReport(packs=tuple(packs), contexts=tuple(contexts), n_cases=len(cases), problems=tuple(problems))


def check_for_gate(*, packs: tuple[PolicyPack, ...], contexts: tuple[UseContext, ...]) -> None:
    """The static lint of what a gate loaded (thresholds, shared definitions, fields the CEL reads, context keys).

    Raises :class:`PolicyLintError` listing every problem: a pack or context that does not lint does not gate.
    (The test vectors are run by ``affectgate policy lint``, not on every gate run.)
    """
    problems: list[str] = []
    _check_packs(packs=list(packs), problems=problems)
    for pack in packs:
        problems.extend(cel_reference_problems(pack=pack))
    known = {key for pack in packs for key in pack.defaults}
    for context in contexts:
        problems.extend(_unknown_thresholds(context=context, where=f"context {context.id}", known=known))
    if problems:
        raise PolicyLintError(
            f"the policy packs or contexts do not lint ({len(problems)} problem(s)): " + "; ".join(problems),
            fix="run `affectgate policy lint` and correct every problem; nothing was evaluated or promoted",
        )


_CONTEXT_FIELD = re.compile(r"\bcontext\.([A-Za-z_][A-Za-z0-9_]*)")
_MODEL_FIELD = re.compile(r"\bmodel\.([A-Za-z_][A-Za-z0-9_]*)")
_MODEL_FIELDS = frozenset({"arch", "output_kinds", "onnx_outputs", "undeclared_outputs", "emits_emotion", "precision"})


def cel_reference_problems(*, pack: PolicyPack) -> list[str]:
    """Every ``context.<field>`` / ``model.<field>`` a pack's CEL reads must exist (a misspelt field would error
    at decision time on every context)."""
    problems: list[str] = []
    fields = set(UseContext.model_fields)
    sources = [(f"definition {d.name}", d.program.source) for d in pack.definitions]
    sources += [(f"explanation {name}", template.source) for name, template in pack.explanations]
    sources += [(f"rule {r.spec.id}", text) for r in pack.rules for text in rule_sources(rule=r.spec)]
    for where, text in sources:
        for name in _CONTEXT_FIELD.findall(text):
            if name not in fields:
                close = difflib.get_close_matches(name, sorted(fields), n=1)
                problems.append(
                    f"{pack.path}: {where} reads context.{name}, which is not a context field"
                    + (f" (did you mean context.{close[0]}?)" if close else "")
                )
        for name in _MODEL_FIELD.findall(text):
            if name not in _MODEL_FIELDS:
                problems.append(f"{pack.path}: {where} reads model.{name}, which is not a model fact")
    return list(dict.fromkeys(problems))


def _lint_packs(*, root: Path, problems: list[str]) -> list[PolicyPack]:
    try:
        names = available_packs(root=root)
    except AffectgateError as exc:
        problems.append(str(exc))
        return []
    packs: list[PolicyPack] = []
    for name in names:
        try:
            packs.append(load_pack(folder=root / name))
        except AffectgateError as exc:
            problems.append(str(exc))
    _check_packs(packs=packs, problems=problems)
    return packs


def _check_packs(*, packs: list[PolicyPack], problems: list[str]) -> None:
    """Rule ids unique across packs, thresholds a rule reads are its pack's defaults, shared definitions identical."""
    owner: dict[str, str] = {}
    for pack in packs:
        name = pack.name
        for rule in pack.rules:
            if rule.spec.id in owner:
                problems.append(f"rule id {rule.spec.id!r} is defined in packs {owner[rule.spec.id]!r} and {name!r}")
            owner.setdefault(rule.spec.id, name)
            for source in rule_sources(rule=rule.spec):
                for key in _THRESHOLD_REFERENCE.findall(source):
                    if key not in pack.defaults:
                        problems.append(
                            f"{pack.path}: rule {rule.spec.id} reads thresholds.{key}, which is not in the pack's "
                            f"defaults ({', '.join(pack.defaults) or 'none'})"
                        )
    shared: dict[str, tuple[str, str]] = {}
    for pack in packs:
        for definition in pack.definitions:
            first = shared.setdefault(definition.name, (pack.name, definition.program.source))
            if _squash(first[1]) != _squash(definition.program.source):
                problems.append(
                    f"definition {definition.name!r} differs between packs {first[0]!r} and {pack.name!r}: "
                    "a shared legal definition must read the same everywhere"
                )


def _lint_contexts(*, root: Path, problems: list[str], known_thresholds: set[str]) -> list[UseContext]:
    folder = root / CONTEXTS_FOLDER
    if not folder.is_dir():
        problems.append(f"contexts folder {folder} does not exist")
        return []
    contexts: list[UseContext] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            context = load_context(root=root, context_id=path.stem)
        except AffectgateError as exc:
            problems.append(str(exc))
            continue
        problems.extend(_unknown_thresholds(context=context, where=str(path), known=known_thresholds))
        contexts.append(context)
    return contexts


def _lint_cases(
    *,
    root: Path,
    problems: list[str],
    known_thresholds: set[str],
    valid_packs: set[str],
    project_root: Path | None = None,
) -> list[PolicyCase]:
    """Validate every case and run those whose packs all loaded (one line for the cases that could not run)."""
    cases: list[PolicyCase] = []
    not_run: list[str] = []
    for path in case_paths(policies_root=root):
        try:
            case = load_case(path=path)
        except AffectgateError as exc:
            problems.append(str(exc))
            continue
        cases.append(case)
        if not isinstance(case.context, str):
            problems.extend(_unknown_thresholds(context=case.context, where=str(path), known=known_thresholds))
        if not set(case.packs) <= valid_packs:
            not_run.append(path.stem)
            continue
        try:
            if project_root is None:
                ok, message = run_case(case_path=path, policies_root=root)
            else:
                ok, message = run_case(case_path=path, project_root=project_root)
        except AffectgateError as exc:
            problems.append(f"{path}: {exc}")
            continue
        if not ok:
            problems.append(f"{path}: {message}")
    if not_run:
        problems.append(f"{len(not_run)} case(s) not run because a pack they use is invalid (see above)")
    return cases


def _lint_coverage(*, packs: list[PolicyPack], cases: list[PolicyCase], problems: list[str]) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for case in cases:
        for rule_id, status in case.expect.outcomes.items():
            seen[rule_id].add(status)
    rules = [(CORE_EVIDENCE_RULE_ID, "evaluators failed")]
    rules += [(r.spec.id, r.spec.fails_when) for pack in packs for r in pack.rules]
    for rule_id, fails_when in rules:
        needed = {"pass"} if fails_when.strip() == "false" else {"pass", "fail"}
        missing = needed - seen[rule_id]
        if missing:
            problems.append(
                f"rule {rule_id} has no case expecting {' or '.join(sorted(missing))} "
                f"(cases expect: {', '.join(sorted(seen[rule_id])) or 'nothing'}); add one under policies/<pack>/cases/"
            )


def _unknown_thresholds(*, context: UseContext, where: str, known: set[str]) -> list[str]:
    return [
        f"{where}: threshold {key!r} of context {context.id!r} is not a default of any pack "
        f"(known: {', '.join(sorted(known))}); a misspelt key would silently not override"
        for key in context.thresholds
        if key not in known
    ]


def _squash(text: str) -> str:
    return " ".join(text.split())
