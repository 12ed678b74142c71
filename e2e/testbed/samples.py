"""ModelDeployments for the local test bed: short steps and intervals so a rollout takes a minute."""

from __future__ import annotations

from typing import Any

from modelrollout import names


def model_deployment(
    name: str,
    namespace: str,
    version: str,
    uri: str,
    *,
    prometheus_url: str,
    max_latency_ms: float = 200.0,
    max_latency_ratio: float = 1.5,
    min_accuracy: float = 0.9,
    replicas: int = 2,
    accelerator: str = "cpu",
    candidates: list[dict[str, str]] | None = None,
    steps: list[dict[str, Any]] | None = None,
    compare_with: str | None = None,
    prometheus: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A sample: one latency (p90), error-rate and accuracy SLO, checked every 2 seconds."""
    body: dict[str, Any] = {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"name": "classifier", "version": version, "uri": uri},
            "optimization": {
                # The test bed's classifier is tiny: the reference and one quantized
                # variant keep the Job to seconds; `candidates: []` would measure all.
                "candidates": candidates
                if candidates is not None
                else [
                    {"runtime": "onnxruntime", "precision": "fp32", "method": "graph-opt"},
                    {"runtime": "onnxruntime", "precision": "int8", "method": "dynamic"},
                ],
                "evaluation": {"metric": "top1-agreement", "maxDrop": 0.02, "samples": 64},
            },
            "serving": {"replicas": replicas, "accelerator": accelerator},
            "rollout": {
                "steps": steps or [{"weight": 50, "pause": "6s"}, {"weight": 100, "pause": "2s"}],
                "progressDeadline": "10m",
                "analysis": {
                    # `prometheus`: how to connect (tls, auth, headers), beside the url.
                    "prometheus": {"url": prometheus_url, "timeout": "2s", **(prometheus or {})},
                    "interval": "2s",
                    "window": "10s",
                    "minSamples": 20,
                    "failureLimit": 2,
                    "inconclusiveLimit": 4,
                    "slos": {
                        # Judged against stable on the step's requests, at a confidence, so the
                        # tail is judged as in production and the bound follows the machine.
                        "latency": {"quantile": 0.9, "maxMs": max_latency_ms, "maxRatioToStable": max_latency_ratio},
                        "errorRate": {"max": 0.05},
                        "accuracy": {"min": min_accuracy, "minFeedback": 10},
                    },
                },
            },
        },
    }
    if compare_with is not None:
        body["spec"]["rollout"]["analysis"]["compareWith"] = compare_with
    return body
