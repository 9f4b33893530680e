"""Command line: python -m fassl_jax.main --config=configs/quickstart.py --workdir=runs/quick

Override any config value with --config.a.b=value; an unknown key fails at once.
--print_config checks the config (with its overrides) and prints it, training nothing.
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from fassl_jax import launch
from fassl_jax.errors import UserError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file.", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and summary go.")
# Many processes (hosts), one run (fassl_jax/distributed.py): the same command on each.
_COORDINATOR = flags.DEFINE_string(
    "coordinator", "", "HOST:PORT of process 0, to run as one of --num_processes processes."
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 0, "How many processes run this job.")
_PROCESS_ID = flags.DEFINE_integer("process_id", -1, "This process's index, 0 .. n - 1.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Join a TPU pod slice, Slurm or Open MPI job (JAX detects it)."
)
_PRINT_CONFIG = flags.DEFINE_bool(
    "print_config", False, "Check the config and print it as it would run; train nothing."
)
flags.mark_flags_as_required(["config"])


def main(argv):
    del argv
    if _PRINT_CONFIG.value:
        from fassl_jax import config_check

        config_check.validate(_CONFIG.value)  # a bad value: one line, exit 2
        try:
            print(_CONFIG.value.to_json_best_effort(indent=2), flush=True)
        except BrokenPipeError:  # piped into head: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    if not _WORKDIR.value:
        raise UserError("--workdir is required: the folder for checkpoints, metrics, summary")
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    from fassl_jax import distributed

    distributed.initialize(
        _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value, _DISTRIBUTED.value
    )
    from fassl_jax import train  # after flag parsing, so --help stays fast

    summary = train.run(_CONFIG.value, _WORKDIR.value)
    if distributed.is_writer():
        print(launch.summary_table(summary))


def cli():
    """The console script."""
    launch.run_cli(app, main, sys.argv, module="fassl_jax.main")


if __name__ == "__main__":
    cli()
