"""Corrupt inputs: data (truncated/zero-byte frames, short clips, bad labels, duplicate ids, non-UTF-8, paths out of the
data root, 10k missing files), models (random bytes, changed after the lock, wrong rank, wrong class count, NaN or
constant outputs, card/label mismatch) and policy (unknown fields, CEL syntax and reference errors, wrong types,
unknown ids). Each ends in a clear error (or block) naming the cause, no traceback, nothing promoted, the chain intact.

The commands run in this process (typer's CliRunner, real code end to end): the campaign's heavy part is the
process-death classes, and these cases share one interpreter's imports.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from affectgate.project.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
SPLIT = Path("EmoLabel_DataSplit") / "test(single-labeled)" / "set_1.csv"


@pytest.fixture()
def ws(tiny, tmp_path, monkeypatch):
    """A fresh workspace and data root of its own (a copy of the tiny set), selected through the environment."""
    data = tmp_path / "data" / "tiny"
    shutil.copytree(tiny.data, data)
    for key, value in {
        "AFFECTGATE_PROJECT_ROOT": str(ROOT),
        "AFFECTGATE_WORKSPACE": str(tmp_path / "ws"),
        "AFFECTGATE_DATA_ROOT": str(tmp_path / "data"),
        "PREFECT_HOME": str(tmp_path / "ws" / "prefect"),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


def _cli(*args: str) -> tuple[int, str]:
    from affectgate.cli import app

    res = CliRunner().invoke(app, list(args))
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        raise AssertionError("".join(traceback.format_exception(res.exception)))  # a traceback is itself a failure
    return res.exit_code, " ".join(res.output.split())


def _gate(model: Path, data: Path, *extra: str) -> tuple[int, str]:
    return _cli("gate", "--plain", "--model", str(model), "--data", str(data), "--context", "eu-telehealth", *extra)


def _nothing_promoted() -> None:
    """No alias in the registry, the chain verifies, the last event is the gate's error or decision."""
    from affectgate.gate.workspace import audit_log
    from affectgate.registry.reconcile import registry_aliases

    settings = get_settings()
    log = audit_log(settings, create_key=False)
    assert log.verify().ok
    assert "promotion" not in [e.action for e in log.events()]
    if (settings.workspace_dir / "mlflow.db").is_file():
        assert registry_aliases(settings=settings) == {}


def _first_clip(data: Path) -> tuple[Path, str]:
    csv = data / SPLIT
    vid = csv.read_text().splitlines()[1].split(",")[0]
    return data / "Clip" / "clip_224x224" / vid, vid


def _rows(data: Path, edit) -> None:  # noqa: ANN001
    csv = data / SPLIT
    lines = csv.read_text().splitlines()
    edit(lines)
    csv.write_text("\n".join(lines) + "\n")


# -- data ----------------------------------------------------------------------------------------------
def _truncate_frame(data: Path) -> None:
    clip, _ = _first_clip(data)
    frame = sorted(clip.iterdir())[0]
    frame.write_bytes(frame.read_bytes()[: frame.stat().st_size // 2])


def _zero_byte_frame(data: Path) -> None:
    clip, _ = _first_clip(data)
    sorted(clip.iterdir())[0].write_bytes(b"")


def _short_clip(data: Path) -> None:
    clip, _ = _first_clip(data)
    for frame in sorted(clip.iterdir())[1:]:
        frame.unlink()  # 1 of the model's 4 frames


def _nan_label(data: Path) -> None:
    _rows(data, lambda rows: rows.__setitem__(1, rows[1].split(",")[0] + ",nan"))


def _label_out_of_range(data: Path) -> None:
    _rows(data, lambda rows: rows.__setitem__(1, rows[1].split(",")[0] + ",9"))


def _duplicate_id(data: Path) -> None:
    _rows(data, lambda rows: rows.append(rows[1]))


def _non_utf8(data: Path) -> None:
    csv = data / SPLIT
    raw = csv.read_bytes().split(b"\n")
    raw[2] = raw[2] + b"\xff\xfe"
    csv.write_bytes(b"\n".join(raw))


def _dotdot(data: Path) -> None:
    _rows(data, lambda rows: rows.__setitem__(1, "../../../etc,1"))


def _symlink_out(data: Path) -> None:
    clip, _ = _first_clip(data)
    outside = data.parent.parent / "outside_clip"
    shutil.copytree(clip, outside)
    shutil.rmtree(clip)
    os.symlink(outside, clip)


DATA_CASES = {
    "truncated_jpeg_frame": (_truncate_frame, "truncated frame", "re-extract"),
    "zero_byte_frame": (_zero_byte_frame, "0-byte", "re-extract"),
    "clip_shorter_than_model_frames": (_short_clip, "frame(s) but the model reads 4", "remove"),
    "nan_label": (_nan_label, "set_1.csv:2", "fill or remove"),
    "label_out_of_range": (_label_out_of_range, "set_1.csv:2", "1..7"),
    "duplicate_id": (_duplicate_id, "duplicate video_name", "once per split"),
    "non_utf8_csv": (_non_utf8, "set_1.csv:3: not UTF-8", "UTF-8"),
    "path_escapes_with_dotdot": (_dotdot, "set_1.csv:2", "clip id"),
    "symlink_out_of_data_root": (_symlink_out, "resolves outside the dataset root", "inside the dataset root"),
}


@pytest.mark.parametrize("name", list(DATA_CASES))
def test_corrupt_data_fails_closed(tiny, ws, name):
    """Corrupt data: the gate exits 3 naming file/line (or frame) and the fix; never evaluated and promoted."""
    mutate, cause, fix = DATA_CASES[name]
    mutate(ws)
    code, out = _gate(tiny.model, ws)
    assert code == 3, out[-3000:]
    assert cause.lower() in out.lower() and fix.lower() in out.lower(), out[-3000:]
    assert "nothing was promoted" in out
    _nothing_promoted()
    if name in ("nan_label", "non_utf8_csv", "duplicate_id"):
        vcode, vout = _cli("data", "validate", "--format", "dfew", "--fold", "1", "--split", "test", str(ws))
        assert vcode == 1 and cause.split(":")[0] in vout, vout[-3000:]


def test_ten_thousand_missing_files_one_summary_bounded_time(tiny, ws):
    """A 10,000-row split of missing clips: one summary line naming the first (not 10k lines), bounded time."""
    (ws / SPLIT).write_text("video_name,label\n" + "".join(f"{90000 + i},{i % 7 + 1}\n" for i in range(10_000)))
    start = time.monotonic()
    code, out = _cli("data", "validate", "--format", "dfew", "--fold", "1", "--split", "test", str(ws))
    elapsed = time.monotonic() - start
    assert code == 1 and elapsed < 90, (elapsed, out[-2000:])
    assert "set_1.csv:2" in out and "no frame folder" in out, out[-3000:]
    assert len(out) < 20_000, f"{len(out)} characters: a line per missing file"
    start = time.monotonic()
    gcode, gout = _gate(tiny.model, ws)
    assert gcode == 3 and "set_1.csv:2" in gout and time.monotonic() - start < 120, gout[-2000:]
    _nothing_promoted()


# -- models --------------------------------------------------------------------------------------------
def _model_copy(tiny, tmp: Path) -> Path:  # noqa: ANN001
    dst = tmp / "ws" / "models" / "candidate"
    shutil.copytree(tiny.model, dst)
    (dst / "model.pt").unlink(missing_ok=True)
    return dst


def _tiny_onnx(path: Path, *, classes: int = 7, rank: int = 5, values: str = "mean") -> None:
    """A small ONNX graph with the card's input/output names: per-frame scores from the pixel mean."""
    import onnx
    from onnx import TensorProto, helper

    shape = ["N", 4, 3, 48, 48] if rank == 5 else ["N", 3, 48, 48]
    inp = helper.make_tensor_value_info("clip", TensorProto.FLOAT, shape)
    nodes = [helper.make_node("ReduceMean", ["clip"], ["m"], axes=[2, 3, 4] if rank == 5 else [2, 3], keepdims=0)]
    weight = np.linspace(-1, 1, classes, dtype=np.float32).reshape(1, 1, classes) * (0.0 if values == "const" else 1)
    inits = [helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.ravel().tolist())]
    nodes.append(helper.make_node("Unsqueeze", ["m", "ax"], ["u"]))
    inits.append(helper.make_tensor("ax", TensorProto.INT64, [1], [2]))
    if values == "nan":
        nodes += [helper.make_node("Sub", ["u", "u"], ["z"]), helper.make_node("Div", ["z", "z"], ["u2"])]
    else:
        nodes.append(helper.make_node("Identity", ["u"], ["u2"]))
    nodes += [
        helper.make_node("Mul", ["u2", "w"], ["frame_logits"]),
        helper.make_node("ReduceMean", ["frame_logits"], ["clip_logits"], axes=[1], keepdims=0),
        helper.make_node("Softmax", ["clip_logits"], ["probabilities"], axis=-1),
    ]
    out_frames = ["N", 4, classes] if rank == 5 else ["N", classes]
    outs = [
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes]),
        helper.make_tensor_value_info("frame_logits", TensorProto.FLOAT, out_frames),
    ]
    graph = helper.make_graph(nodes, "fault", [inp], outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _random_bytes(folder: Path) -> None:
    (folder / "model.lock.json").unlink()
    (folder / "model.onnx").write_bytes(np.random.default_rng(0).bytes(4096))


def _changed_after_lock(folder: Path) -> None:
    raw = bytearray((folder / "model.onnx").read_bytes())
    raw[-1] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(raw))


def _graph(**kw):  # noqa: ANN003, ANN202
    def make(folder: Path) -> None:
        (folder / "model.lock.json").unlink()
        _tiny_onnx(folder / "model.onnx", **kw)

    return make


def _card_label_mismatch(folder: Path) -> None:
    card = yaml.safe_load((folder / "card.yaml").read_text())
    card["labels"] = ["joy", *card["labels"][1:]]
    (folder / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False))


MODEL_CASES = {
    "random_bytes": (_random_bytes, "model.onnx"),
    "changed_after_lock": (_changed_after_lock, "lock"),
    "wrong_input_rank": (_graph(rank=4), "clip"),
    "wrong_class_count": (_graph(classes=6), "6"),
    "nan_outputs": (_graph(values="nan"), "nan"),
    "constant_outputs": (_graph(values="const"), ""),
    "card_label_mismatch": (_card_label_mismatch, "joy"),
}


@pytest.mark.parametrize("name", list(MODEL_CASES))
def test_broken_model_is_never_promoted(tiny, ws, tmp_path, name):
    """A broken model or card: exit 3 naming the cause (or a block/review on its numbers); never promoted."""
    mutate, cause = MODEL_CASES[name]
    folder = _model_copy(tiny, tmp_path)
    mutate(folder)
    code, out = _gate(folder, ws)
    if name == "constant_outputs":  # a valid model that knows nothing: decided on its numbers, not promoted
        assert code in (1, 2), out[-3000:]
    else:
        assert code == 3, out[-3000:]
        assert cause.lower() in out.lower() and "fix" in out.lower(), out[-3000:]
    assert "Traceback" not in out
    _nothing_promoted()


# -- policy --------------------------------------------------------------------------------------------
def _policies_copy(tmp: Path) -> Path:
    dst = tmp / "policies"
    shutil.copytree(ROOT / "policies", dst)
    return dst


def _edit_yaml(path: Path, edit) -> None:  # noqa: ANN001
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _rule(data, key: str, value: str) -> None:  # noqa: ANN001
    data["rules"][0][key] = value


POLICY_CASES = {
    "unknown_context_field": ("contexts/eu-telehealth.yaml", lambda d: d.update(colour="blue"), "colour"),
    "wrong_type": ("contexts/eu-telehealth.yaml", lambda d: d.update(log_retention_days="many"), "log_retention_days"),
    "cel_syntax_error": ("quality/pack.yaml", lambda d: _rule(d, "fails_when", 'metrics["uar"] <<< 1'), "uar_floor"),
    "cel_reference_error": (
        "quality/pack.yaml",
        lambda d: _rule(d, "fails_when", "no_such_variable < 1"),
        "no_such_variable",
    ),
    "unknown_rule_field": ("quality/pack.yaml", lambda d: d["rules"][0].update(severty="block"), "severty"),
}


@pytest.mark.parametrize("name", list(POLICY_CASES))
def test_broken_policy_is_named_by_lint(ws, tmp_path, name):
    """A broken pack or context: `policy lint` exits 1 naming the file and the field or rule, no traceback."""
    rel, edit, cause = POLICY_CASES[name]
    policies = _policies_copy(tmp_path)
    _edit_yaml(policies / rel, edit)
    code, out = _cli("policy", "lint", "--policies", str(policies))
    assert code == 1, out[-3000:]
    where = Path(rel).name if rel.startswith("contexts") else "quality.uar_floor"  # the file, or the rule's id
    assert cause in out and where in out, out[-3000:]


def test_unknown_context_id_is_exit_3_with_a_suggestion(tiny, ws):
    """An unknown context id: exit 3 naming it (and the nearest known id), nothing evaluated."""
    code, out = _cli("gate", "--plain", "--model", str(tiny.model), "--data", str(ws), "--context", "eu-telehelth")
    assert code == 3 and "eu-telehelth" in out and "eu-telehealth" in out, out[-3000:]
    _nothing_promoted()
