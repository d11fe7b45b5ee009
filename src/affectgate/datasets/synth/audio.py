"""Synthetic emotional speech (numpy + scipy) and the log-mel front end of audio-visual models.

The voice is a source-filter toy: a harmonic glottal source whose pitch contour, loudness, speech
rate, spectral tilt, tremor and breathiness depend on the emotion (happy: high, varied pitch; sad:
low, flat, quiet, breathy; anger: loud, harsh, fast; fear: high with tremor; surprise: rising;
disgust: low and slow), shaped into syllables and filtered by fixed vowel-like formants. Nothing
here records or imitates a real person; every waveform is deterministic from its generator.

:func:`log_mel` is the preprocessing declared by a card's ``input.audio`` spec (``log_mel``
representation): Hann-windowed STFT power, HTK mel filterbank, natural log. It is written in numpy
because torchaudio is not a dependency; the same function is used for training and inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.io import wavfile

from affectgate.core.errors import DataError
from affectgate.core.records import AudioSpec

#: Syllables of the two RAVDESS statements ("Kids are talking by the door", "Dogs are sitting by the door").
STATEMENT_SYLLABLES = {1: (1.0, 0.6, 1.0, 0.7, 0.8, 0.6, 1.0), 2: (1.0, 0.6, 1.0, 0.7, 0.8, 0.6, 1.0)}


@dataclass(frozen=True)
class Prosody:
    """How an emotion changes the voice at full intensity (relative to a neutral speaker)."""

    pitch: float  # multiplier of the speaker's mean f0
    pitch_range: float  # relative size of per-syllable pitch accents
    slope: float  # relative f0 change from the first to the last syllable (+ rising)
    energy: float  # loudness multiplier
    rate: float  # syllables per second
    tilt: float  # spectral roll-off exponent of the harmonics (low = harsh/bright)
    breath: float  # share of aspiration noise
    tremor: float  # relative depth of an 7 Hz pitch tremor


PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(
        pitch=1.00, pitch_range=0.06, slope=-0.10, energy=0.50, rate=4.0, tilt=1.4, breath=0.05, tremor=0.0
    ),
    "happiness": Prosody(
        pitch=1.30, pitch_range=0.30, slope=0.05, energy=0.75, rate=4.8, tilt=1.2, breath=0.05, tremor=0.0
    ),
    "sadness": Prosody(
        pitch=0.82, pitch_range=0.02, slope=-0.20, energy=0.28, rate=2.8, tilt=2.0, breath=0.25, tremor=0.0
    ),
    "anger": Prosody(
        pitch=1.15, pitch_range=0.18, slope=-0.05, energy=1.00, rate=5.2, tilt=0.8, breath=0.02, tremor=0.0
    ),
    "fear": Prosody(
        pitch=1.40, pitch_range=0.10, slope=0.00, energy=0.55, rate=5.8, tilt=1.5, breath=0.18, tremor=0.06
    ),
    "disgust": Prosody(
        pitch=0.90, pitch_range=0.12, slope=-0.15, energy=0.55, rate=2.6, tilt=1.6, breath=0.10, tremor=0.0
    ),
    "surprise": Prosody(
        pitch=1.35, pitch_range=0.12, slope=0.55, energy=0.80, rate=4.2, tilt=1.2, breath=0.06, tremor=0.0
    ),
}

FORMANTS = ((550.0, 90.0), (1500.0, 120.0), (2500.0, 160.0))  # (centre Hz, bandwidth Hz)


def _mix(neutral: float, target: float, k: float) -> float:
    return neutral + (target - neutral) * k


def synth_utterance(
    *,
    emotion: str,
    intensity: float,
    speaker_f0: float,
    seconds: float,
    sample_rate: int,
    rng: np.random.Generator,
    statement: int = 1,
    gain: float = 1.0,
    noise: float = 0.01,
) -> np.ndarray:
    """A float32 waveform in [-1, 1] of one statement spoken with ``emotion`` at ``intensity`` (0..1).

    ``speaker_f0`` is the speaker's neutral mean pitch in Hz; ``gain`` a per-recording loudness
    factor (microphone distance); ``noise`` the background noise level.
    """
    if emotion not in PROSODY:
        raise DataError(f"no prosody for emotion {emotion!r}", fix=f"use one of {', '.join(PROSODY)}")
    k = float(np.clip(intensity, 0.0, 1.0))
    base, p = PROSODY["neutral"], PROSODY[emotion]
    pr = Prosody(**{f: _mix(getattr(base, f), getattr(p, f), k) for f in base.__dataclass_fields__})
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    syllables = STATEMENT_SYLLABLES.get(statement, STATEMENT_SYLLABLES[1])
    rate = pr.rate * rng.uniform(0.9, 1.1)
    syl_len = 1.0 / rate
    start = rng.uniform(0.05, 0.25)
    # pitch contour: per-syllable accents + global slope + tremor + slow wander
    f0 = np.full(n, speaker_f0 * pr.pitch * rng.uniform(0.95, 1.05))
    env = np.zeros(n)
    for i, stress in enumerate(syllables):
        s0 = start + i * syl_len
        if s0 >= seconds:
            break
        centre = s0 + syl_len / 2
        accent = pr.pitch_range * stress * rng.uniform(-0.6, 1.0)
        bump = np.exp(-0.5 * ((t - centre) / (syl_len * 0.35)) ** 2)
        f0 *= 1.0 + accent * bump
        inside = (t >= s0) & (t < s0 + syl_len * 0.85)
        phase = (t[inside] - s0) / (syl_len * 0.85)
        env[inside] += stress * np.sin(np.pi * phase) ** 0.7
    end = start + len(syllables) * syl_len
    prog = np.clip((t - start) / max(1e-3, end - start), 0.0, 1.0)
    f0 *= 1.0 + pr.slope * (prog - 0.5)
    f0 *= 1.0 + pr.tremor * np.sin(2 * np.pi * 7.0 * t + rng.uniform(0, 2 * np.pi))
    f0 *= 1.0 + 0.01 * np.cumsum(rng.normal(0, 1, n)) / np.sqrt(n)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    n_harm = int(min(40, (sample_rate / 2 * 0.9) // max(60.0, float(f0.max()))))
    source = np.zeros(n)
    for h in range(1, n_harm + 1):
        source += np.sin(h * phase) / h**pr.tilt
    source /= np.max(np.abs(source)) + 1e-9
    source = (1 - pr.breath) * source + pr.breath * rng.normal(0, 0.5, n)
    voiced = np.zeros(n)
    for fc, bw in FORMANTS:  # parallel resonators
        r = np.exp(-np.pi * bw / sample_rate)
        theta = 2 * np.pi * fc / sample_rate
        voiced += signal.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], source)
    voiced /= np.max(np.abs(voiced)) + 1e-9
    wave = voiced * env * pr.energy * gain * 0.6
    wave += rng.normal(0, noise, n)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def write_wav(*, path: Path, wave: np.ndarray, sample_rate: int) -> None:
    """Write a float waveform in [-1, 1] as 16-bit PCM mono WAV (byte-identical for identical input)."""
    pcm = np.round(np.clip(wave, -1.0, 1.0) * 32767).astype("<i2")
    wavfile.write(str(path), sample_rate, pcm)


def read_wav(*, path: Path) -> tuple[np.ndarray, int]:
    """A mono float32 waveform in [-1, 1] and its sample rate; stereo is averaged."""
    if not path.is_file():
        raise DataError(f"audio file not found: {path}", fix="check the dataset root and the file-name convention")
    try:
        sr, data = wavfile.read(str(path))
    except ValueError as exc:
        raise DataError(f"unreadable WAV file {path}: {exc}", fix="re-encode it as PCM WAV") from None
    x = data.astype(np.float32)
    if np.issubdtype(data.dtype, np.integer):
        x /= float(np.iinfo(data.dtype).max)
    if x.ndim == 2:
        x = x.mean(axis=1)
    return x, int(sr)


def mel_filterbank(
    *, sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` triangular HTK-mel filters (unit peak)."""
    fmax = float(sample_rate) / 2 if fmax is None else float(fmax)

    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - freqs[None, :]) / np.maximum(hi - mid, 1e-9)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def log_mel(*, wave: np.ndarray, sample_rate: int, spec: AudioSpec) -> np.ndarray:
    """``(n_mels, frames)`` float32 natural-log mel power of ``wave``, cropped/zero-padded to ``spec.seconds``.

    ``frames = 1 + (samples - n_fft) // hop`` (no centring). The waveform must already be at the
    spec's sample rate.
    """
    if sample_rate != spec.sample_rate:
        raise DataError(
            f"audio at {sample_rate} Hz but the model expects {spec.sample_rate} Hz",
            fix="resample the audio (e.g. scipy.signal.resample_poly) before computing the log-mel",
        )
    n = int(round(spec.seconds * spec.sample_rate))
    x = np.zeros(n, dtype=np.float32)
    x[: min(n, len(wave))] = wave[:n]
    frames = np.lib.stride_tricks.sliding_window_view(x, spec.n_fft)[:: spec.hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(spec.n_fft).astype(np.float32), axis=1)) ** 2
    fb = mel_filterbank(
        sample_rate=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels, fmin=spec.fmin, fmax=spec.fmax
    )
    return np.log(fb @ power.T + 1e-6).astype(np.float32)


def audio_frames(*, spec: AudioSpec) -> int:
    """Number of log-mel frames :func:`log_mel` produces for ``spec``."""
    return 1 + (int(round(spec.seconds * spec.sample_rate)) - spec.n_fft) // spec.hop
