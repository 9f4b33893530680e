"""Audio sources, partitions of a source into clients, and the client store."""
