"""Command line: python -m fassl_jax.study --grid=configs/studies/paper.py --workdir=DIR

Overrides for every cell: --config.fl.rounds=5 (as fassl_jax.main takes them) or
--set=fl.rounds=5; --cells=TEXT (or --only) runs the cells whose name contains TEXT.
"""

import os
import sys

from absl import app, flags, logging

from fassl_jax import launch, study
from fassl_jax.errors import UserError

_GRID = flags.DEFINE_string("grid", None, "Grid file defining get_grid() (configs/studies/).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where each cell's run and the results go.")
_ONLY = flags.DEFINE_string("only", "", "Run just the cells whose name contains this text.")
flags.DEFINE_alias("cells", "only")
_SET = flags.DEFINE_multi_string(
    "set", [], "key=value override for every cell's config, e.g. --set=fl.rounds=5 (repeatable)."
)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if not _GRID.value or not _WORKDIR.value:
        raise UserError("--grid and --workdir are required")
    grid = study.load_grid(_GRID.value)
    overrides = {}
    for item in _SET.value:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set={item!r}: write it as key=value, e.g. fl.rounds=5")
        overrides[key] = value  # read as the type of the field it replaces (cell_config)
    study.run(grid, _WORKDIR.value, only=_ONLY.value, overrides=overrides)
    print(f"results: {os.path.join(_WORKDIR.value, 'results.md')}")


def cli():
    """The console script."""
    launch.run_cli(app, main, config_overrides_as_set(sys.argv), module="fassl_jax.study")


def config_overrides_as_set(argv: list[str]) -> list[str]:
    """--config.a.b=v or --config.a.b v (fassl_jax.main's override syntax) as --set=a.b=v."""
    out, args = [], iter(argv)
    for a in args:
        if a.startswith("--config."):
            key, sep, value = a[len("--config.") :].partition("=")
            a = f"--set={key}={value if sep else next(args, '')}"
        out.append(a)
    return out


if __name__ == "__main__":
    cli()
