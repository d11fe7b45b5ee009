"""CEL for policy conditions: compile once, evaluate against plain facts, return plain Python values.

This is the only module that imports ``celpy`` (the volatile library stays behind this adapter). It
uses celpy's *interpreted* runner only: the transpiling runner would turn CEL into Python source and
``exec`` it, which a policy engine must never do. Errors come back as :class:`PolicyError` (syntax, at
load time) or :class:`CelEvaluationError` (evaluation, turned into an ``error`` rule outcome).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, bool_ne

from affectgate.core.errors import PolicyError

#: A plain value as it goes into CEL and comes back out: JSON-like, no celpy types.
Plain: TypeAlias = None | bool | int | float | str | list["Plain"] | dict[str, "Plain"]

_ENV = celpy.Environment(runner_class=celpy.InterpretedRunner)
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_WHITESPACE = re.compile(r"\s+")
_MAX_ERROR_CHARS = 300


class CelEvaluationError(PolicyError):
    """A CEL expression raised while being evaluated (missing key, type mismatch, bad result type)."""

    def __init__(self, *, expression: str, error: str) -> None:
        self.expression = expression
        self.error = error
        super().__init__(f"`{expression}`: {error}")


@dataclass(frozen=True)
class CelProgram:
    """One compiled CEL expression and its source text."""

    source: str
    runner: celpy.Runner

    def evaluate(self, *, activation: CelActivation) -> Plain:
        """The expression's value as plain Python; raises :class:`CelEvaluationError`."""
        try:
            value = self.runner.evaluate(activation.variables)
        except CELEvalError as exc:
            raise CelEvaluationError(expression=self.source, error=describe_cel_error(exc)) from exc
        except Exception as exc:  # celpy lets some Python errors through; they are evaluation errors too
            raise CelEvaluationError(expression=self.source, error=_clip(f"{type(exc).__name__}: {exc}")) from exc
        if isinstance(value, CELEvalError):  # celpy may hand an error back as a value
            raise CelEvaluationError(expression=self.source, error=describe_cel_error(value))
        return to_plain(value)

    def evaluate_bool(self, *, activation: CelActivation) -> bool:
        """The expression's value, which must be a bool; raises :class:`CelEvaluationError` otherwise."""
        value = self.evaluate(activation=activation)
        if not isinstance(value, bool):
            raise CelEvaluationError(
                expression=self.source, error=f"expected a bool, got {type_name(value)} {render_value(value)}"
            )
        return value


@dataclass(frozen=True)
class CelTemplate:
    """A message with ``{{ expr }}`` placeholders, each compiled once."""

    source: str
    parts: tuple[str | CelProgram, ...]

    def render(self, *, activation: CelActivation) -> str:
        """The message with every placeholder replaced by its rendered value; raises on any error."""
        return "".join(
            part if isinstance(part, str) else render_value(part.evaluate(activation=activation)) for part in self.parts
        ).strip()


@dataclass(frozen=True)
class CelActivation:
    """The variables an expression sees, converted to CEL types once per decision."""

    variables: Mapping[str, celtypes.Value]


def _not_equal(left: celtypes.Value, right: celtypes.Value) -> celtypes.Value:
    """``!=`` as the CEL spec defines it for null: celpy 0.5 has no overload for ``map != null``."""
    if left is None or right is None:
        return celtypes.BoolType(not (left is None and right is None))
    return bool_ne(left, right)


def _fmt(value: celtypes.Value) -> celtypes.Value:
    """``fmt(x)``: a value as it reads in a message (floats to 3 significant digits)."""
    return celtypes.StringType(render_value(to_plain(value)))


#: Overrides of celpy's base functions and our extensions, bound into every program.
_FUNCTIONS = {"_!=_": _not_equal, "fmt": _fmt}


def compile_expression(*, source: str, where: str) -> CelProgram:
    """Parse and prepare ``source``; a syntax error is a :class:`PolicyError` that names ``where``."""
    text = source.strip()
    if not text:
        raise PolicyError(f"{where}: empty CEL expression", fix="write a CEL expression, e.g. 'true'")
    try:
        runner = _runner(text)
    except CELParseError as exc:
        detail = " ".join(str(exc.args[0] if exc.args else exc).split())
        raise PolicyError(
            f"{where}: CEL syntax error in `{text}`: {_clip(detail)}",
            fix="correct the expression (CEL syntax: https://github.com/google/cel-spec)",
        ) from exc
    except Exception as exc:  # lark can raise other errors on pathological input
        raise PolicyError(
            f"{where}: CEL expression `{text}` cannot be compiled: {_clip(f'{type(exc).__name__}: {exc}')}",
            fix="correct the expression",
        ) from exc
    return CelProgram(source=text, runner=runner)


@lru_cache(maxsize=4096)
def _runner(text: str) -> celpy.Runner:
    """The prepared program for ``text``, parsed once per process (lark parsing dominates pack loading).

    A runner holds no state between evaluations (each call gets its own activation), so sharing it is safe;
    a parse error is raised, never cached.
    """
    return _ENV.program(_ENV.compile(text), functions=_FUNCTIONS)


def compile_template(*, source: str, where: str) -> CelTemplate:
    """Split a message into literal text (whitespace runs -> one space) and ``{{ expr }}`` placeholders."""
    parts: list[str | CelProgram] = []
    position = 0
    for match in _PLACEHOLDER.finditer(source):
        if match.start() > position:
            parts.append(_WHITESPACE.sub(" ", source[position : match.start()]))
        parts.append(compile_expression(source=match.group(1), where=f"{where} placeholder"))
        position = match.end()
    if position < len(source):
        parts.append(_WHITESPACE.sub(" ", source[position:]))
    return CelTemplate(source=source, parts=tuple(parts))


def make_activation(*, variables: Mapping[str, Plain]) -> CelActivation:
    """Convert plain facts into CEL values."""
    return CelActivation(variables={name: to_cel(value) for name, value in variables.items()})


def with_variables(*, activation: CelActivation, variables: Mapping[str, Plain]) -> CelActivation:
    """``activation`` with more (or replaced) variables, converted to CEL values."""
    return CelActivation(variables={**activation.variables, **{k: to_cel(v) for k, v in variables.items()}})


def to_cel(value: Plain | tuple[Plain, ...]) -> celtypes.Value:
    """A plain Python value as a CEL value (tuples become lists)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, list | tuple):
        return celtypes.ListType([to_cel(v) for v in value])
    if isinstance(value, dict):
        return celtypes.MapType({celtypes.StringType(str(k)): to_cel(v) for k, v in value.items()})
    raise PolicyError(f"cannot pass a {type(value).__name__} to CEL", fix="convert it to a plain value first")


def to_plain(value: object) -> Plain:
    """A celpy result as plain Python: bool, int, float, str, list, dict or None."""
    if value is None or isinstance(value, celtypes.NullType):
        return None
    if isinstance(value, celtypes.BoolType | bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {str(to_plain(k)): to_plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [to_plain(v) for v in value]
    return str(value)  # timestamps, durations, types


def render_value(value: Plain) -> str:
    """How a value reads in a message: lists joined by ', ', floats to 3 significant digits."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, list):
        return ", ".join(render_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={render_value(v)}" for k, v in value.items())
    return str(value)


def type_name(value: Plain) -> str:
    """The CEL name of a plain value's type, for error messages."""
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "double", str: "string", list: "list", dict: "map"}.get(
        type(value), type(value).__name__
    )


def describe_cel_error(exc: CELEvalError) -> str:
    """A short, readable description of a celpy evaluation error."""
    args = exc.args
    message = str(args[0]) if args else str(exc)
    message = message.split(" (in activation", 1)[0]
    if message == "no such key" and len(args) > 2 and args[2]:
        message = f"no such key {to_plain(args[2][0])!r}"
    elif message.startswith("found no matching overload"):
        operator = re.search(r"Token\('RULE', '(\w+)'\)", message)
        types = re.findall(r"celtypes\.(\w+?)Type", message)
        if operator and types:
            operands = ", ".join(t.lower() for t in types)
            message = f"no matching overload: {operator.group(1)} applied to ({operands})"
    return _clip(message)


def _format_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    text = f"{value:.3g}"
    if "e" in text and 1e-4 <= abs(value) < 1e15:
        text = f"{float(text):f}".rstrip("0").rstrip(".")
    return text


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"
