"""A load generator that behaves like clients behind a Service.

Each request goes to one ready inference-server endpoint of the instance, picked
uniformly, the way kube-proxy spreads a Service's connections, so the replicas router's
split is what the servers really see. Every answer gets feedback with the true label,
posted with the answer's feedback token through the Service too: to another endpoint
picked the same way, usually not the one that answered, so the servers must judge each
other's tokens. Loops are bounded by a rate and stop when asked.

Like kube-proxy following EndpointSlices, every request (the feedback post included)
is routed by the endpoint set as published at that moment, never by an earlier copy:
a pod that left the set gets no new request, and the one it may still be answering
finishes because the pod drains before it stops (its preStop sleep, then the server's
drain). So any failed request is a fault of the product, not of the test bed.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from e2e.testbed import models
from modelrollout import names

log = logging.getLogger(__name__)

Endpoints = Callable[[], list[tuple[str, int]]]  # (version, port) of each ready server


@dataclass
class Traffic:
    model: str
    endpoints: Endpoints
    rate: float = 40.0  # requests per second, all workers together
    workers: int = 4
    timeout: float = 5.0
    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Traffic:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for i in range(self.workers):
            thread = threading.Thread(target=self._run, args=(i,), name=f"traffic-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)

    def _post(self, port: int, path: str, body: dict[str, object]) -> dict[str, object]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            answer: dict[str, object] = json.loads(response.read())
            return answer

    def _run(self, index: int) -> None:
        rng = np.random.default_rng(index)
        pick = random.Random(index)
        pause = self.workers / self.rate
        while not self._stop.is_set():
            started = time.monotonic()
            if ready := self.endpoints():
                version, port = pick.choice(ready)
                row, label = models.sample(rng)
                try:
                    answer = self._post(
                        port,
                        f"/v2/models/{self.model}/infer",
                        {
                            "inputs": [
                                {
                                    "name": models.INPUT,
                                    "shape": list(row.shape),
                                    "datatype": "FP32",
                                    "data": row.ravel().tolist(),
                                }
                            ]
                        },
                    )
                    parameters = answer["parameters"]
                    assert isinstance(parameters, dict), answer
                    # Chosen afresh: the endpoint that answered may have left the set meanwhile.
                    if judges := self.endpoints():
                        _, judge = pick.choice(judges)
                        self._post(
                            judge,
                            f"/v2/models/{self.model}/feedback",
                            {"token": parameters[names.PARAMETER_FEEDBACK_TOKEN], "label": label},
                        )
                    with self._lock:
                        self.sent[version] += 1
                except OSError as err:  # a server going away mid-request is part of the job
                    with self._lock:
                        self.failed[version] += 1
                    log.warning("request to version %s on port %s failed: %s", version, port, err)
            self._stop.wait(max(0.0, pause - (time.monotonic() - started)))
