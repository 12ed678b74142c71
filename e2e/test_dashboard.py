"""The dashboard in a real browser (Debian's headless Chromium, driven by Playwright) during a
real rollout on the test bed: the list shows the rollout, the analysis charts show points,
and the abort button rolls it back. The screenshot's path is printed (pytest -s shows it).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e.testbed import bed as beds
from e2e.testbed import dashboards, models, samples
from modelrollout import names

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
NAME = "clf"
Body = dict[str, Any]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless; Playwright drives it (it never downloads a browser of its own)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed (scripts/system-packages.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


def apply(
    bed: beds.Bed, namespace: str, tmp_path: Path, version: str, *, optimization_enabled: bool = True, **options: Any
) -> None:
    uri = models.classifier(tmp_path / version / "model.onnx", work=40).as_uri()
    body = samples.model_deployment(NAME, namespace, version, uri, prometheus_url=bed.prometheus.url, **options)
    body["spec"]["optimization"]["enabled"] = optimization_enabled
    # The page, not the judge, is under test: the canary stays until the page aborts it,
    # whatever verdicts a noisy check gives on the way (they are drawn, not acted on).
    body["spec"]["rollout"]["analysis"].update(failureLimit=100, inconclusiveLimit=100)
    bed.apply(body)


def canary_gone(bed: beds.Bed, namespace: str) -> None:
    selector = f"{names.LABEL_INSTANCE}={NAME},{names.LABEL_ROLE}={names.ROLE_CANARY}"
    core = client.CoreV1Api(bed.plane.api_client())
    deadline = time.monotonic() + 90
    while core.list_namespaced_pod(namespace, label_selector=selector).items:
        assert time.monotonic() < deadline, "the aborted canary's pods outlived their grace period"
        time.sleep(0.5)


def test_a_live_rollout_is_shown_and_aborted_from_the_page(
    bed: beds.Bed, namespace: str, tmp_path: Path, chromium: Any
) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    apply(bed, namespace, tmp_path, "1", optimization_enabled=False)  # version 2's Job fills the table
    bed.wait(namespace, NAME, lambda b: beds.settled(b) and beds.phase(b) == "Succeeded", timeout=240, what="version 1")
    key = f"{namespace}/{NAME}"
    with bed.traffic(namespace, NAME, "classifier", rate=20) as load:
        # A long first step: the canary stays at 50% until the page aborts it.
        apply(bed, namespace, tmp_path, "2", steps=[{"weight": 50, "pause": "10m"}, {"weight": 100}])

        def measured(body: Body) -> bool:
            found = body.get("status", {}).get("analysis", {}).get("measurements", [])
            return beds.phase(body) == "Canary" and sum(1 for m in found if m.get("value") is not None) >= 4

        bed.wait(namespace, NAME, measured, timeout=240, what="canary of version 2 with measurements")

        with dashboards.Dashboard(bed.plane.kubeconfig_path, tmp_path / "read-only.log") as read_only:
            page = chromium.new_page()
            page.goto(read_only.url)
            expect(page.locator(f'tr[data-key="{key}"]')).to_contain_text("Canary")
            expect(page.locator("#overview")).to_contain_text("50%")
            assert page.locator("button[data-action]").count() == 0, "read-only by default: no controls"
            refused = page.request.post(
                f"{read_only.url}api/deployments/{key}/actions/abort", headers={"X-Modelrollout-Action": "1"}
            )
            assert refused.status == 403
            page.close()

        with dashboards.Dashboard(bed.plane.kubeconfig_path, tmp_path / "dashboard.log", allow_actions=True) as dash:
            page = chromium.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(dash.url)
            row = page.locator(f'tr[data-key="{key}"]')
            expect(row).to_contain_text("Canary")
            row.click()
            latency = page.locator('.chart[data-check="latency"]')
            expect(latency).to_be_visible()
            # Canary and stable points of the latency check, drawn from the live status.
            assert latency.locator("circle.point").count() >= 2
            # Accuracy is judged on the canary's own interval (the sample compares no
            # accuracy with stable's): a band or bar around its points, and its limit.
            accuracy = page.locator('.chart[data-check="accuracy"]')
            expect(accuracy.locator("svg .interval").first).to_be_attached()
            expect(accuracy.locator("svg .interval title").first).to_contain_text(
                re.compile(r"canary [\d.]+% \[[\d.]+%, ")
            )
            expect(accuracy.locator(".legend").first).to_contain_text("min 90%")
            expect(latency.locator(".legend").first).to_contain_text("max 200 ms")
            expect(page.locator("#optimization tr.chosen")).to_have_count(1)
            expect(page.locator("#events")).to_contain_text("StepStarted")
            screenshot = tmp_path / "dashboard.png"
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"dashboard screenshot: {screenshot}")
            page.locator('button[data-action="abort"]').click()
            expect(page.locator("#flash")).to_contain_text("abort requested")
            # The page follows the watch: the rollback shows without a reload.
            expect(page.locator("#phase")).to_have_text("RolledBack", timeout=120_000)
            page.screenshot(path=str(tmp_path / "dashboard-rolled-back.png"), full_page=True)
            page.close()
        canary_gone(bed, namespace)  # load runs on until its pods have drained and stopped
    print(f"requests sent {dict(load.sent)}, failed {dict(load.failed)}")
    assert load.sent["2"] > 0 and load.sent["1"] > 0
    assert sum(load.failed.values()) == 0, f"failed {dict(load.failed)} of sent {dict(load.sent)}"

    body = bed.get(namespace, NAME)
    assert body["metadata"]["annotations"][names.ANNOTATION_ABORT]
    assert beds.phase(body) == "RolledBack" and body["status"]["stableVersion"] == "1"
    assert body["status"]["history"][-1]["outcome"] == "Aborted"
