"""The jnp log-mel front end against librosa, on real recordings."""

import os

import librosa
import numpy as np

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


def test_batched_log_mel_equals_one_call():
    waves = np.random.default_rng(0).normal(size=(5, 4000)).astype(np.float32) * 0.1
    whole = np.asarray(features.log_mel(waves))
    np.testing.assert_allclose(features.log_mel_batched(waves, batch_size=2), whole, atol=1e-5)
