"""The run's record on disk: metrics.jsonl (one JSON object per round) and summary.json."""

import json
import os


class MetricsLog:
    """Appends one line per round. On resume it keeps exactly the rounds the checkpoint holds,
    so a crash between a log line and its checkpoint never leaves a duplicate round."""

    def __init__(self, path: str, rounds_done: int):
        self.path = path
        kept = []
        if os.path.exists(path):
            with open(path) as f:
                kept = [
                    line for line in f if line.strip() and json.loads(line)["round"] <= rounds_done
                ]
        write_atomically(path, "".join(kept))

    def write(self, record: dict) -> None:
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
