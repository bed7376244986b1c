"""The executor port and its backends (a local process pool, a Ray cluster)."""
