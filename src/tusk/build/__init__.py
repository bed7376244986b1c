"""The Builder port and its backends: a container image from a release's build context (buildah, docker and
podman, or ``none``: the context is left for the user). Chosen by name through ``tusk.backends.open_builder``."""
