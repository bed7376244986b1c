"""The page's application assembled: the login routes, each page module's routes (``pages_*``), the static files,
and the guard (``app.Guard``) around them all. Apart from ``app`` so that the page modules, which build on ``app``,
and the assembly that lists them import in one direction."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from tusk.web.app import HERE, Guard, Web, login_routes, make_env
from tusk.web.pages_data import routes as data_pages
from tusk.web.pages_models import routes as model_pages
from tusk.web.pages_propose import routes as propose_pages
from tusk.web.pages_releases import routes as release_pages
from tusk.web.pages_reviews import routes as review_pages
from tusk.web.pages_runs import routes as run_pages
from tusk.web.security import Gate


def create_app(config_path: Path, gate: Gate) -> Starlette:
    web = Web(config_path, gate, make_env())
    routes: list[BaseRoute] = [*login_routes(web)]
    for pages in (review_pages, propose_pages, model_pages, run_pages, release_pages, data_pages):
        routes += pages(web)
    routes.append(Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"))
    app = Starlette(routes=routes, middleware=[Middleware(Guard, gate=gate)])
    app.state.web = web
    return app
