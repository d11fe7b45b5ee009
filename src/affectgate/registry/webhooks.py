"""MLflow registry webhooks as an early warning of an alias moved outside the gate (team mode).

MLflow 3 delivers webhooks only from its tracking server (``mlflow server``; see docs/registry.md), so
this serves team mode; the embedded SQLite default has none and relies on ``affectgate registry
reconcile``. :func:`register_alias_webhook` subscribes a receiver to ``model_version_alias.created`` /
``.deleted``; :func:`serve` is that receiver. It checks MLflow's HMAC signature (``X-MLflow-Signature``:
``v1,base64(HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>"))``) and the timestamp's age, answers
at once, and after a grace period (the gate moves the alias first and audits the move right after)
appends ``registry.webhook`` to the audit log with ``explained``: whether the audit log's last alias
move of that model and context names the same version. An unexplained move also appends
``alias.unexpected_move``, the finding a compliance officer sees in the audit trail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from affectgate.audit import AuditEvent
from affectgate.project.settings import Settings

ALIAS_EVENTS = ("model_version_alias.created", "model_version_alias.deleted")
WEBHOOK_NAME = "affectgate-alias-watch"


def register_alias_webhook(*, client: Any, url: str, secret: str, name: str = WEBHOOK_NAME) -> str:  # noqa: ANN401
    """Subscribe ``url`` to alias events on the tracking server behind ``client`` (an MlflowClient); its id."""
    hook = client.create_webhook(name=name, url=url, events=list(ALIAS_EVENTS), secret=secret)
    return str(hook.webhook_id)


def verify_signature(*, secret: str, headers: Mapping[str, str], body: bytes, max_age_s: float = 300) -> bool:
    """True when the delivery carries MLflow's valid HMAC signature and a timestamp younger than ``max_age_s``."""
    delivery, stamp = headers.get("X-MLflow-Delivery-Id", ""), headers.get("X-MLflow-Timestamp", "")
    signature = headers.get("X-MLflow-Signature", "")
    try:
        if abs(time.time() - int(stamp)) > max_age_s:
            return False
    except ValueError:
        return False
    signed = f"{delivery}.{stamp}.{body.decode('utf-8', errors='replace')}".encode()
    expected = "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, signature)


def record_alias_event(*, settings: Settings, body: Mapping[str, Any]) -> AuditEvent:
    """Audit one alias webhook delivery, saying whether the audit log explains it (see the module doc)."""
    from affectgate.gate.workspace import audit_log
    from affectgate.registry.reconcile import alias_history

    data = body.get("data") or {}
    model, alias, version = str(data.get("name", "")), str(data.get("alias", "")), data.get("version")
    event = f"{body.get('entity')}.{body.get('action')}"
    history = alias_history(settings=settings, model=model, context_id=alias)
    explained = event == "model_version_alias.created" and bool(history) and history[-1].version == str(version)
    log = audit_log(settings)
    subject = f"model:{model}/{version} context:{alias}" if version else f"model:{model} context:{alias}"
    payload = {"event": event, "model": model, "alias": alias, "version": version, "explained": explained}
    recorded = log.append(actor="mlflow-webhook", action="registry.webhook", subject=subject, payload=payload)
    if not explained:
        last = history[-1].version if history else None
        log.append(
            actor="mlflow-webhook",
            action="alias.unexpected_move",
            subject=subject,
            payload={**payload, "audited_version": last, "webhook_seq": recorded.seq},
        )
    return recorded


def serve(*, settings: Settings, host: str, port: int, secret: str, grace_s: float = 10.0) -> ThreadingHTTPServer:
    """The receiver (call ``serve_forever()`` on it, or run it in a thread); 401 on a bad signature."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if not verify_signature(secret=secret, headers=dict(self.headers.items()), body=body):
                self.send_response(401)
                self.end_headers()
                return
            try:
                parsed = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            self.send_response(204)
            self.end_headers()
            timer = threading.Timer(grace_s, lambda: record_alias_event(settings=settings, body=parsed))
            timer.daemon = True
            timer.start()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server API
            return

    return ThreadingHTTPServer((host, port), Handler)
