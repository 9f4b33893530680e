"""Which parts of the model stay with the clients, and the host-side store that keeps them.

- Kept local (config `fl.keep_local`): each client keeps its own copy between the rounds it
  is sampled in and starts every round from it. "norm": the normalisation layers and their
  statistics (FedBN, Li et al. 2021); "heads": everything but the encoder. A client never
  sampled before starts from the initial model's values. "heads" is backbone-only
  transmission: the server aggregates and broadcasts the encoder alone, and its copy of the
  heads stays the initial one. For kept-local parts of the encoder ("norm") the server's copy
  is the weighted mean of the cohort's copies: it evaluates the global encoder and is never
  broadcast.
- Private (`SSLMethod.private_collections`, e.g. BYOL-A's mixup bank): state of one client's
  local training. The server neither averages nor stores it; every client starts from its
  initial value.

Variables are addressed as flat dicts {(collection, module, ..., leaf): array}.
"""

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from fassl_jax import distributed
from fassl_jax.models.heads import MODEL_COLLECTIONS

Flat = dict[tuple[str, ...], Any]
KEEP_LOCAL = ("norm", "heads")
NORM_LAYERS = ("BatchNorm_", "GroupNorm_", "LayerNorm_")


def parse_keep_local(keep_local: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in keep_local.split(",") if p.strip())
    unknown = [p for p in parts if p not in KEEP_LOCAL]
    if unknown:
        raise ValueError(f"unknown part {unknown[0]!r}; choose from {KEEP_LOCAL}")
    return parts


def local_selector(keep_local: str) -> Callable[[tuple[str, ...]], bool]:
    parts = parse_keep_local(keep_local)

    def is_local(path: tuple[str, ...]) -> bool:
        if path[0] not in MODEL_COLLECTIONS:  # method state is never "kept local"
            return False
        if "norm" in parts and (
            path[0] == "batch_stats" or any(p.startswith(NORM_LAYERS) for p in path)
        ):
            return True
        return "heads" in parts and path[1] != "encoder"

    return is_local


class ModelParts(NamedTuple):
    is_local: Callable[[tuple[str, ...]], bool]
    private: tuple[str, ...] = ()

    @classmethod
    def build(cls, keep_local: str = "", private: tuple[str, ...] = ()) -> "ModelParts":
        return cls(local_selector(keep_local), tuple(private))

    def local(self, variables: dict) -> Flat:
        flat = traverse_util.flatten_dict(variables)
        return {k: v for k, v in flat.items() if self.is_local(k)}

    def shared_state(self, model_state: dict) -> dict:
        """The non-param collections the server averages."""
        return {col: tree for col, tree in model_state.items() if col not in self.private}


def replace_leaves(variables: dict, leaves: Flat) -> dict:
    """A copy of `variables` with the leaves at the given paths replaced."""
    if not leaves:
        return variables
    flat = traverse_util.flatten_dict(variables)
    flat.update(leaves)
    return traverse_util.unflatten_dict(flat)


class ClientStateStore:
    """The kept-local parts, keyed by client id; padding slots (id -1) and clients never
    sampled read the initial values.

    In memory (directory None: tests, short runs) it grows with the clients sampled and is
    checkpointed whole (to_arrays). On disk (`directory`, as the trainer keeps it) it is an
    append-only log, one file per round holding that round's cohort's rows, and an index
    client -> (round, row): a round writes one file of its cohort's rows and opens only the
    files holding its cohort's latest rows; memory holds only the index, and a checkpoint
    of round r needs nothing more (resume(r) drops the files of rounds after r, so a resumed
    run reads exactly the states of round r). compact(r) drops the rows that no resume to
    round r or later can read, so the disk holds one row per client sampled by round r
    (the oldest retained checkpoint's) plus the cohorts' rows of the rounds since."""

    def __init__(self, initial: Flat, directory: str | None = None, write: bool = True):
        self.initial = {k: np.asarray(v) for k, v in initial.items()}
        self.states: dict[int, Flat] = {}  # in memory
        self.directory = directory
        self.write = write  # False: another process writes the log; this one reads it
        self.index: dict[int, tuple[int, int]] = {}  # on disk: client -> (round, row)
        if directory is not None and self.initial and write:
            os.makedirs(directory, exist_ok=True)

    def __len__(self) -> int:
        return len(self.index) if self.directory is not None else len(self.states)

    @property
    def keeps_anything(self) -> bool:
        return bool(self.initial)

    def _file(self, round_done: int) -> str:
        return os.path.join(self.directory, f"round_{round_done:08d}.npz")

    def gather(self, client_ids: np.ndarray) -> Flat:
        if not self.initial:
            return {}
        if self.directory is None:
            rows = [self.states.get(int(c), self.initial) for c in client_ids]
            return {k: np.stack([r[k] for r in rows]) for k in self.initial}
        out = {k: np.stack([v] * len(client_ids)) for k, v in self.initial.items()}
        wanted: dict[int, list[tuple[int, int]]] = {}  # round -> [(cohort row, file row)]
        for i, c in enumerate(client_ids):
            if int(c) in self.index:
                r, row = self.index[int(c)]
                wanted.setdefault(r, []).append((i, row))
        for r, pairs in wanted.items():
            with np.load(self._file(r)) as f:
                at, rows = np.array(pairs).T
                for k in self.initial:
                    out[k][at] = f["/".join(k)][rows]
        return out

    def scatter(self, client_ids: np.ndarray, values: Flat, round_done: int = 0) -> None:
        """The cohort's new parts (client axis first), after round `round_done`."""
        if not self.initial:
            return
        values = distributed.fetch(values)  # the cohort's rows, from every process
        real = np.flatnonzero(np.asarray(client_ids) >= 0)
        if self.directory is None:
            for row in real:
                c = int(client_ids[row])
                self.states[c] = {k: np.asarray(v[row]) for k, v in values.items()}
            return
        ids = np.asarray(client_ids)[real].astype(np.int64)
        if self.write:
            arrays = {"/".join(k): np.asarray(v)[real] for k, v in values.items()}
            self._save(round_done, {"ids": ids, **arrays})  # a round's file: whole or absent
        for row, c in enumerate(ids):
            self.index[int(c)] = (round_done, row)

    def _save(self, round_done: int, arrays: dict[str, np.ndarray]) -> None:
        """Atomically, and on disk before it replaces anything (a checkpoint may name it)."""
        path = self._file(round_done)
        tmp = path + ".tmp.npz"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        folder = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself
        finally:
            os.close(folder)

    def _rounds_on_disk(self) -> list[int]:
        """The rounds with a whole file, oldest first; a torn write is deleted (writer)."""
        rounds = []
        for name in sorted(os.listdir(self.directory)):
            if not (name.startswith("round_") and name.endswith(".npz")) or ".tmp" in name:
                if self.write:
                    os.remove(os.path.join(self.directory, name))  # a write torn by a crash
                continue
            rounds.append(int(name[len("round_") : -len(".npz")]))
        return rounds

    def _latest_rows(self, rounds: list[int]) -> dict[int, tuple[int, int]]:
        """client -> (round, row) of its latest row in these rounds' files."""
        index = {}
        for r in rounds:
            with np.load(self._file(r)) as f:
                for row, c in enumerate(f["ids"]):
                    index[int(c)] = (r, row)
        return index

    def resume(self, rounds_done: int) -> None:
        """On disk: forget (delete) the rounds after `rounds_done` and rebuild the index from
        the files of rounds up to it, oldest first (a later row of a client wins)."""
        self.index = {}
        if self.directory is None or not self.initial or not os.path.isdir(self.directory):
            return
        if self.write:
            for r in self._rounds_on_disk():
                if r > rounds_done:
                    os.remove(self._file(r))
        self.reread(rounds_done)

    def compact(self, oldest_resume: int) -> None:
        """Drops each row of the rounds up to `oldest_resume` (the oldest retained
        checkpoint's) that a later row of those rounds supersedes: resume(r) for any r from
        `oldest_resume` on reads the same states, and the log holds each client's row as of
        that round once. Each file is rewritten atomically, and only to fewer rows that the
        index already points past, so a crash at any point leaves a log that reads the
        same. Only the writer rewrites; then every process must reread() the index (after a
        barrier, in a multi-process run)."""
        if self.directory is None or not self.initial:
            return
        if self.write:
            old = [r for r in self._rounds_on_disk() if r <= oldest_resume]
            keep = self._latest_rows(old)  # each client's row as of oldest_resume
            for r in old:
                rows = sorted(row for c, (at, row) in keep.items() if at == r)
                if not rows:  # every row superseded by then
                    os.remove(self._file(r))
                    continue
                with np.load(self._file(r)) as f:
                    if len(rows) == len(f["ids"]):
                        continue
                    kept = {name: f[name][rows] for name in f.files}
                self._save(r, kept)

    def reread(self, rounds_done: int) -> None:
        """The index from the files of rounds up to `rounds_done`, oldest first (a later row
        of a client wins): on resume, and after the writer compacted the log."""
        if self.directory is not None and self.initial:
            self.index = self._latest_rows([r for r in self._rounds_on_disk() if r <= rounds_done])

    # Checkpoints in memory: {"ids": [M], "/"-joined path: [M, ...]}; orbax saves it beside
    # the state (after a round, so M >= 1: orbax cannot save empty arrays).
    def to_arrays(self) -> dict[str, np.ndarray]:
        ids = sorted(self.states)
        out = {"ids": np.array(ids, np.int64)}
        for k in self.initial:
            out["/".join(k)] = np.stack([self.states[i][k] for i in ids])
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray], rounds_done: int = 0) -> None:
        """Parts saved by to_arrays (into the log as round `rounds_done` when on disk: a
        checkpoint written before the log existed)."""
        ids = np.asarray(arrays["ids"])
        if self.directory is not None:
            values = {k: np.asarray(arrays["/".join(k)]) for k in self.initial}
            self.scatter(ids, values, rounds_done)
            return
        self.states = {
            int(c): {k: np.asarray(arrays["/".join(k)][row]) for k in self.initial}
            for row, c in enumerate(ids)
        }


def zeros_like_leaves(leaves: Flat) -> Flat:
    return {k: jnp.zeros_like(v) for k, v in leaves.items()}
