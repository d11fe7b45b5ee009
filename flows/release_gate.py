"""Prefect flow: evaluate -> decide -> promote/reject for one candidate and several deployment contexts.

A thin shell over ``affectgate.gate.run_gate``: parameters are ids/paths (strings) and every
step runs as a Prefect task. With ``review_timeout_s > 0`` a ``review`` verdict pauses the flow run
(``pause_flow_run(wait_for_input=...)``, :mod:`affectgate.orchestration.review_flow`) until a compliance officer signs
it off in the dashboard or with ``affectgate review sign``, or the timeout passes. Run it with
``affectgate gate`` (Prefect's ephemeral server by default) or deploy it (``flows/prefect.yaml``).
"""

from __future__ import annotations

from datetime import date

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from affectgate import gate as pipeline
from affectgate.datasets.selection import parse_label_map
from affectgate.orchestration.review_flow import await_signoffs
from affectgate.project.settings import get_settings

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
    fold: int | None = None,
    suite: str = "release",
    as_of: str | None = None,
    review_timeout_s: int = 0,
    review_recheck_s: int = 300,
    data_format: str = "dfew",
    split: str | None = None,
    label_map: str | None = None,
) -> list[pipeline.GateResult]:
    """Gate one exported model (folder with model.onnx + card.yaml) for each context id.

    ``review_timeout_s``: how long a ``review`` verdict waits for sign-off (0: don't wait, exit 2).
    ``review_recheck_s``: while waiting, how often the audit log is re-read for sign-offs.
    ``data_format``: registered loader format of ``data``; ``fold``/``split``: None = the format's default.
    ``label_map``: ``--label-map`` text (``contempt=drop,...``), overlaying the datasheet's label_map.
    """
    settings = get_settings()
    results = pipeline.run_gate(
        settings=settings,
        model=model,
        contexts=contexts,
        data=data,
        fold=fold,
        suite=suite,
        as_of=date.fromisoformat(as_of) if as_of else None,
        steps=TASK_STEPS,
        data_format=data_format,
        split=split,
        label_map=parse_label_map(label_map),
    )
    return await_signoffs(settings=settings, results=results, timeout_s=review_timeout_s, recheck_s=review_recheck_s)
