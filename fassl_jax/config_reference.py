"""The config reference in the README: every option of configs/base.py with its default and
the comment written beside it, generated from that file so the two cannot drift.

  python -m fassl_jax.config_reference    # prints the markdown; tests/test_docs.py checks
                                          # that README.md holds exactly this
"""

import inspect
import json
import re

from configs import base

SECTION = re.compile(r"^\s*c\.(\w+) = (dict\()?")
OPTION = re.compile(r"^\s+(\w+)=.*?(?:#\s*(.*))?$")
COMMENT = re.compile(r"^\s*#\s?(.*)$")


def _comments() -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """(section -> the comment block above it, (section, option) -> its note), in the
    file's order. Inside a dict, a comment line right under an option's own comment that
    starts in lower case continues it; any other comment lines are a note on the option
    that follows them."""
    sections, options = {}, {}
    block, section, last = [], None, None
    for line in inspect.getsource(base).splitlines():
        if m := COMMENT.match(line):
            text = m.group(1)
            if section and last and not block and options[section, last] and text[:1].islower():
                options[section, last] += " " + text
            else:
                block.append(text)
            continue
        if m := SECTION.match(line):
            name, is_dict = m.group(1), bool(m.group(2))
            sections[name] = " ".join(block)
            section = name if is_dict and not line.rstrip().endswith(")") else None
            if not is_dict:  # c.seed = 0  # comment
                options[name, name] = line.split("#", 1)[1].strip() if "#" in line else ""
            last = None
        elif section and (m := OPTION.match(line)):
            last = m.group(1)
            options[section, last] = " ".join([*block, m.group(2) or ""]).strip()
        elif line.strip() == ")":
            section, last = None, None
        block = []
    return sections, options


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _value(v) -> str:
    return _cell(f"`{json.dumps(v) if not isinstance(v, str) else repr(v)}`")


def reference() -> str:
    config = base.get_config().to_dict()
    sections, options = _comments()
    out = ["| option | default | what it is |", "|---|---|---|"]
    for name in sections:  # the file's order
        value = config[name]
        if not isinstance(value, dict):
            out.append(f"| `{name}` | {_value(value)} | {_cell(options[name, name])} |")
            continue
        out.append(f"| **`{name}`** | | {_cell(sections[name])} |")
        keys = [k for (sec, k) in options if sec == name]
        keys += sorted(set(value) - set(keys))  # options written on one line: dict(a=1, b=2)
        for key in keys:
            note = _cell(options.get((name, key), ""))
            out.append(f"| `{name}.{key}` | {_value(value[key])} | {note} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
