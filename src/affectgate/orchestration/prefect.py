"""Prefect adapter: configures Prefect from our settings and loads the flows in the project's ``flows/``.

Prefect reads its own settings from the environment, so this module exports them (workspace-local
PREFECT_HOME, the API URL when one is configured, else Prefect's ephemeral server) before
importing Prefect.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from affectgate.core.errors import AffectgateError
from affectgate.project.settings import Settings


def configure_prefect(settings: Settings) -> None:
    """Point Prefect at the workspace (ephemeral server by default) before it is imported."""
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url
    else:
        os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
        # Prefect waits 20 s for its ephemeral server by default; a loaded 2-core machine can need more
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
        start_reaper()


_REAPER: list[subprocess.Popen[bytes]] = []
#: Command-line words of the processes the reaper ends when their parent died (Prefect's ephemeral server).
_SERVER_WORDS = (b"uvicorn", b"prefect.server", b"prefect server")


def start_reaper() -> None:
    """Start (once per process) a watcher that ends Prefect's ephemeral API server if this process dies.

    Prefect runs its ephemeral server as a child process and stops it at exit (``atexit``); a SIGKILL or
    an OOM kill skips that and leaves the server orphaned. The watcher holds the read end of a pipe whose
    write end only this process has: when the pipe closes (however this process ended) it terminates the
    server children it saw, checked by pid and start time so that a reused pid is never hit.
    """
    if _REAPER or sys.platform != "linux":
        return
    read_fd, write_fd = os.pipe()
    code = "import sys; from affectgate.orchestration.prefect import reap; reap(int(sys.argv[1]), int(sys.argv[2]))"
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", code, str(os.getpid()), str(read_fd)],
        pass_fds=(read_fd,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to the gate's process group does not end the watcher first
    )
    os.close(read_fd)
    os.set_inheritable(write_fd, False)
    _REAPER.append(proc)
    _REAPER_FDS.append(write_fd)  # kept open for this process's whole life


_REAPER_FDS: list[int] = []


def _start_time(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as fh:
                out += [int(x) for x in fh.read().split()]
        except (OSError, ValueError):
            continue
    return out


def _is_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\x00", b" ")
    except OSError:
        return False
    return any(word in cmd for word in _SERVER_WORDS)


def reap(parent: int, read_fd: int) -> None:
    """The watcher's loop (runs in its own process): record the parent's server children until the pipe closes."""
    import select
    import signal
    import time

    seen: dict[int, bytes] = {}
    while True:
        ready, _, _ = select.select([read_fd], [], [], 0.5)
        if ready and not os.read(read_fd, 1):
            break  # EOF: the parent is gone
        stack = _children(parent)
        while stack:
            pid = stack.pop()
            stack += _children(pid)
            if pid not in seen and _is_server(pid) and (started := _start_time(pid)) is not None:
                seen[pid] = started
    time.sleep(0.5)  # a normal exit stops the server itself (Prefect's atexit); give it that moment
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [pid for pid, started in seen.items() if _start_time(pid) == started]
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        if not alive:
            return
        time.sleep(2.0)


class _UserErrorFilter(logging.Filter):
    """Drop the traceback Prefect's run loggers attach to a user's error (AffectgateError): the CLI prints it as
    one line with its fix, and a user's mistake never prints a Python traceback. Other errors keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, AffectgateError):
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = _UserErrorFilter()


def quiet_user_error_tracebacks() -> None:
    """Attach :class:`_UserErrorFilter` to every handler of Prefect's loggers (and the root's); idempotent."""
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict) if name.startswith("prefect")
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)


def load_flow_module(*, settings: Settings, name: str) -> ModuleType:
    """Import the built-in ``flows/<name>.py`` (package data of the installed affectgate)."""
    from affectgate.project.content import find

    path = find(project_root=None, kind="flows", name=f"{name}.py")
    configure_prefect(settings)
    mod_name = f"affectgate_flows_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    quiet_user_error_tracebacks()  # Prefect's logging is set up once the flow module imported it
    return module


def get_flow(*, settings: Settings, module: str, flow: str) -> Callable[..., Any]:
    """A flow object from ``flows/<module>.py``."""
    return getattr(load_flow_module(settings=settings, name=module), flow)
