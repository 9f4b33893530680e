"""A corpus built by data_prep (`python -m data_prep.build --out=DIR`), read from its feature
cache: log-mels memory-mapped from DIR/features.npy, never re-rendered.

The cache puts the pretraining clips first, so the client pool is a contiguous slice of the
memory map; held-out and external clips follow. Each task names, per clip, its role
(gallery, select or test query) in the manifest's `task:<name>` columns.
"""

import csv
import json
import os
from typing import NamedTuple

import numpy as np

from fassl_jax.errors import DataError

BUILD_HINT = "build it with: python -m data_prep.build --corpus=general --out={}"


class Corpus(NamedTuple):
    features: np.ndarray  # float16 [N, frames, mels], memory-mapped
    columns: dict[str, np.ndarray]  # manifest column -> [N] str
    tasks: dict[str, dict]  # tasks.json: task -> {label, kind, protocol, counts}
    info: dict  # build_info.json

    @property
    def num_pretrain(self) -> int:
        return int(np.sum(self.columns["split"] == "pretrain"))

    def role_ids(self, task: str, role: str) -> np.ndarray:
        return np.flatnonzero(self.columns[f"task:{task}"] == role)


def open_corpus(folder: str) -> Corpus:
    if not folder:
        raise DataError("data.source='corpus' needs data.dir: the folder data_prep built")
    info_path = os.path.join(folder, "build_info.json")
    if not os.path.exists(info_path):
        raise DataError(
            f"{folder} holds no finished corpus (no build_info.json); {BUILD_HINT.format(folder)}"
        )
    with open(info_path) as f:
        info = json.load(f)
    with open(os.path.join(folder, "tasks.json")) as f:
        tasks = json.load(f)
    with open(os.path.join(folder, "manifest.csv"), newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        table = list(zip(*reader, strict=True))
    columns = {name: np.array(values) for name, values in zip(header, table, strict=True)}
    features = np.load(os.path.join(folder, "features.npy"), mmap_mode="r")
    if len(features) != len(columns["clip"]):
        raise DataError(
            f"{folder}: features.npy holds {len(features)} clips, the manifest "
            f"{len(columns['clip'])}; the cache is damaged: delete it and rebuild"
        )
    split = columns["split"]
    n = int(np.sum(split == "pretrain"))
    if not np.all(split[:n] == "pretrain"):
        raise DataError(f"{folder}: pretraining clips are not first; rebuild the cache")
    return Corpus(features, columns, tasks, info)


def pretrain_rows(corpus: Corpus, domains: str) -> np.ndarray | None:
    """The pretraining rows of the named domains (comma-separated); None for all of them."""
    wanted = [d.strip() for d in domains.split(",") if d.strip()]
    if not wanted:
        return None
    have = corpus.columns["domain"][: corpus.num_pretrain]
    unknown = sorted(set(wanted) - set(have))
    if unknown:
        raise DataError(
            f"data.domains: {', '.join(unknown)} not in this corpus's pretraining clips; "
            f"choose from {', '.join(sorted(set(have)))}"
        )
    return np.flatnonzero(np.isin(have, wanted))


def check_front_end(corpus: Corpus, log_mel, clip_seconds: float) -> None:
    """The cache's log-mels must be the ones the config describes (log_mel: a LogMelConfig;
    a setting a cache does not record is at its default)."""
    want = log_mel._asdict()
    held = {**type(log_mel)()._asdict(), **corpus.info["settings"]["log_mel"]}
    differ = sorted(k for k in want if held.get(k) != want[k])
    if differ or clip_seconds != 1.0:
        got = ", ".join(f"{k}={held.get(k)!r}" for k in differ)
        asked = ", ".join(f"{k}={want[k]!r}" for k in differ)
        raise DataError(
            f"the corpus cache holds 1 s clips as log-mels with {got or 'these settings'}; the "
            f"config asks for {clip_seconds} s clips{', ' + asked if asked else ''}: set "
            "data.clip_seconds=1.0 and config.audio to the cache's settings, or rebuild it"
        )


def mean_std(clips: np.ndarray, chunk: int = 4096) -> tuple[float, float]:
    """Mean and standard deviation over a (memory-mapped) array, a chunk at a time."""
    total, total_sq, count = 0.0, 0.0, 0
    for start in range(0, len(clips), chunk):
        x = np.asarray(clips[start : start + chunk], np.float64)
        total += x.sum()
        total_sq += np.square(x).sum()
        count += x.size
    mean = total / count
    return float(mean), float(np.sqrt(max(total_sq / count - mean**2, 0.0)))
