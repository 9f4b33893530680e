"""Source name -> the module that checks its packages and renders its rows."""

from data_prep import espeak, fsdd, recordings, soundfonts

MODULES = {
    "espeak": espeak,
    "soundfonts": soundfonts,
    "klettres": recordings,
    "sonic_pi": recordings,
    "hydrogen": recordings,
    "fsdd": fsdd,
}
LICENCES = {
    "espeak": espeak.LICENCE,
    "soundfonts": soundfonts.LICENCE,
    **recordings.LICENCE,
    "fsdd": fsdd.LICENCE,
}


def render_shard(source: str, rows: list) -> list:
    """Runs in a worker process: the waveforms of one shard (None where a clip is silent)."""
    return MODULES[source].render(rows)
