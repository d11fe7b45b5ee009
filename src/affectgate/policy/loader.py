"""Load policy packs and deployment contexts from the ``policies/`` folder.

A pack is validated against :class:`PackSpec`, every CEL expression in it is compiled once, and the
sha256 of the file bytes is kept as its digest. Contexts are :class:`UseContext` records, one YAML
file each under ``policies/contexts/``.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from affectgate.core.errors import PolicyError
from affectgate.core.records import UseContext
from affectgate.policy.cel import CelProgram, CelTemplate, compile_expression, compile_template
from affectgate.policy.schema import CORE_PACK, PackSpec, RuleSpec, parse_model

DEFAULT_PACKS: tuple[str, ...] = ("eu_ai_act", "quality")
PACK_FILE = "pack.yaml"
CONTEXTS_FOLDER = "contexts"
_CONTEXT_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DEFINITION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: How a rule or definition reads a pack definition: ``defs.<name>``.
DEFS_REFERENCE = re.compile(r"\bdefs\.([a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class CompiledRule:
    """A rule with every CEL expression compiled."""

    spec: RuleSpec
    applies_when: CelProgram
    fails_when: CelProgram
    message: CelTemplate
    pass_message: CelTemplate | None
    not_applicable_message: CelTemplate | None
    evidence: tuple[CelProgram, ...]


@dataclass(frozen=True)
class CompiledDefinition:
    """A named CEL expression of a pack, read by its rules as ``defs.<name>``."""

    name: str
    program: CelProgram


@dataclass(frozen=True)
class PolicyPack:
    """A loaded pack: its spec, compiled definitions and rules, file path and sha256 digest."""

    spec: PackSpec
    rules: tuple[CompiledRule, ...]
    path: Path
    digest: str
    definitions: tuple[CompiledDefinition, ...] = ()

    @property
    def name(self) -> str:
        """The pack name (= folder name)."""
        return self.spec.pack

    @property
    def defaults(self) -> dict[str, float]:
        """Default thresholds of the pack."""
        return dict(self.spec.defaults)


def file_digest(*, path: Path) -> str:
    """sha256 hex digest of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_yaml(*, path: Path) -> object:
    """Parse one YAML file; a missing file or a syntax error is a :class:`PolicyError` naming it."""
    if not path.is_file():
        raise PolicyError(f"{path} does not exist", fix="check the path")
    try:
        return yaml.safe_load(path.read_bytes())
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: invalid YAML: {' '.join(str(exc).split())}", fix="correct the YAML") from exc


def load_pack(*, folder: Path) -> PolicyPack:
    """Load ``folder/pack.yaml``: validate it, compile every CEL expression, compute its digest."""
    path = folder / PACK_FILE
    if not path.is_file():
        raise PolicyError(f"policy pack {folder.name!r} has no {PACK_FILE} at {path}", fix="check the pack name")
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: invalid YAML: {' '.join(str(exc).split())}", fix="correct the YAML") from exc
    spec = parse_model(PackSpec, data, source=path)
    if spec.pack != folder.name:
        raise PolicyError(
            f"{path}: 'pack: {spec.pack}' does not match its folder name {folder.name!r}",
            fix=f"set 'pack: {folder.name}' or rename the folder",
        )
    seen: set[str] = set()
    for rule in spec.rules:
        if rule.id in seen:
            raise PolicyError(f"{path}: rule id {rule.id!r} appears twice", fix="give every rule a unique id")
        if rule.id.split(".", 1)[0] == CORE_PACK:
            raise PolicyError(f"{path}: rule id {rule.id!r} uses the reserved prefix 'core.'", fix="rename it")
        seen.add(rule.id)
    _check_stages(spec=spec, path=path)
    definitions = tuple(_compile_definitions(spec=spec, path=path))
    rules = tuple(_compile_rule(rule=rule, path=path) for rule in spec.rules)
    _check_definition_references(spec=spec, path=path)
    return PolicyPack(
        spec=spec, rules=rules, path=path, digest=hashlib.sha256(raw).hexdigest(), definitions=definitions
    )


def load_packs(*, root: Path, names: Sequence[str] = DEFAULT_PACKS) -> tuple[PolicyPack, ...]:
    """Load the named packs from ``root`` (the project's ``policies/`` folder), in order."""
    if isinstance(names, str):
        names = (names,)
    known = available_packs(root=root)
    packs: list[PolicyPack] = []
    owner: dict[str, str] = {}
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise PolicyError(
                f"unknown policy pack {name!r} in {root}",
                fix=(f"did you mean {close[0]!r}? " if close else "") + f"known packs: {', '.join(known) or 'none'}",
            )
        if any(p.name == name for p in packs):
            raise PolicyError(f"policy pack {name!r} is listed twice", fix="list each pack once")
        pack = load_pack(folder=root / name)
        for rule in pack.rules:
            if rule.spec.id in owner:
                raise PolicyError(
                    f"rule id {rule.spec.id!r} is defined in both packs {owner[rule.spec.id]!r} and {name!r}",
                    fix="rule ids must be unique across all packs",
                )
            owner[rule.spec.id] = name
        packs.append(pack)
    return tuple(packs)


def available_packs(*, root: Path) -> tuple[str, ...]:
    """Names of the folders under ``root`` that hold a ``pack.yaml``, sorted."""
    if not root.is_dir():
        raise PolicyError(f"policies folder {root} does not exist", fix="point affectgate at the project root")
    return tuple(sorted(p.parent.name for p in root.glob(f"*/{PACK_FILE}")))


def load_context(*, root: Path, context_id: str) -> UseContext:
    """Read ``root/contexts/<context_id>.yaml`` as a :class:`UseContext`."""
    folder = root / CONTEXTS_FOLDER
    known = _context_ids(folder=folder)
    if context_id not in known or not _CONTEXT_ID.match(context_id):
        close = difflib.get_close_matches(context_id, known, n=1)
        raise PolicyError(
            f"unknown deployment context {context_id!r}",
            fix=(f"did you mean {close[0]!r}? " if close else "")
            + f"known contexts: {', '.join(known) or 'none'} (files in {folder})",
        )
    return _read_context(path=folder / f"{context_id}.yaml")


def list_contexts(*, root: Path) -> tuple[UseContext, ...]:
    """Every context under ``root/contexts/``, sorted by id."""
    folder = root / CONTEXTS_FOLDER
    return tuple(_read_context(path=folder / f"{cid}.yaml") for cid in _context_ids(folder=folder))


def _context_ids(*, folder: Path) -> list[str]:
    if not folder.is_dir():
        raise PolicyError(f"contexts folder {folder} does not exist", fix="create policies/contexts/<id>.yaml")
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _read_context(*, path: Path) -> UseContext:
    context = parse_model(UseContext, read_yaml(path=path), source=path)
    if context.id != path.stem:
        raise PolicyError(
            f"{path}: 'id: {context.id}' does not match the file name {path.stem!r}",
            fix=f"set 'id: {path.stem}' or rename the file",
        )
    return context


def _check_stages(*, spec: PackSpec, path: Path) -> None:
    """With declared stages, every rule names a known stage and the rules follow the stage order."""
    if not spec.stages:
        for rule in spec.rules:
            if rule.stage:
                raise PolicyError(
                    f"{path}: rule {rule.id} names stage {rule.stage!r} but the pack declares no 'stages'",
                    fix="list the stages in order under 'stages:' or remove the rule's 'stage'",
                )
        return
    if len(set(spec.stages)) != len(spec.stages):
        raise PolicyError(f"{path}: 'stages' lists a stage twice: {', '.join(spec.stages)}", fix="list each once")
    previous = 0
    for rule in spec.rules:
        if rule.stage not in spec.stages:
            close = difflib.get_close_matches(rule.stage, spec.stages, n=1)
            raise PolicyError(
                f"{path}: rule {rule.id} has "
                + (f"unknown stage {rule.stage!r}" if rule.stage else "no 'stage'")
                + " although the pack declares stages",
                fix=(f"did you mean {close[0]!r}? " if close else "") + f"stages: {', '.join(spec.stages)}",
            )
        index = spec.stages.index(rule.stage)
        if index < previous:
            raise PolicyError(
                f"{path}: rule {rule.id} (stage {rule.stage!r}) comes after a rule of stage "
                f"{spec.stages[previous]!r}; rules are evaluated in file order",
                fix=f"move it up: the stage order is {' -> '.join(spec.stages)}",
            )
        previous = index


def _compile_definitions(*, spec: PackSpec, path: Path) -> list[CompiledDefinition]:
    compiled: list[CompiledDefinition] = []
    for name, source in spec.definitions.items():
        if not _DEFINITION_NAME.match(name):
            raise PolicyError(
                f"{path}: definition name {name!r} is not a CEL identifier",
                fix="use lower-case letters, digits and '_', starting with a letter",
            )
        where = f"{path}: definition {name}"
        program = compile_expression(source=source, where=where)
        for used in DEFS_REFERENCE.findall(source):
            if used not in [d.name for d in compiled]:
                raise PolicyError(
                    f"{where} reads defs.{used}, which is not defined above it",
                    fix="define it earlier in 'definitions' (each definition sees only the ones above it)",
                )
        compiled.append(CompiledDefinition(name=name, program=program))
    return compiled


def _check_definition_references(*, spec: PackSpec, path: Path) -> None:
    """Every ``defs.<name>`` a rule reads is defined in the pack (caught at load time, not per decision)."""
    for rule in spec.rules:
        for source in rule_sources(rule=rule):
            for used in DEFS_REFERENCE.findall(source):
                if used not in spec.definitions:
                    close = difflib.get_close_matches(used, list(spec.definitions), n=1)
                    raise PolicyError(
                        f"{path}: rule {rule.id} reads defs.{used}, which the pack does not define",
                        fix=(f"did you mean defs.{close[0]}? " if close else "")
                        + f"definitions: {', '.join(spec.definitions) or 'none'}",
                    )


def rule_sources(*, rule: RuleSpec) -> tuple[str, ...]:
    """Every CEL source text of a rule: conditions, messages (with their placeholders) and evidence."""
    return (
        rule.applies_when,
        rule.fails_when,
        rule.message,
        rule.pass_message,
        rule.not_applicable_message,
        *rule.evidence,
    )


def definitions_used(*, pack: PolicyPack, rule: RuleSpec) -> tuple[CompiledDefinition, ...]:
    """The pack definitions a rule reads, directly or through other definitions, in definition order."""
    wanted = {name for source in rule_sources(rule=rule) for name in DEFS_REFERENCE.findall(source)}
    for definition in reversed(pack.definitions):
        if definition.name in wanted:
            wanted.update(DEFS_REFERENCE.findall(definition.program.source))
    return tuple(d for d in pack.definitions if d.name in wanted)


def _compile_rule(*, rule: RuleSpec, path: Path) -> CompiledRule:
    where = f"{path}: rule {rule.id}"
    return CompiledRule(
        spec=rule,
        applies_when=compile_expression(source=rule.applies_when, where=f"{where} applies_when"),
        fails_when=compile_expression(source=rule.fails_when, where=f"{where} fails_when"),
        message=compile_template(source=rule.message, where=f"{where} message"),
        pass_message=(
            compile_template(source=rule.pass_message, where=f"{where} pass_message") if rule.pass_message else None
        ),
        not_applicable_message=(
            compile_template(source=rule.not_applicable_message, where=f"{where} not_applicable_message")
            if rule.not_applicable_message
            else None
        ),
        evidence=tuple(
            compile_expression(source=expr, where=f"{where} evidence[{i}]") for i, expr in enumerate(rule.evidence)
        ),
    )
