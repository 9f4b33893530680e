"""The vectorized, sharded round against a plain Python loop over clients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_trees_close, init_state, max_abs_diff, tiny_log_mels, tiny_method

from fassl_jax.data import clients, partitions
from fassl_jax.federated import aggregators, placement
from fassl_jax.federated import round as fl_round
from fassl_jax.federated.client import make_local_training

CLIENT_TX = optax.sgd(0.02, momentum=0.5)
BATCH = 4


@pytest.fixture(scope="module")
def problem():
    """8 clients of unequal sizes (so unequal step counts) on synthetic clips."""
    data = tiny_log_mels()
    pretrain = data.subset(data.split == "pretrain")
    parts = partitions.iid(pretrain, np.random.default_rng(0), num_clients=8, size_sigma=0.8)
    store = clients.ClientStore.from_partition(parts)
    work = clients.LocalWork(batch_size=BATCH, epochs=1.0)
    assert len(set(work.steps_for(store.sizes))) > 2, "clients should differ in step counts"
    method = tiny_method(dropout=0.3)
    return pretrain.audio, store, work, method


def make_cohort(store, work, num_steps=None, pad_clients_to=1, ids=None):
    ids = np.arange(store.num_clients) if ids is None else ids
    num_steps = num_steps or int(work.steps_for(store.sizes).max())
    return clients.build_cohort(
        store, ids, work, num_steps, seed=0, round_index=3, pad_clients_to=pad_clients_to
    )


def run_round(
    method,
    examples,
    cohort,
    mesh=None,
    in_parallel=None,
    state=None,
    aggregator=None,
    gather_in_loop=True,
    attack=None,
    after_step=None,
):
    local_train = make_local_training(
        method.loss, CLIENT_TX, gather_in_loop=gather_in_loop, after_step=after_step
    )
    update = fl_round.make_client_update(local_train, CLIENT_TX)
    aggregator = aggregator or aggregators.fedavg()
    round_fn = fl_round.make_round(
        update, aggregator, optax.sgd(1.0), mesh, in_parallel, attack=attack
    )
    sharding = placement.split_clients(mesh) if mesh is not None else None
    device_cohort = fl_round.DeviceCohort(
        jnp.asarray(examples), *jax.device_put(tuple(cohort), sharding)
    )
    state = state if state is not None else init_state(method)
    state, metrics, _ = jax.jit(round_fn)(state, device_cohort, jax.random.key(42))
    return state, metrics


@functools.cache
def reference_step(method):
    @jax.jit
    def step(params, model_state, opt_state, x, step_key):
        def objective(p):
            return method.loss({"params": p, **model_state}, x, step_key)

        (loss, new_model_state), grads = jax.value_and_grad(objective, has_aux=True)(params)
        updates, opt_state = CLIENT_TX.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), dict(new_model_state), opt_state, loss

    return step


def size_weights(sizes, losses):
    del losses
    return sizes / sizes.sum()


def reference_round(method, examples, cohort, state, rule=size_weights):
    """Each client in turn, one jitted step at a time; then a NumPy weighted average of the
    clients' whole models (params and model state) with weights rule(n_i, mean losses L_i).
    `method` should use XLA's own convolution: the plain formulation."""
    key = jax.random.key(42)
    step = reference_step(method)
    finals, sizes, losses = [], [], []
    for c, client in enumerate(cohort.client_ids):
        if cohort.weights[c] == 0:
            continue
        params, model_state = state.params, state.model_state
        opt_state = CLIENT_TX.init(params)
        client_key = jax.random.fold_in(key, int(client))
        step_losses = []
        for s in np.flatnonzero(cohort.step_mask[c]):
            x = examples[cohort.batches[c, s]]
            params, model_state, opt_state, loss = step(
                params, model_state, opt_state, x, jax.random.fold_in(client_key, int(s))
            )
            step_losses.append(float(loss))
        finals.append((params, model_state))
        sizes.append(float(cohort.weights[c]))
        losses.append(np.mean(step_losses))
    w = rule(np.array(sizes), np.array(losses))
    return jax.tree.map(
        lambda *xs: sum(wi * np.asarray(x) for wi, x in zip(w, xs, strict=True)), *finals
    )


@pytest.fixture(scope="module")
def reference(problem):
    """The plain reference round: XLA's convolution, one client and one jitted step at a time."""
    examples, store, work, _ = problem
    method = tiny_method(conv_impl="xla", dropout=0.3)
    cohort = make_cohort(store, work)
    return cohort, reference_round(method, examples, cohort, init_state(method))


# Every formulation the trainer can pick: im2col matmuls vmapped over groups of clients (8
# clients in groups of 3 leaves a remainder group), all clients at once, one client at a
# time, the convolution-forward variant; clips read from the pool in a loop (CPU) or by
# XLA's gather (accelerators).
FAST_PATHS = [
    ("im2col", 3, True),
    ("im2col", None, True),
    ("im2col", None, False),
    ("im2col", 1, True),
    ("im2col_grad", None, True),
]


@pytest.mark.parametrize(("conv_impl", "in_parallel", "gather_in_loop"), FAST_PATHS)
def test_vectorized_round_equals_python_loop(
    problem, reference, conv_impl, in_parallel, gather_in_loop
):
    examples, _, _, _ = problem
    cohort, (want_params, want_model_state) = reference
    method = tiny_method(conv_impl=conv_impl, dropout=0.3)
    state = init_state(method)
    got, metrics = run_round(
        method, examples, cohort, in_parallel=in_parallel, gather_in_loop=gather_in_loop
    )
    assert max_abs_diff(got.params, want_params) < 1e-5
    assert_trees_close(got.model_state, want_model_state)  # BN statistics: relative 1e-5
    assert max_abs_diff(got.params, state.params) > 1e-3  # it did train
    assert int(got.round) == 1 and int(metrics["clients"]) == 8


@pytest.mark.parametrize(
    "alpha, beta, rounds_before",
    [(0.9, False, 0), (0.9, True, 1), (1.0, False, 0)],
    ids=["fedvssl", "fedvssl_halved_with_previous", "loss_based"],
)
def test_fedvssl_mixes_batchnorm_statistics_with_the_params_weights(
    problem, alpha, beta, rounds_before
):
    """FedVSSL's weights (alpha softmax(-L_i) + (1 - alpha) n_i / sum n; alpha 1 is the
    loss-based rule) apply to the whole client model, BatchNorm statistics included, as its
    reference aggregates state dicts; the statistics are not sample-weighted on their own.
    With beta, past the first aggregation the new model, statistics too, is half the
    previous one and half that mix."""
    examples, store, work, _ = problem

    def fedvssl_weights(sizes, losses):
        by_loss = np.exp(-losses) / np.exp(-losses).sum()
        return alpha * by_loss + (1 - alpha) * sizes / sizes.sum()

    cohort = make_cohort(store, work)
    plain = tiny_method(conv_impl="xla", dropout=0.0)
    start = init_state(plain)
    want_params, want_state = reference_round(plain, examples, cohort, start, fedvssl_weights)
    sized_params, sized_state = reference_round(plain, examples, cohort, start)
    assert max_abs_diff(want_state, sized_state) > 1e-4  # the two mixes differ here
    if beta:

        def half(new, old):
            return jax.tree.map(lambda n, o: 0.5 * np.asarray(o) + 0.5 * n, new, old)

        want_params = half(want_params, start.params)
        want_state = half(want_state, start.model_state)
    rule = aggregators.loss_based() if alpha == 1.0 else aggregators.fedvssl(alpha, beta)
    agg_state = aggregators.RoundCount(jnp.asarray(rounds_before, jnp.int32))
    state = init_state(plain)._replace(agg_state=agg_state)
    got, _ = run_round(tiny_method(dropout=0.0), examples, cohort, state=state, aggregator=rule)
    assert max_abs_diff(got.params, want_params) < 1e-5
    assert_trees_close(got.model_state, want_state)


def test_groups_stream_into_the_aggregate_as_the_whole_cohort_at_once(problem):
    """One client at a time, each summarized and merged as it finishes (groups with a
    remainder: the FAST_PATHS test above): L-DAWA past its warm-up (per-client, per-layer
    scales against the global params) and the loss agree with every client's report
    stacked at once."""
    examples, store, work, method = problem
    cohort = make_cohort(store, work, ids=np.arange(5))
    ldawa = aggregators.ldawa(warmup_rounds=0)
    state = init_state(method)._replace(agg_state=ldawa.init(None))
    whole, m_whole = run_round(method, examples, cohort, None, None, state, ldawa)
    state = init_state(method)._replace(agg_state=ldawa.init(None))
    grouped, m_grouped = run_round(method, examples, cohort, None, 1, state, ldawa)
    assert max_abs_diff(whole.params, grouped.params) < 1e-5
    assert_trees_close(whole.model_state, grouped.model_state)
    assert abs(float(m_whole["loss"]) - float(m_grouped["loss"])) < 1e-5
    assert int(m_grouped["clients"]) == 5


@pytest.mark.parametrize("in_parallel", [1, 2])  # on 4 devices: a vmap over devices of a loop
def test_four_devices_equal_one_device(problem, in_parallel):
    examples, store, work, method = problem
    assert len(jax.devices()) == 4
    cohort = make_cohort(store, work)
    one, m1 = run_round(
        method, examples, cohort, placement.client_mesh(jax.devices()[:1]), in_parallel
    )
    four, m4 = run_round(method, examples, cohort, placement.client_mesh(), in_parallel)
    assert max_abs_diff(one.params, four.params) < 1e-5
    assert_trees_close(one.model_state, four.model_state)
    assert abs(float(m1["loss"]) - float(m4["loss"])) < 1e-5


@pytest.fixture(scope="module")
def very_unequal(problem):
    """8 clients of 1 to 64 clips (1 to 16 local steps of 4), as the natural corpus's sizes
    skew; clips may repeat across clients."""
    examples = problem[0]
    rng = np.random.default_rng(1)
    sizes = [1, 2, 3, 5, 9, 17, 33, 64]
    parts = [rng.choice(len(examples), s, replace=s > len(examples)) for s in sizes]
    store = clients.ClientStore.from_partition(parts)
    work = clients.LocalWork(batch_size=BATCH, epochs=1.0)
    assert work.steps_for(store.sizes).tolist() == [1, 1, 1, 2, 3, 5, 9, 16]
    return examples, store, work


@pytest.mark.parametrize(("in_parallel", "devices"), [(1, 1), (2, 1), (1, 4), (2, 4)])
def test_very_unequal_clients_equal_the_python_loop(very_unequal, in_parallel, devices):
    """The trainer's cohort (step axis from the cohort, rows ordered by step count and dealt
    over the devices) and the round that skips the steps no client of a group takes: the
    same model as one client and one step at a time."""
    examples, store, work = very_unequal
    ids = np.array([7, 0, 5, 2, 6, 1, 3], np.int32)  # a cohort without the 64-clip client
    cohort = clients.round_cohort(store, np.sort(ids), work, 16, 0, 3, pad_clients_to=devices)
    assert cohort.batches.shape[1] == 16  # client 7 takes 16 steps
    steps = cohort.step_mask.sum(axis=1)
    if devices == 1:
        assert steps.tolist() == [16, 9, 5, 2, 1, 1, 1]  # most steps first
    else:  # dealt: each device's share starts with one of the four largest clients
        assert steps.reshape(4, 2)[:, 0].tolist() == [16, 9, 5, 2]
    small = clients.round_cohort(store, np.array([0, 1, 2, 3]), work, 16, 0, 3, devices)
    assert small.batches.shape[1] == 2  # its own largest client's steps, not the population's
    plain = tiny_method(conv_impl="xla", dropout=0.3)
    want_params, want_state = reference_round(plain, examples, cohort, init_state(plain))
    mesh = placement.client_mesh(jax.devices()[:devices])
    got, metrics = run_round(tiny_method(dropout=0.3), examples, cohort, mesh, in_parallel)
    assert max_abs_diff(got.params, want_params) < 1e-5
    assert_trees_close(got.model_state, want_state)
    assert int(metrics["clients"]) == 7


def test_a_step_no_client_of_the_group_takes_is_skipped_not_masked(very_unequal):
    """One client at a time on the 16-step axis: the optimizer step runs once per real step
    (1 + 1 + 1 + 2 + 3 + 5 + 9 + 16 = 38), not once per slot (8 x 16 = 128)."""
    examples, store, work = very_unequal
    cohort = clients.round_cohort(store, np.arange(8), work, 16, 0, 3)
    taken = []

    def count(variables):
        jax.debug.callback(lambda: taken.append(1))
        return variables

    run_round(tiny_method(), examples, cohort, None, 1, after_step=count)
    jax.effects_barrier()
    assert len(taken) == 38


def test_step_buckets_bound_the_compiled_shapes():
    buckets = {clients.step_bucket(s, cap=100) for s in range(1, 101)}
    assert sorted(buckets) == [1, 2, 4, 8, 16, 32, 64, 100]
    assert clients.step_bucket(5, cap=6) == 6 and clients.step_bucket(1, cap=1) == 1


def test_cohort_is_split_across_devices(problem):
    _, store, work, _ = problem
    mesh = placement.client_mesh()
    batches = jax.device_put(make_cohort(store, work).batches, placement.split_clients(mesh))
    assert batches.sharding.shard_shape(batches.shape)[0] == batches.shape[0] // 4
    assert len({s.device for s in batches.addressable_shards}) == 4


def test_padding_changes_nothing(problem):
    """Extra masked steps and zero-weight padding clients leave the round's result unchanged."""
    examples, store, work, method = problem
    ids = np.arange(6)
    plain = make_cohort(store, work, ids=ids)
    padded = make_cohort(
        store, work, num_steps=plain.batches.shape[1] + 3, pad_clients_to=4, ids=ids
    )
    assert padded.batches.shape[0] == 8 and padded.weights[6:].sum() == 0
    got_plain, _ = run_round(method, examples, plain, None, in_parallel=1)
    got_padded, _ = run_round(method, examples, padded, placement.client_mesh(), in_parallel=1)
    assert max_abs_diff(got_plain.params, got_padded.params) < 1e-5
    assert_trees_close(got_plain.model_state, got_padded.model_state)


def test_masked_step_leaves_client_untouched(problem):
    examples, _, _, method = problem
    state = init_state(method)
    local_train = make_local_training(method.loss, CLIENT_TX)
    batches = jnp.zeros((2, BATCH), jnp.int32)
    result = jax.jit(local_train)(
        state.params,
        state.model_state,
        CLIENT_TX.init(state.params),
        jnp.asarray(examples),
        batches,
        jnp.zeros(2, bool),
        jax.random.key(0),
    )
    assert max_abs_diff(result.params, state.params) == 0.0
    assert max_abs_diff(result.model_state, state.model_state) == 0.0
    assert int(result.steps) == 0


def test_centralized_round_carries_the_optimizer_state(problem):
    """Two centralized rounds equal one uninterrupted run of the same steps."""
    examples, store, work, method = problem
    everything = clients.ClientStore.from_partition([np.arange(len(examples))])
    local_train = jax.jit(make_local_training(method.loss, CLIENT_TX))
    round_fn = jax.jit(fl_round.make_centralized_round(local_train))
    state = init_state(method, server_tx=CLIENT_TX)
    cohorts = [
        clients.build_cohort(everything, np.array([0]), clients.LocalWork(BATCH, steps=3), 3, 0, r)
        for r in range(2)
    ]
    for r, c in enumerate(cohorts):
        dc = fl_round.DeviceCohort(jnp.asarray(examples), *map(jnp.asarray, c))
        state, _, _ = round_fn(state, dc, jax.random.fold_in(jax.random.key(0), r))
    # The same six steps by hand, with the optimizer state carried throughout.
    ref = init_state(method, server_tx=CLIENT_TX)
    params, model_state, opt_state = ref.params, ref.model_state, ref.opt_state
    for r, c in enumerate(cohorts):
        res = local_train(
            params,
            model_state,
            opt_state,
            jnp.asarray(examples),
            jnp.asarray(c.batches[0]),
            jnp.asarray(c.step_mask[0]),
            jax.random.fold_in(jax.random.fold_in(jax.random.key(0), r), 0),
        )
        params, model_state, opt_state = res.params, res.model_state, res.opt_state
    assert max_abs_diff(state.params, params) < 1e-6
    assert int(state.round) == 2


def test_dropped_clients_leave_the_survivors_aggregated_exactly(problem):
    """30% dropout: the round over the reporting clients (their rows, then zero-weight
    padding up to the cohort size) equals the Python-loop round over the survivors alone."""
    examples, store, work, method = problem
    ids = np.arange(store.num_clients)
    availability = clients.Availability(dropout=0.3)
    kept, share, dropped = clients.reporting_clients(ids, 8, availability, seed=0, round_index=3)
    assert 0 < dropped < 8 and len(kept) == 8 - dropped and np.all(share == 1.0)
    steps = int(work.steps_for(store.sizes).max())
    padded = clients.build_cohort(store, kept, work, steps, 0, 3, size=8)
    assert padded.batches.shape[0] == 8 and (padded.weights > 0).sum() == len(kept)
    plain = tiny_method(conv_impl="xla", dropout=0.3)
    survivors = make_cohort(store, work, ids=kept)
    want_params, want_state = reference_round(plain, examples, survivors, init_state(plain))
    got, metrics = run_round(tiny_method(dropout=0.3), examples, padded)
    assert max_abs_diff(got.params, want_params) < 1e-5
    assert_trees_close(got.model_state, want_state)
    assert int(metrics["clients"]) == len(kept)


def test_stragglers_train_a_share_of_their_steps_and_over_selection_keeps_k():
    store = clients.ClientStore.from_partition([np.arange(i * 40, i * 40 + 40) for i in range(30)])
    work = clients.LocalWork(batch_size=4, steps=10)
    availability = clients.Availability(over_select=0.5, stragglers=0.5, deadline=0.6)
    n = clients.sample_size(10, availability)
    assert n == 15
    ids = clients.sample_clients(store.num_clients, n, seed=0, round_index=1)
    kept, share, dropped = clients.reporting_clients(ids, 10, availability, 0, 1)
    assert len(kept) == 10 and dropped == 0 and set(kept) <= set(ids)
    assert (share < 1).any() and np.all(share[share < 1] < 0.6)
    cohort = clients.build_cohort(store, kept, work, 10, 0, 1, size=10, step_share=share)
    for row in range(10):
        steps = int(np.floor(10 * share[row]))
        assert cohort.step_mask[row].sum() == steps
        assert (cohort.weights[row] > 0) == (steps > 0)  # no step done: no weight


def test_a_client_with_a_non_finite_update_is_left_out_and_counted(problem):
    """One client's clips hold NaN: its update is NaN; the round equals the round in which
    that client's row is padding, and reports it as rejected."""
    examples, store, work, method = problem
    cohort = make_cohort(store, work, ids=np.arange(6))
    broken = np.array(examples)
    broken[cohort.batches[2, 0]] = np.nan  # client 2's first batch
    got, metrics = run_round(method, broken, cohort)
    without = cohort._replace(
        weights=cohort.weights * (np.arange(6) != 2),
        step_mask=cohort.step_mask * (np.arange(6) != 2)[:, None],
    )
    want, want_metrics = run_round(method, examples, without)
    assert max_abs_diff(got.params, want.params) < 1e-6
    assert int(metrics["rejected"]) == 1 and int(metrics["clients"]) == 5
    assert int(want_metrics["rejected"]) == 0


def test_sign_flipping_clients_send_the_negated_update():
    """With every client malicious and sign_flip at scale 1, FedAvg's update is the honest
    update negated: the poisoned deltas are exactly -d."""
    data = tiny_log_mels()
    pretrain = data.subset(data.split == "pretrain")
    parts = partitions.iid(pretrain, np.random.default_rng(0), num_clients=4)
    store = clients.ClientStore.from_partition(parts)
    work = clients.LocalWork(batch_size=BATCH, steps=2)
    cohort = make_cohort(store, work, num_steps=2)
    method = tiny_method()
    start = init_state(method)
    honest, _ = run_round(method, pretrain.audio, cohort)
    attack = fl_round.attack_on("sign_flip", fraction=1.0, scale=1.0, seed=0, num_clients=4)
    flipped, _ = run_round(method, pretrain.audio, cohort, attack=attack)
    d_honest = jax.tree.map(jnp.subtract, honest.params, start.params)
    d_flipped = jax.tree.map(jnp.subtract, flipped.params, start.params)
    assert max_abs_diff(d_flipped, jax.tree.map(jnp.negative, d_honest)) < 1e-5
    assert max_abs_diff(d_honest, jax.tree.map(jnp.zeros_like, d_honest)) > 1e-3


def test_malicious_clients_are_a_fixed_fraction_of_the_population():
    attack = fl_round.attack_on("scale", fraction=0.2, scale=10.0, seed=3, num_clients=5000)
    ids = jnp.arange(5000, dtype=jnp.int32)
    bad = np.asarray(fl_round.is_malicious(attack, ids))
    assert bad.sum() == 1000 == attack.count  # exactly a fifth
    again = np.asarray(fl_round.is_malicious(attack, ids[::-1]))[::-1]
    np.testing.assert_array_equal(bad, again)  # by id, not by slot
    assert not fl_round.is_malicious(attack, jnp.array([-1], jnp.int32))[0]  # padding
    six = fl_round.attack_on("sign_flip", fraction=0.2, scale=1.0, seed=0, num_clients=6)
    assert int(fl_round.is_malicious(six, jnp.arange(6, dtype=jnp.int32)).sum()) == 1
    none = fl_round.attack_on("", fraction=0.5, scale=1.0, seed=0, num_clients=6)
    assert not fl_round.is_malicious(none, jnp.arange(6, dtype=jnp.int32)).any()
