"""Errors caused by the user's input; the CLIs print them as one line instead of a traceback."""


class UserError(Exception):
    """Bad input (data, config, workdir). The message names the problem and the fix."""


class DataError(UserError):
    """Audio or a data directory that cannot be used."""


class ConfigError(UserError):
    """A config value that is out of range or names something unknown."""


def unknown_name(kind: str, name: str, known) -> ConfigError:
    return ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(known))}")
