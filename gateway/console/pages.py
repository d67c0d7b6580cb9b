"""The console's static files, mounted on the admin app under /console/."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from gateway.console import PREFIX, STATIC_DIR

# The pages show what units and strangers sent (unit ids, raw fields): no script but
# our own may run. Map tiles are the one thing fetched from elsewhere.
TILE_HOST = "https://tile.openstreetmap.org"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'self'; img-src 'self' data: {TILE_HOST}; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


class ConsoleFiles(StaticFiles):
    async def get_response(self, path, scope):
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount(app: FastAPI) -> None:
    app.mount(PREFIX, ConsoleFiles(directory=STATIC_DIR, html=True), name="console")
