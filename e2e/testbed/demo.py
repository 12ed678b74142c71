"""`python -m e2e.testbed.demo` (`make demo`): optimize, canary and promote a model on a
local cluster, then roll back a slow one.

Everything is real: the control plane built from its Go modules, the scheduler placing
pods on KWOK nodes, the Job and Deployment controllers, the operator as its own
process, optimization Jobs and inference servers running as processes, Prometheus
scraping them, and clients sending requests and feedback the whole time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from e2e.testbed import bed as beds
from e2e.testbed import binaries, controlplane, dashboards, models, samples

NAMESPACE = "demo"
NAME = "classifier"


class Progress:
    """Prints what changed in the status since the last poll, one line each."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last: tuple[Any, ...] = ()
        self.seen_checks = 0

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def __call__(self, body: dict[str, Any]) -> None:
        status = body.get("status", {})
        key = (status.get("phase"), status.get("canaryWeight"), status.get("message"))
        if key != self.last and key[0]:
            self.last = key
            weight = f" weight={key[1]}%" if key[0] in {"Canary", "Paused", "Promoting"} else ""
            self.say(f"{key[0]:<11}{weight} {key[2]}")
        measurements = status.get("analysis", {}).get("measurements", [])
        analysis = status.get("analysis", {})
        checked_at = analysis.get("lastCheck")
        if analysis.get("lastResult") and checked_at != getattr(self, "last_check", None):
            self.last_check = checked_at
            for m in measurements:
                if m.get("at") == checked_at:
                    self.say(f"  {m['result']:<12} {m.get('message', m['check'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.testbed.demo", description=__doc__)
    parser.add_argument("--work-dir", type=Path, help="keep the test bed's files here (default: a temp dir)")
    parser.add_argument(
        "--dashboard-port", type=int, default=3100, help="port of the dashboard on 127.0.0.1 (0: any free one)"
    )
    args = parser.parse_args(argv)
    say = Progress().say
    say("building (or reusing) kube-apiserver, controller-manager, scheduler, etcd and kwok from Go modules")
    try:
        binaries.build_control_plane()
    except binaries.MissingTool as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    say("starting the control plane, KWOK node pools, Prometheus, the process kubelet and the operator")
    try:
        with beds.Bed(work_dir=args.work_dir) as bed:
            return run(bed, dashboard_port=args.dashboard_port)
    except (controlplane.StartError, beds.Timeout, RuntimeError) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1


def run(bed: beds.Bed, *, dashboard_port: int = 0) -> int:
    progress = Progress()
    say = progress.say
    bed.kubectl("create", "namespace", NAMESPACE)
    say(f"cluster up: nodes {' '.join(bed.plane.node_names)}; Prometheus at {bed.prometheus.url}")
    with dashboards.Dashboard(
        bed.plane.kubeconfig_path, bed.work_dir / "dashboard.log", port=dashboard_port
    ) as dashboard:
        say(f"dashboard (read-only): {dashboard.url} - open it to watch the rollouts live")
        return _rollouts(bed, progress)


def _rollouts(bed: beds.Bed, progress: Progress) -> int:
    say = progress.say
    made = bed.work_dir / "models"
    versions = {
        "1": models.classifier(made / "1" / "model.onnx", work=40),
        "2": models.classifier(made / "2" / "model.onnx", work=40),
        "3": models.classifier(made / "3" / "model.onnx", work=120),  # three times the work per request
    }

    def apply(version: str) -> None:
        body = samples.model_deployment(
            NAME, NAMESPACE, version, versions[version].as_uri(), prometheus_url=bed.prometheus.url
        )
        bed.apply(body)
        say(f"applied ModelDeployment {NAMESPACE}/{NAME} with model version {version}")

    def until(phase: str, what: str, timeout: float = 300) -> dict[str, Any]:
        return bed.wait(
            NAMESPACE,
            NAME,
            lambda b: beds.settled(b) and beds.phase(b) == phase,
            timeout=timeout,
            what=what,
            on_poll=progress,
        )

    apply("1")
    body = until("Succeeded", "version 1 deployed")
    table(say, body)
    with bed.traffic(NAMESPACE, NAME, "classifier", rate=20) as load:
        say("clients now send ~20 requests/s through the Service's endpoints, with feedback on every answer")
        apply("2")
        until("Succeeded", "version 2 promoted")
        table(say, bed.get(NAMESPACE, NAME))
        apply("3")
        started = time.monotonic()
        body = until("RolledBack", "version 3 rolled back")
        say(f"version 3 rolled back {time.monotonic() - started:.1f}s after it was applied")
        say(f"requests served by version: {dict(load.sent)}; failed: {dict(load.failed)}")
    status = body["status"]
    say(f"stable version: {status.get('stableVersion')}; history:")
    for entry in status.get("history", []):
        say(f"  {entry['version']:<4} {entry['outcome']:<10} {entry.get('reason', '')}")
    say("events:")
    for type_, reason, message in bed.events(NAMESPACE, NAME):
        say(f"  {type_:<8} {reason:<22} {message}")
    ok = status.get("stableVersion") == "2" and status.get("phase") == "RolledBack"
    say(
        "demo finished: optimize -> canary -> promote, then a slow version rolled back"
        if ok
        else "demo: unexpected end"
    )
    return 0 if ok else 1


def table(say: Any, body: dict[str, Any]) -> None:
    optimization = body.get("status", {}).get("optimization") or {}
    selected = optimization.get("selected") or {}
    for c in optimization.get("candidates", []):
        chosen = (
            "<- chosen"
            if (c["runtime"], c["precision"], c["method"])
            == (selected.get("runtime"), selected.get("precision"), selected.get("method"))
            else ""
        )
        say(
            f"  {c['runtime']:<12} {c['precision']:<5} {c['method']:<10} p50 {c.get('p50Ms') or 0:7.2f} ms "
            f"{c.get('throughput') or 0:9.0f}/s drop {c.get('accuracyDrop') or 0:.4f} {chosen}"
        )


if __name__ == "__main__":
    sys.exit(main())
