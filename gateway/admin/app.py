"""The FastAPI application of the admin API."""

from __future__ import annotations

from fastapi import FastAPI

from gateway.admin import (
    docs,
    openapi,
    problems,
    routes_api_clients,
    routes_brands,
    routes_credentials,
    routes_events,
    routes_gateway,
    routes_oauth,
    routes_telemetry,
    routes_vehicles,
)
from gateway.admin.auth import DoorPaths, undecided_routes
from gateway.admin.flow import FlowIds
from gateway.admin.limits import BodyLimits
from gateway.console import pages as console_pages
from gateway.runtime import Runtime


def create_app(ctx: Runtime) -> FastAPI:
    app = FastAPI(
        title="fleetgate admin API",
        version=ctx.version,
        description="OneAPI-compatible vehicle lifecycle API of a fleetgate telematics gateway.",
        docs_url=None,  # docs.install serves /docs from bundled assets; FastAPI's pages load a CDN's
        redoc_url=None,
    )
    app.state.runtime = ctx
    ctx.metrics.counter("fleetgate_admin_requests_total", "Admin API requests by method and status.")
    ctx.metrics.gauge("fleetgate_vehicles", "Vehicles registered.")
    ctx.metrics.gauge(
        "fleetgate_listener_up",
        "Listeners accepting units, by driver and bound port.",
        lambda: [({"driver": b["driver"], "port": str(b["port"])}, 1) for b in ctx.listeners],
    )

    # Added first, so they run inside FlowIds, added last, and their answers carry a flow id.
    app.add_middleware(BodyLimits, max_bytes=ctx.config.admin.max_body, timeout=ctx.config.admin.body_timeout)
    app.add_middleware(DoorPaths)
    app.add_middleware(FlowIds, metrics=ctx.metrics)

    problems.install(app)
    openapi.install(app)
    for module in (routes_vehicles, routes_telemetry, routes_events, routes_credentials, routes_brands, routes_gateway,
                   routes_api_clients, routes_oauth):
        app.include_router(module.router)
    docs.install(app)
    console_pages.mount(app)
    undecided = undecided_routes(app)
    if undecided:  # it would be open to anyone on the HTTPS door
        raise RuntimeError(f"routes without an access rule (gateway/admin/auth.py): {', '.join(undecided)}")
    return app
