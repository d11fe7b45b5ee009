"""The release gate: prepare -> evaluate -> decide -> promote (or reject), every step audited.

One module per step (:mod:`~affectgate.gate.prepare`, :mod:`~affectgate.gate.evaluate`,
:mod:`~affectgate.gate.decide`, :mod:`~affectgate.gate.promote`), the records they pass on
(:mod:`~affectgate.gate.results`), the whole run (:mod:`~affectgate.gate.run`), the workspace services
they share (:mod:`~affectgate.gate.workspace`), the run-folder reader (:mod:`~affectgate.gate.runs`) and
the CI report (:mod:`~affectgate.gate.ci_report`). Prefect flows in ``flows/`` and the CLI call these;
nothing here imports Prefect.
"""

from affectgate.gate.decide import decide_context, regression_baseline
from affectgate.gate.evaluate import evaluate, run_inference
from affectgate.gate.prepare import prepare
from affectgate.gate.promote import apply_decision
from affectgate.gate.results import (
    EXIT_BLOCKED,
    EXIT_ERROR,
    EXIT_PROMOTED,
    EXIT_REVIEW,
    SYNTHETIC_NOTICE,
    Evaluation,
    GateError,
    GateInputs,
    GateResult,
    combined_exit_code,
)
from affectgate.gate.run import Steps, run_gate
from affectgate.gate.workspace import audit_log, record_error, registry

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_ERROR",
    "EXIT_PROMOTED",
    "EXIT_REVIEW",
    "SYNTHETIC_NOTICE",
    "Evaluation",
    "GateError",
    "GateInputs",
    "GateResult",
    "Steps",
    "apply_decision",
    "audit_log",
    "combined_exit_code",
    "decide_context",
    "evaluate",
    "prepare",
    "record_error",
    "regression_baseline",
    "registry",
    "run_gate",
    "run_inference",
]
