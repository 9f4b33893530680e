"""Reading wav files into fixed-length 16 kHz mono clips, with errors that name the file."""

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile
import soxr

from fassl_jax.errors import DataError


def fit_length(wave: np.ndarray, num_samples: int) -> np.ndarray:
    """Centre-pads with zeros or centre-crops to num_samples."""
    n = wave.shape[0]
    if n >= num_samples:
        start = (n - num_samples) // 2
        return wave[start : start + num_samples]
    left = (num_samples - n) // 2
    return np.pad(wave, (left, num_samples - n - left))


def read_clip(path: str, sample_rate: int, num_samples: int) -> np.ndarray:
    """One file -> float32 [num_samples] at sample_rate (mono mix, resampled, centred)."""
    try:
        wave, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for bad files
        raise DataError(
            f"cannot read audio file {path} ({type(e).__name__}: {e}); "
            "replace it with a valid wav or delete it"
        ) from None
    if wave.shape[0] == 0:
        raise DataError(f"audio file {path} holds no samples; replace it or delete it")
    wave = wave.mean(axis=1)
    if file_rate != sample_rate:
        wave = soxr.resample(wave, file_rate, sample_rate).astype(np.float32)
    if not np.all(np.isfinite(wave)):
        raise DataError(f"audio file {path} holds NaN or infinite samples; replace it")
    return fit_length(wave, num_samples)


def read_clips(paths: Sequence[str], sample_rate: int, num_samples: int) -> np.ndarray:
    """Many files -> float32 [len(paths), num_samples]; decoding runs on a few threads."""
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        clips = list(pool.map(lambda p: read_clip(p, sample_rate, num_samples), paths))
    if not clips:
        return np.zeros((0, num_samples), np.float32)
    return np.stack(clips)
