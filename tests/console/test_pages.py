"""The console's pages and /docs as the admin app serves them: everything from the gateway
itself, nothing from a CDN, and problem JSON where nothing is."""

from __future__ import annotations

import re

from gateway.console import STATIC_DIR


def _references(html: str) -> list[str]:
    return re.findall(r'<(?:script[^>]*\ssrc|link[^>]*\shref)=["\']([^"\']+)["\']', html)


async def test_docs_work_offline(api):
    docs = await api.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assets = _references(docs.text)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for asset in assets:
        assert asset.startswith("/"), f"/docs loads {asset} from elsewhere"
        answer = await api.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 100, asset
    assert "url: '/openapi.json'" in docs.text and (await api.get("/openapi.json")).status_code == 200
    assert (await api.get("/redoc")).status_code == 404  # FastAPI's ReDoc page loads from a CDN: not served


async def test_console_files_are_served_with_a_strict_policy(api):
    index = await api.get("/console/")
    assert index.status_code == 200
    policy = index.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    for asset in _references(index.text):
        assert not asset.startswith(("http:", "https:", "//")), asset
        answer = await api.get(f"/console/{asset}")
        assert answer.status_code == 200, asset
        assert answer.content == (STATIC_DIR / asset).read_bytes()
    modules = re.findall(r'from "\./([a-z]+\.js)"', (STATIC_DIR / "js" / "app.js").read_text())
    for module in modules:
        answer = await api.get(f"/console/js/{module}")
        assert answer.status_code == 200 and "javascript" in answer.headers["content-type"]
    assert (await api.get("/console", follow_redirects=True)).url.path == "/console/"


async def test_other_paths_still_answer_problem_json(api):
    for method, path, status in (("GET", "/console/nothing-here.js", 404), ("POST", "/console/", 405),
                                 ("GET", "/nothing-here", 404), ("PUT", "/vehicles", 405)):
        answer = await api.request(method, path)
        assert answer.status_code == status, path
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == status and answer.headers["x-flow-id"]
