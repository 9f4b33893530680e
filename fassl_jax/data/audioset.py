"""The in-memory form every audio source returns."""

from typing import NamedTuple

import numpy as np


class AudioSet(NamedTuple):
    """Fixed-length clips (waveforms or their log-mels) with one or more label sets (tasks).

    `split` marks each clip's role. Sources with a pretraining split use
    "pretrain" (clients see the audio, never the labels), "select" (model selection)
    and "test" (reported results); folders without a split use "all".
    """

    audio: np.ndarray  # [N, samples] 16 kHz waveforms, or [N, frames, mels] log-mels
    labels: dict[str, np.ndarray]  # task -> int32 [N]
    classes: dict[str, tuple[str, ...]]  # task -> class names, indexed by label
    split: np.ndarray  # [N] str
    client_label: str | None  # the task whose classes are natural clients (e.g. speaker)

    def subset(self, mask: np.ndarray) -> "AudioSet":
        return AudioSet(
            self.audio[mask],
            {k: v[mask] for k, v in self.labels.items()},
            self.classes,
            self.split[mask],
            self.client_label,
        )


def encode_labels(names: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Strings -> (int32 labels, sorted class names)."""
    classes = tuple(sorted(set(names)))
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[n] for n in names], np.int32), classes
