"""The server's Prometheus metrics; names and labels are documented in docs/inference-server.md.

Every series carries model, version and role, so the canary analysis can compare the
canary with stable by label alone. Children are bound once: a request pays for no
label lookup.
"""

from __future__ import annotations

import prometheus_client as prom
from prometheus_client import registry as prom_registry

from modelrollout import names

# From half a millisecond (a small model on CPU) to ten seconds (a large one, queued).
# Roughly 25% apart from 0.5 ms to 10 s: canary analysis compares quantiles that
# histogram_quantile interpolates inside one bucket, so a coarse ladder (10 ms, then
# 25 ms) would turn a 10% difference into a 2.5x one.
LATENCY_BUCKETS = (
    0.0005, 0.00075, 0.001, 0.00125, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.006, 0.0075,
    0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.125, 0.15, 0.2,
    0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip

# Rows per session run: powers of two up to the largest batch worth configuring.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

# `_created` series double the scrape size and nothing here queries them.
prom.disable_created_metrics()  # type: ignore[no-untyped-call]


class ServerMetrics:
    def __init__(self, model: str, version: str, role: str) -> None:
        self.registry = prom_registry.CollectorRegistry()
        labels = dict(zip(names.SERVER_LABELS, (model, version, role), strict=True))
        r = self.registry
        self._duration = prom.Histogram(
            names.METRIC_REQUEST_DURATION,
            "Time from receiving an infer request to its response being ready, in seconds.",
            names.SERVER_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._requests = prom.Counter(
            names.METRIC_REQUESTS,
            "Infer requests answered, by HTTP status code.",
            (*names.SERVER_LABELS, names.LABEL_CODE),
            registry=r,
        )
        self._in_flight = prom.Gauge(
            names.METRIC_IN_FLIGHT,
            "Infer requests being handled now.",
            names.SERVER_LABELS,
            registry=r,
        )
        self._feedback = prom.Counter(
            names.METRIC_FEEDBACK,
            "Predictions judged by client feedback, by whether they were correct.",
            (*names.SERVER_LABELS, names.LABEL_CORRECT),
            registry=r,
        )
        self._load = prom.Gauge(
            names.METRIC_MODEL_LOAD,
            "Seconds it took to load the model and run its warm-up inference.",
            names.SERVER_LABELS,
            registry=r,
        )
        self._batch = prom.Histogram(
            names.METRIC_BATCH_SIZE,
            "Rows in the session run that answered each infer request (1 when not batched).",
            names.SERVER_LABELS,
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self._queue = prom.Histogram(
            names.METRIC_QUEUE_DURATION,
            "Time an infer request waited for a worker and for its batch to fill, in seconds.",
            names.SERVER_LABELS,
            buckets=(0.0, *LATENCY_BUCKETS),
            registry=r,
        )
        self._labels = labels
        self.batch_size = self._batch.labels(**labels)
        self.queue_duration = self._queue.labels(**labels)
        self.duration = self._duration.labels(**labels)
        self.in_flight = self._in_flight.labels(**labels)
        self.model_load = self._load.labels(**labels)
        self._by_code: dict[int, prom.Counter] = {}
        self._correct = self._feedback.labels(**labels, **{names.LABEL_CORRECT: "true"})
        self._wrong = self._feedback.labels(**labels, **{names.LABEL_CORRECT: "false"})
        self._others: dict[tuple[str, str, bool], prom.Counter] = {}
        # Zero series from the start: rate() over a counter that appears mid-window
        # misses its first increment, and the analysis should see 0, not "no data".
        for code in (200, 400, 404, 500):
            self.requests(code)

    def batched(self, rows: int, waited: float) -> None:
        """One request answered by a run of `rows` rows after waiting `waited` seconds."""
        self.batch_size.observe(rows)
        self.queue_duration.observe(waited)

    def requests(self, code: int) -> prom.Counter:
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._requests.labels(**self._labels, **{names.LABEL_CODE: str(code)})
        return child

    def feedback(self, correct: bool, version: str | None = None, role: str | None = None) -> prom.Counter:
        """The feedback counter of the version and role that predicted (by default this server's).

        A token carries the predicting pod's version and role, so a pod counts feedback
        for predictions its peers made, under their labels; the signature bounds which
        values can appear.
        """
        own_version, own_role = self._labels["version"], self._labels["role"]
        if (version or own_version, role or own_role) == (own_version, own_role):
            return self._correct if correct else self._wrong
        key = (version or own_version, role or own_role, correct)
        child = self._others.get(key)
        if child is None:
            labels = {**self._labels, "version": key[0], "role": key[1]}
            child = self._others[key] = self._feedback.labels(**labels, **{names.LABEL_CORRECT: str(correct).lower()})
        return child

    def exposition(self) -> bytes:
        return prom.generate_latest(self.registry)
