"""What the command-line tools share: a faster allocator, one-line errors, result tables.

Imports nothing heavy, so it can re-execute the process before JAX is loaded.
"""

import ctypes.util
import os
import re
import runpy
import sys

from absl import flags

from fassl_jax.errors import UserError

NO_TCMALLOC_ENV = "FASSL_NO_TCMALLOC"


def use_tcmalloc(module: str, argv: list[str]) -> None:
    """Re-executes the process with tcmalloc preloaded, when it is installed and not in use.

    glibc hands large buffers back to the OS on free, so every XLA step faults its big
    buffers in again page by page; on the 2-core VMs we measured, elementwise ops on 160 MB
    ran 15x faster under tcmalloc (Debian: libtcmalloc-minimal4). Opt out with
    FASSL_NO_TCMALLOC=1.
    """
    preload = os.environ.get("LD_PRELOAD", "")
    if os.environ.get(NO_TCMALLOC_ENV) or "tcmalloc" in preload or sys.platform != "linux":
        return
    lib = ctypes.util.find_library("tcmalloc_minimal") or ctypes.util.find_library("tcmalloc")
    if lib is None:
        return
    env = dict(os.environ, LD_PRELOAD=f"{lib} {preload}".strip(), **{NO_TCMALLOC_ENV: "1"})
    os.execve(sys.executable, [sys.executable, "-m", module, *argv[1:]], env)


def project_path(path: str) -> str:
    """`path` as given when it exists from where you run; else, for configs/..., the project's
    own file of that name (from the installed package): the shipped configs and grids work
    from any directory."""
    if os.path.exists(path) or not path.startswith("configs" + os.sep):
        return path
    import configs  # installed with the project (pyproject: packages configs*)

    shipped = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(configs.__file__))), path
    )
    return shipped if os.path.exists(shipped) else path


def fail(message: str) -> None:
    print(f"fassl_jax: error: {message}", file=sys.stderr)
    sys.exit(2)


def run_cli(app, main, argv: list[str], module: str) -> None:
    """absl's app.run, but bad flags and bad input end in one line on stderr, exit code 2."""
    use_tcmalloc(module, argv)

    def parse(args):
        args = [_resolve_config(a) for a in args]
        config_file = next((a.split("=", 1)[1] for a in args if a.startswith("--config=")), "")
        path = config_file.partition(":")[0]
        if path and not os.path.exists(path):  # ml_collections defers this error to first use
            fail(missing_config_message(config_file))
        try:
            return flags.FLAGS(args)
        except SystemExit as e:  # absl's --help prints the usage and exits 1
            if HELP_FLAGS & set(args[1:]):
                sys.exit(0)
            raise e
        except flags.Error as e:
            fail(flag_error_message(str(e), args))
        except (AttributeError, KeyError):  # ml_collections: an override names no field
            fail(unknown_override_message(args))

    def guarded(args):
        try:
            return main(args)
        except UserError as e:
            fail(str(e))

    app.run(guarded, argv, flags_parser=parse)


def _resolve_config(arg: str) -> str:
    """--config=configs/x.py[:variant] from any directory (project_path)."""
    if not arg.startswith("--config="):
        return arg
    path, sep, variant = arg.split("=", 1)[1].partition(":")
    return f"--config={project_path(path)}{sep}{variant}"


HELP_FLAGS = {"--help", "-h", "--helpshort", "--helpfull", "-?"}


def missing_config_message(config_file: str) -> str:
    path = config_file.partition(":")[0]
    return (
        f"--config={config_file}: {path} does not exist (paths are relative to where you "
        "run, then to the project: its configs/ has quickstart.py, general.py, ...)"
    )


def flag_error_message(message: str, argv: list[str]) -> str:
    """One line for a bad flag; a config file that is missing or whose get_config raised
    gets its own message, not ml_collections' traceback."""
    config_file = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "")
    path = config_file.partition(":")[0]
    if "Error whilst parsing config file" in message or "No such file" in message:
        if path and not os.path.exists(path):
            return missing_config_message(config_file)
        raised = re.findall(r"(\w+(?:Error|Exception): .*?)\s*$", message.strip())
        if raised:
            return f"--config={config_file}: {raised[-1]}"
    return message.replace("\n", " ")


def unknown_override_message(argv: list[str]) -> str:
    """Names the --config.a.b=... override whose key the config file does not have."""
    config_file = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "")
    path, _, arg = config_file.partition(":")
    config = runpy.run_path(path)["get_config"](*([arg] if arg else []))
    for a in argv:
        if a.startswith("--config."):
            key = a[len("--config.") :].split("=", 1)[0]
            node = config
            for i, part in enumerate(key.split(".")):
                if part not in node:
                    where = ".".join(key.split(".")[:i]) or "the config"
                    known = ", ".join(sorted(node.keys()))
                    return f"unknown config key {key!r} in {path}; {where} has: {known}"
                node = node[part]
    return f"an override names a key that {path} does not have"


def summary_table(summary: dict) -> str:
    """Recall@k per task: the model (FASSL's selected round and the last round, for a
    training summary) and the baselines."""
    if not summary["tasks"]:
        return "no labelled tasks (unlabelled audio): trained without FASSL selection"
    lines = []
    for task, rows in summary["tasks"].items():
        ks = list(rows["model"])
        lines.append(f"{task:<22}" + "".join(f"{k:>11}" for k in ks))
        named = {"model": rows["model"]}
        if "selected" in rows:
            named = {
                f"selected (round {rows['best_round']})": rows["selected"],
                f"last (round {summary['rounds']})": rows["model"],
            }
        named.update(random_init=rows["random_init"], logmel=rows["logmel"])
        for name, scores in named.items():
            lines.append(f"  {name:<20}" + "".join(f"{scores[k]:>11.3f}" for k in ks))
        if "probe" in rows:  # linear-probe test accuracy
            p = rows["probe"]
            lines.append(
                "  linear probe (test)  "
                + "  ".join(
                    f"{n} {p[n]['test']:.3f}"
                    for n in ("selected", "model", "random_init", "logmel")
                )  # fmt: skip
            )
    return "\n".join(lines)
