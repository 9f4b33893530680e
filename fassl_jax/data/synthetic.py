"""A procedural source with known structure, for tests: instant, no files, no packages.

Each clip plays a pattern of three tones (the "pattern" label: what is played) with a
source-specific timbre (the "source" label: who plays it, also the natural client).
Onset, pitch and loudness jitter per clip, and a little noise is added.
Split per (pattern, source) by take, like FSDD: the first `heldout_takes` takes "test", the
next as many "select", the rest "pretrain".
"""

import numpy as np

from fassl_jax.data.audioset import AudioSet


def load(
    num_patterns: int = 4,
    num_sources: int = 4,
    takes: int = 8,
    sample_rate: int = 16_000,
    clip_seconds: float = 1.0,
    seed: int = 0,
    loudness_db: float = 6.0,
    snr_db: tuple[float, float] | None = None,
    heldout_takes: int = 1,
) -> AudioSet:
    """loudness_db: each clip's level varies uniformly within +-loudness_db.
    snr_db: (low, high): white background noise at a per-clip SNR drawn from that range."""
    rng = np.random.default_rng(seed)
    n = int(round(sample_rate * clip_seconds))
    t = np.arange(n) / sample_rate
    # Pattern: three pitches (Hz) on a log scale; timbre: harmonic amplitudes and a tremolo.
    pitches = 200.0 * 2.0 ** rng.uniform(0, 3, size=(num_patterns, 3))
    harmonics = rng.uniform(0, 1, size=(num_sources, 6)) ** 2
    harmonics[:, 0] = 1.0
    tremolo_hz = rng.uniform(3, 12, size=num_sources)

    clips, patterns, sources, split = [], [], [], []
    for p in range(num_patterns):
        for s in range(num_sources):
            for take in range(takes):
                onset = rng.uniform(0.0, 0.2) * clip_seconds  # the pattern fits any length
                note_len = rng.uniform(0.18, 0.25) * clip_seconds
                shift = 2.0 ** rng.normal(0, 0.02)
                wave = np.zeros(n)
                for i, f0 in enumerate(pitches[p] * shift):
                    start = onset + i * note_len
                    env = np.clip((t - start) / 0.01, 0, 1) * (t < start + note_len)
                    tone = sum(
                        a * np.sin(2 * np.pi * f0 * (h + 1) * t)
                        for h, a in enumerate(harmonics[s])
                        if f0 * (h + 1) < sample_rate / 2
                    )
                    wave += env * tone
                wave *= 1 + 0.3 * np.sin(2 * np.pi * tremolo_hz[s] * t)
                level_db = rng.uniform(-loudness_db, loudness_db)
                wave *= 0.1 * 10 ** (level_db / 20) / np.abs(wave).max()
                if snr_db is not None:
                    noise_rms = np.sqrt(np.mean(wave**2)) * 10 ** (-rng.uniform(*snr_db) / 20)
                    wave += noise_rms * rng.normal(size=n)
                wave += 0.003 * rng.normal(size=n)
                clips.append(wave.astype(np.float32))
                patterns.append(p)
                sources.append(s)
                held = take // heldout_takes
                split.append("test" if held == 0 else "select" if held == 1 else "pretrain")
    return AudioSet(
        np.stack(clips),
        {"pattern": np.array(patterns, np.int32), "source": np.array(sources, np.int32)},
        {
            "pattern": tuple(f"pattern{i}" for i in range(num_patterns)),
            "source": tuple(f"source{i}" for i in range(num_sources)),
        },
        np.array(split),
        client_label="source",
    )
