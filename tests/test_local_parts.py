"""Kept-local parts (FedBN's norm layers): clients start from their own copy, the server
averages the rest as before, and a resumed run keeps every client's copy."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import init_state, max_abs_diff, tiny_log_mels, tiny_method

from fassl_jax.data import clients, partitions
from fassl_jax.federated import aggregators, parts
from fassl_jax.federated import round as fl_round
from fassl_jax.federated.client import make_local_training

CLIENT_TX = optax.sgd(0.05, momentum=0.5)


@pytest.fixture(scope="module")
def setup():
    data = tiny_log_mels()
    pretrain = data.subset(data.split == "pretrain")
    rng = np.random.default_rng(0)
    store = clients.ClientStore.from_partition(partitions.iid(pretrain, rng, num_clients=4))
    method = tiny_method()
    local_train = jax.jit(make_local_training(method.loss, CLIENT_TX))
    fedbn = parts.ModelParts.build("norm")

    def round_fn(model_parts):
        update = fl_round.make_client_update(local_train, CLIENT_TX, parts=model_parts)
        return jax.jit(
            fl_round.make_round(update, aggregators.fedavg(), optax.sgd(1.0), None, 1, model_parts)
        )

    rounds = {keep: round_fn(parts.ModelParts.build(keep)) for keep in ("norm", "heads", "")}
    return pretrain.audio, store, method, local_train, fedbn, rounds


def cohort_of(store, round_index, states):
    c = clients.build_cohort(store, np.arange(4), clients.LocalWork(4, steps=2), 2, 0, round_index)
    return fl_round.DeviceCohort(None, *map(jnp.asarray, c), client_states=states), c


def train_one_client(local_train, start, examples, host_cohort, c, key):
    """The reference: client c of a host cohort trains alone from `start` variables."""
    return local_train(
        start["params"],
        {k: v for k, v in start.items() if k != "params"},
        CLIENT_TX.init(start["params"]),
        jnp.asarray(examples),
        jnp.asarray(host_cohort.batches[c]),
        jnp.asarray(host_cohort.step_mask[c]),
        jax.random.fold_in(key, int(c)),
    )


def test_norm_selector_picks_norm_layers_and_statistics_only():
    variables = init_state(tiny_method())
    flat = parts.ModelParts.build("norm").local(
        {"params": variables.params, **variables.model_state}
    )
    assert flat and all(k[0] == "batch_stats" or k[2].startswith("BatchNorm_") for k in flat)
    assert not any("Conv3x3" in "/".join(k) for k in flat)
    heads = parts.ModelParts.build("heads").local({"params": variables.params})
    assert heads and all(k[1] == "head" for k in heads)


def test_fedbn_round_one_equals_fedavg_and_clients_keep_their_own_norms(setup):
    examples, store, method, local_train, fedbn, rounds = setup
    fedbn_round, plain_round = rounds["norm"], rounds[""]
    state = init_state(method)
    variables = {"params": state.params, **state.model_state}
    store_states = parts.ClientStateStore(fedbn.local(variables))
    ids = np.arange(4)

    # Round 1: every client starts from the initial norms, so FedBN is FedAvg.
    dc, _ = cohort_of(store, 0, store_states.gather(ids))
    dc = dc._replace(examples=jnp.asarray(examples))
    s1, _, trained = fedbn_round(state, dc, jax.random.key(1))
    p1, _, _ = plain_round(init_state(method), dc._replace(client_states=None), jax.random.key(1))
    assert max_abs_diff(s1.params, p1.params) < 1e-6
    store_states.scatter(ids, trained)
    assert len(store_states) == 4
    a, b = store_states.states[0], store_states.states[1]
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) > 1e-4  # norms differ per client

    # Round 2 against a loop: each client trains from the global model with its own norms.
    dc2, host = cohort_of(store, 1, store_states.gather(ids))
    dc2 = dc2._replace(examples=jnp.asarray(examples))
    global_vars = {"params": s1.params, **s1.model_state}
    s2, _, trained2 = fedbn_round(s1, dc2, jax.random.key(2))
    finals, weights = [], host.weights / host.weights.sum()
    for c in ids:
        start = parts.replace_leaves(global_vars, store_states.states[int(c)])
        res = train_one_client(local_train, start, examples, host, c, jax.random.key(2))
        end = {"params": res.params, **res.model_state}
        for k, v in fedbn.local(end).items():
            np.testing.assert_allclose(trained2[k][c], v, rtol=1e-5, atol=1e-6)
        finals.append(end)
    mean = jax.tree.map(
        lambda *xs: sum(w * np.asarray(x) for w, x in zip(weights, xs, strict=True)), *finals
    )
    assert max_abs_diff(s2.params, mean["params"]) < 1e-5  # norms: their mean, for evaluation
    # Without kept-local norms the round differs: the clients' own norms mattered.
    p2, _, _ = plain_round(s1, dc2._replace(client_states=None), jax.random.key(2))
    assert max_abs_diff(s2.params, p2.params) > 1e-5


def test_client_state_store_pads_with_the_initial_values_and_round_trips():
    store = parts.ClientStateStore({("params", "n", "scale"): np.zeros(2)})
    store.scatter(np.array([7, -1]), {("params", "n", "scale"): np.array([[1.0, 2.0], [9, 9]])})
    got = store.gather(np.array([7, 3, -1]))[("params", "n", "scale")]
    np.testing.assert_array_equal(got, [[1, 2], [0, 0], [0, 0]])
    again = parts.ClientStateStore({("params", "n", "scale"): np.zeros(2)})
    again.load_arrays(store.to_arrays())
    assert again.states.keys() == {7}
    np.testing.assert_array_equal(again.states[7][("params", "n", "scale")], [1, 2])


def test_client_state_log_on_disk_reads_the_latest_rows_and_resumes_at_a_round(tmp_path):
    """The trainer's store: one file per round with only that cohort's rows; gather reads
    each client's latest row (or the initial value); resume(r) drops the rounds after r and
    a write torn by a crash, and the store then reads exactly the states of round r."""
    key = ("params", "head", "kernel")
    log = parts.ClientStateStore({key: np.zeros(3)}, str(tmp_path / "log"))
    for r, (ids, value) in enumerate([([1, 2, -1], 1.0), ([2, 5, 9], 2.0), ([1, 9, -1], 3.0)]):
        values = {key: np.full((3, 3), value) + np.arange(3)[:, None]}
        log.scatter(np.array(ids), values, r + 1)
    files = sorted(os.listdir(tmp_path / "log"))
    assert files == [f"round_{r:08d}.npz" for r in (1, 2, 3)]
    with np.load(tmp_path / "log" / files[1]) as f:
        assert f["ids"].tolist() == [2, 5, 9] and f["/".join(key)].shape == (3, 3)
    got = log.gather(np.array([1, 2, 5, 9, 7, -1]))[key][:, 0]
    np.testing.assert_array_equal(got, [3.0, 2.0, 3.0, 4.0, 0.0, 0.0])
    assert len(log) == 4
    (tmp_path / "log" / "round_00000004.npz.tmp.npz").write_bytes(b"torn")
    again = parts.ClientStateStore({key: np.zeros(3)}, str(tmp_path / "log"))
    again.resume(2)  # the checkpoint holds round 2: round 3's rows never happened
    assert sorted(os.listdir(tmp_path / "log")) == files[:2]
    got = again.gather(np.array([1, 2, 5, 9, 7]))[key][:, 0]
    np.testing.assert_array_equal(got, [1.0, 2.0, 3.0, 4.0, 0.0])


def test_a_checkpoint_from_before_the_log_restores_into_the_log(tmp_path):
    """Checkpoints written before the on-disk log held the parts in memory (to_arrays);
    load_arrays puts them into the log as the checkpoint's round, and they read back."""
    key = ("params", "head", "kernel")
    memory = parts.ClientStateStore({key: np.zeros(2)})
    memory.scatter(np.array([4, 1, -1]), {key: np.array([[1.0, 2.0], [3.0, 4.0], [9, 9]])})
    log = parts.ClientStateStore({key: np.zeros(2)}, str(tmp_path / "log"))
    log.load_arrays(memory.to_arrays(), 6)
    assert os.listdir(tmp_path / "log") == ["round_00000006.npz"]
    np.testing.assert_array_equal(
        log.gather(np.array([1, 4, 0]))[key], [[3.0, 4.0], [1.0, 2.0], [0.0, 0.0]]
    )
    again = parts.ClientStateStore({key: np.zeros(2)}, str(tmp_path / "log"))
    again.resume(6)
    np.testing.assert_array_equal(again.gather(np.array([4]))[key], [[1.0, 2.0]])


def test_a_compacted_log_reads_as_the_whole_log_at_every_round_it_may_resume_to(tmp_path):
    """Reference: the same rounds written to a log that is never compacted. After
    compact(3) (the oldest retained checkpoint at round 3), a resume to round 3, 4 or 5
    reads every client's state as the whole log does, and the superseded rows are gone."""
    key = ("params", "head", "kernel")
    rng = np.random.default_rng(0)
    cohorts = [rng.choice(8, 3, replace=False) for _ in range(5)]
    values = [{key: rng.normal(size=(3, 2))} for _ in range(5)]
    whole = parts.ClientStateStore({key: np.zeros(2)}, str(tmp_path / "whole"))
    compacted = parts.ClientStateStore({key: np.zeros(2)}, str(tmp_path / "compacted"))
    for r in range(5):
        for log in (whole, compacted):
            log.scatter(cohorts[r], values[r], r + 1)
    compacted.compact(3)
    compacted.reread(5)
    everyone = np.arange(-1, 9)
    np.testing.assert_array_equal(compacted.gather(everyone)[key], whole.gather(everyone)[key])
    rows = 0
    for name in os.listdir(tmp_path / "compacted"):
        with np.load(tmp_path / "compacted" / name) as f:
            rows += len(f["ids"])
    clients_by_3 = len({int(c) for cohort in cohorts[:3] for c in cohort})
    assert rows == clients_by_3 + 3 + 3  # one row each as of round 3, then rounds 4 and 5
    for r in (3, 4, 5):
        for log, name in ((whole, "whole"), (compacted, "compacted")):
            again = parts.ClientStateStore({key: np.zeros(2)}, str(tmp_path / name), write=False)
            again.resume(r)
            if log is whole:
                want = again.gather(everyone)[key]
            else:
                np.testing.assert_array_equal(again.gather(everyone)[key], want)


def test_backbone_only_aggregates_the_encoder_and_each_client_keeps_its_heads(setup):
    """fl.keep_local=heads: the global encoder is the clients' average; the heads never
    leave the clients, and the server's heads stay the initial ones new clients start from."""
    examples, store, method, local_train, _, rounds = setup
    backbone_only = parts.ModelParts.build("heads")
    s0 = init_state(method)
    initial = {"params": s0.params, **s0.model_state}
    store_states = parts.ClientStateStore(backbone_only.local(initial))
    ids = np.arange(4)
    dc, _ = cohort_of(store, 0, store_states.gather(ids))
    s1, _, trained = rounds["heads"](s0, dc._replace(examples=jnp.asarray(examples)), round_key(0))
    store_states.scatter(ids, trained)
    heads_r1 = {c: dict(store_states.states[c]) for c in range(4)}
    # Round 2: each client starts from the global encoder and its own round-1 heads.
    dc, host = cohort_of(store, 1, store_states.gather(ids))
    s2, _, trained = rounds["heads"](s1, dc._replace(examples=jnp.asarray(examples)), round_key(1))
    store_states.scatter(ids, trained)

    heads = [store_states.states[c] for c in range(4)]
    for a, b in ((0, 1), (1, 2), (2, 3)):
        assert max(float(np.abs(heads[a][k] - heads[b][k]).max()) for k in heads[a]) > 1e-5
    server_heads = backbone_only.local({"params": s2.params, **s2.model_state})
    assert max_abs_diff(server_heads, backbone_only.local(initial)) == 0.0
    for h in heads:
        assert max(float(np.abs(h[k] - server_heads[k]).max()) for k in h) > 1e-5

    global_vars = {"params": s1.params, **s1.model_state}
    encoders = []
    for c in ids:
        start = parts.replace_leaves(global_vars, heads_r1[int(c)])
        res = train_one_client(local_train, start, examples, host, c, round_key(1))
        encoders.append(res.params["encoder"])
    weights = host.weights / host.weights.sum()
    mean = jax.tree.map(
        lambda *xs: sum(w * np.asarray(x) for w, x in zip(weights, xs, strict=True)), *encoders
    )
    assert max_abs_diff(s2.params["encoder"], mean) < 1e-5


def round_key(r):
    return jax.random.key(100 + r)


def test_a_broken_client_leaves_fedbn_norms_finite_and_keeps_its_own(setup):
    """One client's clips hold NaN under FedBN: it is left out, the server's norms (the
    cohort's mean) stay finite, and the client keeps the norms it started with."""
    examples, store, method, _, fedbn, rounds = setup
    state = init_state(method)
    store_states = parts.ClientStateStore(
        fedbn.local({"params": state.params, **state.model_state})
    )
    ids = np.arange(4)
    dc, host = cohort_of(store, 0, store_states.gather(ids))
    broken = np.array(examples)
    broken[host.batches[1, 0]] = np.nan
    s1, metrics, trained = rounds["norm"](state, dc._replace(examples=jnp.asarray(broken)),
                                          jax.random.key(1))  # fmt: skip
    assert int(metrics["rejected"]) == 1
    server = jax.tree.leaves((s1.params, s1.model_state))
    assert all(np.isfinite(np.asarray(x)).all() for x in server)
    incoming = store_states.gather(ids)
    for k in trained:
        np.testing.assert_array_equal(np.asarray(trained[k][1]), incoming[k][1])
