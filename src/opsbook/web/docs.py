"""``/docs``: Swagger UI served from the package, so it works on a machine without internet.

FastAPI's own ``/docs`` loads Swagger UI from a CDN and its favicon from fastapi.tiangolo.com:
offline, that is a blank page. Here the page is FastAPI's (``get_swagger_ui_html``) pointed at
the released files under ``static/vendor/swagger-ui/`` (fetched by ``scripts/vendor-assets.sh``,
never edited), mounted at ``/static``. ReDoc is not offered (it too would need a CDN).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/static"
SWAGGER_UI_URL = f"{STATIC_URL}/vendor/swagger-ui"
DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def install(app: FastAPI) -> None:
    """Serve ``/static`` and ``/docs`` on ``app``, which must be built with ``docs_url=None``.

    Paths are relative to the app's root (``root_path`` is honoured as FastAPI's own docs do),
    so the page names no host at all.
    """
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")

    async def docs(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        assets = root + SWAGGER_UI_URL
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            # Swagger UI would send the spec to validator.swagger.io for its badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_api_route(DOCS_URL, docs, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        OAUTH2_REDIRECT_URL, oauth2_redirect, methods=["GET"], include_in_schema=False
    )
