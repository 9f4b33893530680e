"""FASSL: per downstream task, keep the global model that scores best on its selection split.

Selection reads the selection split's Recall@1 only; the test scores of the same round ride
along to be reported, never compared. The state is a JSON-able dict saved in each round's
checkpoint, so a resumed run keeps its bests:

    bests = init()
    bests, improved = update(bests, round, select_scores, test_scores)

The selected models themselves are kept by BestCheckpoints, one orbax manager per task.
"""

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

SELECT_METRIC = "recall@1"
Bests = dict[str, dict[str, Any]]  # task -> {"round", "select", "test"}


def init() -> Bests:
    return {}


def update(
    bests: Bests,
    round_done: int,
    select_scores: dict[str, dict[str, float]],
    test_scores: dict[str, dict[str, float]],
) -> tuple[Bests, list[str]]:
    """A task's best moves only on a strictly higher selection score (ties keep the earlier
    round). Returns the new bests and the tasks whose best is this round."""
    bests = dict(bests)
    improved = []
    for task, scores in select_scores.items():
        score = scores[SELECT_METRIC]
        if task not in bests or score > bests[task]["select"][SELECT_METRIC]:
            bests[task] = {"round": round_done, "select": scores, "test": test_scores[task]}
            improved.append(task)
    return bests, improved


class BestCheckpoints:
    """workdir/best/<task>/<round>: the encoder variables of each task's selected round.

    A pick is saved (and waited on) before the checkpoint that names it, and older picks are
    kept while a retained checkpoint names them: `settle` (after each checkpoint, and on
    resume) deletes the rest, and on resume the picks of rounds after the restored one
    (which the run redoes). So best/<task> holds the round summary.json names, also after a
    crash between a pick and its checkpoint or a fallback to an older checkpoint."""

    def __init__(self, workdir: str):
        self.root = os.path.abspath(os.path.join(workdir, "best"))
        self.managers: dict[str, ocp.CheckpointManager] = {}

    def _manager(self, task: str) -> ocp.CheckpointManager:
        if task not in self.managers:
            self.managers[task] = ocp.CheckpointManager(
                os.path.join(self.root, task),
                options=ocp.CheckpointManagerOptions(create=True),  # settle() prunes
            )
        return self.managers[task]

    def save(self, task: str, round_done: int, encoder_variables: Any) -> None:
        manager = self._manager(task)
        if round_done in manager.all_steps():  # a resumed run re-selected the same round
            return
        manager.save(round_done, args=ocp.args.StandardSave(encoder_variables))
        if jax.process_count() > 1:  # orbax's cross-process barriers are named by step only:
            manager.wait_until_finished()  # two saves of one step at once would collide

    def wait(self) -> None:
        for manager in self.managers.values():
            manager.wait_until_finished()

    def settle(self, checkpointed: list[Bests], after: int | None = None) -> None:
        """Per task, keep the rounds that the retained checkpoints' bests name; with `after`
        (on resume), also drop every pick of a round after it."""
        if not os.path.isdir(self.root):
            return
        self.wait()
        for task in sorted(os.listdir(self.root)):
            manager = self._manager(task)
            keep = {b[task]["round"] for b in checkpointed if task in b}
            for step in manager.all_steps():
                if step not in keep or (after is not None and step > after):
                    manager.delete(step)

    def restore(self, task: str, like: Any) -> tuple[int, Any]:
        manager = self._manager(task)
        step = manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no selected model for task {task!r} in {self.root}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        return step, manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def close(self) -> None:
        for manager in self.managers.values():
            manager.wait_until_finished()
            manager.close()
