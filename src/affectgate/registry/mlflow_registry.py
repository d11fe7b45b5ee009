"""MLflow as the single source of what may ship: runs, registered versions, tags and context aliases.

Only this module imports mlflow; it converts to and from affectgate records at the boundary.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from affectgate.core.errors import RegistryError
from affectgate.core.records import Candidate, EvalReport, PolicyDecision

EXPERIMENT = "affectgate"
#: ``technique`` of a predictions-file candidate (affectgate.zoo.external.EXTERNAL_TECHNIQUE): no ONNX to log.
EXTERNAL_TECHNIQUE = "external_predictions"
#: Run-folder subfolder holding a predictions-file candidate's file and card (the version's source).
PREDICTIONS_ARTIFACT_DIR = "candidate"
_logger = logging.getLogger(__name__)


def alias_for(context_id: str) -> str:
    """The registry alias of a deployment context (the context id itself)."""
    return context_id


def _metric_key(name: str, group: str | None, label: str | None) -> str:
    key = name
    if label:
        key += f".{label}"
    if group:
        key += f".{group.replace('=', '_')}"
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", key)


@dataclass(frozen=True)
class VersionRef:
    """A registered model version."""

    name: str
    version: str
    run_id: str


class MlflowRegistry:
    """Logs evaluations, registers candidates and moves context aliases, in one tracking store."""

    def __init__(self, *, tracking_uri: str, artifact_root: Path) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        for noisy in ("mlflow", "alembic"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        if tracking_uri.startswith(("http://", "https://")):
            # MLflow retries a dead server 7 times with backoff (minutes); fail closed sooner (exit 3)
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        self._mlflow = mlflow
        self.tracking_uri = tracking_uri
        try:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(tracking_uri)
            self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            exp = self.client.get_experiment_by_name(EXPERIMENT)
            if exp is None and tracking_uri.startswith(("http://", "https://")):
                # team mode: the tracking server's artifact store, not a folder on this client
                self.experiment_id = self.client.create_experiment(EXPERIMENT)
            elif exp is None:
                artifact_root.mkdir(parents=True, exist_ok=True)
                self.experiment_id = self.client.create_experiment(EXPERIMENT, artifact_location=artifact_root.as_uri())
            else:
                self.experiment_id = exp.experiment_id
        except Exception as exc:
            raise RegistryError(
                f"MLflow tracking store {tracking_uri} is unavailable: {str(exc).splitlines()[0][:200]}",
                fix="check AFFECTGATE_MLFLOW_TRACKING_URI or remove it to use the SQLite default",
            ) from None

    # -- evaluation runs -------------------------------------------------------------------------
    def log_evaluation(
        self, *, candidate: Candidate, report: EvalReport, run_dir: Path, predictions_path: Path
    ) -> VersionRef:
        """One MLflow run per (candidate, dataset, target): params, metrics, report + predictions, ONNX model.

        The candidate is registered as a model version once per ONNX sha256 (a re-evaluation of the
        same file reuses the version).
        """
        mlflow = self._mlflow
        try:
            # the fluent API's tracking URI is process-wide: point it at this store for this run (two
            # workspaces in one process, e.g. tests or the dashboard, must not log into each other's store)
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
            with mlflow.start_run(
                experiment_id=self.experiment_id,
                run_name=f"{candidate.card.arch}:{report.dataset.name}:{report.target}",
            ) as run:
                mlflow.log_params(
                    {
                        "candidate": candidate.name,
                        "arch": candidate.card.arch,
                        "technique": candidate.card.technique,
                        "onnx_sha256": candidate.onnx_sha256,
                        "dataset": report.dataset.name,
                        "dataset_digest": report.dataset.digest,
                        "fold": report.dataset.fold,
                        "split": report.dataset.split,
                        "target": report.target,
                        "suite": report.suite,
                        "suite_version": report.suite_version,
                        "synthetic_data": report.synthetic_data,
                        "affectgate_run_id": report.run_id,
                    }
                )
                metrics = {}
                for result in report.results:
                    for m in result.measurements:
                        if m.value is not None and math.isfinite(m.value):
                            metrics[_metric_key(m.name, m.group, m.label)] = m.value
                mlflow.log_metrics(metrics)
                mlflow.set_tags(
                    {
                        "affectgate.synthetic_data": str(report.synthetic_data).lower(),
                        "affectgate.evaluators_failed": ",".join(
                            r.evaluator for r in report.results if r.status == "failed"
                        ),
                    }
                )
                # the whole run folder: report, predictions, data validation, plots, synthetic-data notice
                mlflow.log_artifacts(str(run_dir))
                if predictions_path.parent.resolve() != run_dir.resolve():
                    mlflow.log_artifact(str(predictions_path))
                version = self._register(candidate=candidate, run_id=run.info.run_id)
        except RegistryError:
            raise
        except Exception as exc:
            raise RegistryError(
                f"MLflow logging failed for {candidate.name}: {str(exc).splitlines()[0][:200]}",
                fix="check the tracking store and disk space; nothing was promoted",
            ) from None
        return version

    def _register(self, *, candidate: Candidate, run_id: str) -> VersionRef:
        existing = (
            self.client.search_model_versions(
                f"name = '{candidate.name}' and tags.onnx_sha256 = '{candidate.onnx_sha256}'"
            )
            if self._model_exists(candidate.name)
            else []
        )
        if existing:
            v = max(existing, key=lambda mv: int(mv.version))
            return VersionRef(name=candidate.name, version=str(v.version), run_id=v.run_id or run_id)
        if candidate.card.technique == EXTERNAL_TECHNIQUE:
            return self._register_predictions_file(candidate=candidate, run_id=run_id)
        import numpy as np
        import onnx
        from mlflow.models import infer_signature

        card = candidate.card
        example = np.zeros((1, card.input.frames, 3, card.input.size, card.input.size), dtype=np.float32)
        out_example = {
            o.name: np.zeros(
                (1, len(card.labels)) if o.level == "clip" else (1, card.input.frames, len(card.labels)),
                dtype=np.float32,
            )
            for o in card.outputs
        }
        signature = infer_signature({card.input.name: example}, out_example)
        info = self._mlflow.onnx.log_model(
            onnx.load(str(candidate.onnx_path)),
            name="model",
            registered_model_name=candidate.name,
            signature=signature,
            save_as_external_data=False,
        )
        version = str(info.registered_model_version)
        self.client.set_model_version_tag(candidate.name, version, "onnx_sha256", candidate.onnx_sha256)
        self.client.set_model_version_tag(candidate.name, version, "arch", card.arch)
        self.client.set_model_version_tag(candidate.name, version, "technique", card.technique)
        return VersionRef(name=candidate.name, version=version, run_id=run_id)

    def _register_predictions_file(self, *, candidate: Candidate, run_id: str) -> VersionRef:
        """A predictions-file candidate: the version's source is the run's ``candidate/`` artifacts (file + card).

        The pipeline copies the predictions file and its card into the run folder's ``candidate/``
        (logged with the run); there is no ONNX model to log.
        """
        if not self._model_exists(candidate.name):
            self.client.create_registered_model(candidate.name)
        mv = self.client.create_model_version(
            candidate.name, source=self._mlflow.get_artifact_uri(PREDICTIONS_ARTIFACT_DIR), run_id=run_id
        )
        version = str(mv.version)
        for key, value in (
            ("onnx_sha256", candidate.onnx_sha256),
            ("arch", candidate.card.arch),
            ("technique", candidate.card.technique),
            ("predictions_file", candidate.onnx_path.name),
        ):
            self.client.set_model_version_tag(candidate.name, version, key, value)
        return VersionRef(name=candidate.name, version=version, run_id=run_id)

    def _model_exists(self, name: str) -> bool:
        try:
            self.client.get_registered_model(name)
            return True
        except Exception:
            return False

    # -- decisions -------------------------------------------------------------------------------
    def record_decision(
        self, *, version: VersionRef, decision: PolicyDecision, report: EvalReport, audit_head: str
    ) -> bool:
        """Tag the version with the context's verdict; move the context alias only when the verdict is allow.

        Returns True when the alias was moved to this version.
        """
        ctx = decision.context_id
        tags = {
            f"verdict.{ctx}": decision.verdict,
            f"policy_digest.{ctx}": ",".join(f"{k}:{v[:16]}" for k, v in sorted(decision.pack_digests.items())),
            "dataset_digest": report.dataset.digest,
            "suite_version": f"{report.suite}@{report.suite_version}",
            "synthetic_data": str(report.synthetic_data).lower(),
            "audit_chain_head": audit_head,
        }
        try:
            for key, value in tags.items():
                self.client.set_model_version_tag(version.name, version.version, key, value)
            if decision.verdict != "allow":
                return False
            self.client.set_registered_model_alias(version.name, alias_for(ctx), version.version)
            return True
        except Exception as exc:
            raise RegistryError(
                f"MLflow registry write failed for {version.name} v{version.version}: {str(exc).splitlines()[0][:200]}"
            ) from None

    def alias_version(self, *, name: str, context_id: str) -> str | None:
        """The version currently holding the context's alias, or None."""
        try:
            return str(self.client.get_model_version_by_alias(name, alias_for(context_id)).version)
        except Exception:
            return None

    def version_metrics(self, *, name: str, version: str) -> dict[str, float]:
        """Metrics of the evaluation run that registered a version (keys as logged, e.g. ``uar``)."""
        run_id = self.client.get_model_version(name, version).run_id
        return dict(self.client.get_run(run_id).data.metrics) if run_id else {}

    def version_tags(self, *, name: str, version: str) -> dict[str, str]:
        """Tags of a model version."""
        return dict(self.client.get_model_version(name, version).tags)

    def run_report(self, *, run_id: str) -> dict[str, object]:
        """The report.json artifact of an evaluation run (for readers such as the dashboard)."""
        path = self._mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="report.json", tracking_uri=self.tracking_uri
        )
        return json.loads(Path(path).read_text(encoding="utf-8"))
