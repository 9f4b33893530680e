"""The README's generated parts match what generates them."""

import os
import re
import subprocess
import sys

import pytest

from fassl_jax import config_reference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_readme_config_reference_is_the_generated_one():
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    block = re.search(
        r"<!-- begin config reference -->\n(.*?)<!-- end config reference -->", readme, re.S
    )
    assert block is not None, "README.md has no config reference block"
    assert block.group(1) == config_reference.reference(), (
        "README.md's config reference is stale: paste `python -m fassl_jax.config_reference`"
    )


def readme_commands() -> list[str]:
    """Every command in the README's bash blocks (continuations joined, comments and
    environment prefixes dropped)."""
    with open(os.path.join(REPO, "README.md")) as f:
        blocks = re.findall(r"```bash\n(.*?)```", f.read(), re.S)
    out = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            for part in line.split("&&"):
                words = [w for w in part.split() if not re.match(r"^[A-Z_]+=", w)]
                if words and not words[0].startswith("#"):
                    out.append(" ".join(words))
    return out


COMMANDS = readme_commands()


def check_command(command: str) -> tuple[list[str], list[str]]:
    """(argv to run, flags its --help must list) for one README command: training commands
    run with --print_config added (the config, its overrides and every flag parsed, nothing
    trained; --workdir required unless the line itself only prints); other modules and
    scripts run with --help, which must list every flag the line uses; shell scripts must
    exist and be executable; pip and pytest are what CI itself runs."""
    words = command.split()
    if words[0] in ("pip", "pytest") or words[:3] == ["python", "-m", "pytest"]:
        return [], []
    if words[0].endswith(".sh"):
        assert os.access(os.path.join(REPO, words[0]), os.X_OK), f"{words[0]} is not executable"
        return [], []
    if words[0] == "fassl-train":
        words = ["python", "-m", "fassl_jax.main", *words[1:]]
    flags = [w.split("=")[0] for w in words if w.startswith("--") and not w.startswith("--config")]
    if words[:3] == ["python", "-m", "fassl_jax.main"]:
        if "--print_config" not in words:
            assert any(w.startswith("--workdir=") for w in words), f"no --workdir: {command}"
        return [sys.executable, "-m", "fassl_jax.main", *words[3:], "--print_config"], []
    if words[:2] == ["python", "-m"]:
        if words[2] == "fassl_jax.study":
            grid = next(w.split("=", 1)[1] for w in words if w.startswith("--grid="))
            from fassl_jax import study

            study.load_grid(grid)  # the grid file exists and builds
        return [sys.executable, "-m", words[2], "--help"], flags
    if words[0] == "python":
        return [sys.executable, words[1], "--help"], flags
    raise AssertionError(f"README command with no check: {command}")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_command_checks_out(command):
    argv, flags = check_command(command)
    if argv:
        env = {**os.environ, "FASSL_NO_TCMALLOC": "1"}
        result = subprocess.run(
            argv, cwd=REPO, capture_output=True, text=True, timeout=300, env=env
        )
        assert result.returncode == 0, f"{command}\n{result.stderr[-1500:]}"
        for flag in flags:  # the flags the README uses are the tool's
            assert flag in result.stdout + result.stderr, f"{command}: {flag} is not a flag"


def test_the_readme_has_commands_of_every_kind():
    kinds = {tuple(check_command(c)[0][2:3]) for c in COMMANDS if check_command(c)[0]}
    assert {("fassl_jax.main",), ("fassl_jax.study",), ("fassl_jax.evaluate",)} <= kinds
    assert len(COMMANDS) > 20


def _paper_findings() -> str:
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    section = re.search(r"### The paper's study on the corpus\n(.*?)\n### ", readme, re.S)
    assert section is not None, "README.md lacks the corpus study's findings"
    return " ".join(section.group(1).split())  # one line: sentences wrap anywhere


def test_the_readme_paper_findings_quote_the_committed_tables():
    """Every difference with its interval (+0.061 ± 0.010 [+0.037, +0.085]), mean ± sd and
    Recall@1 the README's findings on the corpus study quote is in
    experiments/paper/results.md."""
    findings = _paper_findings()
    with open(os.path.join(REPO, "experiments", "paper", "results.md")) as f:
        tables = f.read()
    number = r"[+-]?\d\.\d{3}"
    with_interval = re.findall(rf"{number} ± \d\.\d{{3}} \[{number}, {number}\]", findings)
    quoted = with_interval + re.findall(rf"{number}(?: ± \d\.\d{{3}})?", findings)
    assert len(with_interval) >= 8
    missing = sorted(
        {q for q in quoted if q.replace(" [", " | [") not in tables and q not in tables}
    )
    assert not missing, f"README quotes numbers the tables lack: {missing}"


def test_the_readme_paper_findings_count_what_the_tables_hold():
    """The counts the findings rest on, recounted from claims.csv and comparisons.csv."""
    import collections
    import csv

    findings = _paper_findings()
    folder = os.path.join(REPO, "experiments", "paper")
    with open(os.path.join(folder, "claims.csv")) as f:
        claims = list(csv.DictReader(f))
    with open(os.path.join(folder, "comparisons.csv")) as f:
        comparisons = list(csv.DictReader(f))

    def verdicts(rows):
        return collections.Counter(r["verdict"] for r in rows), len(rows)

    v, n = verdicts([r for r in claims if r["claim"] == "federated - centralized"])
    assert (
        f"higher in {v['higher']} of the {n} method x task comparisons, lower in {v['lower']} "
        f"and within the interval in {v['within interval']}"
    ) in findings
    picks = [r for r in claims if r["claim"] == "FASSL pick - last round"]
    v, n = verdicts(picks)
    assert all(float(r["mean_difference"]) > 0 for r in picks)
    assert f"its mean was positive in all {n} setting x task cells" in findings
    assert (
        f"its interval excluded zero in {v['higher']}, was within it in the other "
        f"{v['within interval']}, and never showed the pick lower"
    ) in findings and v["lower"] == 0
    v, n = verdicts([r for r in claims if r["claim"] == "best round - FASSL pick"])
    assert f"excluding zero in {v['higher']} of {n}" in findings
    family = [
        r for r in comparisons
        if r["claim"] == "minus random init" and r["task"] == "family" and r["b"] == "random init"
    ]  # fmt: skip
    v, n = verdicts(family)
    assert v["higher"] == 0 and "no setting scored above the random-init encoder" in findings
    assert f"{v['lower']} of the {n} settings lower" in findings
