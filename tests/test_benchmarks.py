"""The benchmarks measure what they say: their peers do the same work as fassl_jax's round, and
RESULTS.md is rebuilt from the results files without losing its prose."""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import numpy as np
from helpers import max_abs_diff

from benchmarks import common, gpu_ratios, peers, report
from fassl_jax.data import clients

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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
    seq, scan = peers.Sequential(sim), peers.SequentialScan(sim)
    for r in range(2):
        sim.round(r)
        seq.round(r)
        scan.round(r)
    for peer in (seq, scan):
        assert max_abs_diff(sim.state.params, peer.params) < 1e-5
        assert max_abs_diff(sim.state.model_state, peer.model_state) < 1e-5


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


def test_gpu_check_dry_run_writes_every_row_and_the_ratios(tmp_path):
    """benchmarks/gpu_check.sh end to end on CPU (--dry-run: a tiny encoder, no install):
    rows for both dtypes x the four peers (one cohort), each with 5 timed rounds, and the
    ratios table computed from them, (c) being the faster sequential loop."""
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--dry-run", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    with open(tmp_path / "gpu_rows.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert not [r for r in rows if "error" in r]
    got = {(r["dtype"], r["cohort"], r["peer"]) for r in rows}
    assert got == {
        (d, c, p)
        for d in ("float32", "bfloat16")
        for c in (4,)
        for p in ("fassl", "centralized", "sequential", "sequential_scan")
    }
    assert all(len(r["round_s_all"]) == 5 and r["samples_per_s"] > 0 for r in rows)
    point = {r["peer"]: r for r in rows if r["dtype"] == "bfloat16" and r["cohort"] == 4}
    rate = {p: point[p]["samples"] / point[p]["round_s"] for p in point}
    ratio = rate["fassl"] / max(rate["sequential"], rate["sequential_scan"])  # (c): the faster
    ratios = (tmp_path / "gpu_ratios.md").read_text()
    line = next(x for x in ratios.splitlines() if x.startswith("| bfloat16 | 4 |"))
    assert f"{ratio:.2f}x (" in line.split("|")[5]
    assert (tmp_path / "gpu_float32_4.json").exists()


def test_gpu_ratio_verdicts_only_outside_the_spread():
    def row(peer, samples, rounds):
        return dict(
            dtype="float32",
            cohort=256,
            peer=peer,
            samples=samples,
            round_s=sorted(rounds)[len(rounds) // 2],
            round_s_min=min(rounds),
            round_s_max=max(rounds),
        )

    rows = [
        row("fassl", 1000, [1.0, 1.0, 1.1]),
        row("centralized", 1000, [0.9, 1.2, 1.3]),  # 1.2x, 0.82-1.30: clears 0.8
        row("sequential", 1000, [20.0, 21.0, 22.0]),  # 21x, 18.2-22: met
    ]
    out = gpu_ratios.table(rows)
    assert "1.20x (0.82-1.30)" in out and "0.8x centralized: met" in out
    assert "21.00x (18.18-22.00)" in out and "10x sequential: met" in out
    rows[1] = row("centralized", 1000, [0.7, 0.8, 1.0])  # 0.64-1.0
    assert "0.8x centralized: within the spread" in gpu_ratios.table(rows)
    rows[1] = row("centralized", 1000, [0.2, 0.2, 0.2])
    assert "0.8x centralized: missed" in gpu_ratios.table(rows)
    # (c) is the faster sequential loop: a scan per client at 2 s a round replaces the 21 s loop.
    out = gpu_ratios.table([*rows, row("sequential_scan", 1000, [2.0, 2.0, 2.0])])
    assert "2.00x (1.82-2.00) (scan per client)" in out and "10x sequential: missed" in out
    slower = gpu_ratios.table([*rows, row("sequential_scan", 1000, [30.0, 30.0, 30.0])])
    assert "21.00x (18.18-22.00)" in slower


def test_cores_flag_pins_the_benchmark_and_the_processes_it_starts():
    """--cores enforces the thread count by affinity; a peer's process (Flower) inherits it."""
    script = (
        "import argparse, os, subprocess, sys\n"
        "from benchmarks import common\n"
        "common.parse_args(argparse.ArgumentParser(), ['--cores=1'])\n"
        "child = 'import os; print(len(os.sched_getaffinity(0)))'\n"
        "print(len(os.sched_getaffinity(0)), common.machine()['cores_used'])\n"
        "peer = subprocess.run([sys.executable, '-c', child], capture_output=True, text=True)\n"
        "print(peer.stdout)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1", "1"]
    too_many = f"from benchmarks import common; common.use_cores({os.cpu_count() + 1})"
    out = subprocess.run([sys.executable, "-c", too_many], capture_output=True, text=True, cwd=REPO)
    assert out.returncode != 0 and "allows 1.." in out.stderr
