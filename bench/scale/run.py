"""One operator, many ModelDeployments: cost at rest and speed of reaction, side by side.

    python bench/scale/run.py [--n 100 1000] [--nodes 24] [--rest 60] [--aborts 50]
                              [--design NAME=OPERATOR_SOURCE_ROOT ...]

For each N and each design (by default only this tree's operator; add another with
`--design main=/path/to/checkout/operator` to compare with it), on a fresh test-bed
control plane whose pods are all KWOK's (no process pods) and whose cpu pool has
`--nodes` nodes: apply N first versions (optimization off) and wait until every one is
Succeeded; measure `--rest` seconds at rest; change the version of all N and wait until
every one has a canary (the first step pauses for an hour); annotate `--aborts` random
ones with abort and time each until its status says RolledBack.

The operator runs as its own process under its ServiceAccount, so the API server's
priority-and-fairness metrics (flow schema `service-accounts`) count its requests
apart from the controllers and KWOK (which use the admin identity). Prints one table
per N and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "operator"))
sys.path.insert(0, str(REPO))

from kubernetes import client, watch  # noqa: E402

from e2e.testbed import binaries, controlplane  # noqa: E402
from e2e.testbed import kubectl as kubectl_cli  # noqa: E402
from modelrollout import names  # noqa: E402
from modelrollout.api import crds  # noqa: E402

NAMESPACE = "scale"
TICKS = os.sysconf("SC_CLK_TCK")


def spec(version: str) -> dict[str, Any]:
    return {
        "model": {"name": "classifier", "version": version, "uri": f"file:///models/classifier/{version}/model.onnx"},
        "optimization": {"enabled": False},
        "serving": {"replicas": 1, "accelerator": "cpu"},
        "rollout": {"steps": [{"weight": 50, "pause": "1h"}, {"weight": 100}], "progressDeadline": "3h"},
    }


class Watcher:
    """First time each ModelDeployment reached a condition, from one watch (no polling)."""

    def __init__(self, custom: client.CustomObjectsApi) -> None:
        self.custom = custom
        self.marks: dict[str, dict[str, float]] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        version = ""
        while not self.stopped.is_set():
            try:
                if not version:
                    listed = self.custom.list_namespaced_custom_object(
                        names.GROUP, names.VERSION, NAMESPACE, names.PLURAL
                    )
                    for body in listed["items"]:
                        self._see(body)
                    version = listed["metadata"]["resourceVersion"]
                stream = watch.Watch().stream(
                    self.custom.list_namespaced_custom_object, names.GROUP, names.VERSION, NAMESPACE, names.PLURAL,
                    resource_version=version, timeout_seconds=30, allow_watch_bookmarks=True,
                )  # fmt: skip
                for event in stream:
                    body = event["object"]
                    version = body["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._see(body)
                    if self.stopped.is_set():
                        return
            except client.exceptions.ApiException as error:
                if error.status == 410:
                    version = ""
                else:
                    time.sleep(0.5)
            except Exception:  # a broken stream is reopened
                time.sleep(0.5)

    def _see(self, body: dict[str, Any]) -> None:
        status = body.get("status") or {}
        name = body["metadata"]["name"]
        now = time.monotonic()
        marks = []
        if status.get("phase") == "Succeeded" and status.get("stableVersion") == "1":
            marks.append("steady")
        if status.get("phase") == "Canary" and status.get("canaryVersion") == "2":
            marks.append("canary")
        if status.get("phase") == "RolledBack":
            marks.append("rolledback")
        with self.lock:
            mine = self.marks.setdefault(name, {})
            for mark in marks:
                mine.setdefault(mark, now)

    def count(self, mark: str) -> int:
        with self.lock:
            return sum(1 for m in self.marks.values() if mark in m)

    def at(self, name: str, mark: str) -> float | None:
        with self.lock:
            return self.marks.get(name, {}).get(mark)

    def wait(self, mark: str, n: int, timeout: float) -> float:
        began = time.monotonic()
        while self.count(mark) < n:
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"{self.count(mark)}/{n} reached {mark} in {timeout:.0f}s")
            time.sleep(0.2)
        return time.monotonic() - began

    def stop(self) -> None:
        self.stopped.set()


class Sampler:
    """RSS and CPU time of a process, every half second."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss: list[tuple[float, float]] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self.stopped.wait(0.5):
            try:
                self.rss.append((time.monotonic(), self.rss_mb()))
            except OSError:
                return

    def peak(self) -> float:
        return max((r for _, r in self.rss), default=0.0)


def scrape(url: str, token: str | None = None) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test bed's self-signed serving certificate, on loopback
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        return str(response.read().decode())


def metric_sum(text: str, name: str, where: Callable[[dict[str, str]], bool] = lambda _: True) -> float:
    total = 0.0
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$")
    for line in text.splitlines():
        found = pattern.match(line)
        if found is None:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1) or ""))
        if where(labels):
            total += float(found.group(2))
    return total


class Requests:
    """API server request counters: the operator's (flow schema service-accounts) and everyone's."""

    def __init__(self, plane: controlplane.ControlPlane) -> None:
        self.url = f"{plane.server}/metrics"
        self.token = plane.token

    def read(self) -> tuple[float, float]:
        text = scrape(self.url, self.token)
        mine = metric_sum(
            text,
            "apiserver_flowcontrol_dispatched_requests_total",
            lambda labels: labels.get("flow_schema") == "service-accounts",
        )
        return mine, metric_sum(text, "apiserver_request_total")


def quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": pick(0.50), "p99": pick(0.99)}


def histogram_quantiles(text: str, name: str) -> dict[str, float | None]:
    """p50/p99 of a histogram summed over all its series (upper bucket bounds)."""
    buckets: dict[float, float] = {}
    pattern = re.compile(rf"^{re.escape(name)}_bucket\{{(.*)\}} (\S+)$")
    for line in text.splitlines():
        found = pattern.match(line)
        if found:
            le = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1)))["le"]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + float(found.group(2))
    if not buckets or buckets[max(buckets)] == 0:
        return {"p50": None, "p99": None}
    total = buckets[max(buckets)]
    out: dict[str, float | None] = {}
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        bound = next(b for b in sorted(buckets) if buckets[b] >= q * total)
        out[label] = bound
    return out


def start_operator(
    source: Path, work: Path, kubeconfig: Path, settings: dict[str, Any]
) -> tuple[subprocess.Popen[bytes], int, Path]:
    config = work / "operator.yaml"
    config.write_text(yaml.safe_dump(settings))
    metrics_port, liveness_port = controlplane.free_ports(2)
    log_path = work / "operator.log"
    env = {**os.environ, "PYTHONPATH": str(source)}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "modelrollout", "operator", "--kubeconfig", str(kubeconfig),
                "--config", str(config), "--host", "127.0.0.1",
                "--metrics-port", str(metrics_port), "--liveness-port", str(liveness_port),
            ],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=work,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"operator exited: {log_path.read_text()[-3000:]}")
        try:
            scrape(f"http://127.0.0.1:{liveness_port}/healthz")
            return proc, metrics_port, log_path
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("operator not live in 120 s")


def settings_for(source: Path, store: Path) -> dict[str, Any]:
    known = (source / "modelrollout" / "settings.py").read_text()
    base: dict[str, Any] = {"image": "modelrollout:dev", "artifactStore": store.as_uri()}
    if "resyncSeconds" in known:
        return {**base, "resyncSeconds": 300}
    return {**base, "tickSeconds": 5}  # the timer design's default


def parallel(fn: Callable[[int], Any], n: int) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fn, range(n)))


@dataclass
class Run:
    """The phases of one run, each writing its figures into `result`."""

    custom: client.CustomObjectsApi
    watcher: Watcher
    requests: Requests
    sampler: Sampler
    n: int
    args: argparse.Namespace
    result: dict[str, Any]
    rest_end: tuple[float, float, float] = (0.0, 0.0, 0.0)  # (operator requests, all requests, monotonic)

    def first_versions(self) -> None:
        """N first versions, until all are Succeeded."""
        began = time.monotonic()
        parallel(
            lambda i: self.custom.create_namespaced_custom_object(
                names.GROUP, names.VERSION, NAMESPACE, names.PLURAL,
                {"apiVersion": names.API_VERSION, "kind": names.KIND,
                 "metadata": {"name": f"m{i:05d}"}, "spec": spec("1")},
            ),
            self.n,
        )  # fmt: skip
        self.result["apply_s"] = round(time.monotonic() - began, 1)
        self.watcher.wait("steady", self.n, self.args.timeout)
        self.result["steady_s"] = round(time.monotonic() - began, 1)

    def at_rest(self) -> None:
        time.sleep(5)  # the last Succeeded's echo settles
        mine0, all0 = self.requests.read()
        cpu0, t0 = self.sampler.cpu_seconds(), time.monotonic()
        time.sleep(self.args.rest)
        mine1, all1 = self.requests.read()
        cpu1, t1 = self.sampler.cpu_seconds(), time.monotonic()
        span = t1 - t0
        self.result["rest_operator_req_s"] = round((mine1 - mine0) / span, 2)
        self.result["rest_all_req_s"] = round((all1 - all0) / span, 2)
        self.result["rest_cpu_s_per_min"] = round((cpu1 - cpu0) / span * 60, 2)
        self.result["rest_rss_mb"] = round(self.sampler.rss_mb(), 1)
        self.rest_end = (mine1, all1, t1)

    def version_wave(self) -> None:
        """A new version for all N, until every one has a canary."""
        began = time.monotonic()
        parallel(
            lambda i: self.custom.patch_namespaced_custom_object(
                names.GROUP, names.VERSION, NAMESPACE, names.PLURAL, f"m{i:05d}", {"spec": spec("2")}
            ),
            self.n,
        )
        self.watcher.wait("canary", self.n, self.args.timeout)
        self.result["wave_s"] = round(time.monotonic() - began, 1)
        mine1, all1, t1 = self.rest_end
        mine2, all2 = self.requests.read()
        self.result["wave_operator_req_s"] = round((mine2 - mine1) / (time.monotonic() - t1), 2)
        self.result["wave_all_req_s"] = round((all2 - all1) / (time.monotonic() - t1), 2)

    def aborts(self) -> None:
        """Aborts, each timed from its annotation to RolledBack."""
        chosen = random.Random(13).sample(range(self.n), min(self.args.aborts, self.n))
        sent: dict[str, float] = {}
        for i in chosen:
            name = f"m{i:05d}"
            sent[name] = time.monotonic()
            self.custom.patch_namespaced_custom_object(
                names.GROUP, names.VERSION, NAMESPACE, names.PLURAL, name,
                {"metadata": {"annotations": {names.ANNOTATION_ABORT: "bench"}}},
            )  # fmt: skip
            time.sleep(0.1)
        deadline = time.monotonic() + 120
        while any(self.watcher.at(name, "rolledback") is None for name in sent) and time.monotonic() < deadline:
            time.sleep(0.2)
        done = {k: self.watcher.at(k, "rolledback") for k in sent}
        self.result["abort_reaction_s"] = quantiles([t - sent[k] for k, t in done.items() if t is not None])
        self.result["aborts_missed"] = sum(1 for t in done.values() if t is None)


def run_one(design: str, source: Path, n: int, args: argparse.Namespace, bins: Any) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"scale-{design}-{n}-"))
    result: dict[str, Any] = {"design": design, "n": n}
    with controlplane.ControlPlane(
        bins, pools=["cpu"], counts={"cpu": args.nodes}, process_pods=False, work_dir=work / "cluster"
    ) as plane:
        kubectl = kubectl_cli.Kubectl(plane.kubeconfig_path)
        (work / "crd.yaml").write_text(crds.render())
        kubectl("apply", "--server-side", "-f", str(work / "crd.yaml"))
        kubectl("wait", "--for=condition=Established", f"crd/{names.CRD_NAME}", "--timeout=60s")
        kubectl.run("create", "namespace", "modelrollout-system", check=False)
        kubectl("apply", "-k", str(REPO / "manifests" / "rbac"))
        kubectl("create", "namespace", NAMESPACE)
        account = plane.service_account_kubeconfig("modelrollout-system", "modelrollout-operator")
        api = plane.api_client()
        api.configuration.connection_pool_maxsize = 16
        custom = client.CustomObjectsApi(api)
        requests = Requests(plane)
        proc, metrics_port, log_path = start_operator(source, work, account, settings_for(source, work / "store"))
        sampler = Sampler(proc.pid)
        watcher = Watcher(custom)
        try:
            run = Run(custom, watcher, requests, sampler, n, args, result)
            run.first_versions()
            run.at_rest()
            run.version_wave()
            run.aborts()
            metrics = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
            result["reconcile_s"] = histogram_quantiles(metrics, names.METRIC_RECONCILE_DURATION)
        except TimeoutError as error:
            result["error"] = str(error)
        finally:
            result["rss_peak_mb"] = round(sampler.peak(), 1)
            watcher.stop()
            sampler.stopped.set()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        log = log_path.read_text(errors="replace").splitlines()
        result["log_errors"] = sum(1 for line in log if " ERROR " in line or line.startswith("Traceback"))
        result["log_warnings"] = sum(1 for line in log if " WARNING " in line)
    return result


COLUMNS = (
    ("steady_s", "time to all Succeeded (s)"),
    ("wave_s", "time to every canary (s)"),
    ("rss_peak_mb", "operator RSS peak (MB)"),
    ("rest_rss_mb", "operator RSS at rest (MB)"),
    ("rest_cpu_s_per_min", "operator CPU at rest (s/min)"),
    ("rest_operator_req_s", "operator API req/s at rest"),
    ("rest_all_req_s", "all API req/s at rest"),
    ("wave_operator_req_s", "operator API req/s in the wave"),
    ("abort_reaction_s", "abort reaction p50/p99 (s)"),
    ("reconcile_s", "reconcile p50/p99 (s, bucket)"),
    ("log_errors", "errors in the log"),
)


def show(results: list[dict[str, Any]]) -> None:
    for n in sorted({r["n"] for r in results}):
        row = [r for r in results if r["n"] == n]
        print(f"\nN = {n}")
        print(f"{'':34}" + "".join(f"{r['design']:>18}" for r in row))
        for key, label in COLUMNS:
            cells = []
            for r in row:
                value = r.get(key)
                if isinstance(value, dict):
                    value = f"{value['p50']}/{value['p99']}"
                cells.append(f"{value!s:>18}")
            print(f"{label:34}" + "".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--nodes", type=int, default=24)
    parser.add_argument("--rest", type=float, default=60.0)
    parser.add_argument("--aborts", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=1800.0, help="per phase, seconds")
    parser.add_argument("--design", action="append", default=[], help="NAME=operator source root (repeatable)")
    args = parser.parse_args()
    designs = [("this", REPO / "operator")] + [(d.split("=", 1)[0], Path(d.split("=", 1)[1])) for d in args.design]
    info = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in info if "model name" in line), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; nodes: {args.nodes} KWOK cpu nodes")
    bins = binaries.build_control_plane()
    results = []
    for n in args.n:
        for design, source in designs:
            try:
                results.append(run_one(design, source, n, args, bins))
            except RuntimeError as error:
                results.append({"design": design, "n": n, "error": str(error)[:500]})
            print(json.dumps(results[-1]), flush=True)
    show(results)
    print(json.dumps({"cpu": cpu, "nodes": args.nodes, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
