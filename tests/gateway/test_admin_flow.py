"""FlowIds, the admin API's outermost middleware: a flow id on every answer, every answer
counted, and an error no route handled answered as a problem, not a dropped connection.
The gateway's routes never fail like this on purpose, so an inner app that does stands in."""

from __future__ import annotations

import httpx
import pytest

from gateway.admin.flow import FlowIds
from gateway.metrics import Metrics


def _metrics() -> Metrics:
    metrics = Metrics()
    metrics.counter("fleetgate_admin_requests_total", "Admin API requests by method and status.")
    return metrics


async def _get(app, **headers) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as client:
        return await client.get("/vehicles", headers=headers)


async def test_an_error_no_route_handled_is_a_500_problem_with_the_flow_id(caplog):
    async def failing(scope, receive, send):
        raise RuntimeError("a bug")

    metrics = _metrics()
    response = await _get(FlowIds(failing, metrics), **{"X-Flow-ID": "flow-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers.get_list("x-flow-id") == ["flow-1"]
    body = response.json()
    assert body["type"] == "/problems/internal-server-error" and body["status"] == 500
    assert body["flow_id"] == "flow-1"
    assert metrics.value("fleetgate_admin_requests_total", method="GET", status="500") == 1
    assert "unhandled error on GET /vehicles (flow flow-1)" in caplog.text


async def test_every_answer_gets_one_flow_id_and_is_counted():
    async def answering(scope, receive, send):
        assert scope["state"]["flow_id"]  # for problem answers made further in
        await send({"type": "http.response.start", "status": 204, "headers": [(b"x-flow-id", b"made-up")]})
        await send({"type": "http.response.body", "body": b""})

    metrics = _metrics()
    response = await _get(FlowIds(answering, metrics))
    flow_ids = response.headers.get_list("x-flow-id")
    assert response.status_code == 204 and len(flow_ids) == 1 and len(flow_ids[0]) == 32 and flow_ids != ["made-up"]
    assert metrics.value("fleetgate_admin_requests_total", method="GET", status="204") == 1


async def test_an_error_after_the_answer_began_is_not_answered_twice():
    async def failing_midway(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("a bug in a stream")

    metrics = _metrics()
    with pytest.raises(RuntimeError, match="a bug in a stream"):
        await _get(FlowIds(failing_midway, metrics))
    assert metrics.value("fleetgate_admin_requests_total", method="GET", status="200") == 1
