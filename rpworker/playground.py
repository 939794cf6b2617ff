"""The playground: a static page at ``/`` to try a handler from a browser.

One HTML file (package data, no build step, nothing loaded from outside the
machine) served by the local API (``rpbuild serve``) and by ``rpbuild up``;
it asks ``playground.json`` where the routes are and what to prefill.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from rpworker.test_mode import INPUT_FILE

PAGE = "playground.html"
DEFAULT_INPUT = '{\n  "input": {}\n}\n'


def page() -> bytes:
    return resources.files("rpworker").joinpath(PAGE).read_bytes()


def test_input(directory: Path) -> str:
    """The text of ``test_input.json`` to prefill the editor, or an empty request."""
    path = directory / INPUT_FILE
    return path.read_text(encoding="utf-8") if path.is_file() else DEFAULT_INPUT


def add_routes(app: web.Application, settings: dict[str, Any]) -> None:
    """``/`` and ``/playground.json`` (``base``, ``title``, ``input``, ``endpoint``)."""
    html = page()

    async def on_page(request: web.Request) -> web.Response:
        return web.Response(body=html, content_type="text/html", charset="utf-8")

    async def on_settings(request: web.Request) -> web.Response:
        return web.json_response(settings)

    app.router.add_get("/", on_page)
    app.router.add_get("/playground.json", on_settings)


def local_api_settings() -> dict[str, Any]:
    """For the local API: its routes at the root, the input from the working directory."""
    title = "rpworker playground (local API)"
    return {"base": "", "title": title, "input": test_input(Path.cwd()), "endpoint": False}
