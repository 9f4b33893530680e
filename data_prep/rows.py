"""One planned clip: where it comes from, who holds it, its labels and its role in each task.

A source's plan is a list of Rows, made from the corpus settings and a seeded generator
before anything is rendered, so the same settings always give the same corpus.
"""

import dataclasses
from typing import Any

SPLITS = ("pretrain", "heldout", "external")  # clients' audio | task queries | FSDD
ROLES = ("gallery", "select", "test")  # a clip's part in one retrieval task


@dataclasses.dataclass
class Row:
    source: str
    domain: str
    synthetic: bool
    client: str  # natural client id; "" for clips outside pretraining
    split: str  # one of SPLITS
    labels: dict[str, str]  # label name -> value (every label the source knows)
    tasks: dict[str, str]  # task -> role (ROLES)
    render: dict[str, Any]  # what the source's render() needs; also the clip's provenance


class MissingPackage(RuntimeError):
    """A source's Debian or Python package is not installed."""


def missing(what: str, command: str) -> MissingPackage:
    return MissingPackage(f"{what} is not installed; install it with: {command}")
