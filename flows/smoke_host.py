"""Prefect flow: a worker smoke test that records which host ran it (used to check a work pool end to end)."""

from __future__ import annotations

import platform
import sys

from prefect import flow


@flow(name="smoke-host")
def smoke_host(label: str = "smoke") -> dict[str, str]:
    """Return the label with the host name, platform and Python that executed the flow run."""
    return {"label": label, "host": platform.node(), "machine": platform.machine(), "python": sys.version.split()[0]}
