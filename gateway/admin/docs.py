"""/docs: Swagger UI from the assets bundled with the console, so it opens with no network."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

from gateway.console import PREFIX

SWAGGER_UI = f"{PREFIX}/vendor/swagger-ui"


def install(app: FastAPI) -> None:
    """Call with an app made with ``docs_url=None`` (FastAPI's own page loads from a CDN)."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - docs",
            swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
        )
