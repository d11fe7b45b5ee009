"""MLflow as the single source of what may ship: runs, registered versions, tags and context aliases.

Only this module imports mlflow; it converts to and from affectgate records at the boundary.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from affectgate.audit.faults import hit
from affectgate.core.errors import RegistryError
from affectgate.core.records import Candidate, EvalReport, PolicyDecision

EXPERIMENT = "affectgate"
#: Version tag holding the audit log's signed head when the decision was recorded (an anchor outside the log).
AUDIT_HEAD_TAG = "audit.head"
#: Version tag marking a version registered without affectgate's identity tags (never reused or promoted).
QUARANTINE_TAG = "affectgate.quarantined"
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

    def __init__(
        self, *, tracking_uri: str, artifact_root: Path, lock_path: Path | None = None, fault: str | None = None
    ) -> None:
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
        self._lock_path = lock_path  # serialises "find the version of this sha256, else register one"
        self._fault = fault  # TEST-ONLY fault point (affectgate.audit.faults)
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
            first = str(exc).splitlines()[0][:200]
            fix = "check AFFECTGATE_MLFLOW_TRACKING_URI or remove it to use the SQLite default"
            if "locked" in first:
                fix = "another process holds the SQLite store's write lock: let it finish (or stop it) and run again"
            elif "no such table" in first or "alembic" in first.lower():
                fix = "the store's schema is incomplete (an interrupted first use): move mlflow.db aside and run again"
            raise RegistryError(f"MLflow tracking store {tracking_uri} is unavailable: {first}", fix=fix) from None

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
                        "subjects": "unknown" if report.dataset.cluster_assumption else "known",
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
                        "affectgate.cluster_assumption": report.dataset.cluster_assumption or "subject ids known",
                        "affectgate.evaluators_failed": ",".join(
                            r.evaluator for r in report.results if r.status == "failed"
                        ),
                        "affectgate.submitter": report.submitter or "",
                        "affectgate.submitter_kind": report.submitter_kind or "",
                    }
                )
                # the whole run folder: report, predictions, data validation, plots, synthetic-data notice
                mlflow.log_artifacts(str(run_dir))
                if predictions_path.parent.resolve() != run_dir.resolve():
                    mlflow.log_artifact(str(predictions_path))
                hit(self._fault, "evaluation.done")
                with self._registration_lock():
                    version = self._register(candidate=candidate, run_id=run.info.run_id)
                hit(self._fault, "registration.done")
        except RegistryError:
            raise
        except Exception as exc:
            raise RegistryError(
                f"MLflow logging failed for {candidate.name}: {str(exc).splitlines()[0][:200]}",
                fix="check the tracking store and disk space; nothing was promoted",
            ) from None
        return version

    @contextmanager
    def _registration_lock(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        import fcntl

        with self._lock_path.open("a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

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
            signature=signature,
            save_as_external_data=False,
        )
        # the version and its identifying tags in one call (one store transaction): a kill can never leave a
        # registered version without its sha256 (older orphans: quarantine_orphans)
        mv = self._mlflow.register_model(
            info.model_uri,
            candidate.name,
            tags={"onnx_sha256": candidate.onnx_sha256, "arch": card.arch, "technique": card.technique},
        )
        return VersionRef(name=candidate.name, version=str(mv.version), run_id=run_id)

    def _register_predictions_file(self, *, candidate: Candidate, run_id: str) -> VersionRef:
        """A predictions-file candidate: the version's source is the run's ``candidate/`` artifacts (file + card).

        The pipeline copies the predictions file and its card into the run folder's ``candidate/``
        (logged with the run); there is no ONNX model to log.
        """
        if not self._model_exists(candidate.name):
            self.client.create_registered_model(candidate.name)
        mv = self.client.create_model_version(
            candidate.name,
            source=self._mlflow.get_artifact_uri(PREDICTIONS_ARTIFACT_DIR),
            run_id=run_id,
            tags={
                "onnx_sha256": candidate.onnx_sha256,
                "arch": candidate.card.arch,
                "technique": candidate.card.technique,
                "predictions_file": candidate.onnx_path.name,
            },
        )
        return VersionRef(name=candidate.name, version=str(mv.version), run_id=run_id)

    def _model_exists(self, name: str) -> bool:
        try:
            self.client.get_registered_model(name)
            return True
        except Exception:
            return False

    # -- decisions -------------------------------------------------------------------------------
    def record_decision(
        self,
        *,
        version: VersionRef,
        decision: PolicyDecision,
        report: EvalReport,
        audit_head: str,
        signed_head: dict[str, object] | None = None,
        move_alias: bool = True,
    ) -> bool:
        """Tag the version with the context's verdict; move the context alias only when the verdict is allow.

        ``signed_head`` (the audit log's signed head, ``AuditLog.signed_head()``) is stored as the
        ``audit.head`` tag: an anchor of the audit chain outside the log that ``audit verify`` checks, so a
        log rolled back to an older head is caught. ``move_alias=False`` only tags: the gate then moves the
        alias itself between a write-ahead intent and its confirmation (``affectgate.gate.promote``).
        Returns True when the verdict lets the alias move to this version (and, by default, it was moved).
        """
        ctx = decision.context_id
        tags = {
            f"verdict.{ctx}": decision.verdict,
            f"policy_digest.{ctx}": ",".join(f"{k}:{v[:16]}" for k, v in sorted(decision.pack_digests.items())),
            "dataset_digest": report.dataset.digest,
            "suite_version": f"{report.suite}@{report.suite_version}",
            "synthetic_data": str(report.synthetic_data).lower(),
            "audit_chain_head": audit_head,
            f"submitter.{ctx}": report.submitter or "",
            f"submitter_kind.{ctx}": report.submitter_kind or "",
        }
        if signed_head is not None:
            tags[AUDIT_HEAD_TAG] = json.dumps(signed_head, sort_keys=True)
        try:
            for key, value in tags.items():
                self.client.set_model_version_tag(version.name, version.version, key, value)
            if decision.verdict != "allow":
                return False
            if move_alias:
                self.client.set_registered_model_alias(version.name, alias_for(ctx), version.version)
            return True
        except Exception as exc:
            raise RegistryError(
                f"MLflow registry write failed for {version.name} v{version.version}: {str(exc).splitlines()[0][:200]}"
            ) from None

    def move_alias(self, *, name: str, context_id: str, version: str) -> None:
        """Point the context's alias at ``version`` (RegistryError naming the store on failure)."""
        try:
            self.client.set_registered_model_alias(name, alias_for(context_id), version)
        except Exception as exc:
            raise RegistryError(
                f"MLflow registry write failed for {name} v{version}: {str(exc).splitlines()[0][:200]}",
                fix="check the tracking store; the alias did not move",
            ) from None

    def _all_versions(self) -> list[object]:
        out: list[object] = []
        token = None
        while True:
            page = self.client.search_model_versions(max_results=1000, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    def audit_heads(self) -> list[tuple[int, str, str, str | None, str | None]]:
        """Every audit head recorded on a version tag: (seq, digest, where, key_id, signature)."""
        out = []
        try:
            versions = self._all_versions()
        except Exception as exc:
            raise RegistryError(
                f"cannot read the audit heads on {self.tracking_uri}: {str(exc).splitlines()[0][:200]}",
                fix="check the tracking store (or pass --no-registry to verify the file alone)",
            ) from None
        for mv in versions:
            raw = (getattr(mv, "tags", None) or {}).get(AUDIT_HEAD_TAG)
            if not raw:
                continue
            try:
                head = json.loads(raw)
                seq, digest = int(head["seq"]), str(head["digest"])
            except (ValueError, KeyError, TypeError):
                continue
            where = f"MLflow tag {AUDIT_HEAD_TAG} of {mv.name} v{mv.version}"  # type: ignore[attr-defined]
            out.append((seq, digest, where, head.get("key_id"), head.get("signature")))
        return out

    def quarantine_orphans(self) -> list[tuple[str, str]]:
        """Tag every version without affectgate's ``onnx_sha256`` tag as quarantined; (name, version) of each new one.

        Such a version was registered outside affectgate, or by a release older than the one-call
        registration that a kill interrupted; it is never reused (registration looks versions up by that
        tag), never promoted by the gate, and reported by ``affectgate registry reconcile``.
        """
        found = []
        try:
            for mv in self._all_versions():
                tags = getattr(mv, "tags", None) or {}
                if "onnx_sha256" in tags or QUARANTINE_TAG in tags:
                    continue
                name, version = str(mv.name), str(mv.version)  # type: ignore[attr-defined]
                why = "no onnx_sha256 tag: registered without affectgate's identity tags; never promoted"
                self.client.set_model_version_tag(name, version, QUARANTINE_TAG, why)
                found.append((name, version))
        except Exception as exc:
            raise RegistryError(
                f"cannot check the registered versions of {self.tracking_uri}: {str(exc).splitlines()[0][:200]}",
                fix="check the tracking store",
            ) from None
        return found

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
