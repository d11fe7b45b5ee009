"""The fault-injection campaign (``make faults``; not collected by plain ``make test``): the tally.

Every case ends with :func:`_faultkit.assert_held` or its own checks of the same invariants: no alias moved
without its audit events, the chain verifies, the message names cause and fix, the exit code is right, a
re-run succeeds, nothing already recorded is lost. The terminal summary prints ``faults: N tried, N held``.
"""

from __future__ import annotations

import pytest

_TALLY = {"tried": 0, "held": 0, "skipped": 0}
_SKIPS: list[str] = []
_BROKEN: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each fault case once: held (passed), broken (failed in setup or call), or skipped with a reason."""
    if "tests/faults/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.skipped:
            _TALLY["skipped"] += 1
            _SKIPS.append(f"{report.nodeid}: {report.longrepr[-1] if isinstance(report.longrepr, tuple) else ''}")
            return
        _TALLY["tried"] += 1
        if report.passed:
            _TALLY["held"] += 1
        else:
            _BROKEN.append(report.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's TerminalReporter
    """The campaign's tally line (and what did not hold, and what was skipped and why)."""
    if not (_TALLY["tried"] or _TALLY["skipped"]):
        return
    tr = terminalreporter
    tr.write_sep("=", "fault campaign")
    for nodeid in _BROKEN:
        tr.write_line(f"NOT HELD: {nodeid}")
    for line in _SKIPS:
        tr.write_line(f"skipped: {line}")
    tr.write_line(
        f"faults: {_TALLY['tried']} tried, {_TALLY['held']} held"
        + (f", {_TALLY['skipped']} skipped (reasons above)" if _TALLY["skipped"] else "")
    )


@pytest.fixture(scope="session")
def tiny(request, tmp_path_factory):
    """The shared tiny set and trained demo model; ``AFFECTGATE_FAULTS_PREBUILT=<dir>`` reuses an earlier build.

    ``<dir>`` holds ``data/synth_dfew_tiny`` and ``models/mobilenet_v2_frame`` (as ``make smoke`` leaves them
    in ``.affectgate-smoke``): a developer's shortcut past the minute of training; CI builds afresh.
    """
    import os
    from pathlib import Path

    prebuilt = os.environ.get("AFFECTGATE_FAULTS_PREBUILT")
    if not prebuilt:
        return request.getfixturevalue("built")  # tests/conftest.py: generated and trained once per session
    from types import SimpleNamespace

    from affectgate.project.settings import Settings

    root = Path(prebuilt)
    data, model = root / "data" / "synth_dfew_tiny", root / "models" / "mobilenet_v2_frame"
    if not (data.is_dir() and (model / "model.onnx").is_file()):
        pytest.fail(f"AFFECTGATE_FAULTS_PREBUILT={prebuilt} lacks data/synth_dfew_tiny or models/mobilenet_v2_frame")
    settings = Settings(workspace=tmp_path_factory.mktemp("unused"), data_root=data.parent)
    return SimpleNamespace(settings=settings, data=data, model=model)
