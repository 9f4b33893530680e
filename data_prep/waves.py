"""Shaping rendered or decoded audio into the corpus's clips: 16 kHz mono, one second.

Speech is trimmed to the frames within 40 dB of its loudest and centred; notes and samples
keep their onset at the start of the clip (their attack is what identifies them).
"""

import numpy as np
import soxr

SAMPLE_RATE = 16_000
CLIP_SAMPLES = SAMPLE_RATE  # one second
SILENT_PEAK = 100 / 32768  # quieter than this is an out-of-range note or an effect: dropped


def to_16k(wave: np.ndarray, rate: int) -> np.ndarray:
    wave = np.asarray(wave, np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    if rate != SAMPLE_RATE:
        wave = soxr.resample(wave, rate, SAMPLE_RATE).astype(np.float32)
    return wave


def trim(wave: np.ndarray, top_db: float = 40.0) -> np.ndarray:
    """The span of 10 ms frames within top_db of the loudest frame."""
    import librosa

    _, (start, stop) = librosa.effects.trim(wave, top_db=top_db, frame_length=320, hop_length=160)
    return wave[start:stop]


def centred(wave: np.ndarray, num_samples: int = CLIP_SAMPLES) -> np.ndarray:
    """Centre-crops or zero-pads to num_samples."""
    n = len(wave)
    if n >= num_samples:
        start = (n - num_samples) // 2
        return wave[start : start + num_samples]
    left = (num_samples - n) // 2
    return np.pad(wave, (left, num_samples - n - left))


def from_onset(wave: np.ndarray, num_samples: int = CLIP_SAMPLES) -> np.ndarray:
    """The first num_samples from the first frame within 40 dB of the loudest, zero-padded."""
    import librosa

    _, (start, _) = librosa.effects.trim(wave, top_db=40.0, frame_length=320, hop_length=160)
    wave = wave[start : start + num_samples]
    return np.pad(wave, (0, num_samples - len(wave)))


def speech_clip(wave: np.ndarray, rate: int) -> np.ndarray | None:
    wave = to_16k(wave, rate)
    if np.abs(wave).max(initial=0.0) < SILENT_PEAK:
        return None
    return centred(trim(wave))


def onset_clip(wave: np.ndarray, rate: int) -> np.ndarray | None:
    wave = to_16k(wave, rate)
    if np.abs(wave).max(initial=0.0) < SILENT_PEAK:
        return None
    return from_onset(wave)
