"""Validate the whole ``policies/`` folder: packs, contexts and cases, collecting every problem.

Loading stops at the first problem of a file; :func:`lint_policies` goes on to the next file, so one run
lists everything that is wrong. Checks beyond the schemas: every ``thresholds.<key>`` a rule reads is a
default of its pack, every threshold a context overrides is known to some pack, definitions shared by
packs are identical, and every rule has a passing and a failing case (informational rules: a passing one).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from affectgate.core.errors import AffectgateError
from affectgate.core.records import UseContext
from affectgate.policy.cases import case_paths, load_case, run_case
from affectgate.policy.engine import CORE_EVIDENCE_RULE_ID
from affectgate.policy.loader import CONTEXTS_FOLDER, PolicyPack, available_packs, load_context, load_pack, rule_sources
from affectgate.policy.schema import PolicyCase

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


def lint_policies(*, root: Path) -> LintReport:
    """Check every pack, context and case under ``root``; never raises for a problem in a file."""
    problems: list[str] = []
    packs = _lint_packs(root=root, problems=problems)
    known_thresholds = {key for pack in packs for key in pack.defaults}
    contexts = _lint_contexts(root=root, problems=problems, known_thresholds=known_thresholds)
    cases = _lint_cases(
        root=root, problems=problems, known_thresholds=known_thresholds, valid_packs={p.name for p in packs}
    )
    if packs:
        _lint_coverage(packs=packs, cases=cases, problems=problems)
    return LintReport(packs=tuple(packs), contexts=tuple(contexts), n_cases=len(cases), problems=tuple(problems))


def _lint_packs(*, root: Path, problems: list[str]) -> list[PolicyPack]:
    try:
        names = available_packs(root=root)
    except AffectgateError as exc:
        problems.append(str(exc))
        return []
    packs: list[PolicyPack] = []
    owner: dict[str, str] = {}
    for name in names:
        try:
            pack = load_pack(folder=root / name)
        except AffectgateError as exc:
            problems.append(str(exc))
            continue
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
        packs.append(pack)
    shared: dict[str, tuple[str, str]] = {}
    for pack in packs:
        for definition in pack.definitions:
            first = shared.setdefault(definition.name, (pack.name, definition.program.source))
            if _squash(first[1]) != _squash(definition.program.source):
                problems.append(
                    f"definition {definition.name!r} differs between packs {first[0]!r} and {pack.name!r}: "
                    "a shared legal definition must read the same everywhere"
                )
    return packs


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
    *, root: Path, problems: list[str], known_thresholds: set[str], valid_packs: set[str]
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
            ok, message = run_case(case_path=path, policies_root=root)
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
