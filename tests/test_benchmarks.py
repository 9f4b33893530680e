"""The benchmarks measure what they say: their peers do the same work as fassl_jax's round, and
RESULTS.md is rebuilt from the results files without losing its prose."""

import dataclasses
import json

import jax
import numpy as np
from helpers import max_abs_diff

from benchmarks import common, peers, report
from fassl_jax.data import clients

TINY = common.Workload(
    encoder="audio_ntt",
    channels=2,
    embed_dim=8,
    local_steps=2,
    batch_size=4,
    crop_frames=16,
    clips_per_client=6.0,
    pool=48,
)


def test_sequential_peer_trains_the_same_epoch_mode_round_on_skewed_clients():
    """benchmarks.uneven's like-with-like: one local epoch on clients of 1 to 40 clips (1 to
    10 steps), the trainer's cohort (its own step axis, ordered rows, skipped steps) against
    the loop that takes each client's real steps only."""
    pool = common.random_log_mels(TINY.pool)
    workload = dataclasses.replace(TINY, local_steps=0)
    config = workload.config(cohort=5, num_clients=8, local_epochs=1.0)
    sizes = np.array([1, 40, 3, 7, 2, 13, 25, 5])
    store = clients.ClientStore.population(TINY.pool, sizes, np.random.default_rng(0))
    sim = common.Simulator(config, pool, store)
    seq = peers.Sequential(sim)
    for r in range(2):
        sim.round(r)
        seq.round(r)
    assert max_abs_diff(sim.state.params, seq.params) < 1e-5
    assert max_abs_diff(sim.state.model_state, seq.model_state) < 1e-5


def test_sequential_peer_trains_the_same_round_as_fassl_jax():
    """Peer (c), FedJAX's loop of jitted steps, against the trainer's vectorized round: the
    same clients, batches and keys give the same global model (so its speed compares like
    with like)."""
    pool = common.random_log_mels(TINY.pool)
    config = TINY.config(cohort=4, num_clients=30)
    config.fl.clients_in_parallel = 3  # groups of 3 over 4 devices' shares: the default path
    sim = common.Simulator(config, pool)
    seq = peers.Sequential(sim)
    start = jax.device_get(sim.state.params)
    assert max_abs_diff(start, seq.params) == 0.0
    for r in range(2):
        fassl_loss, seq_loss = sim.round(r), seq.round(r)
        assert np.isfinite(fassl_loss) and np.isfinite(seq_loss)
    assert max_abs_diff(sim.state.params, seq.params) < 1e-5
    assert max_abs_diff(sim.state.model_state, seq.model_state) < 1e-5
    assert max_abs_diff(sim.state.params, start) > 1e-4  # both trained


def test_centralized_peer_trains_a_rounds_worth_of_samples():
    pool = common.random_log_mels(TINY.pool)
    sim = common.Simulator(TINY.config(cohort=4, num_clients=30), pool)
    central = peers.Centralized(sim, max_batch=8)
    assert central.batch == 8 and central.samples == 4 * 2 * 4  # cohort x steps x batch
    before = jax.device_get(central.state.params)
    assert np.isfinite(central.round(0))
    assert max_abs_diff(central.state.params, before) > 1e-4


def test_report_rebuilds_tables_and_keeps_prose(tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    run = {
        "command": "python -m benchmarks.throughput --cohorts=8",
        "date": "2026-01-01 00:00 UTC",
        "machine": common.machine(),
        "workload": TINY.__dict__,
        "rows": [
            dict(cohort=8, peer="fassl", samples=64, samples_per_s=32.0, round_s=2.0,
                 first_round_s=9.0),
            dict(cohort=8, peer="sequential", samples=64, samples_per_s=16.0, round_s=4.0,
                 first_round_s=5.0),
        ],
    }  # fmt: skip
    (results / "throughput_x.json").write_text(json.dumps(run))
    md = tmp_path / "RESULTS.md"
    md.write_text("# Results\n\nHand-written analysis.\n")
    monkeypatch.setattr(report, "HERE", str(tmp_path))
    monkeypatch.setattr(report, "RESULTS_MD", str(md))
    report.write()
    first = md.read_text()
    assert "Hand-written analysis." in first
    assert "| 8 | (c) sequential jitted loop | 64 | 4 | 16.0 | 2.00x | 5 |" in first
    run["rows"][1]["samples_per_s"] = 8.0
    (results / "throughput_x.json").write_text(json.dumps(run))
    report.write()  # the block is replaced in place, not appended again
    second = md.read_text()
    assert second.count("<!-- begin throughput_x -->") == 1 and "4.00x" in second
