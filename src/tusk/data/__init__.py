"""The data store port and its backends."""
