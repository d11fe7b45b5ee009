"""Pydantic models of the YAML files: a policy pack (``pack.yaml``) and a test case (``cases/*.yaml``).

Every model is frozen and rejects unknown fields; :func:`parse_model` turns pydantic's errors into a
:class:`PolicyError` that names the file and the field.
"""

from __future__ import annotations

import difflib
import types
import typing
from datetime import date
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from affectgate.core.errors import PolicyError
from affectgate.core.records import OutputKind, Severity, UseContext, Verdict

RuleStatus = Literal["pass", "fail", "not_applicable", "not_yet_effective", "error"]
EvaluatorStatus = Literal["ok", "failed", "skipped"]
Precision = Literal["fp32", "int8"]

#: Rule ids reserved for the engine's built-in rules.
CORE_PACK = "core"

_M = TypeVar("_M", bound=BaseModel)


class Spec(BaseModel):
    """Base: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RuleSpec(Spec):
    """One rule of a pack: when it applies, when it fails, what it says."""

    id: str = Field(
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$",
        description="Stable id, unique across all packs, dotted, e.g. 'euaia.art5_1f.workplace_education'.",
    )
    title: str = Field(min_length=1, description="Short title for a compliance officer.")
    article: str = Field(min_length=1, description="Legal or policy citation, e.g. 'Art. 5(1)(f) AI Act'.")
    severity: Severity = Field(description="block, review or warn: what a failure means for the verdict.")
    penalty_tier: str = Field(default="", description="Penalty a failure exposes the deployer to, if any.")
    effective_from: date = Field(description="Date from which the rule applies (unless the context enforces early).")
    applies_when: str = Field(default="true", description="CEL bool; false gives 'not_applicable'.")
    fails_when: str = Field(description="CEL bool; true gives 'fail', false gives 'pass'.")
    message: str = Field(min_length=1, description="Text for a failure; '{{ expr }}' placeholders are CEL.")
    pass_message: str = Field(default="", description="Text for a pass; '{{ expr }}' placeholders are CEL.")
    not_applicable_message: str = Field(
        default="", description="Text when applies_when is false; '{{ expr }}' placeholders are CEL."
    )
    evidence: tuple[str, ...] = Field(
        default=(), description="CEL expressions whose values are recorded in the outcome (key = expression)."
    )
    stage: str = Field(
        default="", description="Evaluation stage (one of the pack's 'stages'); required when the pack declares stages."
    )


class PackSpec(Spec):
    """``policies/<pack>/pack.yaml``."""

    pack: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Pack name; must equal the folder name.")
    version: str = Field(min_length=1, description="Pack version, e.g. '2026.11.0'.")
    title: str = Field(min_length=1, description="Human-readable title.")
    description: str = Field(default="", description="What the pack covers and what it does not.")
    defaults: dict[str, float] = Field(
        default_factory=dict, description="Default thresholds (contexts override them per key)."
    )
    definitions: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Named CEL expressions, evaluated once per decision in file order (each sees the earlier ones); "
            "the pack's rules read them as 'defs.<name>'."
        ),
    )
    explanations: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Definition name -> a plain-words sentence ('{{ expr }}' placeholders are CEL) naming the declared facts "
            "that decide it; `policy explain --context` shows them for every outcome that reads the definition."
        ),
    )
    stages: tuple[str, ...] = Field(
        default=(),
        description="Evaluation stages in order; when given, every rule names its stage and rules follow this order.",
    )
    rules: tuple[RuleSpec, ...] = Field(min_length=1, description="Rules, evaluated in this order.")


class CaseModel(Spec):
    """The model facts of a test case (no card or ONNX file needed)."""

    arch: str = Field(description="Architecture id.")
    output_kinds: tuple[OutputKind, ...] = Field(description="Every kind of output the model emits.")
    onnx_outputs: tuple[str, ...] = Field(default=(), description="Output names of the ONNX graph.")
    card_outputs: tuple[str, ...] | None = Field(
        default=None, description="Output names the card declares; None = the same as onnx_outputs."
    )
    precision: Precision = Field(default="fp32", description="Numeric precision of the weights (int8 variants).")


class Baseline(Spec):
    """The model version currently holding the context's alias (what a candidate must not regress from)."""

    name: str = Field(min_length=1, description="Registered model name.")
    version: str = Field(min_length=1, description="Registered version holding the alias.")


class CaseExpect(Spec):
    """What the decision must be."""

    verdict: Verdict = Field(description="Expected verdict.")
    outcomes: dict[str, RuleStatus] = Field(
        default_factory=dict, description="Expected status per rule id (rules not listed are not checked)."
    )


class PolicyCase(Spec):
    """``policies/<pack>/cases/<name>.yaml``: one test vector for the rules."""

    description: str = Field(min_length=1, description="What the case shows, with its source if any.")
    context: str | UseContext = Field(description="A context id of policies/contexts/ or an inline UseContext mapping.")
    model: CaseModel | None = Field(default=None, description="Model facts; absent = no model yet.")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Metric name (or 'name[group]') -> value, as build_facts keys them."
    )
    evaluators: dict[str, EvaluatorStatus] = Field(
        default_factory=dict,
        description="Evaluator name -> status. No metrics and no evaluators = no report.",
    )
    evaluator_errors: dict[str, str] = Field(
        default_factory=dict, description="Evaluator name -> error message, for failed evaluators."
    )
    synthetic_data: bool = Field(default=False, description="Whether the evaluation data were synthetic.")
    baseline: Baseline | None = Field(
        default=None, description="The version holding the context's alias; None = no alias holder yet."
    )
    as_of: date = Field(description="Date the rules are evaluated for.")
    packs: tuple[str, ...] = Field(default=("eu_ai_act", "quality"), description="Packs to run, in order.")
    expect: CaseExpect = Field(description="The expected decision.")


def parse_model(model: type[_M], data: object, *, source: Path) -> _M:
    """Validate ``data`` as ``model``; errors become a :class:`PolicyError` naming ``source`` and field."""
    if not isinstance(data, dict):
        raise PolicyError(
            f"{source}: expected a mapping of fields, got {type(data).__name__}",
            fix=f"write the file as 'field: value' lines ({', '.join(model.model_fields)})",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(model=model, data=data, source=source, error=exc) from exc


def validation_error(*, model: type[BaseModel], data: object, source: Path, error: ValidationError) -> PolicyError:
    """One :class:`PolicyError` for all problems of a pydantic validation, each naming its field."""
    problems: list[str] = []
    fixes: list[str] = []
    items = error.errors()
    # a union field (``str | UseContext``) reports one error per branch; keep the branch that was meant
    meant = [
        i
        for i in items
        if not (i["type"] in ("string_type", "model_type", "dict_type") and any(map(_is_branch_tag, i["loc"])))
    ]
    chosen = meant or items
    # a list whose items failed also reports "too short after validation": that second clause only misleads
    item_fields = {tuple(i["loc"][:-1]) for i in chosen if i["loc"] and isinstance(i["loc"][-1], int)}
    chosen = [i for i in chosen if not (i["type"] == "too_short" and tuple(i["loc"]) in item_fields)]
    for item in chosen:
        loc = tuple(part for part in item["loc"] if not _is_branch_tag(part))
        field = _dotted(loc)
        where = _rule_hint(data, loc)
        if item["type"] == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            problems.append(f"unknown field '{field}'{where}")
            fixes.append(
                (f"did you mean '{close[0]}'? " if close else "") + f"allowed fields here: {', '.join(allowed)}"
            )
        elif item["type"] == "missing":
            problems.append(f"missing field '{field}'{where}")
        else:
            got = repr(item.get("input"))
            got = got if len(got) <= 80 else got[:79] + "…"
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"field '{field}'{where}: {message} (got {got})")
            if item["type"] == "string_type" and isinstance(item.get("input"), bool):
                fixes.append(
                    f"'{field}' was read as {str(item['input']).lower()}: YAML reads a bare NO, no, yes, on or off "
                    "as a boolean; quote the value, e.g. regions: ['NO'] for Norway"
                )
    return PolicyError(
        f"{source}: " + "; ".join(dict.fromkeys(problems)),
        fix="; ".join(dict.fromkeys(fixes)) or "correct the file",
    )


def _is_branch_tag(part: int | str) -> bool:
    """pydantic names union branches in error locations ('str', 'UseContext'); field names are lower case."""
    return isinstance(part, str) and (part == "str" or part[:1].isupper())


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def _rule_hint(data: object, loc: tuple[int | str, ...]) -> str:
    """' (rule <id>)' when the location is inside a pack's rule that has an id."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and isinstance(data, dict):
        rules = data.get("rules")
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            rule_id = rules[loc[1]].get("id")
            if rule_id:
                return f" (rule {rule_id})"
    return ""


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model found by walking ``loc`` from ``model``."""
    current: type[BaseModel] = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        if info is None:
            break
        nested = _model_in(info.annotation)
        if nested is None:
            break
        current = nested
    return list(current.model_fields)


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
