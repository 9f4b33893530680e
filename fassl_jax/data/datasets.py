"""What a run trains and evaluates on, whatever the source: the pool of pretraining clips
(clients' audio), their labels (for partitions only), and the retrieval tasks.

Each task has its own gallery and its own select and test queries, all indices into
`eval_clips`. A single-folder source (FSDD, synthetic) has one gallery for every task, the
pretraining clips, with its select and test splits as queries; a data_prep corpus names
each task's clips in its manifest (see fassl_jax/data/corpus.py).
"""

from typing import NamedTuple

import numpy as np

from fassl_jax.audio.features import LogMelConfig
from fassl_jax.data import corpus as corpus_lib
from fassl_jax.data.audioset import AudioSet, encode_labels
from fassl_jax.errors import UserError

QUERY_SPLITS = ("select", "test")


class RetrievalTask(NamedTuple):
    gallery: np.ndarray  # [G] indices into eval_clips
    gallery_labels: np.ndarray  # [G] int32
    queries: dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (indices, labels)


class Dataset(NamedTuple):
    pool: np.ndarray  # [P, T, F] pretraining clips: float32 in memory, or a float16 memmap
    pretrain: AudioSet  # the pool's labels and natural clients (audio: the pool itself)
    eval_clips: np.ndarray  # [M, T, F] float32: every task's gallery and queries
    tasks: dict[str, RetrievalTask]
    input_mean: float
    input_std: float
    identity: str | None = None  # a corpus's checksum: a resumed run must train on the same


def from_audioset(data: AudioSet, source: str) -> Dataset:
    """Gallery: the pretraining clips; queries: the select and test splits; every label a task."""
    parts = {name: data.subset(data.split == name) for name in ("pretrain", *QUERY_SPLITS)}
    if not any(len(parts[s].audio) for s in QUERY_SPLITS) and len(parts["pretrain"].audio):
        # Unlabelled audio (an audio folder without labels): training without retrieval tasks.
        pretrain = parts["pretrain"]
        empty = pretrain.audio[:0]
        mean, std = float(pretrain.audio.mean()), float(pretrain.audio.std())
        return Dataset(pretrain.audio, pretrain, empty, {}, mean, std)
    for name, part in parts.items():
        if len(part.audio) == 0:
            raise UserError(
                f"data source {source!r} has no {name!r} clips; training needs pretrain, "
                "select and test splits (spoken_digit, synthetic and corpus have them)"
            )
    pretrain, select, test = (parts[n] for n in ("pretrain", *QUERY_SPLITS))
    eval_clips = np.concatenate([pretrain.audio, select.audio, test.audio])
    n_p, n_s = len(pretrain.audio), len(select.audio)
    ids = {"select": np.arange(n_p, n_p + n_s), "test": np.arange(n_p + n_s, len(eval_clips))}
    tasks = {
        task: RetrievalTask(
            np.arange(n_p),
            pretrain.labels[task],
            {s: (ids[s], parts[s].labels[task]) for s in QUERY_SPLITS},
        )
        for task in data.labels
    }
    mean, std = float(pretrain.audio.mean()), float(pretrain.audio.std())
    return Dataset(pretrain.audio, pretrain, eval_clips, tasks, mean, std)


def from_corpus(
    folder: str, log_mel: LogMelConfig, clip_seconds: float, domains: str = ""
) -> Dataset:
    """`domains` (comma-separated, empty: all) keeps only those domains' pretraining clips
    (and so their clients); the tasks are the corpus's whole, whatever was pretrained on."""
    c = corpus_lib.open_corpus(folder)
    corpus_lib.check_front_end(c, log_mel, clip_seconds)
    n = c.num_pretrain
    picked = corpus_lib.pretrain_rows(c, domains)
    # The whole pool is a contiguous slice, a view of the memory map that reads nothing yet.
    # Some domains' rows are scattered, and the cohort pool reads clips by position, so
    # those rows are read into host memory once, not streamed (configs/base.py says so).
    pool = c.features[:n] if picked is None else np.asarray(c.features[picked])
    rows = slice(0, n) if picked is None else picked
    label_columns = [
        k for k in c.columns if k not in ("clip", "origin", "synthetic") and ":" not in k
    ]
    labels, classes = {}, {}
    for name in label_columns:
        labels[name], classes[name] = encode_labels(list(c.columns[name][rows]))
    pretrain = AudioSet(pool, labels, classes, c.columns["split"][rows], client_label="client")

    roles = ("gallery", *QUERY_SPLITS)
    ids = {task: {role: c.role_ids(task, role) for role in roles} for task in c.tasks}
    needed = np.unique(np.concatenate([i for per in ids.values() for i in per.values()]))
    eval_clips = np.asarray(c.features[needed], np.float32)  # reads only these rows
    tasks = {}
    for name, spec in c.tasks.items():
        per = ids[name]
        if not all(len(per[role]) for role in roles):
            raise UserError(f"corpus {folder}: task {name!r} lacks a gallery or queries; rebuild")
        # One code per label value across gallery and queries, so a query hits its matches.
        values = c.columns[spec["label"]][np.concatenate([per[role] for role in roles])]
        codes, _ = encode_labels(list(values))
        bounds = np.cumsum([0] + [len(per[role]) for role in roles])
        coded = {role: codes[bounds[k] : bounds[k + 1]] for k, role in enumerate(roles)}
        at = {role: np.searchsorted(needed, per[role]) for role in roles}  # into eval_clips
        tasks[name] = RetrievalTask(
            at["gallery"], coded["gallery"], {s: (at[s], coded[s]) for s in QUERY_SPLITS}
        )
    mean, std = corpus_lib.mean_std(pool)
    return Dataset(pool, pretrain, eval_clips, tasks, mean, std, c.info["checksum"])
