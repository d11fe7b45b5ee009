"""Load policy packs and deployment contexts from the ``policies/`` folder.

A pack is validated against :class:`PackSpec`, every CEL expression in it is compiled once, and the
sha256 of the file bytes is kept as its digest. Contexts are :class:`UseContext` records, one YAML
file each under ``policies/contexts/``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import Field

from affectgate.core.errors import PolicyError
from affectgate.core.records import UseContext
from affectgate.policy.cel import CelProgram, CelTemplate, compile_expression, compile_template
from affectgate.policy.schema import CORE_PACK, PackSpec, RuleSpec, parse_model
from affectgate.project import content

DEFAULT_PACKS: tuple[str, ...] = ("eu_ai_act", "quality")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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
    """A loaded pack: its spec, compiled definitions and rules, file path and sha256 digest.

    ``rule_files`` says which file each rule came from (a user overlay replaces or adds rules of a built-in
    pack); ``overlay`` is the user file overlaid on the built-in one, if any.
    """

    spec: PackSpec
    rules: tuple[CompiledRule, ...]
    path: Path
    digest: str
    definitions: tuple[CompiledDefinition, ...] = ()
    explanations: tuple[tuple[str, CelTemplate], ...] = ()
    rule_files: tuple[tuple[str, Path], ...] = ()
    overlay: Path | None = None

    def file_of(self, rule_id: str) -> Path:
        """The file that defines ``rule_id`` (the overlay's for a replaced or added rule)."""
        return dict(self.rule_files).get(rule_id, self.path)

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
        return yaml.load(path.read_bytes(), Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: invalid YAML: {' '.join(str(exc).split())}", fix="correct the YAML") from exc


def load_pack(*, folder: Path) -> PolicyPack:
    """Load ``folder/pack.yaml``: validate it, compile every CEL expression, compute its digest."""
    path = folder / PACK_FILE
    if not path.is_file():
        raise PolicyError(f"policy pack {folder.name!r} has no {PACK_FILE} at {path}", fix="check the pack name")
    raw = path.read_bytes()
    return _load_pack_bytes(path=path, raw=raw, digest=hashlib.sha256(raw).hexdigest())


@lru_cache(maxsize=64)
def _load_pack_bytes(*, path: Path, raw: bytes, digest: str) -> PolicyPack:
    """A pack from its bytes; cached by path and content (a changed file is a new key), so cases and lint reuse it."""
    del digest  # part of the cache key only
    try:
        data = yaml.load(raw, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: invalid YAML: {' '.join(str(exc).split())}", fix="correct the YAML") from exc
    spec = parse_model(PackSpec, data, source=path)
    folder = path.parent
    if spec.pack != folder.name:
        raise PolicyError(
            f"{path}: 'pack: {spec.pack}' does not match its folder name {folder.name!r}",
            fix=f"set 'pack: {folder.name}' or rename the folder",
        )
    return _build_pack(spec=spec, path=path, digest=hashlib.sha256(raw).hexdigest())


def _build_pack(*, spec: PackSpec, path: Path, digest: str) -> PolicyPack:
    """Check a validated spec (unique ids, stages, definition references) and compile every CEL expression."""
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
        spec=spec,
        rules=rules,
        path=path,
        digest=digest,
        definitions=definitions,
        explanations=_compile_explanations(spec=spec, path=path),
    )


def _compile_explanations(*, spec: PackSpec, path: Path) -> tuple[tuple[str, CelTemplate], ...]:
    compiled: list[tuple[str, CelTemplate]] = []
    for name, text in spec.explanations.items():
        if name not in spec.definitions:
            close = difflib.get_close_matches(name, list(spec.definitions), n=1)
            raise PolicyError(
                f"{path}: explanation {name!r} names no definition of the pack",
                fix=(f"did you mean {close[0]!r}? " if close else "") + "explain a name listed under 'definitions'",
            )
        compiled.append((name, compile_template(source=text, where=f"{path}: explanation {name}")))
    return tuple(compiled)


def load_packs(
    *, root: Path | None = None, names: Sequence[str] | None = None, project_root: Path | None = None
) -> tuple[PolicyPack, ...]:
    """Load the named packs, in order: from one ``policies/`` folder (``root``), or resolved for a project.

    Without ``root`` the packs resolve user project first, then built-in (``project_root`` None = built-in
    only): a user pack with a built-in pack's name overlays it rule by rule (:func:`overlay_pack`), a user
    pack with a new name is added. ``names`` None = the default packs plus every user pack of a new name.
    """
    if isinstance(names, str):
        names = (names,)
    if root is None:
        return _load_project_packs(project_root=project_root, names=names)
    names = DEFAULT_PACKS if names is None else names
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


def load_context(*, context_id: str, root: Path | None = None, project_root: Path | None = None) -> UseContext:
    """Read a context: ``root/contexts/<id>.yaml`` of one policies folder, or resolved for a project.

    Without ``root`` the context resolves user project first (``contexts/<id>.yaml``), then built-in
    (``policies/contexts/``); an unknown id lists every id available.
    """
    if root is None:
        return _read_context(path=context_path(project_root=project_root, context_id=context_id))
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


def list_contexts(*, root: Path | None = None, project_root: Path | None = None) -> tuple[UseContext, ...]:
    """Every context under ``root/contexts/`` (or of a project, user files winning), sorted by id."""
    if root is None:
        ids = content.available(project_root=project_root, kind="contexts")
        return tuple(load_context(project_root=project_root, context_id=cid) for cid in ids)
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


# -- project resolution: user project first, then built-in -------------------------------------------
def context_path(*, project_root: Path | None, context_id: str) -> Path:
    """The file of a context id, user project first; an unknown id is a PolicyError listing the ids available."""
    known = content.available(project_root=project_root, kind="contexts")
    if not _CONTEXT_ID.match(context_id) or context_id not in known:
        close = difflib.get_close_matches(context_id, known, n=1)
        where = " and ".join(str(r.path) for r in content.roots(project_root=project_root, kind="contexts"))
        raise PolicyError(
            f"unknown deployment context {context_id!r} (looked in {where or 'nowhere'})",
            fix=(f"did you mean {close[0]!r}? " if close else "") + f"known contexts: {', '.join(known) or 'none'}",
        )
    return content.find(project_root=project_root, kind="contexts", name=f"{context_id}.yaml")


def pack_folders(*, project_root: Path | None) -> dict[str, list[tuple[str, Path]]]:
    """Pack name -> [(origin, folder)] over the project's roots, built-in first, then the user's overlay."""
    found: dict[str, list[tuple[str, Path]]] = {}
    for content_root in reversed(content.roots(project_root=project_root, kind="packs")):
        if not content_root.path.is_dir():
            continue
        for pack_file in sorted(content_root.path.glob(f"*/{PACK_FILE}")):
            found.setdefault(pack_file.parent.name, []).append((content_root.origin, pack_file.parent))
    return found


def project_pack_names(*, project_root: Path | None) -> tuple[str, ...]:
    """The packs a project applies by default: the built-in defaults, then every user pack of a new name."""
    folders = pack_folders(project_root=project_root)
    extra = sorted(name for name, where in folders.items() if name not in DEFAULT_PACKS and where[0][0] == "user")
    return (*[n for n in DEFAULT_PACKS if n in folders], *extra)


def load_project_pack(*, project_root: Path | None, name: str) -> PolicyPack:
    """One pack of a project: the built-in pack, overlaid by the user's pack of the same name if there is one."""
    folders = pack_folders(project_root=project_root)
    if name not in folders:
        known = sorted(folders)
        close = difflib.get_close_matches(name, known, n=1)
        raise PolicyError(
            f"unknown policy pack {name!r}",
            fix=(f"did you mean {close[0]!r}? " if close else "") + f"known packs: {', '.join(known) or 'none'}",
        )
    where = dict(folders[name])
    if "built-in" in where and "user" in where:
        return overlay_pack(base=load_pack(folder=where["built-in"]), folder=where["user"])
    return load_pack(folder=next(iter(where.values())))


def _load_project_packs(*, project_root: Path | None, names: Sequence[str] | None) -> tuple[PolicyPack, ...]:
    names = project_pack_names(project_root=project_root) if names is None else tuple(names)
    packs: list[PolicyPack] = []
    owner: dict[str, str] = {}
    for name in names:
        if any(p.name == name for p in packs):
            raise PolicyError(f"policy pack {name!r} is listed twice", fix="list each pack once")
        pack = load_project_pack(project_root=project_root, name=name)
        for rule in pack.rules:
            if rule.spec.id in owner:
                raise PolicyError(
                    f"rule id {rule.spec.id!r} is defined in both packs {owner[rule.spec.id]!r} and {name!r} "
                    f"({pack.file_of(rule.spec.id)})",
                    fix="rule ids must be unique across all packs; to tighten a built-in rule, overlay its own pack",
                )
            owner[rule.spec.id] = name
        packs.append(pack)
    return tuple(packs)


class OverlaySpec(PackSpec):
    """A user pack with a built-in pack's name: it may add rules, definitions and thresholds, and tighten."""

    rules: tuple[RuleSpec, ...] = Field(default=(), description="Rules added, or built-in rules tightened (same id).")


#: Severity order: a replacement rule may only keep or raise it.
_SEVERITY_RANK = {"warn": 0, "review": 1, "block": 2}
#: The pack whose rules are the law (Art. 5, Art. 50, GDPR Art. 9 ...): its rules can be tightened only.
LEGAL_PACK = "eu_ai_act"


def overlay_problems(*, base: PolicyPack, spec: PackSpec, path: Path) -> list[str]:
    """Why a user overlay would drop or loosen the built-in pack (empty = it only adds or tightens).

    A replacement rule (same id) must keep its conditions and article word for word, keep or raise its
    severity and keep or advance its date; a built-in definition cannot be redefined; a built-in threshold may
    only be tightened (``*min*`` raised, ``*max*`` / ``*tolerance*`` lowered).
    """
    problems: list[str] = []
    kind = "built-in legal rule" if base.name == LEGAL_PACK else "built-in rule"
    by_id = {rule.spec.id: rule.spec for rule in base.rules}
    for rule in spec.rules:
        old = by_id.get(rule.id)
        if old is None:
            continue
        loosened = []
        if _squash(rule.applies_when) != _squash(old.applies_when):
            loosened.append(f"applies_when changed from `{_squash(old.applies_when)}`")
        if _squash(rule.fails_when) != _squash(old.fails_when):
            loosened.append(f"fails_when changed from `{_squash(old.fails_when)}`")
        if rule.article != old.article:
            loosened.append(f"article changed from {old.article!r}")
        if _SEVERITY_RANK[rule.severity] < _SEVERITY_RANK[old.severity]:
            loosened.append(f"severity lowered from {old.severity} to {rule.severity}")
        if rule.effective_from > old.effective_from:
            loosened.append(f"effective_from postponed from {old.effective_from} to {rule.effective_from}")
        if loosened:
            problems.append(
                f"{path}: rule {rule.id} would loosen the {kind} ({old.article}) of {base.path}: "
                + "; ".join(loosened)
                + ". A user pack may raise a rule's severity or date it earlier, or add rules with ids of its own; "
                "it may not drop or loosen a built-in rule"
            )
    for name in spec.definitions:
        if name in base.spec.definitions:
            problems.append(
                f"{path}: definition {name!r} redefines the built-in one of {base.path}; every built-in rule reads "
                "it, so it cannot be replaced (add a definition with a new name)"
            )
    for key, value in spec.defaults.items():
        if key not in base.defaults:
            continue
        old_value = base.defaults[key]
        tighter = (
            value >= old_value if "min" in key else value <= old_value if ("max" in key or "tolerance" in key) else None
        )
        if tighter is None:
            problems.append(f"{path}: threshold {key!r} has no known direction, so the overlay cannot change it")
        elif not tighter:
            problems.append(
                f"{path}: threshold {key}={value:g} loosens the built-in {key}={old_value:g} of {base.path}; "
                "a user pack may only tighten a built-in threshold"
            )
    if spec.stages and spec.stages != base.spec.stages:
        problems.append(f"{path}: 'stages' differ from the built-in pack's ({', '.join(base.spec.stages)})")
    return problems


def overlay_pack(*, base: PolicyPack, folder: Path) -> PolicyPack:
    """The built-in pack ``base`` with the user's ``folder/pack.yaml`` overlaid rule by rule.

    Rules with a built-in id replace it (only to tighten, see :func:`overlay_problems`); new rules are added at
    the end of their stage (or of the pack); definitions and thresholds are added or tightened. The digest is
    the sha256 of both files' bytes, so the decision records the overlay too.
    """
    path = folder / PACK_FILE
    raw = path.read_bytes()
    try:
        data = yaml.load(raw, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: invalid YAML: {' '.join(str(exc).split())}", fix="correct the YAML") from exc
    spec = parse_model(OverlaySpec, data, source=path)
    if spec.pack != base.name:
        raise PolicyError(
            f"{path}: 'pack: {spec.pack}' does not match its folder name {base.name!r}",
            fix=f"set 'pack: {base.name}'",
        )
    problems = overlay_problems(base=base, spec=spec, path=path)
    if problems:
        raise PolicyError("; ".join(problems), fix="tighten or add rules only; see docs/policy.md (overlays)")
    replaced = {rule.id: rule for rule in spec.rules}
    rules = [replaced.pop(rule.spec.id, rule.spec) for rule in base.rules]
    for rule in replaced.values():  # new rules: at the end of their stage, else at the end
        index = max((i for i, r in enumerate(rules) if r.stage == rule.stage), default=len(rules) - 1) + 1
        rules.insert(index if rule.stage else len(rules), rule)
    merged = base.spec.model_copy(
        update={
            "version": f"{base.spec.version}+{spec.version}",
            "defaults": {**base.spec.defaults, **spec.defaults},
            "definitions": {**base.spec.definitions, **spec.definitions},
            "explanations": {**base.spec.explanations, **spec.explanations},
            "rules": tuple(rules),
        }
    )
    digest = hashlib.sha256(base.path.read_bytes() + b"\0" + raw).hexdigest()
    pack = _build_pack(spec=merged, path=base.path, digest=digest)
    user_ids = {rule.id for rule in spec.rules}
    return dataclasses.replace(
        pack, overlay=path, rule_files=tuple((rid, path) for rid in (r.spec.id for r in pack.rules) if rid in user_ids)
    )


def _squash(text: str) -> str:
    return " ".join(text.split())


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
