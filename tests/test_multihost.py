"""The round on 2 processes (jax.distributed over localhost, 2 CPU devices each) equals the
round on 1 process with 4 devices: the client axis spans the processes' devices."""

import os
import socket
import subprocess
import sys

import numpy as np

from fassl_jax.run_log import read_metrics

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "multihost", "round_on_processes.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_together(commands: list[list[str]], env: dict) -> None:
    """Starts the commands at once (one per process), waits, and fails with a process's log
    tail if any failed."""
    procs = [
        subprocess.Popen(
            cmd,
            cwd=os.path.dirname(HERE),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for cmd in commands
    ]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-3000:]


def run_processes(n: int, out: str) -> None:
    coordinator = f"localhost:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    run_together(
        [[sys.executable, SCRIPT, coordinator, str(n), str(i), out] for i in range(n)], env
    )


def test_two_processes_train_the_same_round_as_one(tmp_path):
    one, two = str(tmp_path / "one.npz"), str(tmp_path / "two.npz")
    run_processes(1, one)
    run_processes(2, two)
    a, b = np.load(one), np.load(two)
    assert set(a.files) == set(b.files) and len(a.files) > 4
    assert int(a["clients"]) == int(b["clients"]) == 8
    for k in a.files:
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-5, err_msg=k)
    assert abs(float(a["loss"]) - float(b["loss"])) < 1e-5


def run_trainer(workdir: str, processes: int) -> None:
    """configs/smoke.py for 2 rounds on 4 CPU devices in all: one process of 4, or two of 2
    (the same command, its own --process_id, one workdir)."""
    coordinator = f"localhost:{free_port()}"
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={4 // processes}"}
    args = [
        sys.executable,
        "-m",
        "fassl_jax.main",
        "--config=configs/smoke.py",
        f"--workdir={workdir}",
        "--config.fl.rounds=2",
        "--config.fl.local_steps=0",  # epoch mode: clients of unequal step counts
        "--config.fl.local_epochs=1.0",
    ]
    if processes > 1:
        args += [f"--coordinator={coordinator}", f"--num_processes={processes}"]
        run_together([args + [f"--process_id={i}"] for i in range(processes)], env)
    else:
        run_together([args], env)


def test_two_processes_run_the_trainer_as_one(tmp_path):
    """The CLI on 2 processes: the same losses and scores as on 1 process, one metrics log
    and one summary (process 0 writes them), checkpoints a 1-process run can resume."""
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    run_trainer(one, 1)
    run_trainer(two, 2)
    a, b = (
        read_metrics(os.path.join(one, "metrics.jsonl")),
        read_metrics(os.path.join(two, "metrics.jsonl")),
    )
    assert [r["round"] for r in b] == [1, 2]  # written once, not once per process
    for ra, rb in zip(a, b, strict=True):
        assert abs(ra["loss"] - rb["loss"]) < 1e-5
        assert {k: v for k, v in ra.items() if "recall" in k} == {
            k: v for k, v in rb.items() if "recall" in k
        }
    assert os.path.exists(os.path.join(two, "summary.json"))
    assert sorted(os.listdir(os.path.join(two, "checkpoints"))) == sorted(
        os.listdir(os.path.join(one, "checkpoints"))
    )
