"""Shaping rendered or decoded audio into the corpus's clips: 16 kHz mono, one second.

Speech is trimmed to the frames within 40 dB of its loudest and centred; notes and samples
keep their onset at the start of the clip (their attack is what identifies them).
"""

import numpy as np
import soxr

from fassl_jax.data.audio_io import fit_length  # centre-crop or zero-pad

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


def _span(wave: np.ndarray, top_db: float = 40.0) -> tuple[int, int]:
    """[start, stop) of the 10 ms frames within top_db of the loudest frame."""
    import librosa

    _, (start, stop) = librosa.effects.trim(wave, top_db=top_db, frame_length=320, hop_length=160)
    return start, stop


def trim(wave: np.ndarray) -> np.ndarray:
    start, stop = _span(wave)
    return wave[start:stop]


def from_onset(wave: np.ndarray, num_samples: int = CLIP_SAMPLES) -> np.ndarray:
    """The first num_samples from the first frame within 40 dB of the loudest, zero-padded."""
    wave = wave[_span(wave)[0] :][:num_samples]
    return np.pad(wave, (0, num_samples - len(wave)))


def speech_clip(wave: np.ndarray, rate: int) -> np.ndarray | None:
    wave = to_16k(wave, rate)
    if np.abs(wave).max(initial=0.0) < SILENT_PEAK:
        return None
    return fit_length(trim(wave), CLIP_SAMPLES)


def onset_clip(wave: np.ndarray, rate: int) -> np.ndarray | None:
    wave = to_16k(wave, rate)
    if np.abs(wave).max(initial=0.0) < SILENT_PEAK:
        return None
    return from_onset(wave)
