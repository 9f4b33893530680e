"""The run's record on disk: metrics.jsonl (one JSON object per round) and summary.json, and
the lock that keeps one run per workdir."""

import contextlib
import datetime
import fcntl
import json
import os
import socket

from fassl_jax.errors import UserError

LOCK_FILE = "run.lock"


class MetricsLog:
    """Appends one line per round. On resume it keeps exactly the rounds the checkpoint holds,
    so a crash between a log line and its checkpoint never leaves a duplicate round."""

    def __init__(self, path: str, rounds_done: int, write: bool = True):
        self.path = path if write else None  # None: another process writes the log
        if not write:
            return
        kept = []
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    try:
                        record = json.loads(line) if line.strip() else None
                    except json.JSONDecodeError:  # a line torn by a crash mid-write
                        continue
                    if record is not None and record["round"] <= rounds_done:
                        kept.append(line if line.endswith("\n") else line + "\n")
        write_atomically(path, "".join(kept))

    def write(self, record: dict) -> None:
        if self.path is None:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def read_metrics(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: str, obj) -> None:
    write_atomically(path, json.dumps(obj, indent=2) + "\n")


@contextlib.contextmanager
def workdir_lock(workdir: str):
    """Holds an exclusive lock on workdir/run.lock while a run trains there: a second run on
    the same workdir stops at once, naming the holder. The lock is the OS's (flock), so it
    goes with the process, however the process ends."""
    path = os.path.join(workdir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            raise UserError(
                f"{workdir} is in use by {holder}; wait for that run to end or use another "
                "--workdir"
            ) from None
        os.ftruncate(fd, 0)
        started = datetime.datetime.now().isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


class ProgressLines:
    """When output is not a terminal (nohup, CI, Slurm), one line every `every` rounds and at
    every scored round: loss, clients, mean seconds a round, ETA, and the select Recall@1
    per task when scored. (A terminal gets tqdm's bar instead.)"""

    def __init__(self, start: int, total: int, every: int, enabled: bool, out=None):
        import sys

        self.start, self.total, self.every, self.enabled = start, total, every, enabled
        self.out = out or sys.stdout
        self.seconds = 0.0

    def round(self, record: dict) -> None:
        self.seconds += record["seconds"] + record.get("eval_seconds", 0.0)
        r = record["round"]
        scored = "eval_seconds" in record
        if not self.enabled or not (scored or r % self.every == 0 or r == self.total):
            return
        mean = self.seconds / (r - self.start)
        eta = datetime.timedelta(seconds=round(mean * (self.total - r)))
        loss = "skipped" if record["loss"] is None else f"{record['loss']:.4f}"
        line = (
            f"round {r}/{self.total}  loss {loss}  clients {record['clients']}  "
            f"{mean:.2f} s/round  ETA {eta}"
        )
        picks = sorted(k for k in record if k.startswith("select/") and k.endswith("@1"))
        if scored and picks:
            line += "  select R@1: " + " ".join(f"{k.split('/')[1]} {record[k]:.3f}" for k in picks)
        print(line, file=self.out, flush=True)


class TensorBoardLog:
    """The same records as metrics.jsonl, as TensorBoard scalars (tensorboardX) in
    workdir/tensorboard: `loss`, `clients`, `seconds`, `test/<task>/recall_at_k`,
    `select/<task>/recall_at_k`, against the round."""

    def __init__(self, folder: str):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(folder, flush_secs=30)

    def write(self, record: dict) -> None:
        step = record["round"]
        for key, value in record.items():
            if key == "round" or not isinstance(value, int | float) or isinstance(value, bool):
                continue
            tag = key if key.startswith("select/") or "/" not in key else f"test/{key}"
            self.writer.add_scalar(tag.replace("@", "_at_"), value, step)  # '@' is not a tag char

    def close(self) -> None:
        self.writer.close()


class StopRequests:
    """SIGINT / SIGTERM while a run trains: the current round finishes and is checkpointed,
    then the run stops (a second signal stops at once). Stopping mid-step, or inside XLA's
    compiler, can leave a torn checkpoint or crash the process."""

    def __init__(self):
        self.signal: str | None = None
        self._previous = {}

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        import signal

        if self.signal is not None:  # a second one: the user means it
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc):
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
