"""Private internals: locks, processes, caches, crash points, sqlite helpers, git, output files."""
