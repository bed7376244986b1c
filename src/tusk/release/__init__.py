"""Releases: a manifest of every production model version, its hashes, the image, and rollback."""
