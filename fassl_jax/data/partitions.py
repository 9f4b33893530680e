"""Partitions of the pretraining clips into clients: natural, Dirichlet over labels, iid, and
a synthetic population of any size.

Each returns a list of index arrays (one per client) into the clips it is given, except
`population`, which returns the packed ClientStore itself (a list of a million arrays
would cost more than the clips).
"""

import numpy as np

from fassl_jax.data.audioset import AudioSet
from fassl_jax.data.clients import ClientStore
from fassl_jax.errors import ConfigError, DataError, unknown_name


def uneven_sizes(total: int, parts: int, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Sizes summing to total, log-normal with spread sigma (0: as equal as possible), each >= 1."""
    if parts > total:
        raise DataError(
            f"cannot split {total} clips into {parts} non-empty clients; use fewer clients"
        )
    weights = rng.lognormal(0.0, sigma, parts) if sigma > 0 else np.ones(parts)
    share = weights / weights.sum() * (total - parts)
    sizes = np.floor(share).astype(np.int64)
    leftover = np.argsort(share - sizes)[::-1][: total - parts - sizes.sum()]
    sizes[leftover] += 1  # largest remainders first, so the sum is exact
    return sizes + 1


def _split(indices: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    return np.split(indices, np.cumsum(sizes)[:-1])


def iid(data: AudioSet, rng: np.random.Generator, num_clients: int, size_sigma: float = 0.0, **_):
    order = rng.permutation(len(data.audio))
    return _split(order, uneven_sizes(len(order), num_clients, rng, size_sigma))


def natural(
    data: AudioSet,
    rng: np.random.Generator,
    splits_per_group: int = 1,
    size_sigma: float = 0.0,
    **_,
):
    """One client per value of the source's client label (speaker), optionally split k ways."""
    if data.client_label is None:
        raise ConfigError(
            "partition.kind='natural' needs a source with natural clients (e.g. speakers, "
            "or a manifest's client column); use --config.partition.kind=iid"
        )
    groups = data.labels[data.client_label]
    clients = []
    for g in np.unique(groups):
        members = rng.permutation(np.flatnonzero(groups == g))
        clients += _split(members, uneven_sizes(len(members), splits_per_group, rng, size_sigma))
    return clients


def dirichlet(
    data: AudioSet,
    rng: np.random.Generator,
    num_clients: int,
    alpha: float = 0.1,
    label: str = "",
    min_client_size: int = 1,
    max_draws: int = 1000,
    **_,
):
    """Per class, shares over clients drawn from Dirichlet(alpha); redrawn until every client
    holds at least min_client_size clips."""
    if label not in data.labels:
        raise unknown_name("partition.label", label, data.labels)
    labels = data.labels[label]
    for _ in range(max_draws):
        clients = [[] for _ in range(num_clients)]
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            cuts = (
                np.cumsum(rng.dirichlet(np.full(num_clients, alpha)))[:-1] * len(members)
            ).astype(int)
            for client, part in zip(clients, np.split(members, cuts), strict=True):
                client.append(part)
        clients = [np.concatenate(parts) for parts in clients]
        if min(len(c) for c in clients) >= min_client_size:
            return [rng.permutation(c) for c in clients]
    raise DataError(
        f"Dirichlet(alpha={alpha}) left some of {num_clients} clients with fewer than "
        f"{min_client_size} clips in {max_draws} draws; raise partition.alpha or lower "
        "partition.num_clients or partition.min_client_size"
    )


def population(
    data: AudioSet,
    rng: np.random.Generator,
    num_clients: int,
    clips_per_client: float = 16.0,
    size_sigma: float = 0.0,
    **_,
) -> ClientStore:
    """A synthetic population for scaling studies: num_clients clients (millions are fine)
    holding log-normal numbers of clips with mean clips_per_client (sigma 0: all equal), laid
    over one shuffled copy of the pool. Clips repeat across clients once the population holds
    more clips than the pool; a client's own clips are distinct while it holds fewer."""
    if clips_per_client < 1:
        raise ConfigError(f"partition.clips_per_client={clips_per_client} must be >= 1")
    spread = rng.lognormal(-(size_sigma**2) / 2, size_sigma, num_clients) if size_sigma else 1.0
    sizes = np.maximum(1, np.rint(clips_per_client * spread)).astype(np.int64)
    sizes = np.broadcast_to(sizes, (num_clients,))
    return ClientStore.population(len(data.audio), sizes, rng)


PARTITIONS = {"natural": natural, "dirichlet": dirichlet, "iid": iid, "population": population}


def partition(
    kind: str, data: AudioSet, rng: np.random.Generator, **params
) -> list[np.ndarray] | ClientStore:
    if kind not in PARTITIONS:
        raise unknown_name("partition.kind", kind, PARTITIONS)
    return PARTITIONS[kind](data, rng, **params)
