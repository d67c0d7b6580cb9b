"""The console's door in front of a real gateway: who gets in, and what passes through unchanged."""

from __future__ import annotations

import httpx
import pytest
import trio

from gateway.console.door import Door, bind, upstream_client
from tests.conftest import TEST_TIMEOUT, eventually
from tests.gateway.seed import TELTONIKA_MODEL, unit_body


@pytest.fixture
async def door(gateway, nursery):
    sock = bind(0)
    door = Door(sock.getsockname()[1], upstream_client(gateway.config.admin_socket), gateway.config.admin_socket)
    await nursery.start(door.serve, sock)
    yield door
    await door.upstream.aclose()


@pytest.fixture
async def browser(door):
    """A client that opened the login URL, as the operator's browser does."""
    async with httpx.AsyncClient(base_url=door.origin, timeout=TEST_TIMEOUT) as client:
        response = await client.get(door.login_url)
        assert response.status_code == 200 and 'content="0;url=/console/"' in response.text
        yield client


async def test_the_login_url_sets_a_strict_http_only_cookie_once(door):
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT) as client:
        assert (await client.get(f"{door.origin}/vehicles")).status_code == 401
        first = await client.get(door.login_url, headers={"Sec-Fetch-Site": "cross-site"})  # from a file
        cookie = first.headers["set-cookie"]
        assert first.status_code == 200
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        name, _, value = cookie.split(";")[0].partition("=")
        assert name == door.cookie and len(value) >= 40
        assert (await client.get(f"{door.origin}/vehicles")).status_code == 200
        assert (await client.get(door.login_url)).status_code == 200  # the same browser reloading it

    async with httpx.AsyncClient(timeout=TEST_TIMEOUT) as other:
        again = await other.get(door.login_url)
        assert again.status_code == 403 and "used already" in again.json()["detail"]
        assert (await other.get(f"{door.origin}/console/")).status_code == 401
    async with httpx.AsyncClient(cookies={door.cookie: "x" * len(value)}, timeout=TEST_TIMEOUT) as guesser:
        guessed = await guesser.get(f"{door.origin}/vehicles")
        assert guessed.status_code == 401
        assert guessed.headers["content-type"] == "application/problem+json"


async def test_foreign_host_origin_or_site_is_refused_even_with_the_cookie(browser, door):
    assert (await browser.get("/health")).status_code == 200
    rebinding = await browser.get("/health", headers={"Host": f"attacker.example:{door.host.rsplit(':')[1]}"})
    assert rebinding.status_code == 403 and rebinding.json()["type"] == "/problems/forbidden"
    assert (await browser.get("/health", headers={"Host": "localhost"})).status_code == 403
    cross = await browser.post("/vehicles", json={}, headers={"Origin": "http://attacker.example"})
    assert cross.status_code == 403
    assert (await browser.get("/vehicles", headers={"Sec-Fetch-Site": "cross-site"})).status_code == 403
    same_origin = await browser.post("/vehicles", json={}, headers={"Origin": door.origin,
                                                                    "Sec-Fetch-Site": "same-origin"})
    assert same_origin.status_code == 400  # reached the API, which names the missing property
    assert same_origin.json()["detail"] == "The property 'telematics_unit' is required."


async def test_answers_pass_through_with_status_headers_and_body(browser, gateway, api):
    created = await browser.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL),
                                 headers={"X-Flow-ID": "flow-through-door"})
    assert created.status_code == 201 and created.headers["x-flow-id"] == "flow-through-door"
    vehicle_id = created.json()["id"]
    assert (await api.get(f"/vehicles/{vehicle_id}")).json() == created.json()
    missing = await browser.get("/vehicles/NOPE1")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert (await browser.delete(f"/vehicles/{vehicle_id}")).status_code == 204
    listed = await browser.get("/vehicles", params={"q": "356307042441013"})
    assert listed.json()["items"] == []
    page = await browser.get("/console/")
    assert page.status_code == 200 and "<title>fleetgate console</title>" in page.text


async def test_the_event_stream_arrives_event_by_event(browser, api, gateway):
    """Each event comes through while the stream is still open: the door buffers nothing;
    and a browser that leaves releases the stream on the gateway."""
    with trio.fail_after(TEST_TIMEOUT):
        async with browser.stream("GET", "/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith(": fleetgate event stream")
            for imei in ("356307042441013", "356307042441021"):
                assert (await api.post("/vehicles", json=unit_body("TELTONIKA", imei, TELTONIKA_MODEL))).status_code == 201
                async for line in lines:
                    if line.startswith("data:"):
                        assert f'"unit_id": "{imei}"' in line and '"CREATED"' in line
                        break
            assert gateway.events.subscribers == 1
    await eventually(lambda: _no_subscribers(gateway))


async def _no_subscribers(gateway) -> bool:
    return gateway.events.subscribers == 0


async def test_an_unreachable_gateway_is_a_502_problem(nursery, short_dir):
    sock = bind(0)
    missing = short_dir / "nobody.sock"
    door = Door(sock.getsockname()[1], upstream_client(missing), missing)
    await nursery.start(door.serve, sock)
    async with door.upstream, httpx.AsyncClient(base_url=door.origin, timeout=TEST_TIMEOUT) as client:
        await client.get(door.login_url)
        response = await client.get("/health")
    assert response.status_code == 502 and str(missing) in response.json()["detail"]
