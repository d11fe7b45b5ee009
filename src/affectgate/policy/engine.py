"""The pure policy decision: facts in, :class:`PolicyDecision` out. No I/O here.

:func:`build_facts` turns records (context, model card, report) into :class:`Facts`;
:func:`decide_facts` runs the built-in fail-closed rule and every pack rule against them;
:func:`decide` does both. Test cases build :class:`Facts` from parts with :func:`assemble_facts`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from affectgate.core.errors import PolicyError
from affectgate.core.records import (
    EvalReport,
    ModelCard,
    OutputKind,
    PolicyDecision,
    RuleOutcome,
    Severity,
    UseContext,
    Verdict,
)
from affectgate.core.regions import EU_MEMBER_STATES, region_facts
from affectgate.policy.cel import (
    CelActivation,
    CelEvaluationError,
    CelTemplate,
    Plain,
    make_activation,
    render_value,
    to_plain,
    with_variables,
)
from affectgate.policy.loader import CompiledRule, PolicyPack, definitions_used
from affectgate.policy.schema import CORE_PACK, Baseline, EvaluatorStatus, Precision, RuleStatus

#: Art. 3(39): outputs that are emotions or intentions (Recital 18: pain and fatigue are physical states).
EMOTION_OUTPUT_KINDS: tuple[OutputKind, ...] = ("discrete_emotion", "valence_arousal", "stress", "intentions")

#: The built-in first rule: an evaluator that crashed means the evidence is incomplete.
CORE_EVIDENCE_RULE_ID = "core.evidence.complete"
_CORE_TITLE = "Every evaluator of the suite produced its evidence"
_CORE_ARTICLE = "affectgate fail-closed rule"
_CORE_EFFECTIVE = date(2025, 1, 1)


class FactsModel(BaseModel):
    """Base: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelFacts(FactsModel):
    """What the rules may know about the model."""

    arch: str = Field(description="Architecture id.")
    output_kinds: tuple[OutputKind, ...] = Field(description="Every kind of output the model emits (card).")
    onnx_outputs: tuple[str, ...] = Field(description="Output names read from the ONNX graph.")
    undeclared_outputs: tuple[str, ...] = Field(
        default=(), description="ONNX graph outputs the card does not declare (their meaning is unknown)."
    )
    precision: Precision = Field(default="fp32", description="Numeric precision of the weights.")

    @property
    def emits_emotion(self) -> bool:
        """True if the model declares a discrete_emotion or valence_arousal output."""
        return any(kind in EMOTION_OUTPUT_KINDS for kind in self.output_kinds)


class Facts(FactsModel):
    """Everything a rule can look at; :meth:`variables` is the CEL activation."""

    context: UseContext | None = Field(description="Deployment context; None = not given.")
    model: ModelFacts | None = Field(description="Model facts; None = no model yet.")
    metrics: dict[str, float] = Field(description="Metric key -> value (see build_facts for keys).")
    evaluators: dict[str, EvaluatorStatus] = Field(description="Evaluator name -> status.")
    evaluator_errors: dict[str, str] = Field(description="Evaluator name -> error text (failed/skipped ones).")
    thresholds: dict[str, float] = Field(description="Pack defaults overridden by context.thresholds.")
    as_of: date = Field(description="Date the rules are evaluated for.")
    synthetic_data: bool = Field(description="Whether the evaluation data were synthetic.")
    has_report: bool = Field(description="Whether an evaluation report stands behind metrics/evaluators.")
    baseline: Baseline | None = Field(
        default=None, description="The version holding the context's alias; None = none known."
    )

    def variables(self) -> dict[str, Plain]:
        """The CEL activation: plain values only (tuples -> lists, None -> null)."""
        context: Plain = None
        if self.context is not None:
            context = _plain(self.context.model_dump(mode="json"))
        model: Plain = None
        if self.model is not None:
            model = {
                "arch": self.model.arch,
                "output_kinds": list(self.model.output_kinds),
                "onnx_outputs": list(self.model.onnx_outputs),
                "undeclared_outputs": list(self.model.undeclared_outputs),
                "emits_emotion": self.model.emits_emotion,
                "precision": self.model.precision,
            }
        return {
            "context": context,
            "model": model,
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "evaluators": dict(self.evaluators),
            "evaluator_errors": dict(self.evaluator_errors),
            "thresholds": {k: float(v) for k, v in self.thresholds.items()},
            "eu_member_states": list(EU_MEMBER_STATES),
            "region_info": _regions(None if self.context is None else self.context.regions),
            "output_region_info": _regions(None if self.context is None else self.context.output_used_in),
            "as_of": self.as_of.isoformat(),
            "synthetic_data": self.synthetic_data,
            "has_report": self.has_report,
            "baseline": None if self.baseline is None else self.baseline.model_dump(mode="json"),
        }


def _regions(codes: tuple[str, ...] | None) -> Plain:
    """Declared region codes resolved (ISO name, EU member, EEA EFTA state); None when not declared."""
    if codes is None:
        return None
    try:
        return _plain(region_facts(codes))
    except ValueError as exc:
        raise PolicyError(f"context regions: {exc}", fix="use ISO 3166-1 alpha-2 codes, EU, EEA, or EL/UK") from exc


def pack_thresholds(*, packs: Sequence[PolicyPack]) -> dict[str, float]:
    """Default thresholds of all packs, later packs overriding earlier ones."""
    merged: dict[str, float] = {}
    for pack in packs:
        merged.update(pack.defaults)
    return merged


def card_precision(*, card: ModelCard) -> Precision:
    """``int8`` when the card is that of an int8 variant (``affectgate zoo quantize`` marks the title), else fp32."""
    return "int8" if card.arch.endswith("_int8") or "[int8" in card.title.lower() else "fp32"


def model_facts(
    *, card: ModelCard | None, onnx_outputs: Sequence[str] = (), precision: Precision | None = None
) -> ModelFacts | None:
    """Model facts from a card and the ONNX graph's output names; None without a card.

    ``undeclared_outputs`` are graph outputs the card does not describe (only known when the graph was
    read); ``precision`` defaults to what the card says (:func:`card_precision`).
    """
    if card is None:
        return None
    declared = {o.name for o in card.outputs}
    return ModelFacts(
        arch=card.arch,
        output_kinds=card.output_kinds,
        onnx_outputs=tuple(onnx_outputs),
        undeclared_outputs=tuple(name for name in onnx_outputs if name not in declared),
        precision=precision or card_precision(card=card),
    )


def report_metrics(*, report: EvalReport) -> dict[str, float]:
    """Metric key -> value for every defined measurement of the report.

    Keys: ``name`` (group None, label None), ``name[group]`` (grouped, e.g. ``accuracy[sex=female]``),
    ``name[label=L]`` (per class), ``name[group][label=L]`` (both), and ``<key>.ci_low`` /
    ``<key>.ci_high`` for confidence-interval bounds. The first measurement of a key wins;
    undefined values (None, NaN) are left out, so a rule that needs them errors (fail closed).
    """
    metrics: dict[str, float] = {}
    for result in report.results:
        for m in result.measurements:
            if m.value is None or math.isnan(m.value):
                continue
            key = m.name + (f"[{m.group}]" if m.group is not None else "")
            key += f"[label={m.label}]" if m.label is not None else ""
            metrics.setdefault(key, float(m.value))
            for bound in ("ci_low", "ci_high"):
                value = getattr(m, bound)
                if value is not None and not math.isnan(value):
                    metrics.setdefault(f"{key}.{bound}", float(value))
    return metrics


def assemble_facts(
    *,
    context: UseContext | None,
    model: ModelFacts | None,
    metrics: Mapping[str, float],
    evaluators: Mapping[str, EvaluatorStatus],
    evaluator_errors: Mapping[str, str],
    synthetic_data: bool,
    has_report: bool,
    thresholds: Mapping[str, float],
    as_of: date,
    baseline: Baseline | None = None,
) -> Facts:
    """Facts from parts; ``thresholds`` are the pack defaults, overridden here by ``context.thresholds``."""
    merged = dict(thresholds)
    if context is not None:
        merged.update(context.thresholds)
    return Facts(
        context=context,
        model=model,
        metrics=dict(metrics),
        evaluators=dict(evaluators),
        evaluator_errors=dict(evaluator_errors),
        thresholds=merged,
        as_of=as_of,
        synthetic_data=synthetic_data,
        has_report=has_report,
        baseline=baseline,
    )


def build_facts(
    *,
    context: UseContext | None,
    card: ModelCard | None,
    onnx_outputs: Sequence[str],
    report: EvalReport | None,
    thresholds: Mapping[str, float],
    as_of: date,
    precision: Precision | None = None,
    baseline: Baseline | None = None,
    gate_metrics: Mapping[str, float] | None = None,
) -> Facts:
    """Facts from records; a missing report gives empty metrics and evaluators, ``has_report`` false.

    ``gate_metrics`` are numbers the gate computes outside any evaluator (``int8.war_drop``,
    ``regression.uar_delta``); a key the report already holds is an error (two sources for one number).
    """
    model = model_facts(card=card, onnx_outputs=onnx_outputs, precision=precision)
    metrics = report_metrics(report=report) if report is not None else {}
    for key, value in (gate_metrics or {}).items():
        if key in metrics:
            raise PolicyError(
                f"gate metric {key!r} is also in the evaluation report", fix="compute each metric in one place"
            )
        if not math.isnan(value):
            metrics[key] = float(value)
    return assemble_facts(
        context=context,
        model=model,
        metrics=metrics,
        evaluators={} if report is None else {r.evaluator: r.status for r in report.results},
        evaluator_errors={} if report is None else {r.evaluator: r.error for r in report.results if r.error},
        synthetic_data=False if report is None else report.synthetic_data,
        has_report=report is not None,
        thresholds=thresholds,
        as_of=as_of,
        baseline=baseline,
    )


def decide(
    *,
    context: UseContext,
    card: ModelCard | None,
    onnx_outputs: Sequence[str],
    report: EvalReport | None,
    packs: Sequence[PolicyPack],
    as_of: date,
    precision: Precision | None = None,
    baseline: Baseline | None = None,
    gate_metrics: Mapping[str, float] | None = None,
) -> PolicyDecision:
    """The verdict for one context: every rule of every pack, plus the built-in evidence rule.

    ``baseline`` is the version holding the context's alias (enables the non-regression rule);
    ``gate_metrics`` and ``precision`` are as in :func:`build_facts` and :func:`model_facts`.
    """
    facts = build_facts(
        context=context,
        card=card,
        onnx_outputs=onnx_outputs,
        report=report,
        thresholds=pack_thresholds(packs=packs),
        as_of=as_of,
        precision=precision,
        baseline=baseline,
        gate_metrics=gate_metrics,
    )
    return decide_facts(facts=facts, packs=packs)


def decide_facts(*, facts: Facts, packs: Sequence[PolicyPack]) -> PolicyDecision:
    """The verdict for pre-built facts (which must hold a context)."""
    context = facts.context
    if context is None:
        raise PolicyError("a policy decision needs a deployment context", fix="pass --context ID")
    activation = make_activation(variables=facts.variables())
    outcomes: list[RuleOutcome] = [_core_evidence_outcome(facts=facts, enforce_early=context.enforce_early)]
    for pack in packs:
        pack_activation, definition_errors = definitions_activation(pack=pack, activation=activation)
        for rule in pack.rules:
            outcomes.append(
                _rule_outcome(
                    rule=rule,
                    pack=pack.name,
                    activation=pack_activation,
                    as_of=facts.as_of,
                    enforce_early=context.enforce_early,
                    definition_errors=definition_errors,
                )
            )
    return PolicyDecision(
        context_id=context.id,
        verdict=verdict_of(outcomes=outcomes),
        outcomes=tuple(outcomes),
        pack_digests={pack.name: pack.digest for pack in packs},
        as_of=facts.as_of,
    )


def definitions_activation(
    *, pack: PolicyPack, activation: CelActivation
) -> tuple[CelActivation, dict[str, tuple[str, str]]]:
    """``activation`` plus ``defs``: the definitions evaluated in order, and (source, error) of those that failed.

    A definition that cannot be evaluated is left out of ``defs``, so every rule reading it errors
    (fail closed) and names the definition's own error.
    """
    values: dict[str, Plain] = {}
    errors: dict[str, tuple[str, str]] = {}
    for definition in pack.definitions:
        try:
            values[definition.name] = definition.program.evaluate(
                activation=with_variables(activation=activation, variables={"defs": values})
            )
        except CelEvaluationError as exc:
            errors[definition.name] = (definition.program.source, exc.error)
    return with_variables(activation=activation, variables={"defs": values}), errors


def definition_values(*, facts: Facts, pack: PolicyPack) -> dict[str, Plain]:
    """The values of a pack's definitions for these facts (for explanations; failed ones are left out)."""
    activation, _ = definitions_activation(pack=pack, activation=make_activation(variables=facts.variables()))
    values = activation.variables["defs"]
    return {name: to_plain(value) for name, value in values.items()}


def deciding_facts(*, facts: Facts, pack: PolicyPack) -> dict[str, list[str]]:
    """Rule id -> the declared facts that decided it, in plain words (the pack's ``explanations`` of every
    definition the rule reads, directly or through other definitions), for ``policy explain --context``."""
    activation, errors = definitions_activation(pack=pack, activation=make_activation(variables=facts.variables()))
    rendered: dict[str, str] = {}
    for name, template in pack.explanations:
        try:
            rendered[name] = template.render(activation=activation)
        except CelEvaluationError as exc:
            missing = missing_facts(
                expression=exc.expression, error=exc.error, activation=activation, definition_errors=errors
            )
            rendered[name] = f"{name}: could not be stated because {'; '.join(missing)}"
    result: dict[str, list[str]] = {}
    for rule in pack.rules:
        used = [d.name for d in definitions_used(pack=pack, rule=rule.spec)]
        result[rule.spec.id] = [rendered[name] for name in used if name in rendered]
    return result


def verdict_of(*, outcomes: Sequence[RuleOutcome]) -> Verdict:
    """block if a block rule failed or could not be judged; else review if a review rule failed or any rule
    errored; else allow. An errored rule keeps its severity: a block rule that cannot be judged blocks."""
    if any(o.status in ("fail", "error") and o.severity == "block" for o in outcomes):
        return "block"
    if any((o.status == "fail" and o.severity == "review") or o.status == "error" for o in outcomes):
        return "review"
    return "allow"


def _core_evidence_outcome(*, facts: Facts, enforce_early: bool) -> RuleOutcome:
    status: RuleStatus
    evidence: dict[str, str | float | int | bool | None] = {}
    if facts.as_of < _CORE_EFFECTIVE and not enforce_early:
        status, message = (
            "not_yet_effective",
            _not_yet_effective_message(effective=_CORE_EFFECTIVE, as_of=facts.as_of),
        )
    elif not facts.has_report:
        status, message = "not_applicable", "No evaluation report yet: there is no evidence to check."
    else:
        evidence = {"evaluators": ", ".join(f"{k}={v}" for k, v in facts.evaluators.items())}
        failed = [name for name, status_ in facts.evaluators.items() if status_ == "failed"]
        if failed:
            status = "fail"
            message = "Evidence is incomplete, so the release fails closed; failed evaluators: " + "; ".join(
                f"{name} ({facts.evaluator_errors.get(name) or 'no error message'})" for name in failed
            )
        else:
            status = "pass"
            skipped = [name for name, status_ in facts.evaluators.items() if status_ == "skipped"]
            message = f"None of the {len(facts.evaluators)} evaluators failed." + (
                " Skipped: "
                + "; ".join(f"{name} ({facts.evaluator_errors.get(name) or 'no reason given'})" for name in skipped)
                if skipped
                else ""
            )
    return RuleOutcome(
        rule_id=CORE_EVIDENCE_RULE_ID,
        pack=CORE_PACK,
        title=_CORE_TITLE,
        article=_CORE_ARTICLE,
        status=status,
        severity="block",
        effective_from=_CORE_EFFECTIVE,
        message=message,
        evidence=evidence,
    )


def _not_yet_effective_message(*, effective: date, as_of: date) -> str:
    return (
        f"Not yet effective: applies from {effective.isoformat()} (evaluated as of {as_of.isoformat()}); "
        "set 'enforce_early: true' in the context to apply it now."
    )


def _rule_outcome(
    *,
    rule: CompiledRule,
    pack: str,
    activation: CelActivation,
    as_of: date,
    enforce_early: bool,
    definition_errors: Mapping[str, tuple[str, str]],
) -> RuleOutcome:
    spec = rule.spec

    def outcome(status: RuleStatus, message: str, evidence: dict[str, str | float | int | bool | None]) -> RuleOutcome:
        severity: Severity = spec.severity
        return RuleOutcome(
            rule_id=spec.id,
            pack=pack,
            title=spec.title,
            article=spec.article,
            status=status,
            severity=severity,
            effective_from=spec.effective_from,
            message=message,
            evidence=evidence,
        )

    if as_of < spec.effective_from and not enforce_early:
        return outcome("not_yet_effective", _not_yet_effective_message(effective=spec.effective_from, as_of=as_of), {})
    step = "applies_when"
    try:
        if not rule.applies_when.evaluate_bool(activation=activation):
            evidence = _evidence(rule=rule, activation=activation, strict=False)
            step = "not_applicable_message"
            text = _render(
                template=rule.not_applicable_message,
                activation=activation,
                default=f"Not applicable: `{rule.applies_when.source}` is false.",
            )
            return outcome("not_applicable", text, evidence)
        step = "fails_when"
        failed = rule.fails_when.evaluate_bool(activation=activation)
        step = "evidence"
        evidence = _evidence(rule=rule, activation=activation, strict=True)
        if failed:
            step = "message"
            return outcome("fail", rule.message.render(activation=activation), evidence)
        step = "pass_message"
        return outcome(
            "pass",
            _render(
                template=rule.pass_message,
                activation=activation,
                default=f"Pass: `{rule.fails_when.source}` is false.",
            ),
            evidence,
        )
    except CelEvaluationError as exc:
        missing = missing_facts(
            expression=exc.expression, error=exc.error, activation=activation, definition_errors=definition_errors
        )
        return outcome(
            "error",
            f"Could not be judged because {'; '.join(missing)}. Rule {spec.id} reads these facts in its {step} "
            f"(`{exc.expression}`); {_ERROR_CONSEQUENCE[spec.severity]}",
            {"missing facts": "; ".join(missing)},
        )


_ERROR_CONSEQUENCE: dict[str, str] = {
    "block": "a block rule that cannot be judged blocks the release (fail closed).",
    "review": "a rule that cannot be judged sends the release to review.",
    "warn": "a rule that cannot be judged sends the release to review.",
}
_METRIC_REF = re.compile(r'\bmetrics\["([^"]+)"\]')
_EVALUATOR_REF = re.compile(r'\bevaluators\["([^"]+)"\]')
_THRESHOLD_REF = re.compile(r"\bthresholds\.([A-Za-z_][A-Za-z0-9_]*)")
_CONTEXT_REF = re.compile(r"\bcontext\.([a-z_][a-z0-9_]*)")
_DEF_REF = re.compile(r"\bdefs\.([a-z][a-z0-9_]*)")
_NO_SUCH_KEY = re.compile(r"no such key '([^']+)'")


def missing_facts(
    *,
    expression: str,
    error: str,
    activation: CelActivation,
    definition_errors: Mapping[str, tuple[str, str]],
    depth: int = 0,
) -> list[str]:
    """The facts an expression needed but did not get, in plain words (never the CEL engine's own error text).

    Names every metric, evaluator, threshold and context field the expression reads that is absent (or null),
    a missing model, and the missing facts of the pack definitions it reads that could not be evaluated.
    """
    plain = {name: to_plain(value) for name, value in activation.variables.items() if name != "defs"}
    metrics = plain.get("metrics") if isinstance(plain.get("metrics"), dict) else {}
    evaluators = plain.get("evaluators") if isinstance(plain.get("evaluators"), dict) else {}
    thresholds = plain.get("thresholds") if isinstance(plain.get("thresholds"), dict) else {}
    context = plain.get("context") if isinstance(plain.get("context"), dict) else {}
    found: list[str] = []
    keys = list(_METRIC_REF.findall(expression))
    key_match = _NO_SUCH_KEY.search(error)
    if key_match and key_match.group(1) not in keys and "metrics[" in expression:
        keys.append(key_match.group(1))
    for key in dict.fromkeys(keys):
        if key not in metrics:
            found.append(
                f"the evaluation report has no metric '{key}'"
                if plain.get("has_report")
                else f"there is no evaluation report yet (metric '{key}')"
            )
    for name in dict.fromkeys(_EVALUATOR_REF.findall(expression)):
        if name not in evaluators:
            found.append(f"the suite ran no '{name}' evaluator")
    for name in dict.fromkeys(_THRESHOLD_REF.findall(expression)):
        if name not in thresholds:
            found.append(f"no threshold '{name}' is set (pack defaults or context thresholds)")
    if re.search(r"\bmodel\.", expression) and plain.get("model") is None:
        found.append("no model was given")
    if re.search(r"\bcontext\.", expression) and plain.get("context") is None:
        found.append("no deployment context was given")
    else:
        for name in dict.fromkeys(_CONTEXT_REF.findall(expression)):
            if context.get(name) is None and name in context:
                found.append(f"the context does not declare '{name}'")
    for name in dict.fromkeys(_DEF_REF.findall(expression)):
        if name in definition_errors and depth < 5:
            source, inner_error = definition_errors[name]
            inner = missing_facts(
                expression=source,
                error=inner_error,
                activation=activation,
                definition_errors=definition_errors,
                depth=depth + 1,
            )
            found.extend(f"{fact} (needed by definition {name})" for fact in inner or ["a fact it reads is missing"])
    if not found:
        found.append(f"a fact it reads is missing or has the wrong type ({_plain_error(error)})")
    return list(dict.fromkeys(found))


def _plain_error(error: str) -> str:
    """The CEL error without engine internals (class names, token dumps)."""
    text = re.sub(r"<class '[^']+'>|CELEvalError\S*|Token\([^)]*\)", "", error)
    text = re.sub(r"\s+", " ", text).strip(" ,:;")
    return text[:160] or "evaluation failed"


def _render(*, template: CelTemplate | None, activation: CelActivation, default: str) -> str:
    return default if template is None else template.render(activation=activation)


def _evidence(
    *, rule: CompiledRule, activation: CelActivation, strict: bool
) -> dict[str, str | float | int | bool | None]:
    """Evidence values; ``strict`` re-raises evaluation errors, otherwise unavailable values are left out."""
    evidence: dict[str, str | float | int | bool | None] = {}
    for program in rule.evidence:
        try:
            value = program.evaluate(activation=activation)
        except CelEvaluationError:
            if strict:
                raise
            continue
        evidence[program.source] = _evidence_value(value)
    return evidence


def _evidence_value(value: Plain) -> str | float | int | bool | None:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return render_value(value)


def _plain(value: object) -> Plain:
    """A JSON-mode dump as :data:`Plain` (narrows the type; values are already plain)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
