"""Prefect flow: evaluate -> decide -> promote/reject for one candidate and several deployment contexts.

A thin shell over ``affectgate.pipeline.run_gate``: parameters are ids/paths (strings) and every
step runs as a Prefect task. Run it with ``affectgate gate`` (Prefect's ephemeral server by
default) or deploy it (``flows/prefect.yaml``).
"""

from __future__ import annotations

from datetime import date

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from affectgate import pipeline
from affectgate.settings import get_settings

TASK_STEPS = pipeline.Steps(
    prepare=task(pipeline.prepare, name="prepare", cache_policy=NO_CACHE),
    evaluate=task(pipeline.evaluate, name="evaluate", cache_policy=NO_CACHE),
    decide_context=task(pipeline.decide_context, name="decide", cache_policy=NO_CACHE),
    apply_decision=task(pipeline.apply_decision, name="promote-or-reject", cache_policy=NO_CACHE),
)


@flow(name="release-gate")
def release_gate(
    model: str,
    contexts: list[str],
    data: str,
    fold: int = 1,
    suite: str = "release",
    as_of: str | None = None,
) -> list[pipeline.GateResult]:
    """Gate one exported model (folder with model.onnx + card.yaml) for each context id."""
    return pipeline.run_gate(
        settings=get_settings(),
        model=model,
        contexts=contexts,
        data=data,
        fold=fold,
        suite=suite,
        as_of=date.fromisoformat(as_of) if as_of else None,
        steps=TASK_STEPS,
    )
