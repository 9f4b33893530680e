"""Orbax checkpoints of the whole run state: a finished round is never lost, a save never
half-written (orbax commits each step atomically)."""

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


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
        self.manager = ocp.CheckpointManager(
            self.directory(workdir),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )

    def latest_round(self) -> int | None:
        return self.manager.latest_step()

    def save(self, rounds_done: int, state: Any, meta: dict, clients: dict | None = None) -> None:
        """Asynchronous; call wait() before reading the checkpoint or exiting.

        clients: the host-side per-client state (ClientStateStore.to_arrays()), if any."""
        items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta)}
        if clients is not None:
            items["clients"] = ocp.args.StandardSave(clients)
        self.manager.save(rounds_done, args=ocp.args.Composite(**items))

    def restore(
        self, like: Any, rounds_done: int | None = None, with_clients: bool = False
    ) -> tuple[Any, dict, dict | None]:
        """Restores into the structure and shardings of `like` (NamedTuples stay NamedTuples)."""
        step = self.latest_round() if rounds_done is None else rounds_done
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        items = {"state": ocp.args.StandardRestore(abstract), "meta": ocp.args.JsonRestore()}
        if with_clients:
            items["clients"] = ocp.args.StandardRestore()
        out = self.manager.restore(step, args=ocp.args.Composite(**items))
        return out.state, out.meta, out.clients if with_clients else None

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
