"""Face crops for sets that are not face-cropped: declared, screened before the gate, counted, cached."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from affectgate.cli import app
from affectgate.core.errors import DataError
from affectgate.datasets import face_screening, media
from affectgate.datasets.clips import read_media_clip
from affectgate.datasets.face_screening import (
    FACE_CROPPED_BY_FORMAT,
    declared_face_cropped,
    read_face_clip,
    screen_faces,
)
from affectgate.datasets.selection import select_for_gate
from affectgate.datasets.synth.av_layout import AVSynthConfig, generate_ravdess
from affectgate.gate.workspace import audit_log

runner = CliRunner()


@pytest.fixture(scope="module")
def scene_set(tmp_path_factory) -> Path:
    """RAVDESS-like videos of full camera frames (face 64 px on a 160 x 120 scene); about a quarter show no face."""
    root = tmp_path_factory.mktemp("scene") / "synth_ravdess_scene"
    cfg = AVSynthConfig(
        seed=2, n_actors=8, statements=1, repetitions=1, frames=6, image_size=64, scene=160, no_face_recordings=0.25
    )
    generate_ravdess(root=root, config=cfg)
    return root


def test_declaration_comes_from_the_datasheet_else_the_format(tmp_path: Path, scene_set: Path) -> None:
    """face_cropped in datasheet.yaml wins; without it the format's release decides; a non-boolean is refused."""
    assert declared_face_cropped(fmt="ravdess", root=scene_set) is False  # the generator says so
    assert declared_face_cropped(fmt="ravdess", root=tmp_path) is False  # RAVDESS releases full frames
    assert declared_face_cropped(fmt="dfew", root=tmp_path) is True  # DFEW's clip_224x224 are face crops
    assert set(FACE_CROPPED_BY_FORMAT) >= {"dfew", "ferv39k", "mafw", "affwild2", "ravdess", "cremad", "manifest"}
    (tmp_path / "datasheet.yaml").write_text(yaml.safe_dump({"face_cropped": True}))
    assert declared_face_cropped(fmt="cremad", root=tmp_path) is True
    (tmp_path / "datasheet.yaml").write_text(yaml.safe_dump({"face_cropped": "yes"}))
    with pytest.raises(DataError, match="face_cropped is 'yes'"):
        declared_face_cropped(fmt="cremad", root=tmp_path)


def test_selection_marks_samples_for_face_crop_and_reads_the_crops(scene_set: Path) -> None:
    """Samples of a set that is not face-cropped are read as face crops (read_faces), not as whole frames."""
    _, split = select_for_gate(fmt="ravdess", root=scene_set, fold=1, split="test")
    meta = pd.read_csv(scene_set / "metadata.csv")
    visible = meta.set_index(meta["video_file"].map(lambda f: Path(f).stem))["face_in_frame"]
    assert all(s.face_crop for s in split.samples)
    sample = next(s for s in split.samples if visible[s.video_name])
    clip = read_media_clip(path=sample.frame_dir, frames=4, size=48, face_crop=True)
    expected, counts = media.read_faces(path=sample.frame_dir, frames=4, size=48, track=True)
    assert expected is not None and np.array_equal(clip, expected) and counts == {"ok": 6}
    empty = next(s for s in split.samples if not visible[s.video_name])
    with pytest.raises(DataError, match="passes the face-quality bar"):
        read_media_clip(path=empty.frame_dir, frames=4, size=48, face_crop=True)


def test_face_clip_cache_skips_decoding_and_detection(
    scene_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached clip is returned without decoding; a changed file is read again; the counts come back too."""
    video = sorted(scene_set.glob("Actor_01/*.mp4"))[0]
    first = read_face_clip(path=video, frames=4, size=48, cache=tmp_path)
    assert list(tmp_path.glob("faces-*-4x48.npz")) and list((tmp_path / "face_boxes").glob("*.json"))

    def boom(**_: object) -> None:
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(face_screening.media, "read_faces", boom)
    again = read_face_clip(path=video, frames=4, size=48, cache=tmp_path)
    assert again[1] == first[1] and (again[0] is None) == (first[0] is None)
    if first[0] is not None:
        assert np.array_equal(again[0], first[0])
    monkeypatch.undo()
    stat = video.stat()
    import os

    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a changed file: a new key
    calls = []
    real = media.read_faces
    monkeypatch.setattr(face_screening.media, "read_faces", lambda **kw: calls.append(1) or real(**kw))
    read_face_clip(path=video, frames=4, size=48, cache=tmp_path)
    assert calls == [1]


def test_screening_counts_every_frame_and_lists_faceless_samples(scene_set: Path) -> None:
    """Per sample, frames per outcome; samples without a face over the bar are exactly the faceless videos."""
    meta = pd.read_csv(scene_set / "metadata.csv")
    items = [(f, scene_set / f) for f in meta["video_file"]]
    screening = screen_faces(samples=items, frames=4, size=48, workers=2)
    assert sum(screening.frames.values()) == 6 * len(items)
    faceless = set(meta.loc[~meta["face_in_frame"], "video_file"])
    assert faceless and faceless <= set(screening.rejected)  # never a guessed face where there is none
    # The Haar detector misses some rendered faces (here most of one actor's): they are rejected and counted
    # too, never passed uncropped; face_screening.csv carries the groups so such a detector bias shows.
    visible = len(items) - len(faceless)
    assert len(set(screening.rejected) - faceless) <= visible // 4
    assert "samples without a usable face left out" in screening.summary()


@pytest.mark.e2e
def test_gate_face_crops_an_uncropped_set_and_records_what_it_left_out(built, scene_set: Path) -> None:
    """The gate screens a full-frame set: faceless clips are left out and listed in the report, the run folder
    and the audit log; the evaluated clips are the face crops; a second gate decodes nothing again."""
    import shutil

    data = built.settings.data_dir / scene_set.name
    if not data.exists():
        shutil.copytree(scene_set, data)
    args = [
        "gate",
        "--plain",
        "--model",
        str(built.model),
        "--data",
        str(data),
        "--format",
        "ravdess",
        "--suite",
        "quick",
    ]
    res = runner.invoke(app, [*args, "--context", "eu-telehealth"], catch_exceptions=False)
    assert res.exit_code in (0, 1, 2), res.output
    assert "faces detected and cropped" in res.output and "left out of the evaluation" in res.output
    run = max(built.settings.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)
    ds = json.loads((run / "report.json").read_text())["dataset"]
    meta = pd.read_csv(data / "metadata.csv")
    test = meta[meta["actor"] <= 4]  # fold 1 tests actors 1-4
    faceless = {Path(f).stem for f in test.loc[~test["face_in_frame"], "video_file"]}
    assert ds["face_crop"] is True and faceless and faceless <= set(ds["face_rejected_samples"])
    assert ds["n_samples"] == len(test) - len(ds["face_rejected_samples"])
    assert sum(ds["face_frames"].values()) == 6 * len(test) and ds["face_frames"]["no_face"] >= 6 * len(faceless)
    table = pd.read_csv(run / "face_screening.csv")
    assert len(table) == len(test) and (~table["evaluated"]).sum() == len(ds["face_rejected_samples"])
    assert {"skin_tone_group", "sex"} <= set(table.columns)  # a detector's misses per group are visible
    pred = pd.read_parquet(run / "predictions.parquet")
    assert len(pred) == ds["n_samples"] and not set(pred["sample_id"]) & set(ds["face_rejected_samples"])
    started = [e for e in audit_log(built.settings).events() if e.action == "evaluation.started"][-1]
    assert started.payload["face_screening"]["rejected_samples"] == ds["face_rejected_samples"]
    cached = list(built.settings.clip_cache_dir.glob("faces-*.npz"))
    assert len(cached) >= len(test)
    before = {p: p.stat().st_mtime_ns for p in cached}
    res = runner.invoke(app, [*args, "--context", "eu-telehealth"], catch_exceptions=False)
    assert res.exit_code in (0, 1, 2), res.output
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # read from the cache, not written again


def test_gate_refuses_a_set_where_no_face_passes(built, tmp_path: Path) -> None:
    """Only faceless videos: nothing to evaluate, exit 3 naming the face-quality bar."""
    root = built.settings.data_dir / "synth_ravdess_faceless"
    if not root.exists():
        cfg = AVSynthConfig(
            seed=4,
            n_actors=4,
            folds=2,
            statements=1,
            repetitions=1,
            frames=3,
            image_size=48,
            scene=96,
            no_face_recordings=1.0,
        )
        generate_ravdess(root=root, config=cfg)
    res = runner.invoke(
        app,
        [
            "gate",
            "--plain",
            "--model",
            str(built.model),
            "--data",
            str(root),
            "--format",
            "ravdess",
            "--context",
            "eu-telehealth",
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 3, res.output
    assert "face over the quality bar" in res.output
