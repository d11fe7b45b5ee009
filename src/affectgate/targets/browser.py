"""The ``browser`` target: onnxruntime-web (WASM) in headless Chromium, timed in the page with performance.now().

Nothing is downloaded: the browser is the Debian ``chromium`` package (``/usr/bin/chromium``) driven by
Playwright's Python client (never ``playwright install``), and onnxruntime-web comes from
``npm ci`` in ``affectgate/targets/browser/`` (pinned by its package-lock.json). A local HTTP server
on 127.0.0.1 serves the page, the ORT-web files, the model and the input tensors, with
cross-origin-isolation headers so WASM threads are available.
"""

from __future__ import annotations

import json
import mimetypes
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from affectgate.core.errors import AffectgateError, ModelError
from affectgate.targets.harness import HARNESS, percentiles
from affectgate.targets.spec import TargetResult, TargetSpec, Workload, cpu_model, host_facts, skipped
from affectgate.zoo.files import sha256_file

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
ORT_WEB_DIST = BROWSER_DIR / "node_modules" / "onnxruntime-web" / "dist"
DEFAULT_EXECUTABLE = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
)
_MIME = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html"}


def ort_web_version() -> str | None:
    """Version of the onnxruntime-web package installed by ``npm ci``, or None when it is absent."""
    pkg = ORT_WEB_DIST.parent / "package.json"
    if not (ORT_WEB_DIST / "ort.wasm.min.js").is_file() or not pkg.is_file():
        return None
    return str(json.loads(pkg.read_text(encoding="utf-8")).get("version", "unknown"))


def unavailable_reason(*, executable: str = DEFAULT_EXECUTABLE) -> str | None:
    """Why the browser target cannot run here (no browser binary, no onnxruntime-web), or None when it can."""
    if not Path(executable).is_file():
        return (
            f"no browser at {executable}: install the Debian package (apt-get install -y chromium); "
            "affectgate never downloads a browser"
        )
    if ort_web_version() is None:
        return f"onnxruntime-web is not installed: run `npm ci` in {BROWSER_DIR}"
    return None


class _Server:
    """A 127.0.0.1 HTTP server of fixed routes (page, model, inputs) plus the ORT-web dist files, in a thread."""

    def __init__(self, routes: dict[str, tuple[bytes, str]]) -> None:
        dist = {f"/ort/{p.name}": p for p in ORT_WEB_DIST.iterdir() if p.is_file()}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                if path in routes:
                    body, ctype = routes[path]
                elif path in dist:
                    body = dist[path].read_bytes()
                    ctype = _MIME.get(dist[path].suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _bench_in_browser(*, executable: str, url: str, config: dict, timeout_ms: float) -> tuple[dict, str]:
    """Open the page in headless Chromium and run the in-page benchmark; returns (raw results, browser version)."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise AffectgateError(
            "the browser target needs the Playwright Python client",
            fix="pip install 'playwright>=1.49,<2' (the client only; never run `playwright install`)",
        ) from None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), headless=True)
            try:
                page = browser.new_page()
                page.set_default_timeout(timeout_ms)
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{url}/index.html")
                try:
                    raw = page.evaluate("cfg => window.affectgateBench(cfg)", config)
                except PlaywrightError as exc:
                    detail = "; ".join(errors) or str(exc).splitlines()[0]
                    raise ModelError(f"onnxruntime-web failed in Chromium: {detail[:300]}") from None
                return raw, browser.version
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise AffectgateError(
            f"headless Chromium ({executable}) could not be driven: {str(exc).splitlines()[0][:200]}",
            fix="check `chromium --headless --no-sandbox --version` works on this host",
        ) from None


def _parity(*, workload: Workload, browser_outputs: dict[str, list[float]]) -> float:
    """Max abs difference between the page's outputs on sample 0 and onnxruntime CPU's; too large fails closed.

    It proves the timed page really ran this model on these inputs.
    """
    import onnxruntime as ort

    sess = ort.InferenceSession(str(workload.candidate.onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    expected = dict(zip(names, sess.run(names, workload.feed([0])), strict=True))
    missing = sorted(set(names) - set(browser_outputs))
    if missing:
        raise ModelError(f"onnxruntime-web returned no output {missing} for {workload.candidate.onnx_path}")
    diffs = []
    for k, v in expected.items():
        got = np.asarray(browser_outputs[k], dtype=np.float64)
        if got.size != v.size:
            raise ModelError(f"onnxruntime-web output {k!r} has {got.size} values, onnxruntime CPU {v.size}")
        diffs.append(float(np.max(np.abs(got - v.astype(np.float64).ravel()))))
    diff = max(diffs)
    tolerance = max(1e-3, workload.candidate.card.parity_tolerance)
    if not np.isfinite(diff) or diff > tolerance:
        raise ModelError(
            f"onnxruntime-web (WASM) and onnxruntime CPU disagree on {workload.candidate.onnx_path}: "
            f"max abs diff {diff:.2e} > {tolerance:.0e}",
            fix="an op the WASM build computes differently: check the model's opset against onnxruntime-web",
        )
    return diff


def run(*, spec: TargetSpec, workload: Workload, use_loadgen: bool = True) -> TargetResult:
    """Time ``workload`` with onnxruntime-web (WASM) in headless Chromium; skipped when either is absent.

    ``use_loadgen`` is accepted for a uniform runner signature; the page runs the same scenario
    semantics itself (LoadGen cannot drive a browser page).
    """
    del use_loadgen
    executable = spec.executable or DEFAULT_EXECUTABLE
    reason = unavailable_reason(executable=executable)
    if reason is not None:
        return skipped(spec=spec, reason=reason)
    candidate = workload.candidate
    if sha256_file(candidate.onnx_path) != candidate.onnx_sha256:
        raise ModelError(f"{candidate.onnx_path} changed after it was loaded", fix="re-run the gate")
    routes: dict[str, tuple[bytes, str]] = {
        "/index.html": ((BROWSER_DIR / "index.html").read_bytes(), "text/html"),
        "/model.onnx": (candidate.onnx_path.read_bytes(), "application/octet-stream"),
    }
    inputs = []
    for i, (name, arr) in enumerate(workload.inputs.items()):
        data = np.ascontiguousarray(arr, dtype=np.float32)
        routes[f"/input{i}.bin"] = (data.tobytes(), "application/octet-stream")
        inputs.append(
            {"name": name, "url": f"/input{i}.bin", "row_shape": list(data.shape[1:]), "row_size": int(data[0].size)}
        )
    order = np.random.default_rng(0).integers(0, workload.n_samples, size=workload.runs).tolist()
    config = {
        "threads": spec.threads,
        "warmup": workload.warmup,
        "order": order,
        "n_samples": workload.n_samples,
        "batch_sizes": list(spec.batch_sizes),
        "offline_batches": workload.offline_batches,
        "inputs": inputs,
    }
    with _Server(routes) as server, ThreadPoolExecutor(max_workers=1) as pool:
        # a thread of its own: Playwright's sync API refuses to run inside a thread with a running event loop
        raw, browser_version = pool.submit(
            _bench_in_browser,
            executable=executable,
            url=server.url,
            config=config,
            timeout_ms=workload.max_seconds * 1000,
        ).result()
    diff = _parity(workload=workload, browser_outputs=raw.get("check") or {})
    p50, p95, p99 = percentiles(np.asarray(raw["latency_ms"], dtype=float))
    host, machine = host_facts()
    notes = [
        f"parity vs onnxruntime CPU on sample 0: max abs diff {diff:.2e}",
        f"user agent: {raw.get('user_agent', '')}",
    ]
    if not raw.get("cross_origin_isolated") and spec.threads > 1:
        notes.append("page was not cross-origin isolated: WASM ran single-threaded")
    return TargetResult(
        target=spec.name,
        kind=spec.kind,
        status="ok",
        host=host,
        machine=machine,
        device=f"Chromium {browser_version} headless, WASM, on {cpu_model()}",
        provider="wasm",
        runtime_version=f"onnxruntime-web {raw.get('ort_version') or ort_web_version()}",
        harness=f"{HARNESS}, in-page performance.now()",
        threads=int(raw.get("threads") or spec.threads),
        frames=workload.frames,
        warmup=workload.warmup,
        runs=len(raw["latency_ms"]),
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        throughput={int(b): float(v) for b, v in raw["throughput"].items()},
        notes=tuple(notes),
    )
