"""Audio front end: log-mel features and augmentations, all in jnp."""
