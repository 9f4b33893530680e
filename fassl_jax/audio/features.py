"""Log-mel front end in jnp (BYOL-A settings), matching librosa's melspectrogram."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class LogMelConfig(NamedTuple):
    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    f_min: float = 60.0
    f_max: float = 7800.0
    eps: float = 1e-5  # just under FSDD's noise floor, so zero padding is not an outlier
    # librosa's defaults (Slaney's mel scale, filters normalised to equal area); BYOL-A's
    # torchaudio front end uses "htk" and "none".
    mel_scale: str = "slaney"  # "slaney" | "htk"
    mel_norm: str = "slaney"  # "slaney" | "none"

    def num_frames(self, num_samples: int) -> int:
        return 1 + num_samples // self.hop_length  # center=True


DEFAULT = LogMelConfig()


MEL_SCALES, MEL_NORMS = ("slaney", "htk"), ("slaney", "none")


def mel_filterbank(cfg: LogMelConfig) -> np.ndarray:
    """Triangular mel filters, [n_fft // 2 + 1, n_mels], on cfg's mel scale and norm."""
    import librosa  # here: what only needs LogMelConfig (the round, benchmarks) stays light

    if cfg.mel_scale not in MEL_SCALES or cfg.mel_norm not in MEL_NORMS:
        raise ValueError(
            f"mel_scale {cfg.mel_scale!r} / mel_norm {cfg.mel_norm!r}: choose from "
            f"{MEL_SCALES} / {MEL_NORMS}"
        )
    fb = librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.f_min,
        fmax=cfg.f_max,
        htk=cfg.mel_scale == "htk",
        norm="slaney" if cfg.mel_norm == "slaney" else None,
    )
    return fb.T.astype(np.float32)


def log_mel(waveforms: jax.Array, cfg: LogMelConfig = DEFAULT) -> jax.Array:
    """Waveforms [..., samples] -> log(mel power + eps) [..., frames, n_mels].

    Same as ``log(librosa.feature.melspectrogram(center=True, pad_mode="constant") + eps)``
    with a periodic Hann window and power 2.
    """
    pad = cfg.n_fft // 2
    padded = jnp.pad(waveforms, [(0, 0)] * (waveforms.ndim - 1) + [(pad, pad)])
    num_frames = cfg.num_frames(waveforms.shape[-1])
    starts = jnp.arange(num_frames) * cfg.hop_length
    frames = padded[..., starts[:, None] + jnp.arange(cfg.n_fft)]  # [..., frames, n_fft]
    window = jnp.asarray(np.hanning(cfg.n_fft + 1)[:-1], dtype=waveforms.dtype)  # periodic
    power = jnp.abs(jnp.fft.rfft(frames * window, axis=-1)) ** 2
    mel = power @ jnp.asarray(mel_filterbank(cfg))
    return jnp.log(mel + cfg.eps)


def log_mel_batched(
    waveforms: np.ndarray, cfg: LogMelConfig = DEFAULT, batch_size: int = 256
) -> np.ndarray:
    """log_mel over a large host array in fixed-size chunks (one compilation, bounded memory)."""
    fn = jax.jit(lambda w: log_mel(w, cfg))
    n = waveforms.shape[0]
    out = np.empty((n, cfg.num_frames(waveforms.shape[-1]), cfg.n_mels), np.float32)
    for start in range(0, n, batch_size):
        chunk = waveforms[start : start + batch_size]
        padded = np.pad(chunk, [(0, batch_size - len(chunk)), (0, 0)])
        out[start : start + len(chunk)] = np.asarray(fn(padded))[: len(chunk)]
    return out
