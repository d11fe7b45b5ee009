"""Audit export for a period: a report a regulator can read (Markdown or HTML) and the raw events (JSONL).

The report lists, for events in ``[start, end)``: every event, the policy decisions with their verdicts
and the rule ids that fired, the promotions and rejections (alias moves), sign-offs, and gate errors; it
states the result of verifying the *whole* chain (not just the period), whether the head anchor is
HMAC-signed and verified, and the retention floor. The JSONL export is the period's events byte for byte
as stored, so each one can be re-checked against the full log by its ``digest`` and ``prev_digest``.

Reading only: an export never appends to, rewrites or deletes from the log.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

from affectgate import __version__
from affectgate.audit.chain import AuditError, AuditEvent, ChainReport
from affectgate.audit.store import AuditLog
from affectgate.project.settings import Settings

ExportFormat = Literal["markdown", "html", "jsonl"]
FORMATS: tuple[str, ...] = ("markdown", "html", "jsonl")

_SIGNOFF_PREFIXES = ("signoff", "sign-off", "sign_off")
_ALIAS_ACTIONS = ("promotion", "rejection", "alias.moved")


@dataclass(frozen=True)
class Period:
    """A half-open UTC time window ``[start, end)``; None means unbounded on that side."""

    start: datetime | None
    end: datetime | None

    def contains(self, when: datetime) -> bool:
        """True when ``when`` falls inside the window."""
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)

    def describe(self) -> str:
        """The window in words."""
        a = self.start.isoformat() if self.start else "the first event"
        b = f"before {self.end.isoformat()}" if self.end else "the last event"
        return f"from {a} to {b}"


@dataclass(frozen=True)
class HmacStatus:
    """Whether the head anchor carries an HMAC and whether it was checked."""

    state: Literal["verified", "mismatch", "unsigned", "not_checked"]
    message: str


@dataclass(frozen=True)
class AuditExport:
    """An export: the rendered text and what it was made from."""

    text: str
    fmt: ExportFormat
    period: Period
    events: tuple[AuditEvent, ...]
    chain: ChainReport
    hmac: HmacStatus
    retention_days: int
    signed_head: dict[str, object] | None = None
    fingerprints: tuple[str, ...] = ()


#: Marker of the machine-readable signed head in a Markdown/HTML export (``audit verify --export`` reads it).
HEAD_MARKER = "affectgate-signed-head"


def heads_in_export(text: str, *, where: str) -> list[tuple[int, str, str, str | None, str | None]]:
    """The signed heads an export records: (seq, digest, where, key_id, signature) of each.

    A Markdown/HTML export carries its head in a ``<!-- affectgate-signed-head {...} -->`` comment; a JSONL
    export's lines are signed events themselves (each is a head of the chain up to it).
    """
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        data = None
        if line.startswith(f"<!-- {HEAD_MARKER} ") and line.endswith("-->"):
            body = line[len(f"<!-- {HEAD_MARKER} ") : -3].strip()
            try:
                data = json.loads(body)
            except ValueError:
                continue
        elif line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
        if not isinstance(data, dict) or not isinstance(data.get("seq"), int):
            continue
        if not isinstance(data.get("digest"), str):
            continue
        out.append((int(data["seq"]), str(data["digest"]), where, data.get("key_id"), data.get("signature")))
    return out


@dataclass(frozen=True)
class ExportResult:
    """What :func:`audit_export_command` did: where it wrote, how many events, whether the chain verified."""

    path: Path | None
    text: str
    n_events: int
    chain_ok: bool


def parse_bound(value: str | None, *, end: bool) -> datetime | None:
    """``YYYY-MM-DD`` or an ISO datetime as a UTC bound; a date as ``--to`` includes that whole day.

    Naive datetimes are taken as UTC. Raises :class:`AuditError` naming the value on bad input.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(0), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        flag = "--to" if end else "--from"
        raise AuditError(
            f"{flag} {value!r} is not a date or datetime",
            fix="use YYYY-MM-DD or an ISO datetime such as 2026-01-31T12:00Z",
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def hmac_status(*, log: AuditLog, hmac_key: str | None, chain: ChainReport) -> HmacStatus:
    """The anchor's signature state: verified with the configured key, mismatched, unsigned, or not checked."""
    signed = False
    if log.anchor_path.is_file():
        try:
            signed = bool(json.loads(log.anchor_path.read_text(encoding="utf-8")).get("hmac"))
        except (ValueError, AttributeError):
            signed = False
    if hmac_key is None:
        if signed:
            return HmacStatus(
                state="not_checked",
                message="the head anchor carries an HMAC, but no key is configured here (AFFECTGATE_AUDIT_HMAC_KEY)"
                ": the signature was not checked",
            )
        return HmacStatus(state="unsigned", message="no HMAC key configured: the chain is hash-linked but unsigned")
    if any("HMAC" in p.message for p in chain.problems):
        return HmacStatus(state="mismatch", message="the head anchor's HMAC does NOT match the configured key")
    return HmacStatus(state="verified", message="the head anchor's HMAC-SHA256 matches the configured key")


def _decision_rows(events: Sequence[AuditEvent]) -> list[list[str]]:
    rows = []
    for ev in events:
        if ev.action != "decision.made":
            continue
        outcomes = ev.payload.get("outcomes")
        fired = sorted(k for k, v in outcomes.items() if v in ("fail", "error")) if isinstance(outcomes, dict) else []
        packs = ev.payload.get("pack_digests")
        pack_text = ", ".join(f"{k}:{str(v)[:12]}" for k, v in sorted(packs.items())) if isinstance(packs, dict) else ""
        rows.append(
            [
                str(ev.seq),
                ev.time.isoformat(timespec="seconds"),
                ev.subject,
                str(ev.payload.get("verdict", "")),
                ", ".join(fired) or "none",
                str(ev.payload.get("as_of", "")),
                pack_text,
            ]
        )
    return rows


def _alias_rows(events: Sequence[AuditEvent]) -> list[list[str]]:
    rows = []
    for ev in events:
        if ev.action not in _ALIAS_ACTIONS:
            continue
        holder = ev.payload.get("alias_holder_after", ev.payload.get("version"))
        rows.append(
            [
                str(ev.seq),
                ev.time.isoformat(timespec="seconds"),
                ev.action,
                ev.subject,
                str(ev.payload.get("verdict", "")),
                "" if holder is None else str(holder),
                ev.actor,
            ]
        )
    return rows


def _signoff_rows(events: Sequence[AuditEvent]) -> list[list[str]]:
    rows = []
    for ev in events:
        if not ev.action.startswith(_SIGNOFF_PREFIXES):
            continue
        note = ev.payload.get("decision") or (ev.action.split(".", 1)[1] if "." in ev.action else "")
        comment = ev.payload.get("comment", ev.payload.get("reason", ""))
        rows.append([str(ev.seq), ev.time.isoformat(timespec="seconds"), ev.actor, ev.subject, str(note), str(comment)])
    return rows


def _error_rows(events: Sequence[AuditEvent]) -> list[list[str]]:
    return [
        [str(ev.seq), ev.time.isoformat(timespec="seconds"), ev.subject, str(ev.payload.get("error", ""))]
        for ev in events
        if ev.action == "gate.error"
    ]


def _event_rows(events: Sequence[AuditEvent]) -> list[list[str]]:
    return [
        [str(ev.seq), ev.time.isoformat(timespec="seconds"), ev.actor, ev.action, ev.subject, ev.digest[:16]]
        for ev in events
    ]


@dataclass(frozen=True)
class _Table:
    title: str
    columns: tuple[str, ...]
    rows: list[list[str]]
    empty: str


def _tables(events: Sequence[AuditEvent]) -> list[_Table]:
    return [
        _Table(
            "Policy decisions",
            ("seq", "time (UTC)", "subject", "verdict", "rules failed or errored", "rules as of", "policy packs"),
            _decision_rows(events),
            "No policy decision in this period.",
        ),
        _Table(
            "Promotions, rejections and alias moves",
            ("seq", "time (UTC)", "action", "subject", "verdict", "alias holder after", "actor"),
            _alias_rows(events),
            "No promotion, rejection or alias move in this period.",
        ),
        _Table(
            "Human sign-offs",
            ("seq", "time (UTC)", "who", "subject", "decision", "comment"),
            _signoff_rows(events),
            "No sign-off in this period.",
        ),
        _Table(
            "Gate errors (nothing promoted)",
            ("seq", "time (UTC)", "subject", "error"),
            _error_rows(events),
            "No gate error in this period.",
        ),
        _Table(
            "All events",
            ("seq", "time (UTC)", "actor", "action", "subject", "digest (first 16)"),
            _event_rows(events),
            "No event in this period.",
        ),
    ]


def _head_text(exp: AuditExport) -> str:
    head = exp.signed_head
    if not head:
        return "none (empty log)"
    if not head.get("signature"):
        return f"event {head['seq']}, digest {head['digest']}: NOT signed (no Ed25519 key in this workspace)"
    return (
        f"event {head['seq']}, digest {head['digest']}, Ed25519 signature {head['signature']} by key "
        f"{head.get('key_id')} ({head.get('fingerprint') or 'fingerprint unknown here'}); keep this export: "
        "`affectgate audit verify --export THIS_FILE --public-key KEY.pub.pem` proves the log was not rolled back"
    )


def _facts(exp: AuditExport, *, log_path: Path) -> list[tuple[str, str]]:
    chain = exp.chain
    if chain.ok:
        verdict = f"VERIFIED: {chain.n_events} events, head seq {chain.head_seq}, head digest {chain.head_digest}"
    else:
        kinds = ", ".join(sorted({p.kind for p in chain.problems}))
        verdict = f"BROKEN ({kinds}); first bad event seq {chain.first_bad_seq}"
    first, last = (exp.events[0], exp.events[-1]) if exp.events else (None, None)
    link = (
        f"events {first.seq}-{last.seq}; first links to prev_digest {first.prev_digest}, last digest {last.digest}"
        if first and last
        else "no events"
    )
    return [
        ("Audit log", str(log_path)),
        ("Period", exp.period.describe()),
        ("Events in period", f"{len(exp.events)} ({link})"),
        ("Hash chain (whole log, SHA-256)", verdict),
        ("Signed head (anchors the chain outside the log)", _head_text(exp)),
        (
            "Public signing key(s)",
            ", ".join(exp.fingerprints) or "none: the chain is hash-linked but not Ed25519-signed",
        ),
        ("HMAC signature of the head anchor", exp.hmac.message),
        (
            "Retention",
            f"events are kept at least {exp.retention_days} days (EU AI Act Art. 12 and 19: at least six months); "
            "the log is append-only and affectgate has no deletion API",
        ),
        ("Exported", f"{datetime.now(UTC).isoformat(timespec='seconds')} by affectgate {__version__}"),
    ]


def _markdown(exp: AuditExport, *, log_path: Path) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    out = ["# affectgate audit report", ""]
    if exp.signed_head:
        out += [f"<!-- {HEAD_MARKER} {json.dumps(exp.signed_head, sort_keys=True)} -->", ""]
    out += [f"- **{k}**: {cell(v)}" for k, v in _facts(exp, log_path=log_path)]
    out.append("")
    if not exp.chain.ok:
        out += ["## Chain problems", ""]
        out += [f"- {p.kind} (seq {p.seq}, line {p.line}): {cell(p.message)}" for p in exp.chain.problems]
        out.append("")
    for table in _tables(exp.events):
        out += [f"## {table.title}", ""]
        if not table.rows:
            out += [table.empty, ""]
            continue
        out.append("| " + " | ".join(table.columns) + " |")
        out.append("|" + "---|" * len(table.columns))
        out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
        out.append("")
    return "\n".join(out)


def _html(exp: AuditExport, *, log_path: Path) -> str:
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>affectgate audit report</title>',
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #999;padding:3px 6px;text-align:left;font-size:90%}"
        ".bad{color:#b00;font-weight:bold}.ok{color:#070;font-weight:bold}</style></head><body>",
        "<h1>affectgate audit report</h1>",
        *([f"<!-- {HEAD_MARKER} {json.dumps(exp.signed_head, sort_keys=True)} -->"] if exp.signed_head else []),
        "<dl>",
    ]
    for key, value in _facts(exp, log_path=log_path):
        cls = ""
        if key.startswith("Hash chain"):
            cls = ' class="ok"' if exp.chain.ok else ' class="bad"'
        out.append(f"<dt>{esc(key)}</dt><dd{cls}>{esc(value)}</dd>")
    out.append("</dl>")
    if not exp.chain.ok:
        out.append("<h2>Chain problems</h2><ul>")
        out += [f"<li>{esc(p.kind)} (seq {p.seq}, line {p.line}): {esc(p.message)}</li>" for p in exp.chain.problems]
        out.append("</ul>")
    for table in _tables(exp.events):
        out.append(f"<h2>{esc(table.title)}</h2>")
        if not table.rows:
            out.append(f"<p>{esc(table.empty)}</p>")
            continue
        out.append("<table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in table.columns) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in table.rows]
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def export(
    *,
    settings: Settings,
    start: datetime | None = None,
    end: datetime | None = None,
    fmt: ExportFormat = "markdown",
) -> AuditExport:
    """The workspace audit log's events in ``[start, end)`` rendered as ``fmt``, with the whole chain verified.

    A log whose lines cannot all be read still exports (the readable events, the problems listed).
    """
    if fmt not in FORMATS:
        raise AuditError(f"unknown audit export format {fmt!r}", fix=f"use one of {', '.join(FORMATS)}")
    for bound in (start, end):
        if bound is not None and bound.tzinfo is None:
            raise AuditError(f"export bound {bound.isoformat()} has no timezone", fix="pass UTC datetimes")
    if start is not None and end is not None and end <= start:
        raise AuditError(
            f"empty export period: --to {end.isoformat()} is not after --from {start.isoformat()}",
            fix="swap the bounds",
        )
    log = AuditLog(path=settings.audit_path, hmac_key=settings.audit_hmac_key)
    chain = log.verify()
    try:
        signed_head = log.signed_head()
    except AuditError:
        signed_head = None
    period = Period(start=start, end=end)
    raw_lines: list[bytes] = []
    events: list[AuditEvent] = []
    if log.path.is_file():
        with log.path.open("rb") as fh:
            for raw in fh:
                try:
                    ev = AuditEvent.model_validate_json(raw)
                except ValueError:
                    continue  # listed among the chain problems
                if period.contains(ev.time):
                    events.append(ev)
                    raw_lines.append(raw if raw.endswith(b"\n") else raw + b"\n")
    status = hmac_status(log=log, hmac_key=settings.audit_hmac_key, chain=chain)
    exp = AuditExport(
        text="",
        fmt=fmt,
        period=period,
        events=tuple(events),
        chain=chain,
        hmac=status,
        retention_days=settings.audit_retention_days,
        signed_head=signed_head,
        fingerprints=log.ring.fingerprints(),
    )
    if fmt == "jsonl":
        text = b"".join(raw_lines).decode("utf-8")
    elif fmt == "html":
        text = _html(exp, log_path=log.path)
    else:
        text = _markdown(exp, log_path=log.path)
    return AuditExport(
        text=text,
        fmt=fmt,
        period=period,
        events=exp.events,
        chain=chain,
        hmac=status,
        retention_days=exp.retention_days,
        signed_head=signed_head,
        fingerprints=exp.fingerprints,
    )


def audit_export_command(
    *,
    settings: Settings,
    start: str | None = None,
    end: str | None = None,
    fmt: str = "markdown",
    out: Path | None = None,
) -> ExportResult:
    """``affectgate audit export --from --to --format --out``: render and (with ``out``) write the export.

    ``start``/``end`` are ``YYYY-MM-DD`` (``end`` inclusive of that day) or ISO datetimes. The CLI prints
    ``text`` when ``out`` is None and should exit 1 when ``chain_ok`` is False (the export is still written,
    its first section says what is broken).
    """
    if fmt not in FORMATS:
        raise AuditError(f"unknown audit export format {fmt!r}", fix=f"use one of {', '.join(FORMATS)}")
    result = export(
        settings=settings,
        start=parse_bound(start, end=False),
        end=parse_bound(end, end=True),
        fmt=fmt,  # type: ignore[arg-type]
    )
    path = None
    if out is not None:
        path = Path(out)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(result.text, encoding="utf-8")
        except OSError as exc:
            raise AuditError(
                f"cannot write the audit export to {path}: {exc.strerror}", fix="pick a writable path"
            ) from None
    return ExportResult(path=path, text=result.text, n_events=len(result.events), chain_ok=result.chain.ok)
