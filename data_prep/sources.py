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


class RenderError(RuntimeError):
    """A clip that its source could not render or decode; the message names it and the fix."""


def render_shard(source: str, rows: list, fsdd_folder: str | None) -> list:
    """Runs in a worker process: the waveforms of one shard (None where a clip is silent)."""
    try:
        if source == "fsdd":
            return fsdd.render(rows, fsdd_folder)
        return MODULES[source].render(rows)
    except RenderError:
        raise
    except Exception as e:  # a source's own failure: name the source and the way out
        raise RenderError(
            f"rendering a {source} clip failed ({type(e).__name__}: {e}); check that "
            "data_prep/install.sh ran, then rerun the build: finished shards are kept"
        ) from None
