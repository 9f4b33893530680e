"""Aggregators and server/client optimizers against NumPy references on hand-made updates."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_trees_close

from fassl_jax.errors import ConfigError
from fassl_jax.federated import aggregators, optimizers, placement
from fassl_jax.federated.aggregators import ClientReports

RNG = np.random.default_rng(0)
# Two "layers"; 4 client slots, the last one padding (n = 0, loss 0 as a padded client has).
GLOBAL = {"conv": RNG.normal(size=(3, 2)), "dense": {"bias": RNG.normal(size=5)}}
WEIGHTS = np.array([3.0, 1.0, 2.0, 0.0])
LOSSES = np.array([0.5, 1.0, 2.5, 0.0])


def deltas(seed):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: rng.normal(size=(4, *p.shape)), GLOBAL)


def reports(seed=1, losses=LOSSES):
    as_f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return ClientReports(
        jax.tree.map(as_f32, deltas(seed)), as_f32(WEIGHTS), as_f32(losses), jnp.arange(4)
    )


def np_weighted(tree, w):
    w = np.asarray(w, np.float64)
    return jax.tree.map(lambda x: np.tensordot(w / w.sum(), x, axes=1), tree)


def np_loss_weights(losses):
    e = np.exp(-losses) * (WEIGHTS > 0)
    return e / e.sum()


def run(aggregator, rounds=1, params=GLOBAL):
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params)
    state = aggregator.init(params)
    outs = []
    for r in range(rounds):
        delta, state = jax.jit(aggregator.update)(reports(seed=r + 1), state, params)
        outs.append(delta)
    return outs


def test_fedavg_is_the_sample_weighted_mean_and_padding_never_counts():
    (got,) = run(aggregators.fedavg())
    assert_trees_close(got, np_weighted(deltas(1), WEIGHTS))


def test_loss_based_weights_are_a_softmax_of_minus_the_losses():
    (got,) = run(aggregators.loss_based())
    assert_trees_close(got, np_weighted(deltas(1), np_loss_weights(LOSSES)))


def test_fedvssl_mixes_loss_and_size_weights_then_halves_from_round_two():
    got = run(aggregators.fedvssl(alpha=0.9, beta=True), rounds=3)
    for r, delta in enumerate(got):
        mix = 0.9 * np_loss_weights(LOSSES) + 0.1 * WEIGHTS / WEIGHTS.sum()
        want = np_weighted(deltas(r + 1), mix)
        scale = 1.0 if r == 0 else 0.5  # w = 0.5 w_prev + 0.5 w_new from round 2 on
        assert_trees_close(delta, jax.tree.map(lambda x, s=scale: s * x, want))


def test_fedvssl_with_alpha_0_and_beta_0_is_fedavg():
    got = run(aggregators.fedvssl(alpha=0.0, beta=False), rounds=3)
    want = run(aggregators.fedavg(), rounds=3)
    for g, w in zip(got, want, strict=True):
        assert_trees_close(g, w, atol=1e-6)


def np_cos_scale(w_i, w):
    cos = np.dot(w_i.ravel(), w.ravel()) / (np.linalg.norm(w_i) * np.linalg.norm(w))
    return min(1.0, cos)


def test_ldawa_scale_is_the_clipped_cosine_per_client_and_layer():
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), GLOBAL)
    same = jax.tree.map(lambda p: jnp.stack([p, 2 * p, -p]), params)
    scales = aggregators.ldawa_scales(same, params)
    for s in jax.tree.leaves(scales):  # parallel: 1; twice as long: still 1; opposite: -1
        np.testing.assert_allclose(s, [1.0, 1.0, -1.0], atol=1e-6)
    clients = jax.tree.map(lambda p, d: p + d, GLOBAL, deltas(1))
    scales = aggregators.ldawa_scales(jax.tree.map(jnp.asarray, clients), params)
    for layer in (("conv",), ("dense", "bias")):
        got = scales[layer[0]] if len(layer) == 1 else scales[layer[0]][layer[1]]
        w = GLOBAL[layer[0]] if len(layer) == 1 else GLOBAL[layer[0]][layer[1]]
        c = clients[layer[0]] if len(layer) == 1 else clients[layer[0]][layer[1]]
        want = [np_cos_scale(c[i], w) for i in range(4)]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_ldawa_scale_never_exceeds_one_where_float_cosines_do():
    """Parallel layers have cosine 1, which float32 often overshoots by an ulp or two; the
    min(1, .) keeps a client's layer from growing."""
    rng = np.random.default_rng(5)
    w = jnp.asarray(rng.normal(size=(200, 7)), jnp.float32)
    scaled_up = w * jnp.asarray(rng.uniform(0.5, 3.0, size=(200, 1)), jnp.float32)
    raw = jax.vmap(lambda a, b: jnp.dot(a, b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b)))(
        scaled_up, w
    )
    assert float(raw.max()) > 1.0  # the clip has work to do on these
    scales = jax.vmap(lambda c, g: aggregators.ldawa_scales(c[None], g)[0])(scaled_up, w)
    assert float(scales.max()) == 1.0 and float(scales.min()) > 1 - 1e-6


def test_ldawa_leaves_a_rounds_model_state_unscaled():
    """In a round ({"params", "state"}), statistics take L-DAWA's plain mean without the
    cosine scale; params are scaled."""
    rng = np.random.default_rng(6)
    model = {"params": {"w": jnp.ones(3)}, "state": {"mean": jnp.full(3, 2.0)}}
    d = {
        "params": {"w": jnp.asarray(rng.normal(size=(2, 3)), jnp.float32)},
        "state": {"mean": jnp.asarray(rng.normal(size=(2, 3)), jnp.float32)},
    }
    rule = aggregators.ldawa(warmup_rounds=0)
    rep = ClientReports(d, jnp.array([1.0, 3.0]), jnp.zeros(2))
    delta, _ = rule.update(rep, rule.init(None), model)
    np.testing.assert_allclose(delta["state"]["mean"], np.mean(d["state"]["mean"], 0), atol=1e-6)
    clients = np.asarray(d["params"]["w"]) + 1.0
    want = np.mean([np_cos_scale(c, np.ones(3)) * c for c in clients], 0) - 1.0
    np.testing.assert_allclose(delta["params"]["w"], want, atol=1e-5)


def test_ldawa_warms_up_with_fedavg_then_averages_scaled_client_layers():
    got = run(aggregators.ldawa(warmup_rounds=2), rounds=3)
    fedavg = run(aggregators.fedavg(), rounds=2)
    for g, w in zip(got[:2], fedavg, strict=True):
        assert_trees_close(g, w, atol=1e-6)
    clients = jax.tree.map(lambda p, d: p + d, GLOBAL, deltas(3))
    real = WEIGHTS > 0

    def np_ldawa(c, w):
        scaled = [np_cos_scale(c[i], w) * c[i] for i in np.flatnonzero(real)]
        return np.mean(scaled, axis=0) - w

    assert_trees_close(got[2], jax.tree.map(np_ldawa, clients, GLOBAL), atol=1e-5)


def rows(tree, start, stop):
    return jax.tree.map(lambda x: x[start:stop], tree)


# (rule, rounds): ldawa's third round is past its warm-up; fedvssl's second halves.
RULES = [
    (aggregators.fedavg(), 1),
    (aggregators.loss_based(), 1),
    (aggregators.fedvssl(alpha=0.9, beta=True), 2),
    (aggregators.ldawa(warmup_rounds=2), 3),
    (aggregators.coordinate_median(4), 1),
    (aggregators.trimmed_mean(4, trim=0.34), 1),
    (aggregators.krum(4, byzantine=0, keep=2), 1),
]


def real_rows(tree):
    return jax.tree.map(lambda x: np.asarray(x)[WEIGHTS > 0], tree)


def test_robust_rules_against_numpy_on_the_reporting_clients():
    """Median, trimmed mean (one of three cut from each end) and Krum over the three real
    clients; the padding slot never counts."""
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), GLOBAL)
    rep = reports(seed=4)
    d = real_rows(rep.deltas)  # 3 clients
    got, _ = aggregators.coordinate_median(4).update(rep, (), params)
    assert_trees_close(got, jax.tree.map(lambda x: np.median(x, axis=0), d), atol=1e-6)
    got, _ = aggregators.trimmed_mean(4, trim=0.34).update(rep, (), params)
    middle = jax.tree.map(lambda x: np.sort(x, axis=0)[1], d)  # 3 values, 1 cut each side
    assert_trees_close(got, middle, atol=1e-6)
    flat = np.concatenate([x.reshape(3, -1) for x in jax.tree.leaves(d)], axis=1)
    dist = ((flat[:, None] - flat[None]) ** 2).sum(-1)
    # byzantine 0, n 3: each client's n - 0 - 2 = 1 nearest other.
    score = [np.sort(np.delete(dist[i], i))[:1].sum() for i in range(3)]
    got, _ = aggregators.krum(4, byzantine=0, keep=1).update(rep, (), params)
    assert_trees_close(got, jax.tree.map(lambda x: x[int(np.argmin(score))], d), atol=1e-5)


def test_median_and_krum_shrug_off_a_sign_flipped_scaled_client():
    """Three honest clients near one update, one flipped and scaled by 20: FedAvg is dragged
    far off; median and Krum stay with the honest ones."""
    rng = np.random.default_rng(9)
    honest = rng.normal(size=3) * 0.1 + 1.0
    deltas = {"w": jnp.asarray(np.stack([honest + rng.normal(size=3) * 0.05 for _ in range(4)]))}
    deltas["w"] = deltas["w"].at[3].set(-20.0 * deltas["w"][3])
    rep = ClientReports(deltas, jnp.ones(4), jnp.zeros(4), jnp.arange(4))
    params = {"w": jnp.zeros(3)}
    fedavg, _ = aggregators.fedavg().update(rep, (), params)
    assert float(jnp.abs(fedavg["w"] - honest).max()) > 3.0
    for rule in (aggregators.coordinate_median(4), aggregators.krum(4, byzantine=1)):
        got, _ = rule.update(rep, (), params)
        assert float(jnp.abs(got["w"] - honest).max()) < 0.3


@pytest.mark.parametrize(("aggregator", "rounds"), RULES)
@pytest.mark.parametrize("losses", [LOSSES, LOSSES + 500.0])  # exp(-500) underflows float32
def test_group_summaries_merged_equal_the_whole_cohort_at_once(aggregator, rounds, losses):
    """What the round does: summarize groups of clients (here of 1, 2 and the padding slot
    alone), merge them in any order or stacked per device, then finish."""
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), GLOBAL)
    state = aggregator.init(params)
    for r in range(rounds):
        everyone = reports(seed=r + 1, losses=losses)
        want, want_state = aggregator.update(everyone, state, params)
        a, b, padding = (
            aggregator.summary_of(rows(everyone, *span), params, state)
            for span in ((0, 1), (1, 3), (3, 4))
        )
        in_order = aggregator.merge(aggregator.merge(a, b), padding)
        reordered = aggregator.merge(padding, aggregator.merge(b, a))
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), a, b, padding)  # 3 devices: odd
        per_device = placement.merge_stacked(aggregator.merge, stacked)
        for summary in (in_order, reordered, per_device):
            got, got_state = aggregator.finish(summary, state, params)
            assert_trees_close(got, want, atol=1e-6)
            assert jax.tree.map(int, got_state) == jax.tree.map(int, want_state)
        state = want_state
    if losses is not LOSSES and aggregator is RULES[1][0]:  # the loss-based rule stays exact
        assert_trees_close(want, np_weighted(deltas(1), np_loss_weights(losses - 500.0)))


@pytest.mark.parametrize("rule", optimizers.ADAPTIVE_RULES)
def test_adaptive_server_optimizers_follow_reddi_et_al_exactly(rule):
    """Reddi et al. 2021, Algorithm 2, stepped beside the optax version for 5 rounds:
    Delta = aggregate delta; m = b1 m + (1 - b1) Delta; v per rule (v_{-1} = tau^2);
    x += eta m / (sqrt(v) + tau)."""
    eta, b1, b2, tau = 0.03, 0.9, 0.99, 1e-3
    tx = optimizers.server(rule, eta, momentum=b1, b2=b2, tau=tau)
    x = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), GLOBAL)
    state = tx.init(x)
    x_np = GLOBAL
    m = jax.tree.map(np.zeros_like, GLOBAL)
    v = jax.tree.map(lambda p: np.full_like(p, tau**2), GLOBAL)
    for r in range(5):
        delta = np_weighted(deltas(r + 1), WEIGHTS)
        pseudo_grad = jax.tree.map(lambda d: -jnp.asarray(d, jnp.float32), delta)
        updates, state = tx.update(pseudo_grad, state, x)
        x = optax.apply_updates(x, updates)

        m = jax.tree.map(lambda m, d: b1 * m + (1 - b1) * d, m, delta)
        if rule == "adagrad":
            v = jax.tree.map(lambda v, d: v + d**2, v, delta)
        elif rule == "adam":
            v = jax.tree.map(lambda v, d: b2 * v + (1 - b2) * d**2, v, delta)
        else:
            v = jax.tree.map(lambda v, d: v - (1 - b2) * d**2 * np.sign(v - d**2), v, delta)
        x_np = jax.tree.map(lambda x, m, v: x + eta * m / (np.sqrt(v) + tau), x_np, m, v)
        assert_trees_close(x, x_np, atol=1e-5, rtol=1e-4)


def test_fedavgm_is_heavy_ball_momentum_on_the_aggregate():
    tx = optimizers.server("sgd", 1.0, momentum=0.9)
    x = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), GLOBAL)
    state, x_np, m = tx.init(x), GLOBAL, jax.tree.map(np.zeros_like, GLOBAL)
    for r in range(3):
        delta = np_weighted(deltas(r + 1), WEIGHTS)
        updates, state = tx.update(jax.tree.map(lambda d: -jnp.asarray(d), delta), state, x)
        x = optax.apply_updates(x, updates)
        m = jax.tree.map(lambda m, d: 0.9 * m + d, m, delta)
        x_np = jax.tree.map(np.add, x_np, m)
        assert_trees_close(x, x_np, atol=1e-5)


def test_fedprox_adds_the_gradient_of_the_proximal_term():
    """The client optimizer's step equals SGD on loss + (mu/2)||w - w_global||^2, where
    w_global is what the optimizer was initialised with."""
    mu, lr = 0.3, 0.1
    w_global = {"w": jnp.array([1.0, -2.0, 0.5])}

    def loss(w):
        return jnp.sum(jnp.sin(w["w"]) * w["w"])

    def prox_loss(w):
        diff = w["w"] - w_global["w"]
        return loss(w) + 0.5 * mu * jnp.sum(diff * diff)

    tx = optimizers.client("sgd", lr, proximal_mu=mu)
    state, w, w_ref = tx.init(w_global), w_global, w_global
    for _ in range(3):
        updates, state = tx.update(jax.grad(loss)(w), state, w)
        w = optax.apply_updates(w, updates)
        w_ref = jax.tree.map(lambda p, g: p - lr * g, w_ref, jax.grad(prox_loss)(w_ref))
    assert_trees_close(w, w_ref, atol=1e-6)


def test_unknown_names_say_what_exists():
    with pytest.raises(ConfigError, match="choose one of: adagrad, adam, sgd, yogi"):
        optimizers.server("yogii", 0.1)


def test_krum_with_one_reporting_client_takes_its_delta():
    """A lone reporting client in a later slot (the others dropped or rejected) is Krum's
    pick, not a zero update."""
    deltas = {"w": jnp.asarray([[0.0, 0.0], [0.0, 0.0], [3.0, -1.0], [0.0, 0.0]])}
    rep = ClientReports(deltas, jnp.array([0.0, 0.0, 5.0, 0.0]), jnp.zeros(4), jnp.arange(4))
    got, _ = aggregators.krum(4).update(rep, (), {"w": jnp.zeros(2)})
    np.testing.assert_allclose(got["w"], [3.0, -1.0])
