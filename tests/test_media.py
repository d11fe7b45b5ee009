"""Media decoding: PyAV video sampling, frame folders, audio extraction, Haar face crops with a quality bar."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from _loader_fixtures import write_jpg, write_video
from affectgate.datasets.dfew import read_clip
from affectgate.datasets.media import (
    FACE_OK,
    FACE_TOO_SMALL,
    NO_FACE,
    TOO_BLURRY,
    crop_face,
    extract_audio,
    read_faces,
    read_frame_folder,
    read_video,
)
from affectgate.datasets.synth.audio import write_wav
from affectgate.datasets.synth.faces import EXPRESSIONS, FrameKnobs, make_subject, render_face
from affectgate.errors import DataError

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
    clip, counts = read_faces(path=folder, frames=4, size=32)
    assert counts == {FACE_OK: 2, NO_FACE: 1}
    assert clip is not None and clip.shape == (4, 32, 32, 3)
    video = write_video(tmp_path / "blank.mp4", _ramp(3, size=64))
    none, counts2 = read_faces(path=video, frames=2, size=32)
    assert none is None and counts2 == {NO_FACE: 3}
