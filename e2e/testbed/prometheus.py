"""A real Prometheus server on loopback with a generated configuration.

Targets come from `file_sd` JSON files rewritten at run time, one file per source
(the process kubelet lists each running inference server in its own; a test may add
another), so no restart is needed to scrape a new pod and no writer erases another's
targets. Scrape and evaluation intervals are short, so a test sees a
sample within seconds.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

import bcrypt
import yaml

from e2e.testbed import binaries, certificates, controlplane, processes

JOB_NAME: Final = "targets"


@dataclasses.dataclass(frozen=True)
class Target:
    address: str  # host:port
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


def config(
    targets_dir: Path,
    *,
    interval_s: float = 1.0,
    rule_files: Sequence[Path] = (),
) -> dict[str, Any]:
    interval = f"{int(interval_s * 1000)}ms"
    return {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": JOB_NAME,
                "file_sd_configs": [{"files": [str(targets_dir / "*.json")], "refresh_interval": interval}],
            }
        ],
    }


@dataclasses.dataclass(frozen=True)
class Web:
    """Prometheus' own --web.config.file: TLS with a certificate, and basic-auth users.

    `users` maps a user to a password in clear; the file holds its bcrypt hash, as
    Prometheus requires. The harness itself trusts `ca_pem` and logs in as the first user.
    """

    certificate: certificates.Issued | None = None
    ca_pem: bytes = b""
    users: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def document(self, directory: Path) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.certificate is not None:
            cert, key = self.certificate.write(directory, "web")
            doc["tls_server_config"] = {"cert_file": str(cert), "key_file": str(key)}
        if self.users:
            # The lowest cost bcrypt allows: Prometheus checks it on every request of a test.
            doc["basic_auth_users"] = {
                user: bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
                for user, password in self.users.items()
            }
        return doc


def targets_document(targets: Sequence[Target]) -> list[dict[str, Any]]:
    """The file_sd format: one group per target, so each keeps its own labels."""
    return [{"targets": [t.address], "labels": dict(t.labels)} for t in targets]


def write_targets(path: Path, targets: Sequence[Target]) -> None:
    """Replace the file atomically: Prometheus must never read half a file."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(json.dumps(targets_document(targets), indent=1))
    os.replace(partial, path)


class Prometheus(processes.Supervised):
    def __init__(
        self,
        *,
        work_dir: Path | None = None,
        rule_files: Sequence[Path] = (),
        interval_s: float = 1.0,
        start_timeout: float = 30.0,
        web: Web | None = None,
    ) -> None:
        self._own_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="modelrollout-prometheus-"))
        self.rule_files = list(rule_files)
        self.interval_s = interval_s
        self.start_timeout = start_timeout
        self.web = web
        self.port = controlplane.free_ports(1)[0]
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: TextIO | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.web is not None and self.web.certificate is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def targets_dir(self) -> Path:
        return self.work_dir / "targets"

    def targets_file(self, source: str) -> Path:
        if not re.fullmatch(r"[a-z0-9][-a-z0-9]*", source):
            raise ValueError(f"target source {source!r}: use lower-case letters, digits and '-'")
        return self.targets_dir / f"{source}.json"

    @property
    def config_file(self) -> Path:
        return self.work_dir / "prometheus.yml"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "prometheus.log"

    def _start(self) -> None:
        executable = binaries.prometheus()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.targets_dir.mkdir(exist_ok=True)
        self.config_file.write_text(
            yaml.safe_dump(config(self.targets_dir, interval_s=self.interval_s, rule_files=self.rule_files))
        )
        web_flags = []
        if self.web is not None:
            web_file = self.work_dir / "web.yml"
            web_file.write_text(yaml.safe_dump(self.web.document(self.work_dir)))
            web_flags.append(f"--web.config.file={web_file}")
        self._log = self.log_path.open("w")
        self._proc = processes.spawn(
            [
                str(executable),
                *web_flags,
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.work_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            self._log,
            cwd=self.work_dir,
        )
        deadline = time.monotonic() + self.start_timeout
        while not self._ready():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                tail = processes.tail(self.log_path, 20)
                state = f"exited with {self._proc.returncode}" if self._proc.poll() is not None else "not ready"
                raise controlplane.StartError(f"prometheus {state}:\n{tail}")
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        processes.terminate(self._proc, timeout)
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def set_targets(self, targets: Sequence[Target], source: str = "harness") -> None:
        """Replace the targets that `source` listed; other sources' targets stay."""
        write_targets(self.targets_file(source), targets)

    def _open(self, path: str, timeout: float) -> Any:
        """GET `path` as the harness: trusting the web config's CA, as its first user."""
        request = urllib.request.Request(f"{self.url}{path}")
        context = None
        if self.web is not None:
            if self.web.ca_pem:
                context = ssl.create_default_context(cadata=self.web.ca_pem.decode())
            for user, password in list(self.web.users.items())[:1]:
                token = base64.b64encode(f"{user}:{password}".encode()).decode()
                request.add_header("Authorization", f"Basic {token}")
        return urllib.request.urlopen(request, timeout=timeout, context=context)

    def _ready(self) -> bool:
        try:
            with self._open("/-/ready", 2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector; a PromQL error raises with Prometheus's message."""
        path = f"/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        try:
            with self._open(path, 5) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body.get("status") != "success":
            raise ValueError(f"query {promql!r}: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(
        self,
        promql: str,
        done: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Poll `promql` until `done(result)`; the last result is in the timeout message."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if done(result):
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"{promql!r} not satisfied after {timeout:.0f}s: {result}")
            time.sleep(0.25)

    def active_targets(self) -> list[dict[str, Any]]:
        with self._open("/api/v1/targets?state=active", 5) as response:
            body = json.load(response)
        targets: list[dict[str, Any]] = body["data"]["activeTargets"]
        return targets
