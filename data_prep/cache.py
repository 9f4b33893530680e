"""The feature cache on disk, which training reads (fassl_jax.data.corpus):

  features.npy     float16 [N, frames, mels] log-mels, memory-mappable (np.load(mmap_mode="r")).
                   Pretraining clips come first (grouped by client), then held-out, then
                   external clips.
  manifest.csv     one row per clip, in the order of features.npy: clip, source, domain,
                   synthetic, client, split, every label, one `task:<name>` role column per
                   task (gallery | select | test | empty), origin (what was rendered or read).
  tasks.json       per task: label column, kind, protocol, counts per role.
  clients.json/png per-client sizes and label skew.
  build_info.json  written last: counts, settings, package versions, licences, checksum.
  plan.json        every planned clip with what renders it (silent ones included).
  shards/          the build's working state, removed when it finishes.

Every file is written to a temporary name and renamed, so a killed build leaves either the
old file or the new one, never half of one.
"""

import contextlib
import csv
import hashlib
import json
import os

import numpy as np

from data_prep.rows import Row

FEATURES, MANIFEST, TASKS_FILE = "features.npy", "manifest.csv", "tasks.json"
BUILD_INFO, PLAN, SHARDS = "build_info.json", "plan.json", "shards"
LABELS = (
    "word", "voice", "language", "grapheme", "program", "family", "pitch", "velocity",
    "soundfont", "kit", "category", "digit", "speaker",
)  # fmt: skip
BASE_COLUMNS = ("clip", "source", "domain", "synthetic", "client", "split")


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary path beside `path`; renames it onto `path` when the block ends."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str, obj) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def rows_to_json(rows: list[Row]) -> list[dict]:
    return [r.__dict__ for r in rows]


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def plan_digest(rows: list[Row], settings: dict) -> str:
    return digest([settings, rows_to_json(rows)])


def remove_stale_temporaries(folder: str) -> None:
    """Temporary files of a build that was killed while writing (see atomic_path)."""
    for sub in (folder, os.path.join(folder, SHARDS)):
        for name in os.listdir(sub):
            if ".tmp" in name:
                os.remove(os.path.join(sub, name))


def save_shard(path: str, mels: np.ndarray, keep: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, mels=mels, keep=keep)


def load_shard(path: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as z:
        return z["mels"], z["keep"]


def order_for_training(rows: list[Row]) -> list[int]:
    """Pretraining clips first, grouped by client (then plan order), then the rest."""
    rank = {"pretrain": 0, "heldout": 1, "external": 2}
    return sorted(range(len(rows)), key=lambda i: (rank[rows[i].split], rows[i].client, i))


def write_manifest(path: str, rows: list[Row], task_names: list[str]) -> None:
    columns = [*BASE_COLUMNS, *LABELS, *(f"task:{t}" for t in task_names), "origin"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for i, r in enumerate(rows):
            w.writerow(
                [i, r.source, r.domain, int(r.synthetic), r.client, r.split]
                + [r.labels.get(k, "") for k in LABELS]
                + [r.tasks.get(t, "") for t in task_names]
                + [json.dumps(r.render, sort_keys=True)]
            )


def checksum(folder: str) -> str:
    h = hashlib.sha256()
    for name in (FEATURES, MANIFEST, TASKS_FILE):
        with open(os.path.join(folder, name), "rb") as f:
            while chunk := f.read(1 << 24):
                h.update(chunk)
    return h.hexdigest()
