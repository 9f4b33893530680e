"""A trained encoder behind the HEAR API (Turian et al. 2022, hearbenchmark.com), so HEAR's
evaluation kit and other tools that speak it can score it.

    from fassl_jax import hear
    model = hear.load_model("runs/general")            # the last round's encoder
    model = hear.load_model("runs/general:family")     # FASSL's pick for a task
    scene = hear.get_scene_embeddings(audio, model)    # audio [n, samples] at 16 kHz
    frames, timestamps = hear.get_timestamp_embeddings(audio, model)

Audio is a float array (NumPy, JAX, or anything np.asarray reads, e.g. a CPU torch tensor)
of mono 16 kHz sounds; embeddings come back as NumPy arrays.
"""

from typing import Any, NamedTuple

import jax
import numpy as np

from fassl_jax.audio import features
from fassl_jax.eval import retrieval

SAMPLE_RATE = 16_000
TIMESTAMP_HOP_SECONDS = 0.05  # HEAR asks for 50 ms or finer between timestamp embeddings


class HearModel(NamedTuple):
    embed: Any  # jitted (variables, log-mels [B, T, F]) -> [B, D]
    variables: Any
    log_mel: features.LogMelConfig
    window_frames: int  # the clip length it trained on, in frames
    sample_rate: int
    scene_embedding_size: int
    timestamp_embedding_size: int


def load_model(model_file_path: str) -> HearModel:
    """model_file_path: a run's workdir, or workdir:task for FASSL's pick for that task."""
    from fassl_jax import build
    from fassl_jax.encoders_io import load_encoder

    workdir, _, task = model_file_path.partition(":")
    loaded = load_encoder(workdir, task or "last")
    encoder = loaded.encoder
    embed = jax.jit(lambda v, x: encoder.apply(v, x, train=False))
    cfg = build.log_mel_config(loaded.config)
    # The length it trained and was scored on: its eval windows (ACOP) or the whole clip.
    frames = loaded.config.eval.get("window_frames", 0) or build.clip_frames(loaded.config)
    size = int(embed(loaded.variables, np.zeros((1, frames, cfg.n_mels), np.float32)).shape[-1])
    return HearModel(embed, loaded.variables, cfg, frames, cfg.sample_rate, size, size)


def _log_mels(audio, model: HearModel) -> np.ndarray:
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 2:
        raise ValueError(f"audio must be [n_sounds, n_samples]; got shape {audio.shape}")
    return features.log_mel_batched(audio, model.log_mel, batch_size=64)


def get_timestamp_embeddings(audio, model: HearModel) -> tuple[np.ndarray, np.ndarray]:
    """Windows of the encoder's training length, one every 50 ms, centred on each timestamp
    (sounds shorter than a window are zero-padded): ([n, T, D], timestamps [n, T] in ms)."""
    mels = _log_mels(audio, model)
    n, t, f = mels.shape
    w = model.window_frames
    hop = max(1, round(TIMESTAMP_HOP_SECONDS * model.sample_rate / model.log_mel.hop_length))
    centres = np.arange(0, t, hop)
    # Pad with silence (the log of eps) so that every window around a centre exists.
    floor = float(np.log(model.log_mel.eps))
    padded = np.pad(mels, ((0, 0), (w // 2, w - w // 2), (0, 0)), constant_values=floor)
    windows = padded[:, centres[:, None] + np.arange(w)]  # [n, T, w, F]
    emb = retrieval.embed_in_batches(
        model.embed, model.variables, windows.reshape(n * len(centres), w, f), 256
    )
    ms = centres * model.log_mel.hop_length / model.sample_rate * 1000.0
    return emb.reshape(n, len(centres), -1), np.tile(ms, (n, 1))


def get_scene_embeddings(audio, model: HearModel) -> np.ndarray:
    """One embedding per sound: the mean of its windows of the training length, every half
    window ([n, D]); sounds shorter than a window are zero-padded."""
    mels = _log_mels(audio, model)
    w = model.window_frames
    if mels.shape[1] < w:
        floor = float(np.log(model.log_mel.eps))
        mels = np.pad(mels, ((0, 0), (0, w - mels.shape[1]), (0, 0)), constant_values=floor)
    embed = retrieval.windowed(model.embed, w, max(w // 2, 1))
    return retrieval.embed_in_batches(embed, model.variables, mels, 64)
