"""Every route of the admin app has an access decision for the HTTPS door: a scope, public,
socket only or door only. A new route without one fails here (and stops the gateway at
start), instead of being open to anyone on the door."""

from __future__ import annotations

from fastapi.routing import APIRoute

from gateway.admin.app import create_app
from gateway.admin.auth import access_of, every_route, undecided_routes

READ, WRITE, COMMANDS, EVENTS, CREDENTIALS = "vehicles:read", "vehicles:write", "commands", "events:read", "credentials"
DECISIONS = {
    ("POST", "/vehicles"): WRITE,
    ("GET", "/vehicles"): READ,
    ("GET", "/vehicles/{vehicle_id}"): READ,
    ("PATCH", "/vehicles/{vehicle_id}"): WRITE,
    ("DELETE", "/vehicles/{vehicle_id}"): WRITE,
    ("PUT", "/vehicles/{vehicle_id}/telematics-unit/setup"): WRITE,
    ("PUT", "/vehicles/{vehicle_id}/telematics-unit/authentication"): WRITE,
    ("POST", "/vehicles/{vehicle_id}/telematics-unit/enrolment"): WRITE,
    ("GET", "/vehicles/{vehicle_id}/state"): READ,
    ("GET", "/vehicles/{vehicle_id}/records"): READ,
    ("POST", "/vehicles/{vehicle_id}/commands/{command}"): COMMANDS,
    ("POST", "/event-log-entries/query"): EVENTS,
    ("GET", "/events"): EVENTS,
    ("POST", "/credentials"): CREDENTIALS,
    ("GET", "/credentials"): CREDENTIALS,
    ("GET", "/credentials/{credentials_id}"): CREDENTIALS,
    ("PATCH", "/credentials/{credentials_id}"): CREDENTIALS,
    ("DELETE", "/credentials/{credentials_id}"): CREDENTIALS,
    ("GET", "/telematics-brands"): READ,
    ("GET", "/telematics-brands/{brand}/available-credentials"): READ,
    ("GET", "/telematics-brands/{brand}/available-telematics-units"): READ,
    ("GET", "/telematics-brands/{brand}/available-telematics-unit"): READ,
    ("GET", "/telematics-brands/{brand}/available-vehicle-models"): READ,
    ("GET", "/health"): "public",
    ("GET", "/metrics"): "socket-only",
    ("POST", "/api-clients"): "socket-only",
    ("GET", "/api-clients"): "socket-only",
    ("DELETE", "/api-clients/{api_client_id}"): "socket-only",
    ("POST", "/api-clients/{api_client_id}/rotate"): "socket-only",
    ("POST", "/auth/oauth/token"): "door-only",
}


def _decisions(app) -> dict[tuple[str, str], str]:
    return {(method, route.path): access_of(route).rule(method)
            for route in every_route(app) if isinstance(route, APIRoute) and access_of(route) is not None
            for method in route.methods}


async def test_every_route_has_its_access_decision(gateway):
    app = create_app(gateway)
    assert undecided_routes(app) == []
    assert _decisions(app) == DECISIONS


async def test_a_route_without_a_decision_is_found(gateway):
    app = create_app(gateway)

    async def surprise() -> dict:
        return {}

    app.add_api_route("/surprise", surprise)
    assert undecided_routes(app) == ["GET /surprise"]
