"""The client store (every client's clips, packed), cohort sampling, and local batch schedules."""

import math
from typing import NamedTuple

import numpy as np

from fassl_jax.errors import DataError


class ClientStore(NamedTuple):
    """The client registry: all clients' clip ids packed end to end, read cyclically.

    Client c holds positions offsets[c] .. offsets[c + 1] - 1, each read at
    example_ids[position % len(example_ids)]. A partition packs every clip once (the offsets
    end at len(example_ids)); a synthetic population (`population`) lays many more clients
    over one shuffled copy of the pool, so its memory is the pool's ids plus 8 bytes per client.
    """

    example_ids: np.ndarray  # [P] int32: indices into the example pool
    offsets: np.ndarray  # [num_clients + 1] int64; offsets[-1] may exceed P (cyclic reads)

    @classmethod
    def from_partition(cls, clients: list[np.ndarray]) -> "ClientStore":
        for i, c in enumerate(clients):
            if len(c) == 0:
                raise DataError(
                    f"client {i} holds no clips; use fewer clients or a less skewed partition"
                )
        sizes = np.array([len(c) for c in clients], np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        return cls(np.concatenate(clients).astype(np.int32), offsets)

    @property
    def num_clients(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def population(
        cls, num_examples: int, sizes: np.ndarray, rng: np.random.Generator
    ) -> "ClientStore":
        """len(sizes) clients over a pool of num_examples clips, client c holding sizes[c]
        consecutive clips of one random order of the pool (wrapping around, so clips repeat
        across clients once the sizes sum past the pool)."""
        sizes = np.asarray(sizes, np.int64)
        if sizes.min(initial=1) < 1:
            raise DataError("every client of a population needs at least one clip")
        offsets = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])
        return cls(rng.permutation(num_examples).astype(np.int32), offsets)

    def examples_of(self, client: int) -> np.ndarray:
        start, stop = self.offsets[client], self.offsets[client + 1]
        if stop <= len(self.example_ids):
            return self.example_ids[start:stop]
        return self.example_ids[np.arange(start, stop) % len(self.example_ids)]


class LocalWork(NamedTuple):
    """How much a client trains per round: epochs over its clips, or a fixed number of steps."""

    batch_size: int
    epochs: float = 1.0
    steps: int = 0  # > 0: exactly this many steps, whatever the client's size
    max_steps: int = 0  # > 0: cap on the steps of large clients

    def steps_for(self, num_examples: np.ndarray) -> np.ndarray:
        if self.steps > 0:
            return np.full(np.shape(num_examples), self.steps, np.int64)
        steps = np.ceil(self.epochs * np.asarray(num_examples) / self.batch_size).astype(np.int64)
        steps = np.maximum(steps, 1)
        return np.minimum(steps, self.max_steps) if self.max_steps > 0 else steps


class Cohort(NamedTuple):
    """One round's clients. `batches` index the example pool; padding is masked out."""

    client_ids: np.ndarray  # [C] int32; -1 marks a padding client
    batches: np.ndarray  # [C, S, B] int32 example ids
    step_mask: np.ndarray  # [C, S] bool; False marks a padding step that changes nothing
    weights: np.ndarray  # [C] float32: the client's clip count (FedAvg's n_i); 0 for padding


def step_bucket(steps: int, cap: int) -> int:
    """The local-step axis of a round whose largest client takes `steps` steps: the next power
    of two, at most `cap` (the population's largest). A round's shapes then follow its own
    cohort, not the population's largest client, and take at most log2(cap) + 2 values, so
    at most that many compilations of the round."""
    return min(1 << max(int(steps) - 1, 0).bit_length(), cap)


def order_by_steps(cohort: Cohort, devices: int = 1) -> Cohort:
    """The cohort's rows reordered so that clients of like step counts train side by side:
    most steps first (padding last), dealt round-robin over the devices' shares so each device
    gets a like amount of work. The round skips a step that no client of a group takes
    (client.make_local_training's steps_to_run), so a group of small clients pays for its
    own steps only. Rows of equal step counts keep their order (fixed-step rounds without
    stragglers are unchanged)."""
    steps = cohort.step_mask.sum(axis=1)
    if len(set(steps[cohort.weights > 0].tolist())) <= 1:
        return cohort
    order = np.argsort(-steps, kind="stable")
    dealt = order.reshape(-1, devices).T.reshape(-1)
    return Cohort(*(np.asarray(x)[dealt] for x in cohort))


def sample_clients(num_clients: int, cohort_size: int, seed: int, round_index: int) -> np.ndarray:
    """A uniform sample without replacement, seeded by (seed, round).

    Its cost does not grow with the population (a cohort of 1000: 0.11-0.15 ms at 1e3 to
    1e8 clients here), so a million-client registry samples as fast as a small one.
    """
    rng = np.random.default_rng([seed, round_index, 0])
    return np.sort(rng.choice(num_clients, size=cohort_size, replace=False))


def sample_stratified(
    strata: np.ndarray, cohort_size: int, seed: int, round_index: int
) -> np.ndarray:
    """A cohort that spreads over the strata (e.g. domains) as evenly as their sizes allow,
    uniform without replacement inside each; strata[c] is client c's stratum code.

    Each stratum gets cohort_size // k clients and a seeded random k-th of them one more; a
    stratum with too few clients gives its share to the others. Server-side cohort design
    (stratified sampling): it changes what the round averages over, so FedAvg then fits the
    strata-balanced mixture, not the population's."""
    rng = np.random.default_rng([seed, round_index, 0])
    codes, members = np.unique(strata, return_inverse=True)
    sizes = np.bincount(members, minlength=len(codes))
    if cohort_size > sizes.sum():
        raise DataError(f"a cohort of {cohort_size} needs more than {sizes.sum()} clients")
    take = np.zeros(len(codes), np.int64)
    while take.sum() < cohort_size:  # a few passes: each fills every open stratum evenly
        open_ = np.flatnonzero(take < sizes)
        need = cohort_size - take.sum()
        share = np.full(len(open_), need // len(open_))
        share[rng.permutation(len(open_))[: need % len(open_)]] += 1
        take[open_] = np.minimum(take[open_] + share, sizes[open_])
    chosen = [
        rng.choice(np.flatnonzero(members == s), size=n, replace=False)
        for s, n in enumerate(take)
        if n
    ]
    return np.sort(np.concatenate(chosen))


def client_strata(store: ClientStore, labels: np.ndarray, name: str) -> np.ndarray:
    """Each client's value of a pool label that is constant within clients (e.g. domain)."""
    if store.offsets[-1] != len(store.example_ids):
        raise DataError("stratified sampling needs a partition's clients, not a population")
    per_clip = np.asarray(labels)[store.example_ids]
    starts = store.offsets[:-1]
    low, high = np.minimum.reduceat(per_clip, starts), np.maximum.reduceat(per_clip, starts)
    mixed = np.flatnonzero(low != high)
    if len(mixed):
        raise DataError(
            f"fl.stratify={name!r}: client {mixed[0]} holds clips of several {name} values; "
            "stratify by a label that is constant within each client (e.g. domain)"
        )
    return low


class Availability(NamedTuple):
    """Which sampled clients report back (config fl.dropout, fl.over_select, fl.stragglers)."""

    dropout: float = 0.0  # each sampled client drops before training with this probability
    over_select: float = 0.0  # sample this fraction more; keep the first K that report
    stragglers: float = 0.0  # a client misses the deadline with this probability ...
    deadline: float = 0.5  # ... and then completes a uniform share in [0, deadline) of steps


def sample_size(cohort_size: int, availability: Availability) -> int:
    return math.ceil(cohort_size * (1.0 + availability.over_select))


def reporting_clients(
    ids: np.ndarray, cohort_size: int, availability: Availability, seed: int, round_index: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(the clients that report, sorted; each one's share of its local steps (1: all, a
    straggler less); how many dropped). Each sampled client drops with probability
    `dropout`; of those left, in a random order of arrival, the first cohort_size report
    (over-selection); a straggler completes a random share of its steps."""
    rng = np.random.default_rng([seed, round_index, 2])
    arrival = rng.permutation(len(ids))
    alive = arrival[rng.random(len(ids)) >= availability.dropout]
    kept = np.sort(ids[alive[:cohort_size]])
    share = np.ones(len(kept))
    late = rng.random(len(kept)) < availability.stragglers
    share[late] = rng.uniform(0.0, availability.deadline, int(late.sum()))
    return kept, share, len(ids) - len(alive)


def build_cohort(
    store: ClientStore,
    client_ids: np.ndarray,
    work: LocalWork,
    num_steps: int,
    seed: int,
    round_index: int,
    pad_clients_to: int = 1,
    size: int = 0,
    step_share: np.ndarray | None = None,
) -> Cohort:
    """Each client streams through fresh shuffles of its clips, `batch_size` at a time.

    Clients get `work.steps_for(size)` real steps (times step_share, rounded down, for
    stragglers), padded with masked steps to num_steps; a client left with no step takes
    no part (weight 0). The cohort is padded with zero-weight clients to `size` rows (at
    least), then to a multiple of pad_clients_to.
    """
    rng = np.random.default_rng([seed, round_index, 1])
    b = work.batch_size
    rows = max(len(client_ids), size)
    cohort_size = math.ceil(rows / pad_clients_to) * pad_clients_to
    batches = np.zeros((cohort_size, num_steps, b), np.int32)
    step_mask = np.zeros((cohort_size, num_steps), bool)
    weights = np.zeros(cohort_size, np.float32)
    ids = np.full(cohort_size, -1, np.int32)
    for row, client in enumerate(client_ids):
        own = store.examples_of(client)
        steps = min(int(work.steps_for(len(own))), num_steps)
        if step_share is not None:
            steps = int(np.floor(steps * step_share[row]))
        if steps == 0:  # a straggler that finished nothing: as absent
            continue
        need = steps * b
        order = np.concatenate(
            [rng.permutation(len(own)) for _ in range(math.ceil(need / len(own)))]
        )
        batches[row, :steps] = own[order[:need]].reshape(steps, b)
        step_mask[row, :steps] = True
        weights[row] = len(own)
        ids[row] = client
    return Cohort(ids, batches, step_mask, weights)


def round_cohort(
    store: ClientStore,
    client_ids: np.ndarray,
    work: LocalWork,
    max_steps: int,
    seed: int,
    round_index: int,
    pad_clients_to: int = 1,
    size: int = 0,
    step_share: np.ndarray | None = None,
) -> Cohort:
    """A round's cohort as the trainer runs it: build_cohort with the step axis of the
    cohort's own largest client (step_bucket; max_steps: the population's), rows ordered by
    step count over pad_clients_to devices (order_by_steps)."""
    sizes = store.offsets[client_ids + 1] - store.offsets[client_ids]
    num_steps = step_bucket(work.steps_for(sizes).max(initial=1), max_steps)
    cohort = build_cohort(
        store, client_ids, work, num_steps, seed, round_index, pad_clients_to, size, step_share
    )
    return order_by_steps(cohort, pad_clients_to)
