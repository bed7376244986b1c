"""The core: rules over values (the config model, specs and fingerprints, the planner, needs, promote_if)."""
