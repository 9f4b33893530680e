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
    """Host memory for the kept-local parts, keyed by client id: it grows only with the
    clients actually sampled. Padding slots (id -1) read the initial values."""

    def __init__(self, initial: Flat):
        self.initial = {k: np.asarray(v) for k, v in initial.items()}
        self.states: dict[int, Flat] = {}

    def __len__(self) -> int:
        return len(self.states)

    @property
    def keeps_anything(self) -> bool:
        return bool(self.initial)

    def gather(self, client_ids: np.ndarray) -> Flat:
        if not self.initial:
            return {}
        rows = [self.states.get(int(c), self.initial) for c in client_ids]
        return {k: np.stack([r[k] for r in rows]) for k in self.initial}

    def scatter(self, client_ids: np.ndarray, values: Flat) -> None:
        if not self.initial:
            return
        values = distributed.fetch(values)  # the cohort's rows, from every process
        for row, c in enumerate(client_ids):
            if c >= 0:
                self.states[int(c)] = {k: np.asarray(v[row]) for k, v in values.items()}

    # Checkpoints: {"ids": [M], "/"-joined path: [M, ...]}; orbax saves it beside the state
    # (after a round, so M >= 1: orbax cannot save empty arrays).
    def to_arrays(self) -> dict[str, np.ndarray]:
        ids = sorted(self.states)
        out = {"ids": np.array(ids, np.int64)}
        for k in self.initial:
            out["/".join(k)] = np.stack([self.states[i][k] for i in ids])
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        ids = np.asarray(arrays["ids"])
        self.states = {
            int(c): {k: np.asarray(arrays["/".join(k)][row]) for k in self.initial}
            for row, c in enumerate(ids)
        }


def zeros_like_leaves(leaves: Flat) -> Flat:
    return {k: jnp.zeros_like(v) for k, v in leaves.items()}
