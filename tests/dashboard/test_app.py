"""The dashboard's routes over a filled cache (no API server: these paths never reach one)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from starlette.testclient import TestClient

from modelrollout.dashboard import app, caching
from tests.dashboard.test_views import body


@pytest.fixture
def cache() -> caching.Cache:
    filled = caching.Cache(client.ApiClient())
    resource = body()
    filled.deployments = {"ml/clf": resource}
    filled.events = {"ml/clf": {"u1": {"type": "Normal", "reason": "CanaryStarted", "message": "v2 at 50%"}}}
    return filled


def browser(cache: caching.Cache, *, allow_actions: bool) -> TestClient:
    return TestClient(app.create(cache, allow_actions=allow_actions), base_url="http://127.0.0.1:3100")


def test_page_and_list(cache: caching.Cache) -> None:
    with browser(cache, allow_actions=False) as http:
        page = http.get("/")
        assert page.status_code == 200 and "<title>modelrollout</title>" in page.text
        listed: dict[str, Any] = http.get("/api/deployments").json()
    assert [(r["namespace"], r["name"], r["phase"]) for r in listed["items"]] == [("ml", "clf", "Canary")]
    assert listed["allowActions"] is False and listed["synced"] is False


def test_detail_and_missing(cache: caching.Cache) -> None:
    with browser(cache, allow_actions=True) as http:
        detail = http.get("/api/deployments/ml/clf").json()
        missing = http.get("/api/deployments/ml/nope")
    assert detail["events"][0]["reason"] == "CanaryStarted" and detail["actions"] == ["promote", "abort", "pause"]
    assert missing.status_code == 404


def test_controls_are_refused_when_read_only(cache: caching.Cache) -> None:
    with browser(cache, allow_actions=False) as http:
        done = http.post("/api/deployments/ml/clf/actions/abort", headers={app.ACTION_HEADER: "1"})
    assert done.status_code == 403 and "--allow-actions" in done.json()["error"]


def test_controls_need_the_custom_header(cache: caching.Cache) -> None:
    with browser(cache, allow_actions=True) as http:
        done = http.post("/api/deployments/ml/clf/actions/abort")
    assert done.status_code == 403 and app.ACTION_HEADER in done.json()["error"]


def test_unknown_control_is_named(cache: caching.Cache) -> None:
    with browser(cache, allow_actions=True) as http:
        done = http.post("/api/deployments/ml/clf/actions/explode", headers={app.ACTION_HEADER: "1"})
    assert done.status_code == 400 and "explode" in done.json()["error"]


def test_other_hosts_are_refused(cache: caching.Cache) -> None:
    """A page of another site that resolves its name to 127.0.0.1 (DNS rebinding) gets nothing."""
    with TestClient(app.create(cache, allow_actions=True), base_url="http://evil.example:3100") as http:
        assert http.get("/api/deployments").status_code == 400
