"""``tusk serve``: every model of a release behind one port, in MLflow's scoring protocol.

A wing (beside train, review and release): a use case that runs as a process of its own, like the page's server,
but over models rather than over the project. The facade starts it (``Project.serve``, ``Project.serve_folder``);
the CLI only parses options. ``source`` says which models are served (the current release, followed; a fixed
release; the production aliases; or a release image's ``/models`` folder), ``pool`` loads them (lazily, within a
memory budget, the least recently used leaving first), ``app`` answers HTTP (Starlette and uvicorn, tusk's base
dependencies; MLflow's own scoring code parses the payloads and writes the predictions).
"""
