"""The jnp log-mel front end against librosa, on real recordings."""

import os

import librosa
import numpy as np
import pytest

from fassl_jax.audio import features
from fassl_jax.data import audio_io


def test_log_mel_matches_librosa_on_real_audio(fsdd_dir):
    cfg = features.LogMelConfig()
    names = ["0_george_0.wav", "7_jackson_32.wav", "3_yweweler_49.wav"]
    clips = np.stack([audio_io.read_clip(os.path.join(fsdd_dir, n), 16_000, 16_000) for n in names])
    got = np.asarray(features.log_mel(clips, cfg))
    for clip, mine in zip(clips, got, strict=True):
        mel = librosa.feature.melspectrogram(
            y=clip,
            sr=16_000,
            n_fft=1024,
            hop_length=160,
            n_mels=64,
            fmin=60,
            fmax=7800,
            center=True,
            pad_mode="constant",
            window="hann",
            power=2.0,
        )
        np.testing.assert_allclose(mine, np.log(mel.T + cfg.eps), atol=1e-4)
    assert got.shape == (3, cfg.num_frames(16_000), 64)


def reference_filterbank(cfg, htk: bool, slaney_norm: bool) -> np.ndarray:
    """Triangles on n_mels + 2 equally spaced mel points from the formulas (not librosa):
    HTK mel = 2595 log10(1 + f / 700); Slaney's mel is linear (f / (200/3)) below 1 kHz and
    logarithmic above (27 mels per factor 6.4). Slaney's norm scales each triangle to unit
    area: 2 / (its upper edge - its lower edge) in Hz. [n_fft // 2 + 1, n_mels]."""
    if htk:
        to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
        to_hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    else:
        step, knee = 200.0 / 3, 1000.0
        log_step = np.log(6.4) / 27.0

        def to_mel(f):
            return f / step if f < knee else knee / step + np.log(f / knee) / log_step

        def to_hz(m):
            m = np.asarray(m)
            return np.where(m < knee / step, m * step, knee * np.exp(log_step * (m - knee / step)))

    edges = to_hz(np.linspace(to_mel(cfg.f_min), to_mel(cfg.f_max), cfg.n_mels + 2))
    freqs = np.arange(cfg.n_fft // 2 + 1) * cfg.sample_rate / cfg.n_fft
    fb = np.zeros((len(freqs), cfg.n_mels))
    for m in range(cfg.n_mels):
        lo, mid, hi = edges[m : m + 3]
        rising, falling = (freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)
        fb[:, m] = np.maximum(0.0, np.minimum(rising, falling))
        if slaney_norm:
            fb[:, m] *= 2.0 / (hi - lo)
    return fb


@pytest.mark.parametrize(
    ("scale", "norm"), [("slaney", "slaney"), ("htk", "none"), ("htk", "slaney")]
)
def test_mel_filterbank_matches_the_mel_formulas(scale, norm):
    cfg = features.LogMelConfig(mel_scale=scale, mel_norm=norm)
    want = reference_filterbank(cfg, htk=scale == "htk", slaney_norm=norm == "slaney")
    got = features.mel_filterbank(cfg)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7 * want.max())


def test_the_two_mel_scales_place_filters_differently():
    slaney = features.mel_filterbank(features.LogMelConfig())
    htk = features.mel_filterbank(features.LogMelConfig(mel_scale="htk", mel_norm="none"))
    peaks_slaney, peaks_htk = slaney.argmax(axis=0), htk.argmax(axis=0)
    assert np.abs(peaks_slaney - peaks_htk).max() >= 3  # bins apart somewhere in the range
    assert 0.99 < htk.max() <= 1.0  # unnormalised triangles peak near 1 (between FFT bins)


def test_batched_log_mel_equals_one_call():
    waves = np.random.default_rng(0).normal(size=(5, 4000)).astype(np.float32) * 0.1
    whole = np.asarray(features.log_mel(waves))
    np.testing.assert_allclose(features.log_mel_batched(waves, batch_size=2), whole, atol=1e-5)
