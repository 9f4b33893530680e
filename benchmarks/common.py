"""What every benchmark shares: the workload, timing, memory, and the results file.

Each benchmark prints one JSON line per measurement and saves its last run's lines (with
the command, date, machine and versions) to benchmarks/results/<name>.json; RESULTS.md's
generated tables are rebuilt from those files (report.py), its prose is kept.
"""

import datetime
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import jax
import ml_collections
import numpy as np

from configs import base
from fassl_jax import build
from fassl_jax.data import clients, partitions
from fassl_jax.data.audioset import AudioSet
from fassl_jax.federated import parts, placement

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")
CLIP_FRAMES = 101  # 1 s of 16 kHz audio at hop 160, center=True
N_MELS = 64


def parse_args(parser, argv=None):
    """The benchmark's flags plus --cores, applied before JAX starts its thread pools."""
    parser.add_argument(
        "--cores",
        type=int,
        default=0,
        help="run on this many cores (CPU affinity, inherited by the peers' processes and "
        "sized into XLA's thread pools); 0: all",
    )
    args = parser.parse_args(argv)
    use_cores(args.cores)
    return args


def use_cores(n: int) -> None:
    """Pins this process (and every process it starts) to its first n allowed cores: XLA:CPU
    and Eigen size their thread pools by the schedulable cores, so this is what enforces
    the thread count, where XLA_FLAGS alone would leave Eigen's pool at every core."""
    allowed = sorted(os.sched_getaffinity(0))
    if n < 0 or n > len(allowed):
        raise SystemExit(f"--cores={n}: this machine allows 1..{len(allowed)} (0: all)")
    if n:
        # Linux sets affinity per thread: every thread started so far (numpy's OpenBLAS
        # pool among them), then threads and processes started later inherit it.
        for thread in os.listdir("/proc/self/task"):
            os.sched_setaffinity(int(thread), allowed[:n])


@dataclass(frozen=True)
class Workload:
    """SimCLR on 1 s log-mels; every client runs `local_steps` steps of `batch_size` clips."""

    encoder: str = "audio_ntt"
    channels: int = 64
    embed_dim: int = 512
    local_steps: int = 4
    batch_size: int = 16
    crop_frames: int = 96
    clips_per_client: float = 32.0  # log-normal client sizes around this mean
    size_sigma: float = 1.0
    pool: int = 2048  # clips in the pool the clients' data index

    def config(self, cohort: int, num_clients: int, **fl) -> ml_collections.ConfigDict:
        """The trainer's config for this workload: what a user would write."""
        c = base.get_config()
        c.model.update(encoder=self.encoder, channels=self.channels, embed_dim=self.embed_dim)
        c.model.dropout = 0.0
        c.ssl.crop_frames = self.crop_frames
        c.partition.update(
            kind="population",
            num_clients=num_clients,
            clips_per_client=self.clips_per_client,
            size_sigma=self.size_sigma,
        )
        c.fl.update(
            clients_per_round=cohort,
            batch_size=self.batch_size,
            local_steps=self.local_steps,
            **fl,
        )
        return c


def random_log_mels(n: int, seed: int = 0) -> AudioSet:
    """A pool of log-mel-like clips (the values do not matter to throughput)."""
    rng = np.random.default_rng(seed)
    audio = (rng.normal(-9.0, 3.0, (n, CLIP_FRAMES, N_MELS))).astype(np.float32)
    return AudioSet(audio, {}, {}, np.full(n, "pretrain"), None)


def fsdd_or_random_pool():
    """FSDD's 2,400 pretraining clips as 1 s log-mels, or a random pool of that size."""
    data_dir = os.environ.get("FASSL_DATA_DIR", "")
    if data_dir and os.path.isdir(os.path.join(data_dir, "fsdd")):
        from fassl_jax.audio import features
        from fassl_jax.data import sources  # audio libraries: only where FSDD is read

        data = sources.load_waveforms("spoken_digit", data_dir, 1.0)
        log_mels = sources.to_log_mel(data, features.LogMelConfig(), sources.default_cache_dir())
        return log_mels.subset(log_mels.split == "pretrain"), "fsdd"
    return random_log_mels(2400), "random"


def corpus_pool(folder: str) -> AudioSet:
    """A data_prep corpus's pretraining clips (its float16 log-mels, as float32), and nothing
    else read (no evaluation clips): the pool is all the host memory it adds."""
    from fassl_jax.data import corpus

    c = corpus.open_corpus(folder)
    audio = np.asarray(c.features[: c.num_pretrain], np.float32)
    return AudioSet(audio, {}, {}, np.full(len(audio), "pretrain"), None)


class Simulator:
    """fassl_jax's federated round, built by the trainer's own functions (train.py), over a
    pool and a client registry; `round(r)` runs round r and waits for its result."""

    def __init__(self, config, pool: AudioSet, store: clients.ClientStore | None = None):
        self.config = config
        fl = config.fl
        rng = np.random.default_rng([config.seed, 7])
        self.store = store or partitions.partition(
            "population",
            pool,
            rng,
            **{k: v for k, v in config.partition.items() if k != "kind"},
        )
        self.work = clients.LocalWork(fl.batch_size, fl.local_epochs, fl.local_steps)
        self.num_steps = int(self.work.steps_for(self.store.sizes).max())
        self.input_stats = float(pool.audio.mean()), float(pool.audio.std())
        method = build.build_method(config, *self.input_stats)
        client_tx, server_tx, aggregator = build.build_optimizers(config)
        self.mesh = placement.client_mesh()
        model_parts = parts.ModelParts.build(config.fl.keep_local, method.private_collections)
        self.round_fn, self.pad_to = build.build_round(
            config, method, client_tx, server_tx, aggregator, model_parts, self.mesh
        )
        state = build.init_state(config, method, server_tx, aggregator)
        self.state = jax.device_put(state, placement.replicated(self.mesh))
        self.examples = jax.device_put(pool.audio, placement.replicated(self.mesh))
        self.sharding = (
            placement.split_clients(self.mesh)
            if self.pad_to > 1
            else placement.replicated(self.mesh)
        )
        self.key = jax.random.key(config.seed)

    def round(self, r: int) -> float:
        c = self.config
        ids = clients.sample_clients(self.store.num_clients, c.fl.clients_per_round, c.seed, r)
        cohort = clients.round_cohort(
            self.store, ids, self.work, self.num_steps, c.seed, r, self.pad_to
        )
        cohort = build.device_cohort(cohort, self.examples, None, self.sharding)
        self.state, metrics, _ = self.round_fn(self.state, cohort, jax.random.fold_in(self.key, r))
        return float(metrics["loss"])  # waits for the round


def time_rounds(run_round: Callable[[int], object], rounds: int) -> dict:
    """Round 0 (compilation included) apart, then the median of the next `rounds`."""
    t = time.perf_counter()
    run_round(0)
    first = time.perf_counter() - t
    times = []
    for r in range(1, rounds + 1):
        t = time.perf_counter()
        run_round(r)
        times.append(time.perf_counter() - t)
    return {
        "first_round_s": round(first, 3),
        "round_s": round(statistics.median(times), 4),
        "round_s_min": round(min(times), 4),
        "round_s_max": round(max(times), 4),
        "round_s_all": [round(x, 4) for x in times],
    }


def run_json(python: str, module: str, argv: list[str], what: str) -> dict:
    """Runs `python -m module *argv` from the repository root in a fresh process and returns
    the last JSON line it printed."""
    out = subprocess.run(
        [python, "-m", module, *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=os.path.dirname(HERE),
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode or not lines:
        raise SystemExit(f"{what} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def peak_device_mb() -> float | None:
    """The first device's peak memory in use so far (accelerators; None where the backend
    keeps no such statistics, as on CPU)."""
    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else round(peak / 2**20, 1)


def machine() -> dict:
    import flax
    import optax

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    devices = jax.devices()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_used": len(os.sched_getaffinity(0)),  # the affinity the benchmark ran under
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "backend": jax.default_backend(),
        "devices": f"{len(devices)} x {devices[0].device_kind}",
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "malloc": "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "system",
    }


def emit(row: dict, rows: list[dict]) -> None:
    print(json.dumps(row), flush=True)
    rows.append(row)


def save(
    name: str,
    rows: list[dict],
    workload: Workload | None = None,
    info: dict | None = None,
    results_dir: str = "",
) -> str:
    """benchmarks/results/<name>.json holds this run; RESULTS.md is rebuilt from all of them.
    With results_dir (gpu_check.sh), the file goes there and RESULTS.md is left alone."""
    folder = results_dir or RESULTS_DIR
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.json")
    module = os.path.splitext(os.path.basename(sys.argv[0]))[0]  # the benchmark that ran
    run = {
        "command": " ".join(["python -m", f"benchmarks.{module}", *map(shlex.quote, sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "workload": asdict(workload) if workload else None,
        "info": info,
        "rows": rows,
    }
    with open(path, "w") as f:
        json.dump(run, f, indent=1)
    if not results_dir:
        from benchmarks import report

        report.write()
    return path
