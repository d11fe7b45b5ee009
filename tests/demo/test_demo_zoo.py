"""Part C of the demo: a zoo technique and its int8 variant go through the same gate, side by side."""

from __future__ import annotations

import io
from functools import partial

import pytest
from rich.console import Console

from affectgate.demo.zoo import print_zoo_table, run_zoo_comparison
from affectgate.gate.run import run_gate


@pytest.mark.e2e
def test_zoo_comparison_gates_fp32_and_int8_variants(built):
    out = io.StringIO()
    console = Console(file=out, width=200)
    rows = run_zoo_comparison(
        settings=built.settings,
        data=built.data,
        fp32_models={"mobilenet_v2_frame": built.model},
        gate=partial(run_gate, settings=built.settings),
        console=console,
        contexts=("us-ad-testing",),
        configs={"cnn_gru": {"frames": 4, "size": 48, "epochs": 2}},  # a few seconds: the table, not the accuracy
    )
    keys = [(r.arch, r.precision) for r in rows]
    assert keys == [
        ("mobilenet_v2_frame", "fp32"),
        ("mobilenet_v2_frame", "int8"),
        ("cnn_gru", "fp32"),
        ("cnn_gru", "int8"),
    ]
    for row in rows:
        (res,) = row.results
        assert res.model.endswith("-int8") == (row.precision == "int8")
        assert res.metrics["war"] is not None
        if row.precision == "int8":
            assert res.metrics["int8.war_drop"] is not None  # measured by the gate against the fp32 original
    assert rows[1].onnx_mb < rows[0].onnx_mb  # static int8 weights are smaller
    print_zoo_table(rows, console=console)
    text = out.getvalue()
    assert "SYNTHETIC" in text and "cnn_gru" in text and "int8" in text
