"""Sources, the FSDD split, partitions, the client store and cohort schedules."""

import os

import numpy as np
import pytest

from fassl_jax.data import audio_io, clients, partitions, spoken_digit, synthetic
from fassl_jax.errors import DataError


@pytest.fixture(scope="module")
def fsdd(fsdd_dir):
    return spoken_digit.load(fsdd_dir)


def test_fsdd_split_is_fixed_and_disjoint(fsdd):
    assert fsdd.audio.shape == (3000, 16_000)
    counts = {s: int((fsdd.split == s).sum()) for s in ("pretrain", "select", "test")}
    assert counts == {"pretrain": 2400, "select": 300, "test": 300}
    assert fsdd.classes["speaker"] == ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
    for split in ("pretrain", "select", "test"):  # every digit x speaker in every split
        part = fsdd.subset(fsdd.split == split)
        pairs = set(zip(part.labels["digit"], part.labels["speaker"], strict=True))
        assert len(pairs) == 60
    assert (
        np.isfinite(fsdd.audio).all() and np.abs(fsdd.audio).max() < 1.5
    )  # resampling overshoots a little


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("0_george_0.wav", "test"),
        ("9_theo_4.wav", "test"),
        ("3_lucas_5.wav", "select"),
        ("7_nicolas_9.wav", "select"),
        ("5_jackson_10.wav", "pretrain"),
        ("1_yweweler_49.wav", "pretrain"),
    ],
)
def test_fsdd_split_follows_take_numbers(fsdd, fsdd_dir, name, split):
    """Takes 0-4 test, 5-9 select, 10-49 pretrain: a file's own audio is found in the
    loaded set once, in the split its take number names, with its digit and speaker."""
    wave = audio_io.read_clip(os.path.join(fsdd_dir, name), 16_000, 16_000)
    rows = np.flatnonzero(np.abs(fsdd.audio - wave).max(axis=1) < 1e-6)
    assert len(rows) == 1
    row = rows[0]
    digit, speaker, _ = name[:-4].split("_")
    assert fsdd.split[row] == split
    assert fsdd.classes["digit"][fsdd.labels["digit"][row]] == digit
    assert fsdd.classes["speaker"][fsdd.labels["speaker"][row]] == speaker


def test_fit_length_centres():
    np.testing.assert_array_equal(audio_io.fit_length(np.arange(1, 4.0), 7), [0, 0, 1, 2, 3, 0, 0])
    np.testing.assert_array_equal(audio_io.fit_length(np.arange(10.0), 4), [3, 4, 5, 6])


def test_natural_partition_is_one_client_per_speaker(fsdd):
    pretrain = fsdd.subset(fsdd.split == "pretrain")
    parts = partitions.natural(pretrain, np.random.default_rng(0))
    assert len(parts) == 6
    for p in parts:
        assert len(set(pretrain.labels["speaker"][p])) == 1
    split = partitions.natural(
        pretrain, np.random.default_rng(0), splits_per_group=3, size_sigma=1.0
    )
    assert len(split) == 18 and len({len(p) for p in split}) > 3  # unequal sizes
    for parts_ in (parts, split):
        everything = np.sort(np.concatenate(parts_))
        np.testing.assert_array_equal(everything, np.arange(2400))  # a partition: no overlap


@pytest.mark.parametrize("alpha", [0.1, 100.0])
def test_dirichlet_partition_skews_labels_by_alpha(fsdd, alpha):
    pretrain = fsdd.subset(fsdd.split == "pretrain")
    parts = partitions.dirichlet(
        pretrain,
        np.random.default_rng(0),
        num_clients=10,
        alpha=alpha,
        label="digit",
        min_client_size=5,
    )
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(2400))
    assert min(len(p) for p in parts) >= 5
    # Share of each client's largest digit: near 1 for alpha 0.1, near 1/10 for alpha 100.
    top_share = np.mean([np.bincount(pretrain.labels["digit"][p]).max() / len(p) for p in parts])
    assert (top_share > 0.5) if alpha < 1 else (top_share < 0.25)


def test_dirichlet_that_cannot_fill_clients_says_what_to_change():
    data = synthetic.load(num_patterns=2, num_sources=2, takes=3, clip_seconds=0.1)
    with pytest.raises(DataError, match="partition.alpha"):
        partitions.dirichlet(
            data,
            np.random.default_rng(0),
            num_clients=10,
            alpha=0.01,
            label="pattern",
            min_client_size=2,
            max_draws=20,
        )


def test_iid_sizes_and_empty_clients():
    data = synthetic.load(num_patterns=2, num_sources=2, takes=5, clip_seconds=0.1)
    parts = partitions.iid(data, np.random.default_rng(0), num_clients=4, size_sigma=0.0)
    assert sorted(len(p) for p in parts) == [5, 5, 5, 5]
    with pytest.raises(DataError, match="non-empty"):
        partitions.iid(data, np.random.default_rng(0), num_clients=50)
    with pytest.raises(DataError, match="client 1 holds no clips"):
        clients.ClientStore.from_partition([np.arange(3), np.arange(0)])


def test_client_store_packs_clients():
    store = clients.ClientStore.from_partition(
        [np.array([5, 2]), np.array([7]), np.array([1, 3, 4])]
    )
    assert store.num_clients == 3 and store.sizes.tolist() == [2, 1, 3]
    np.testing.assert_array_equal(store.examples_of(2), [1, 3, 4])
    assert store.example_ids.dtype == np.int32


def test_population_registry_reads_the_pool_cyclically():
    """A synthetic population: client c holds sizes[c] consecutive clips of one shuffled pool,
    wrapping around; the registry keeps only the pool's order and the offsets."""
    pool = synthetic.load(num_patterns=2, num_sources=2, takes=5, clip_seconds=0.1)  # 20 clips
    store = partitions.population(pool, np.random.default_rng(0), num_clients=7, clips_per_client=6)
    assert store.num_clients == 7 and store.sizes.tolist() == [6] * 7
    assert sorted(store.example_ids.tolist()) == list(range(20))  # one copy of the pool
    walk = np.concatenate([store.examples_of(c) for c in range(7)])  # 42 reads of 20 clips
    np.testing.assert_array_equal(walk, np.tile(store.example_ids, 3)[:42])
    for c in range(7):
        assert len(set(store.examples_of(c).tolist())) == 6  # distinct within a client
    uneven = partitions.population(
        pool, np.random.default_rng(1), num_clients=2000, clips_per_client=8, size_sigma=1.0
    )
    assert uneven.sizes.min() >= 1 and uneven.sizes.max() > 3 * uneven.sizes.min()
    assert abs(uneven.sizes.mean() - 8) < 1.0  # the mean stays where it was asked


def test_million_client_registry_is_the_pool_plus_8_bytes_per_client():
    pool = synthetic.load(num_patterns=2, num_sources=2, takes=5, clip_seconds=0.1)
    store = partitions.population(
        pool, np.random.default_rng(0), num_clients=1_000_000, clips_per_client=16, size_sigma=1
    )
    assert store.example_ids.nbytes == 20 * 4
    assert store.offsets.nbytes == (1_000_000 + 1) * 8
    ids = clients.sample_clients(store.num_clients, 1000, seed=0, round_index=0)
    assert len(set(ids.tolist())) == 1000 and ids.max() < 1_000_000
    cohort = clients.build_cohort(store, ids, clients.LocalWork(4, steps=2), 2, 0, 0)
    for row, c in enumerate(ids[:50]):  # each client trains only on its own clips
        assert set(cohort.batches[row].ravel()) <= set(store.examples_of(c).tolist())
        assert cohort.weights[row] == store.sizes[c]


def test_cohort_sampling_is_seeded_by_round():
    a = clients.sample_clients(1000, 10, seed=0, round_index=4)
    assert len(set(a)) == 10
    np.testing.assert_array_equal(a, clients.sample_clients(1000, 10, seed=0, round_index=4))
    assert not np.array_equal(a, clients.sample_clients(1000, 10, seed=0, round_index=5))


def test_stratified_cohorts_spread_evenly_and_uniformly_inside_each_stratum():
    strata = np.array([0] * 1120 + [1] * 159 + [2] * 20 + [3] * 28)  # the general corpus's
    picks = np.zeros(len(strata))
    for r in range(400):
        ids = clients.sample_stratified(strata, 16, seed=0, round_index=r)
        assert len(set(ids.tolist())) == 16
        np.testing.assert_array_equal(np.bincount(strata[ids], minlength=4), [4, 4, 4, 4])
        picks[ids] += 1
    # Inside a stratum every client is as likely: 400 * 4 / 20 = 80 picks each for stratum 2.
    assert abs(picks[1279:1299].mean() - 80) < 1e-9 and picks[1279:1299].min() > 50
    assert picks[:1120].max() < 10  # 1.4 expected: the big stratum is undersampled, by design
    # 15 over 4 strata: 3 each and a seeded random 3 strata get a fourth.
    counts = {tuple(np.bincount(strata[clients.sample_stratified(strata, 15, 0, r)]))
              for r in range(20)}  # fmt: skip
    assert all(sorted(c) == [3, 4, 4, 4] for c in counts) and len(counts) > 1


def test_a_small_stratum_gives_its_share_to_the_others():
    strata = np.array([0] * 100 + [1] * 2 + [2] * 5)
    ids = clients.sample_stratified(strata, 16, seed=0, round_index=0)
    np.testing.assert_array_equal(np.bincount(strata[ids]), [9, 2, 5])
    with pytest.raises(DataError, match="needs more than 107 clients"):
        clients.sample_stratified(strata, 108, seed=0, round_index=0)


def test_client_strata_reads_a_label_constant_within_clients():
    store = clients.ClientStore.from_partition([np.array([0, 1]), np.array([2]), np.array([3])])
    domain = np.array([5, 5, 7, 5])
    np.testing.assert_array_equal(clients.client_strata(store, domain, "domain"), [5, 7, 5])
    with pytest.raises(DataError, match="client 0 holds clips of several speaker values"):
        clients.client_strata(store, np.array([1, 2, 2, 2]), "speaker")


def test_build_cohort_masks_and_pads():
    store = clients.ClientStore.from_partition([np.arange(10), np.arange(10, 13)])
    work = clients.LocalWork(batch_size=4, epochs=1.0)
    cohort = clients.build_cohort(
        store, np.array([0, 1]), work, num_steps=5, seed=0, round_index=0, pad_clients_to=4
    )
    assert cohort.batches.shape == (4, 5, 4)
    assert cohort.step_mask.sum(axis=1).tolist() == [3, 1, 0, 0]  # ceil(10/4), ceil(3/4)
    assert cohort.weights.tolist() == [10, 3, 0, 0] and cohort.client_ids.tolist() == [0, 1, -1, -1]
    first = cohort.batches[0, :3].ravel()
    assert set(first[:10]) == set(range(10))  # an epoch sees every clip once before repeats
    assert set(cohort.batches[1, 0]) <= {10, 11, 12}  # only the client's own clips
    fixed = clients.build_cohort(store, np.array([1]), clients.LocalWork(4, steps=2), 2, 0, 0)
    assert fixed.step_mask.tolist() == [[True, True]]
