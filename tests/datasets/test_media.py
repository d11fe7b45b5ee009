"""Media decoding: PyAV video sampling, frame folders, audio extraction, Haar face crops with a quality bar."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from _loader_fixtures import write_jpg, write_video
from affectgate.core.errors import DataError
from affectgate.datasets import media
from affectgate.datasets.clips import read_clip
from affectgate.datasets.media import (
    FACE_OK,
    FACE_TOO_SMALL,
    NO_FACE,
    TOO_BLURRY,
    crop_face,
    detect_face,
    extract_audio,
    face_cache_key,
    read_faces,
    read_faces_many,
    read_frame_folder,
    read_video,
    sharpness,
)
from affectgate.datasets.synth.audio import write_wav
from affectgate.datasets.synth.faces import EXPRESSIONS, FrameKnobs, make_subject, render_face

SR = 16000


def _ramp(n: int = 10, size: int = 16) -> list[np.ndarray]:
    """Flat frames whose grey level rises by 25 per frame (frame i = 25 * i)."""
    return [np.full((size, size, 3), 25 * i, np.uint8) for i in range(n)]


def _face(size: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    subj = make_subject(subject_id="S1", skin_tone_group="tone_b", sex="male", age_band="18-29", rng=rng)
    bgr = render_face(
        subject=subj, expr=EXPRESSIONS["happiness"], intensity=0.8, size=size, knobs=FrameKnobs(noise=2), rng=rng
    )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_read_video_samples_uniformly_like_read_clip(tmp_path: Path, suffix: str) -> None:
    """4 of 10 frames are frames 0, 3, 6, 9 (linspace, rounded), RGB, resized; more frames than decoded repeat."""
    path = write_video(tmp_path / f"clip{suffix}", _ramp())
    clip = read_video(path=path, frames=4, size=8)
    assert clip.shape == (4, 8, 8, 3) and clip.dtype == np.uint8
    np.testing.assert_allclose(clip.mean(axis=(1, 2, 3)), [0, 75, 150, 225], atol=8)  # lossy mpeg4
    many = read_video(path=path, frames=16, size=8)
    assert many.shape == (16, 8, 8, 3)
    assert np.all(np.diff(many.mean(axis=(1, 2, 3))) >= -1)  # still in time order


def test_video_and_its_frame_folder_give_the_same_sampled_frames(tmp_path: Path) -> None:
    """read_frame_folder, read_clip (DFEW) and read_video pick the same frame indices for the same clip."""
    frames = _ramp(7)
    video = write_video(tmp_path / "c.mp4", frames)
    folder = tmp_path / "00001"
    for i, f in enumerate(frames, start=1):
        write_jpg(folder / f"00001_{i}.jpg", int(f[0, 0, 0]))
    a = read_frame_folder(path=folder, frames=3, size=16)
    b = read_clip(frame_dir=folder, frames=3, size=16)
    np.testing.assert_array_equal(a, b)
    c = read_video(path=video, frames=3, size=16)
    np.testing.assert_allclose(a.mean(axis=(1, 2, 3)), c.mean(axis=(1, 2, 3)), atol=8)


def test_frame_folder_orders_by_number_and_reads_png(tmp_path: Path) -> None:
    """frame_2 comes before frame_10, png frames count, other files are ignored."""
    folder = tmp_path / "clip"
    write_jpg(folder / "frame_10.jpg", 200)
    write_jpg(folder / "frame_2.jpg", 100)
    write_jpg(folder / "frame_1.png", 0)
    (folder / "notes.txt").write_text("not a frame")
    clip = read_frame_folder(path=folder, frames=3, size=16)
    np.testing.assert_allclose(clip.mean(axis=(1, 2, 3)), [0, 100, 200], atol=2)


def test_bad_video_inputs_name_the_file(tmp_path: Path) -> None:
    """Missing, 0-byte, corrupt and audio-only files are DataErrors naming the path."""
    with pytest.raises(DataError, match="not found"):
        read_video(path=tmp_path / "none.mp4", frames=2, size=8)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="0-byte media file .*empty.mp4"):
        read_video(path=empty, frames=2, size=8)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match="corrupt.mp4"):
        read_video(path=corrupt, frames=2, size=8)
    wav = tmp_path / "a.wav"
    write_wav(path=wav, wave=np.zeros(1600, np.float32), sample_rate=SR)
    with pytest.raises(DataError, match="no video stream"):
        read_video(path=wav, frames=2, size=8)
    with pytest.raises(DataError, match="frames and size"):
        read_video(path=wav, frames=0, size=8)


def test_bad_frame_folders_name_the_folder_or_frame(tmp_path: Path) -> None:
    """An empty folder, a 0-byte frame and an undecodable frame are DataErrors naming them."""
    folder = tmp_path / "clip"
    folder.mkdir()
    with pytest.raises(DataError, match="empty frame folder"):
        read_frame_folder(path=folder, frames=2, size=8)
    (folder / "00001.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="0-byte media file .*00001.jpg"):
        read_frame_folder(path=folder, frames=2, size=8)
    (folder / "00001.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match="undecodable frame .*00001.jpg"):
        read_frame_folder(path=folder, frames=2, size=8)


def test_extract_audio_from_mp4_and_wav(tmp_path: Path) -> None:
    """The AAC track of an mp4 and a wav decode to mono float32 at the asked rate, keeping a 440 Hz tone."""
    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    video = write_video(tmp_path / "av.mp4", _ramp(), audio=tone, sample_rate=SR)
    wave = extract_audio(path=video, sample_rate=8000)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 8000) < 800  # AAC adds a little priming/padding
    peak_hz = np.abs(np.fft.rfft(wave)).argmax() * 8000 / len(wave)
    assert abs(peak_hz - 440) < 5
    assert 0.3 < np.abs(wave).max() <= 1.0
    wav = tmp_path / "tone.wav"
    write_wav(path=wav, wave=tone, sample_rate=SR)
    same_rate = extract_audio(path=wav, sample_rate=SR)
    assert len(same_rate) == SR
    np.testing.assert_allclose(same_rate, tone, atol=1e-3)
    with pytest.raises(DataError, match="no audio track"):
        extract_audio(path=write_video(tmp_path / "silent.mp4", _ramp()), sample_rate=SR)


def test_crop_face_accepts_a_clear_face_and_names_each_rejection() -> None:
    """A clear face is cropped; no face, a face below the size bar and a blurred face are rejected with reasons."""
    face = _face()
    crop, reason = crop_face(face)
    assert reason == FACE_OK and crop is not None
    assert 60 <= crop.shape[0] <= 96 and abs(crop.shape[0] - crop.shape[1]) <= 2
    assert crop_face(np.full((96, 96, 3), 128, np.uint8)) == (None, NO_FACE)
    canvas = np.full((400, 400, 3), 120, np.uint8)
    canvas[10:58, 10:58] = cv2.resize(face, (48, 48), interpolation=cv2.INTER_AREA)
    assert crop_face(canvas) == (None, FACE_TOO_SMALL)
    blurred = cv2.GaussianBlur(face, (9, 9), 0)
    assert crop_face(blurred) == (None, TOO_BLURRY)
    with pytest.raises(DataError, match="RGB uint8"):
        crop_face(face.astype(np.float32))


def test_read_faces_counts_every_frame_and_never_guesses(tmp_path: Path) -> None:
    """Frames that fail the bar are counted by reason and left out; a clip with no usable face gives None."""
    folder = tmp_path / "uncropped"
    frames = [_face(seed=1), np.full((96, 96, 3), 90, np.uint8), _face(seed=2)]
    for i, f in enumerate(frames, start=1):
        folder.mkdir(exist_ok=True)
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    clip, counts = read_faces(detector="haar", path=folder, frames=4, size=32)
    assert counts == {FACE_OK: 2, NO_FACE: 1}
    assert clip is not None and clip.shape == (4, 32, 32, 3)
    video = write_video(tmp_path / "blank.mp4", _ramp(3, size=64))
    none, counts2 = read_faces(detector="haar", path=video, frames=2, size=32)
    assert none is None and counts2 == {NO_FACE: 3}


def _write_frames(folder: Path, frames: list[np.ndarray]) -> Path:
    """RGB frames as numbered pngs (lossless, so decoded pixels equal ``frames``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames, start=1):
        assert cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def _mixed_frames() -> list[np.ndarray]:
    """Faces, a blank frame, a blurred face and a face below the size bar, all 96 px."""
    small = np.full((96, 96, 3), 120, np.uint8)
    small[4:38, 4:38] = cv2.resize(_face(seed=5), (34, 34), interpolation=cv2.INTER_AREA)
    return [
        _face(seed=1),
        np.full((96, 96, 3), 90, np.uint8),
        _face(seed=2),
        cv2.GaussianBlur(_face(seed=3), (9, 9), 0),
        _face(seed=4),
        small,
        _face(seed=6),
    ]


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def _same(a: tuple[np.ndarray | None, dict[str, int]], b: tuple[np.ndarray | None, dict[str, int]]) -> bool:
    if a[1] != b[1] or (a[0] is None) != (b[0] is None):
        return False
    return a[0] is None or np.array_equal(a[0], b[0])


def test_read_faces_default_is_crop_face_on_every_frame(tmp_path: Path) -> None:
    """The BGR fast path gives exactly crop_face on every RGB frame, resized (INTER_AREA) and sampled."""
    frames = _mixed_frames()
    outcomes = [crop_face(f) for f in frames]
    crops = [cv2.resize(c, (32, 32), interpolation=cv2.INTER_AREA) for c, _ in outcomes if c is not None]
    expected = np.stack([crops[i] for i in np.linspace(0, len(crops) - 1, num=5).round().astype(int)])
    counts: dict[str, int] = {}
    for _, reason in outcomes:
        counts[reason] = counts.get(reason, 0) + 1
    assert counts == {FACE_OK: 4, NO_FACE: 1, TOO_BLURRY: 1, FACE_TOO_SMALL: 1}
    clip, got = read_faces(detector="haar", path=_write_frames(tmp_path / "clip", frames), frames=5, size=32)
    assert got == counts
    np.testing.assert_array_equal(clip, expected)


def test_read_faces_of_a_video_matches_its_decoded_frames(tmp_path: Path) -> None:
    """For a video, decoding to BGR and converting only the crops equals crop_face on PyAV's RGB frames."""
    video = write_video(
        tmp_path / "faces.mp4", [_face(seed=s) for s in range(4)] + [np.full((96, 96, 3), 90, np.uint8)]
    )
    with av.open(str(video)) as box:
        rgb = [f.to_ndarray(format="rgb24") for f in box.decode(box.streams.video[0])]
    outcomes = [crop_face(f) for f in rgb]
    crops = [cv2.resize(c, (32, 32), interpolation=cv2.INTER_AREA) for c, _ in outcomes if c is not None]
    clip, counts = read_faces(detector="haar", path=video, frames=len(crops), size=32)
    assert sum(counts.values()) == 5 and counts[FACE_OK] == len(crops) >= 3
    np.testing.assert_array_equal(clip, np.stack(crops))


def test_sharpness_fast_path_equals_the_float_definition() -> None:
    """The int16 Laplacian + meanStdDev gives the variance of the float64 Laplacian (uint8 and float64 input)."""
    for img in (_face(seed=0), cv2.GaussianBlur(_face(seed=1), (5, 5), 0), np.full((40, 40, 3), 7, np.uint8)):
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        ref = float(cv2.Laplacian(gray, cv2.CV_64F).var())
        assert sharpness(gray) == pytest.approx(ref, rel=1e-9, abs=1e-9)
        assert sharpness(gray.astype(np.float64)) == pytest.approx(ref, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("size", [96, 160, 224])
def test_detect_on_a_shrunk_frame_finds_the_full_resolution_box(size: int) -> None:
    """detect_side shrinks the searched copy; the box scaled back matches the full-resolution box closely."""
    for seed in range(3):
        gray = cv2.cvtColor(_face(size=size, seed=seed), cv2.COLOR_RGB2GRAY)
        full = detect_face(gray)
        assert full is not None
        for side in (64, 48):
            box = detect_face(gray, detect_side=side)
            assert box is not None
            assert _iou(full, box) >= 0.8, (seed, side, full, box)
            centre = np.subtract(
                (box[0] + box[2] / 2, box[1] + box[3] / 2), (full[0] + full[2] / 2, full[1] + full[3] / 2)
            )
            assert np.abs(centre).max() <= 0.1 * full[2]
            assert box[0] >= 0 and box[1] >= 0 and box[0] + box[2] <= size and box[1] + box[3] <= size
        assert detect_face(gray, detect_side=size * 2) == full  # nothing to shrink: the same search
    with pytest.raises(DataError, match="window"):
        detect_face(gray, detect_side=16)


def test_shrunk_detection_keeps_the_bar() -> None:
    """With detect_side, blank, blurred and too-small faces are still rejected: the bar is checked at full size."""
    face = _face(size=192)
    crop, reason = crop_face(face, detect_side=64)
    assert reason == FACE_OK and crop is not None
    full, _ = crop_face(face)
    assert full is not None and abs(crop.shape[0] - full.shape[0]) <= 0.1 * full.shape[0]
    assert crop_face(np.full((192, 192, 3), 128, np.uint8), detect_side=64) == (None, NO_FACE)
    assert crop_face(cv2.GaussianBlur(face, (15, 15), 0), detect_side=64)[1] in (TOO_BLURRY, NO_FACE)
    canvas = np.full((400, 400, 3), 120, np.uint8)
    canvas[10:58, 10:58] = cv2.resize(_face(), (48, 48), interpolation=cv2.INTER_AREA)
    assert crop_face(canvas, detect_side=200)[0] is None  # below the bar: too small, or not even found


@pytest.mark.parametrize(("every", "side"), [(1, 64), (3, None), (3, 64), (100, 48)])
def test_faster_searches_still_count_and_reject_every_frame(tmp_path: Path, every: int, side: int | None) -> None:
    """detect_every / detect_side: counts still cover every frame, and rejected frames never give crops."""
    frames = _mixed_frames()
    folder = _write_frames(tmp_path / "clip", frames)
    clip, counts = read_faces(detector="haar", path=folder, frames=4, size=32, detect_every=every, detect_side=side)
    assert sum(counts.values()) == len(frames)
    assert counts.get(FACE_OK, 0) <= 5  # the blank frame and the blurred face never pass
    assert counts.get(NO_FACE, 0) + counts.get(TOO_BLURRY, 0) + counts.get(FACE_TOO_SMALL, 0) >= 2
    assert clip is not None and clip.shape == (4, 32, 32, 3)
    blank = _write_frames(tmp_path / "blank", [np.full((96, 96, 3), 90, np.uint8)] * 3)
    assert read_faces(detector="haar", path=blank, frames=2, size=32, detect_every=every, detect_side=side) == (
        None,
        {NO_FACE: 3},
    )
    with pytest.raises(DataError, match="window"):
        read_faces(detector="haar", path=folder, frames=2, size=32, detect_side=8)


def test_read_faces_many_in_threads_equals_one_after_the_other(tmp_path: Path) -> None:
    """The thread pool returns the arrays and counts of serial reads, in order; a bad clip raises its DataError."""
    paths = [_write_frames(tmp_path / f"c{i}", [_face(seed=10 * i + k) for k in range(3)]) for i in range(4)]
    paths.append(_write_frames(tmp_path / "mixed", _mixed_frames()))
    paths.append(write_video(tmp_path / "v.mp4", [_face(seed=s) for s in range(3)]))
    paths.append(_write_frames(tmp_path / "blank", [np.full((96, 96, 3), 90, np.uint8)] * 2))
    for kwargs in ({}, {"detect_every": 2, "detect_side": 64}):
        serial = [read_faces(detector="haar", path=p, frames=3, size=24, **kwargs) for p in paths]
        for workers in (1, 3):
            many = read_faces_many(detector="haar", paths=paths, frames=3, size=24, workers=workers, **kwargs)
            assert len(many) == len(paths) and all(_same(a, b) for a, b in zip(many, serial, strict=True))
    assert serial[-1] == (None, {NO_FACE: 2})
    with pytest.raises(DataError, match="missing"):
        read_faces_many(detector="haar", paths=[*paths, tmp_path / "missing"], frames=3, size=24, workers=3)
    with pytest.raises(DataError, match="workers"):
        read_faces_many(detector="haar", paths=paths, frames=3, size=24, workers=0)


def test_box_cache_skips_the_detector_and_gives_the_same_crops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second read uses the cached boxes (no detection) with the same output; changed frames are detected again."""
    cache = tmp_path / "boxes"
    folder = _write_frames(tmp_path / "clip", _mixed_frames())
    video = write_video(tmp_path / "v.mp4", [_face(seed=s) for s in range(3)])
    cold = [read_faces(detector="haar", path=p, frames=4, size=32, cache=cache) for p in (folder, video)]
    assert len(list(cache.glob("*.json"))) == 2

    def no_detector(*args: object, **kwargs: object) -> None:
        raise AssertionError("the detector ran despite cached boxes")

    decoded: list[Path] = []

    def read_bgr(file: Path) -> np.ndarray:
        decoded.append(file)
        return cv2.imread(str(file), cv2.IMREAD_COLOR)

    with monkeypatch.context() as m:
        m.setattr(media, "detect_face", no_detector)
        m.setattr(media, "_read_bgr", read_bgr)
        warm = [read_faces(detector="haar", path=p, frames=4, size=32, cache=cache) for p in (folder, video)]
        assert len(decoded) == 6  # the frame cached without a face is counted, not decoded
        other_size = read_faces(
            detector="haar", path=folder, frames=2, size=16, cache=cache
        )  # boxes do not depend on the input size
    assert all(_same(a, b) for a, b in zip(cold, warm, strict=True))
    assert other_size[1] == cold[0][1] and other_size[0] is not None and other_size[0].shape == (2, 16, 16, 3)
    key = face_cache_key(path=folder, detector="haar")
    assert (
        key
        != face_cache_key(path=folder, detect_every=2, detector="haar")
        != face_cache_key(path=folder, detect_side=48, detector="haar")
    )
    (cache / f"{key}.json").write_text("{torn")  # a torn entry is dropped and rebuilt
    assert _same(read_faces(detector="haar", path=folder, frames=4, size=32, cache=cache), cold[0])
    assert (cache / f"{key}.json").read_text().startswith('{"boxes"')
    blank = np.full((96, 96, 3), 90, np.uint8)
    cv2.imwrite(str(folder / "00001.png"), blank)  # a changed frame changes the key: detected again
    assert face_cache_key(path=folder, detector="haar") != key
    clip, counts = read_faces(detector="haar", path=folder, frames=4, size=32, cache=cache)
    assert counts[NO_FACE] == 2 and sum(counts.values()) == 7


def _scene(face: np.ndarray, x: int, y: int, shape: tuple[int, int] = (180, 240)) -> np.ndarray:
    canvas = np.full((*shape, 3), 110, np.uint8)
    if face is not None:
        canvas[y : y + face.shape[0], x : x + face.shape[1]] = face
    return canvas


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw, ih = max(0, min(ax1, bx1) - max(a[0], b[0])), max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_tracked_search_finds_the_face_near_the_last_one_and_falls_back_to_the_whole_frame(tmp_path: Path) -> None:
    """track=True: every frame is searched (near the last face, else everywhere); boxes agree with a full search,
    a jump across the frame is found by the fallback, and a faceless frame is no_face only after the full search."""
    face = _face(size=96, seed=7)
    positions = [(20, 20), (24, 22), (28, 25), (130, 70), (133, 72)]  # a small drift, then a jump
    frames = [_scene(face, x, y) for x, y in positions] + [_scene(None, 0, 0)] + [_scene(face, 135, 74)]
    folder = _write_frames(tmp_path / "scene", frames)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    full = [media.detect_face(g) for g in gray]
    assert full[5] is None and all(b is not None for i, b in enumerate(full) if i != 5)
    near = media.detect_near(gray[1], full[0])
    assert near is not None and _iou(near, full[1]) > 0.8
    assert media.detect_near(gray[3], full[2]) is None  # the face jumped away: not found near
    clip, counts = read_faces(detector="haar", path=folder, frames=4, size=32, track=True)
    assert counts == {FACE_OK: 6, NO_FACE: 1} and clip is not None
    cache = tmp_path / "boxes"
    read_faces(detector="haar", path=folder, frames=4, size=32, track=True, cache=cache)
    boxes = json.loads(next(cache.glob("*.json")).read_text())["boxes"]
    assert boxes[5] is None
    assert all(_iou(tuple(b), full[i]) > 0.8 for i, b in enumerate(boxes) if i != 5)
    assert media.face_cache_key(path=folder, track=True, detector="haar") != media.face_cache_key(
        path=folder, detector="haar"
    )
    with pytest.raises(DataError, match="track"):
        read_faces(detector="haar", path=folder, frames=4, size=32, track=True, detect_every=2)
