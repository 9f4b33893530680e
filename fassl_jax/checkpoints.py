"""Orbax checkpoints of the whole run state: a finished round is never lost, a save never
half-written (orbax commits each step atomically)."""

import os
import shutil
import time
from typing import Any

import jax
import orbax.checkpoint as ocp

from fassl_jax.errors import UserError


class Checkpointer:
    """One CheckpointManager over workdir/checkpoints; steps are rounds finished."""

    @staticmethod
    def directory(workdir: str) -> str:
        return os.path.abspath(os.path.join(workdir, "checkpoints"))

    @classmethod
    def exists(cls, workdir: str) -> bool:
        """Whether the workdir holds any finished round (without opening a manager)."""
        d = cls.directory(workdir)
        return os.path.isdir(d) and any(name.isdigit() for name in os.listdir(d))

    def __init__(self, workdir: str, keep: int = 2):
        self.directory_path = self.directory(workdir)
        self.manager = ocp.CheckpointManager(
            self.directory_path,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )

    def latest_round(self) -> int | None:
        return self.manager.latest_step()

    def oldest_round(self) -> int | None:
        """The oldest retained checkpoint's round: the earliest a resume can go back to
        (after wait(): orbax retires the checkpoints beyond `keep` as a save finishes)."""
        steps = self.manager.all_steps()
        return min(steps) if steps else None

    def save(self, rounds_done: int, state: Any, meta: dict, clients: dict | None = None) -> None:
        """Asynchronous; call wait() before reading the checkpoint or exiting.

        clients: the host-side per-client state (ClientStateStore.to_arrays()), if any."""
        items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta)}
        if clients is not None:
            items["clients"] = ocp.args.StandardSave(clients)
        self.manager.save(rounds_done, args=ocp.args.Composite(**items))
        if jax.process_count() > 1:  # see fassl.BestCheckpoints.save
            self.manager.wait_until_finished()

    def restore(
        self, like: Any, rounds_done: int | None = None, with_clients: bool | str = False
    ) -> tuple[Any, dict, dict | None]:
        """Restores into the structure and shardings of `like` (NamedTuples stay NamedTuples).
        with_clients "auto": the per-client item if this checkpoint has one."""
        step = self.latest_round() if rounds_done is None else rounds_done
        if with_clients == "auto":
            with_clients = os.path.isdir(os.path.join(self.directory_path, str(step), "clients"))
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        items = {"state": ocp.args.StandardRestore(abstract), "meta": ocp.args.JsonRestore()}
        if with_clients:
            items["clients"] = ocp.args.StandardRestore()
        out = self.manager.restore(step, args=ocp.args.Composite(**items))
        return out.state, out.meta, out.clients if with_clients else None

    def restore_newest_readable(
        self, like: Any, with_clients: bool | str = False, warn=None, set_aside: bool = False
    ) -> tuple[Any, dict, dict | None]:
        """restore() of the newest checkpoint that reads back; a damaged one (a torn or
        flipped file) is reported through `warn` and the one before it is tried. set_aside:
        move the unreadable ones out of the way (only the run that owns the workdir, under
        its lock: a reader must never move a training run's files)."""
        steps = sorted(self.manager.all_steps(), reverse=True)
        for i, step in enumerate(steps):
            try:
                restored = self.restore(like, step, with_clients)
            except MemoryError:
                raise
            except Exception as e:  # orbax raises many kinds for damaged files
                older = f"falling back to round {steps[i + 1]}" if i + 1 < len(steps) else ""
                if warn is not None:
                    reason = (
                        f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
                        if str(e)
                        else type(e).__name__
                    )
                    warn(
                        f"checkpoint of round {step} is unreadable ({reason}); "
                        f"{older or 'none older'}"
                    )
                continue
            if set_aside:
                self._set_aside(steps[:i])  # their step numbers are saved again
            return restored
        raise UserError(
            f"no checkpoint in {self.directory_path} reads back; move the folder away to "
            "start the run afresh"
        )

    def _set_aside(self, steps) -> None:
        """Moves unreadable checkpoints to workdir/damaged_checkpoints/ (kept, never read)."""
        if not steps:
            return
        aside = os.path.join(os.path.dirname(self.directory_path), "damaged_checkpoints")
        os.makedirs(aside, exist_ok=True)
        for step in steps:
            src = os.path.join(self.directory_path, str(step))
            shutil.move(src, os.path.join(aside, f"{step}_{int(time.time())}"))
        self.manager.reload()

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
