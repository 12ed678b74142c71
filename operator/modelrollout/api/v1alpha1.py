"""ModelDeployment v1alpha1: spec and status.

These models are the single source of truth: `crds/modeldeployment.yaml` is generated
from them (`modelrollout crd`), and every cross-field rule below exists twice on
purpose, once as a pydantic validator (for the operator and unit tests) and once as a
CEL rule in `cel` metadata (for the API server, which must refuse bad specs before the
operator ever sees them). `tests/api/` runs the same table of invalid specs against
both.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, TypedDict

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from modelrollout.api import durations, optimization
from modelrollout.api.optimization import (
    CandidateResult,
    CandidateSpec,
    Metric,
    Objective,
    Runtime,
    SelectedArtifact,
)

Duration = durations.Duration
Accelerator = optimization.Accelerator  # one enum for the spec and the Job
URI_PATTERN: Final = r"^((file|pvc|https?|s3)://.+|models:/.+)$"
QUANTITY_PATTERN: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
SUCCESS_CONDITION_PATTERN: Final = r"^result\s*(<|<=|>|>=|==|!=)\s*-?[0-9]+(\.[0-9]+)?([eE]-?[0-9]+)?$"
MAX_STEPS: Final = 20
MAX_MEASUREMENTS: Final = 30
MAX_HISTORY: Final = 20


def cel(rule: str, message: str, *, field_path: str | None = None) -> JsonDict:
    """One `x-kubernetes-validations` entry."""
    entry: JsonDict = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )


# --------------------------------------------------------------------------------------
# spec.model


class ModelFormat(StrEnum):
    ONNX = "onnx"
    OPENVINO = "openvino"


# The served model's URI is copied into status (and so into Events and `kubectl get`):
# credentials written into it would be shown to everyone who may read the resource.
USERINFO_PATTERN: Final = r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@"
NO_USERINFO: Final = (
    "spec.model.uri: must not carry credentials (user:password@), which status and Events would show; "
    "give them to the pods through the operator's envFromSecret or workload identity"
)


class ModelSource(_Model):
    """Which model to deploy and where to fetch it."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.format != 'onnx' || !self.uri.endsWith('.xml')",
                    "spec.model.uri: an .xml file is OpenVINO IR; set format: openvino",
                    field_path=".uri",
                ),
                cel(f"!self.uri.matches('{USERINFO_PATTERN}')", NO_USERINFO, field_path=".uri"),
            ]
        }
    )

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$",
        description="Model name, used in labels and metrics (lower case, digits, '-', '.', '_').",
    )
    version: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$",
        description="Model version. A new version (or a new uri) starts a new rollout.",
    )
    uri: str = Field(
        min_length=1,
        max_length=2048,
        pattern=URI_PATTERN,
        description=(
            "Where the model is: file://, pvc://<claim>/<path>, http(s)://, s3://bucket/key, "
            "or an MLflow registry URI models:/<name>/<version> or models:/<name>@<alias>."
        ),
    )
    format: ModelFormat = Field(default=ModelFormat.ONNX, description="Format of the model at uri: onnx or openvino.")
    sha256: str | None = Field(
        default=None,
        pattern=r"^[a-f0-9]{64}$",
        description="Optional SHA-256 of the model file; the download is refused when it differs.",
    )

    @model_validator(mode="after")
    def _format_matches_uri(self) -> ModelSource:
        if self.format is ModelFormat.ONNX and self.uri.endswith(".xml"):
            raise ValueError("spec.model.uri: an .xml file is OpenVINO IR; set format: openvino")
        return self

    @model_validator(mode="after")
    def _no_credentials_in_uri(self) -> ModelSource:
        if re.match(USERINFO_PATTERN, self.uri):
            raise ValueError(NO_USERINFO)
        return self


# --------------------------------------------------------------------------------------
# spec.optimization


class DataSource(_Model):
    """A data set for calibration or evaluation: an .npz file with one array per model input."""

    uri: str = Field(
        pattern=URI_PATTERN,
        max_length=2048,
        description="URI of an .npz file: one array per model input (first axis = samples), 'labels' for accuracy.",
    )
    samples: int = Field(default=128, ge=1, le=100000, description="How many samples to use at most.")


class Evaluation(_Model):
    """How candidates are compared with the FP32 reference."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.metric != 'accuracy' || has(self.uri)",
                    "spec.optimization.evaluation.uri: metric accuracy needs labelled evaluation data",
                    field_path=".uri",
                ),
            ]
        }
    )

    uri: str | None = Field(
        default=None,
        pattern=URI_PATTERN,
        max_length=2048,
        description="Evaluation data (.npz). Without it, inputs are generated from the model's signature.",
    )
    samples: int = Field(default=256, ge=1, le=100000, description="How many samples to evaluate at most.")
    metric: Metric = Field(
        default=Metric.COSINE,
        description="accuracy (labelled), top1-agreement (argmax agrees with FP32) or cosine (output similarity).",
    )
    max_drop: float = Field(
        default=0.01, ge=0.0, le=1.0, description="Accuracy budget: the largest allowed drop from the FP32 reference."
    )

    @model_validator(mode="after")
    def _accuracy_needs_labels(self) -> Evaluation:
        if self.metric is Metric.ACCURACY and self.uri is None:
            raise ValueError("spec.optimization.evaluation.uri: metric accuracy needs labelled evaluation data")
        return self


class Optimization(_Model):
    """How the optimization Job builds and judges candidates."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.candidates.all(c, self.candidates.filter(d, d.runtime == c.runtime && "
                    "d.precision == c.precision && d.method == c.method).size() == 1)",
                    "spec.optimization.candidates: each candidate may be listed once",
                    field_path=".candidates",
                ),
            ]
        }
    )

    enabled: bool = Field(default=True, description="Run the optimization Job. False serves the model as it is.")
    candidates: list[CandidateSpec] = Field(
        default_factory=list,
        max_length=16,
        description="Candidates to build and measure. Empty (the default) means auto: chosen from the accelerator.",
    )
    calibration: DataSource | None = Field(default=None, description="Calibration data for static quantization.")
    evaluation: Evaluation = Field(default_factory=Evaluation, description="How accuracy is judged.")
    benchmark_batch: int = Field(default=32, ge=1, le=4096, description="Batch size for the throughput benchmark.")
    timeout: Duration = Field(
        default=timedelta(minutes=30),
        description="Deadline of the optimization Job: the search tries candidates by expected gain and "
        "skips, with a reason, the ones that would not finish in time.",
    )
    objective: Objective = Field(
        default=Objective.THROUGHPUT,
        description="What the winner maximizes inside the accuracy budget: throughput (per replica at the "
        "benchmark batch), latency (lowest p99 at batch 1) or cost (per million inferences on the pool).",
    )
    max_latency_ms: float | None = Field(
        default=None,
        gt=0.0,
        le=3_600_000.0,
        description="Optional bound on the p99 latency at batch 1, in milliseconds, that the winner must meet.",
    )
    backoff_limit: int = Field(default=1, ge=0, le=10, description="Retries of a failed optimization pod.")

    @model_validator(mode="after")
    def _unique_candidates(self) -> Optimization:
        keys = [c.key for c in self.candidates]
        if len(keys) != len(set(keys)):
            raise ValueError("spec.optimization.candidates: each candidate may be listed once")
        return self


# --------------------------------------------------------------------------------------
# spec.serving


class Resources(_Model):
    """Compute resources of the inference container (Kubernetes quantities)."""

    requests: dict[str, Annotated[str, Field(pattern=QUANTITY_PATTERN)]] = Field(
        default_factory=dict, description="Requested resources, e.g. cpu: 500m, memory: 1Gi."
    )
    limits: dict[str, Annotated[str, Field(pattern=QUANTITY_PATTERN)]] = Field(
        default_factory=dict, description="Resource limits. Extended resources (GPUs) are added from the node pool."
    )


class Batching(_Model):
    """Adaptive batching: concurrent requests gathered into one run of the model."""

    max_batch_size: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Most rows in one run; 1 turns batching off. Default: spec.optimization.benchmarkBatch, "
        "the batch the optimizer measured throughput at. A model without a dynamic first dimension on every "
        "input and output is never batched.",
    )
    max_delay: Duration = Field(
        default=timedelta(0),
        description="How long a free worker waits for a batch to fill. 0ms: never waits; a batch is what "
        "queued while the workers were busy, so an idle server adds no latency.",
    )


class Serving(_Model):
    """Where and how the inference server runs."""

    replicas: int = Field(default=2, ge=1, le=1000, description="Replicas of the stable version at full traffic.")
    accelerator: Accelerator = Field(
        default=Accelerator.CPU, description="cpu, nvidia-gpu, intel-gpu or npu; mapped to a node pool profile."
    )
    node_pool: str | None = Field(
        default=None,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Pin a node pool profile by name (defaults to the accelerator's profile).",
    )
    resources: Resources = Field(default_factory=Resources, description="Requests and limits of the server container.")
    image: str | None = Field(
        default=None, max_length=512, description="Server image; defaults to the operator's own image."
    )
    batching: Batching = Field(default_factory=Batching, description="Adaptive batching of concurrent requests.")


# --------------------------------------------------------------------------------------
# spec.rollout


class Step(_Model):
    """One canary step: send `weight` percent of traffic to the new version, then wait."""

    weight: int = Field(ge=1, le=100, description="Percent of traffic for the canary (1-100).")
    pause: Duration | None = Field(
        default=None,
        description="How long the step lasts while analysis runs. Empty: until analysis has minSamples passes.",
    )


class Router(StrEnum):
    REPLICAS = "replicas"
    GATEWAY_API = "gateway-api"


class ParentRef(_Model):
    """A Gateway the HTTPRoute attaches to."""

    name: str = Field(min_length=1, max_length=253, description="Gateway name.")
    namespace: str | None = Field(default=None, max_length=63, description="Gateway namespace (default: the route's).")
    section_name: str | None = Field(default=None, max_length=253, description="Listener name on the Gateway.")


class GatewayRouting(_Model):
    """HTTPRoute settings for the gateway-api router."""

    parent_refs: list[ParentRef] = Field(min_length=1, max_length=8, description="Gateways to attach the route to.")
    hostnames: list[str] = Field(default_factory=list, max_length=16, description="Hostnames the route matches.")


class Traffic(_Model):
    """How the traffic split between stable and canary is carried."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.router != 'gateway-api' || has(self.gateway)",
                    "spec.rollout.traffic.gateway: router gateway-api needs gateway.parentRefs",
                    field_path=".gateway",
                ),
            ]
        }
    )

    router: Router = Field(
        default=Router.REPLICAS,
        description="replicas: the split follows replica counts behind one Service; gateway-api: HTTPRoute weights.",
    )
    gateway: GatewayRouting | None = Field(default=None, description="Gateway API settings (router gateway-api).")

    @model_validator(mode="after")
    def _gateway_needs_parents(self) -> Traffic:
        if self.router is Router.GATEWAY_API and self.gateway is None:
            raise ValueError("spec.rollout.traffic.gateway: router gateway-api needs gateway.parentRefs")
        return self


SECRET_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"  # a DNS subdomain, as Secrets and ConfigMaps are named
DATA_KEY_PATTERN: Final = r"^[-._a-zA-Z0-9]+$"  # a key of a Secret's or ConfigMap's data
# An HTTP field name is a token (RFC 9110 5.1); anything else a proxy may drop or split.
HEADER_NAME_PATTERN: Final = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
MAX_HEADERS: Final = 16


class KeyRef(_Model):
    """One key of a Secret or ConfigMap in the ModelDeployment's namespace."""

    name: str = Field(min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN, description="Object name.")
    key: str = Field(min_length=1, max_length=253, pattern=DATA_KEY_PATTERN, description="Key in its data.")


class SecretRef(_Model):
    name: str = Field(min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN, description="Secret name.")


class PrometheusTLS(_Model):
    """How the Prometheus server's certificate is verified. Verified against the system CAs by default."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!(has(self.caSecretRef) && has(self.caConfigMapRef))",
                    "spec.rollout.analysis.prometheus.tls: set caSecretRef or caConfigMapRef, not both",
                    field_path=".caConfigMapRef",
                ),
                cel(
                    "!(has(self.insecureSkipVerify) && self.insecureSkipVerify) || "
                    "!(has(self.caSecretRef) || has(self.caConfigMapRef) || has(self.serverName))",
                    "spec.rollout.analysis.prometheus.tls.insecureSkipVerify: verification is off, "
                    "so a CA or serverName would be ignored; drop one or the other",
                    field_path=".insecureSkipVerify",
                ),
            ]
        }
    )

    ca_secret_ref: KeyRef | None = Field(
        default=None, description="A Secret key holding the PEM CA bundle that signed the server's certificate."
    )
    ca_config_map_ref: KeyRef | None = Field(
        default=None, description="A ConfigMap key holding the PEM CA bundle (e.g. a cluster's service CA)."
    )
    insecure_skip_verify: bool = Field(
        default=False, description="Do not verify the server's certificate at all. For tests only."
    )
    server_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$",
        description="The name the certificate must carry, when it differs from the url's host.",
    )

    @model_validator(mode="after")
    def _one_ca_and_verified(self) -> PrometheusTLS:
        if self.ca_secret_ref is not None and self.ca_config_map_ref is not None:
            raise ValueError("spec.rollout.analysis.prometheus.tls: set caSecretRef or caConfigMapRef, not both")
        if self.insecure_skip_verify and (self.ca_secret_ref or self.ca_config_map_ref or self.server_name):
            raise ValueError(
                "spec.rollout.analysis.prometheus.tls.insecureSkipVerify: verification is off, "
                "so a CA or serverName would be ignored; drop one or the other"
            )
        return self


class BasicAuth(_Model):
    """HTTP basic authentication, with the user name and password from one Secret."""

    secret_ref: SecretRef = Field(description="The Secret holding both.")
    username_key: str = Field(
        default="username", min_length=1, max_length=253, pattern=DATA_KEY_PATTERN, description="Key of the user name."
    )
    password_key: str = Field(
        default="password", min_length=1, max_length=253, pattern=DATA_KEY_PATTERN, description="Key of the password."
    )


ONE_AUTH: Final = (
    "spec.rollout.analysis.prometheus.auth: set one of bearerTokenSecretRef, serviceAccountToken or basicAuth"
)


class PrometheusAuth(_Model):
    """How the operator authenticates to Prometheus: one method."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "(has(self.bearerTokenSecretRef) ? 1 : 0) + "
                    "(has(self.serviceAccountToken) && self.serviceAccountToken ? 1 : 0) + "
                    "(has(self.basicAuth) ? 1 : 0) == 1",
                    ONE_AUTH,
                ),
            ]
        }
    )

    bearer_token_secret_ref: KeyRef | None = Field(
        default=None, description="A Secret key holding a bearer token, sent as 'Authorization: Bearer <token>'."
    )
    service_account_token: bool = Field(
        default=False,
        description="Send the operator pod's own service account token as a bearer token (read at each check, "
        "so a rotated token is picked up), e.g. for a Thanos querier behind kube-rbac-proxy.",
    )
    basic_auth: BasicAuth | None = Field(default=None, description="User name and password from a Secret.")

    @model_validator(mode="after")
    def _exactly_one(self) -> PrometheusAuth:
        chosen = [self.bearer_token_secret_ref is not None, self.service_account_token, self.basic_auth is not None]
        if sum(chosen) != 1:
            raise ValueError(ONE_AUTH)
        return self


class Header(_Model):
    """One extra request header."""

    name: str = Field(
        min_length=1, max_length=256, pattern=HEADER_NAME_PATTERN, description="Header name, e.g. X-Scope-OrgID."
    )
    value: str = Field(max_length=4096, pattern=r"^[^\r\n]*$", description="Header value, one line.")


class Prometheus(_Model):
    """Where the analysis queries, and how it connects: TLS, authentication, extra headers."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.url.startsWith('https://') || !has(self.tls)",
                    "spec.rollout.analysis.prometheus.tls: TLS settings need an https:// url",
                    field_path=".tls",
                ),
                cel(
                    "self.headers.all(h, "
                    "self.headers.filter(g, g.name.lowerAscii() == h.name.lowerAscii()).size() == 1)",
                    "spec.rollout.analysis.prometheus.headers: each header may be listed once",
                    field_path=".headers",
                ),
                cel(
                    "!self.headers.exists(h, h.name.lowerAscii() == 'authorization')",
                    "spec.rollout.analysis.prometheus.headers: set Authorization through auth, "
                    "so that its secret stays in a Secret",
                    field_path=".headers",
                ),
            ]
        }
    )

    url: str = Field(pattern=r"^https?://.+", max_length=2048, description="Base URL of the Prometheus HTTP API.")
    timeout: Duration = Field(default=timedelta(seconds=10), description="Timeout of one query.")
    tls: PrometheusTLS | None = Field(
        default=None, description="Certificate verification of an https:// url (default: verified, system CAs)."
    )
    auth: PrometheusAuth | None = Field(default=None, description="Authentication (default: none).")
    # A list of named entries, not a map: a map's keys cannot carry a schema (no length
    # bound, no pattern), and the API server merges a list by name all the same.
    headers: list[Header] = Field(
        default_factory=list,
        max_length=MAX_HEADERS,
        description="Extra request headers, e.g. X-Scope-OrgID for Mimir or Cortex. Not for secrets: use auth.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _coherent(self) -> Prometheus:
        if self.tls is not None and not self.url.startswith("https://"):
            raise ValueError("spec.rollout.analysis.prometheus.tls: TLS settings need an https:// url")
        names = [h.name.lower() for h in self.headers]
        if len(names) != len(set(names)):
            raise ValueError("spec.rollout.analysis.prometheus.headers: each header may be listed once")
        if "authorization" in names:
            raise ValueError(
                "spec.rollout.analysis.prometheus.headers: set Authorization through auth, "
                "so that its secret stays in a Secret"
            )
        return self


class LatencySLO(_Model):
    """The canary's latency quantile must stay under a bound (and, optionally, near stable's).

    Both are judged on confidence intervals over the step's requests, not on one window's value.
    """

    quantile: float = Field(default=0.99, gt=0.0, lt=1.0, description="Latency quantile, in (0, 1).")
    max_ms: float = Field(gt=0.0, description="Upper bound of that quantile, in milliseconds.")
    max_ratio_to_stable: float | None = Field(
        default=None,
        gt=1.0,
        description="Optional: the largest tolerated ratio of canary's quantile to stable's (e.g. 1.2).",
    )


class ErrorRateSLO(_Model):
    max: float = Field(ge=0.0, le=1.0, description="Largest allowed share of failed requests, in [0, 1].")
    max_increase_to_stable: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Optional: the largest tolerated increase of the error share over stable's, in [0, 1].",
    )


class AccuracySLO(_Model):
    min: float = Field(ge=0.0, le=1.0, description="Smallest allowed online accuracy from feedback, in [0, 1].")
    min_feedback: int = Field(default=20, ge=1, description="Fewer feedback events than this: inconclusive.")
    max_drop_to_stable: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Optional: the accuracy the canary may lose against stable's, in [0, 1] (0.01 is one point).",
    )


class SLOs(_Model):
    latency: LatencySLO | None = Field(default=None, description="Latency quantile bound.")
    error_rate: ErrorRateSLO | None = Field(default=None, description="Error-rate bound.")
    accuracy: AccuracySLO | None = Field(default=None, description="Online accuracy bound from prediction feedback.")


class CustomMetric(_Model):
    """A PromQL query of your own; `{{version}}`, `{{model}}`, `{{namespace}}` and `{{window}}` are filled in."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$", description="Name.")
    query: str = Field(min_length=1, max_length=4096, description="PromQL returning one scalar or one series.")
    success_condition: str = Field(
        pattern=SUCCESS_CONDITION_PATTERN,
        description="Comparison of the query's result with a number, e.g. 'result < 0.05'.",
    )


class CompareWith(StrEnum):
    """Whose series the canary is judged against."""

    STABLE = "stable"  # the stable Deployment's pods: no extra pods, but warm against cold
    BASELINE = "baseline"  # fresh pods of the stable version at the canary's size (Kayenta's way)


# An analysis that checks nothing would promote ungated; leave `analysis` out to mean "no analysis".
NO_CHECKS: Final = (
    "spec.rollout.analysis.slos: an analysis needs at least one SLO (latency, errorRate, accuracy) or metric; "
    "leave analysis out to advance on pauses alone"
)


class Analysis(_Model):
    """Gates on every step: SLO queries against Prometheus."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.metrics.all(m, self.metrics.filter(n, n.name == m.name).size() == 1)",
                    "spec.rollout.analysis.metrics: metric names must be unique",
                    field_path=".metrics",
                ),
                cel(
                    "self.metrics.size() > 0 || (has(self.slos) && "
                    "(has(self.slos.latency) || has(self.slos.errorRate) || has(self.slos.accuracy)))",
                    NO_CHECKS,
                    field_path=".slos",
                ),
            ]
        }
    )

    prometheus: Prometheus = Field(description="Where to query.")
    interval: Duration = Field(
        default=timedelta(seconds=30), description="Time between two checks (looks at the step's evidence)."
    )
    window: Duration = Field(default=timedelta(minutes=1), description="The {{window}} of custom metric queries.")
    failure_limit: int = Field(default=2, ge=1, le=100, description="Failed checks before rollback.")
    inconclusive_limit: int = Field(
        default=5, ge=1, le=1000, description="Consecutive errored checks (no answer) before the rollout pauses."
    )
    min_samples: int = Field(
        default=50, ge=1, description="Fewer requests than this in the step (either version): inconclusive."
    )
    confidence: float = Field(
        default=0.99,
        ge=0.5,
        lt=1.0,
        description="How sure a verdict must be, per check and step, over all of the step's looks.",
    )
    max_step_extension: Duration = Field(
        default=timedelta(minutes=10),
        description="How long a step may run past its pause while the evidence is inconclusive; then Paused.",
    )
    compare_with: CompareWith = Field(
        default=CompareWith.STABLE,
        description=(
            "What the canary is compared with. stable: the stable pods' series. baseline: a <name>-baseline "
            "Deployment of the stable version, as many replicas as the canary, started with it and given the "
            "same share of traffic, so new cold pods are not judged against old warm ones; removed when the "
            "rollout ends. With baseline, every step but the last (100) has a weight of at most 50."
        ),
    )
    slos: SLOs = Field(default_factory=SLOs, description="Built-in SLOs on the inference server's metrics.")
    metrics: list[CustomMetric] = Field(default_factory=list, max_length=16, description="Custom PromQL checks.")

    @model_validator(mode="after")
    def _unique_metric_names(self) -> Analysis:
        names = [m.name for m in self.metrics]
        if len(names) != len(set(names)):
            raise ValueError("spec.rollout.analysis.metrics: metric names must be unique")
        return self

    @model_validator(mode="after")
    def _something_to_check(self) -> Analysis:
        slos = self.slos
        if not self.metrics and slos.latency is None and slos.error_rate is None and slos.accuracy is None:
            raise ValueError(NO_CHECKS)
        return self


# The baseline takes as much traffic as the canary, out of stable's share.
BASELINE_WEIGHTS: Final = (
    "spec.rollout.steps: with analysis.compareWith baseline, every step but the last (100) has a weight of at "
    "most 50, since the baseline takes as much traffic as the canary"
)


def _default_steps() -> list[Step]:
    return [Step(weight=10, pause="1m"), Step(weight=50, pause="2m"), Step(weight=100)]


class Rollout(_Model):
    """How a new version goes from zero to all traffic."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.steps.map(s, s.weight).isSorted() && "
                    "self.steps.all(s, self.steps.filter(t, t.weight == s.weight).size() == 1)",
                    "spec.rollout.steps: weights must be strictly ascending",
                    field_path=".steps",
                ),
                cel(
                    "self.steps[self.steps.size() - 1].weight == 100",
                    "spec.rollout.steps: the last step's weight must be 100",
                    field_path=".steps",
                ),
                cel(
                    "!has(self.analysis) || !has(self.analysis.compareWith) || "
                    "self.analysis.compareWith != 'baseline' || self.steps.all(s, s.weight <= 50 || s.weight == 100)",
                    BASELINE_WEIGHTS,
                    field_path=".steps",
                ),
            ]
        }
    )

    steps: list[Step] = Field(
        default_factory=_default_steps,
        min_length=1,
        max_length=MAX_STEPS,
        description="Traffic steps, weights strictly ascending and ending at 100.",
    )
    traffic: Traffic = Field(default_factory=Traffic, description="How the split is carried.")
    analysis: Analysis | None = Field(
        default=None, description="SLO gates. Without it, each step only waits for its pause."
    )
    progress_deadline: Duration = Field(
        default=timedelta(minutes=30),
        description=(
            "A rollout not done after this is reported stuck (condition and metric); a canary whose pods are "
            "not ready for this long (crash-looping, unschedulable) is rolled back."
        ),
    )

    @model_validator(mode="after")
    def _steps_ascending_to_100(self) -> Rollout:
        weights = [s.weight for s in self.steps]
        if any(b <= a for a, b in itertools.pairwise(weights)):
            raise ValueError("spec.rollout.steps: weights must be strictly ascending")
        if weights[-1] != 100:
            raise ValueError("spec.rollout.steps: the last step's weight must be 100")
        return self

    @model_validator(mode="after")
    def _baseline_fits_beside_the_canary(self) -> Rollout:
        baseline = self.analysis is not None and self.analysis.compare_with is CompareWith.BASELINE
        if baseline and any(50 < s.weight < 100 for s in self.steps):
            raise ValueError(BASELINE_WEIGHTS)
        return self


class ModelDeploymentSpec(_Model):
    """Which model, how to optimize it, where it may run and how to roll it out."""

    model: ModelSource = Field(description="The model and where to fetch it.")
    optimization: Optimization = Field(default_factory=Optimization, description="The optimization Job.")
    serving: Serving = Field(default_factory=Serving, description="Inference pods.")
    rollout: Rollout = Field(default_factory=Rollout, description="Canary steps and analysis.")


# --------------------------------------------------------------------------------------
# status


class Phase(StrEnum):
    PENDING = "Pending"
    OPTIMIZING = "Optimizing"
    DEPLOYING = "Deploying"
    CANARY = "Canary"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


class ConditionType(StrEnum):
    READY = "Ready"  # the stable version serves all traffic it should, at the current spec
    PROGRESSING = "Progressing"  # a rollout is under way
    DEGRADED = "Degraded"  # the last rollout failed or was rolled back
    OPTIMIZED = "Optimized"  # the current revision's optimization finished
    SCHEDULABLE = "Schedulable"  # some node can host the target pool
    ANALYSIS_HEALTHY = "AnalysisHealthy"  # the last analysis check passed
    RECONCILED = "Reconciled"  # False while the API server refuses a change (403, 422)
    AUTOSCALED = "Autoscaled"  # True while an HPA owns the stable Deployment's replicas


class Outcome(StrEnum):
    """How one version's rollout ended, as kept in `status.history`."""

    DEPLOYED = "Deployed"  # the first version, stable directly (nothing to compare with)
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"  # by the analysis or the progress deadline
    ABORTED = "Aborted"  # by a person
    FAILED = "Failed"  # the optimization failed
    SUPERSEDED = "Superseded"  # a newer version replaced it before promotion
    CANCELLED = "Cancelled"  # the spec went back to the stable version


class PauseReason(StrEnum):
    NONE = ""
    MANUAL = "Manual"  # the pause annotation
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"  # too many checks in a row without a verdict


class Condition(_Model):
    type: str = Field(description="Condition type.")
    status: str = Field(pattern=r"^(True|False|Unknown)$", description="True, False or Unknown.")
    reason: str = Field(default="", max_length=1024, description="CamelCase reason.")
    message: str = Field(default="", max_length=32768, description="Human-readable detail.")
    last_transition_time: datetime | None = Field(default=None, description="When status last changed.")
    observed_generation: int | None = Field(default=None, description="Generation this condition describes.")


class VersionRef(_Model):
    """A deployed version: what the inference server of one role runs."""

    version: str = Field(description="Model version.")
    revision: str = Field(description="Hash of the model and optimization spec that produced it.")
    runtime: Runtime = Field(default=Runtime.ONNXRUNTIME, description="Runtime of the artifact.")
    uri: str = Field(description="URI of the (optimized) artifact the server loads.")
    sha256: str | None = Field(
        default=None,
        pattern=r"^[a-f0-9]{64}$",
        description="SHA-256 of the artifact's model file; the server verifies it before loading.",
    )


class OptimizationStatus(_Model):
    revision: str = Field(default="", description="Revision the report belongs to.")
    job: str = Field(default="", description="Name of the optimization Job.")
    attempt: int = Field(
        default=1, ge=1, description="Attempt at optimizing this revision; a retry after a failure adds one."
    )
    succeeded: bool | None = Field(default=None, description="Outcome; empty while running.")
    reason: str = Field(default="", description="Failure reason.")
    selected: SelectedArtifact | None = Field(default=None, description="The winning candidate.")
    candidates: list[CandidateResult] = Field(default_factory=list, description="Every candidate measured.")


class Result(StrEnum):
    """The verdict of one check, or of a round of checks (its worst)."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class IntervalOf(StrEnum):
    """What a measurement's interval bounds: the one its verdict rested on."""

    VALUE = "value"  # the canary's own estimate, in the value's unit (ms, share)
    EFFECT = "effect"  # the canary against stable: a ratio (latency) or a difference (shares)


class Measurement(_Model):
    """One check at one look: the estimates, the interval the verdict rests on, and the verdict."""

    at: datetime = Field(description="When it was taken.")
    step: int = Field(description="Step index it belongs to.")
    check: str = Field(description="SLO or custom metric name.")
    result: Result = Field(description="pass, fail, inconclusive or error.")
    value: float | None = Field(default=None, description="Canary's estimate (ms, share, or the query's value).")
    stable_value: float | None = Field(
        default=None, description="Estimate of what the canary was compared with (stable or baseline), when compared."
    )
    effect: float | None = Field(
        default=None, description="Ratio (latency) or difference (shares) to stable (or the baseline)."
    )
    low: float | None = Field(default=None, description="Lower bound of the judged interval.")
    high: float | None = Field(default=None, description="Upper bound of the judged interval (absent: unbounded).")
    interval_of: IntervalOf | None = Field(
        default=None, description="What low and high bound: value (the canary's estimate) or effect (against stable)."
    )
    samples: float | None = Field(default=None, description="Canary requests or feedback events in the step.")
    stable_samples: float | None = Field(
        default=None, description="Stable's (or the baseline's), in the same time range."
    )
    confidence: float | None = Field(default=None, description="Confidence of the verdict, for the whole step.")
    message: str = Field(default="", max_length=1024, description="Why, in words.")


class AnalysisStatus(_Model):
    last_check: datetime | None = Field(default=None, description="Time of the last check.")
    last_result: Result | None = Field(default=None, description="The last round's result (its worst check).")
    last_sufficient: bool = Field(
        default=False, description="Every check of the last round had its floor of events (minSamples, minFeedback)."
    )
    failed_checks: int = Field(default=0, description="Failed checks of the current rollout.")
    inconclusive_checks: int = Field(default=0, description="Consecutive errored checks.")
    passed_checks: int = Field(default=0, description="Passed checks in the current step.")
    step_looks: int = Field(default=0, description="Looks at the current step's evidence so far.")
    compared_with: CompareWith | None = Field(
        default=None,
        description="stable or baseline: whose series the last round compared the canary with; "
        "empty when it judged absolute bounds only (all traffic on the canary).",
    )
    measurements: list[Measurement] = Field(default_factory=list, description="Latest measurements, bounded.")


class HistoryEntry(_Model):
    version: str = Field(description="Model version.")
    revision: str = Field(description="Revision hash.")
    outcome: Outcome = Field(
        description="Deployed (first version), Promoted, RolledBack, Aborted, Failed, Superseded or Cancelled."
    )
    at: datetime = Field(description="When.")
    reason: str = Field(default="", max_length=1024, description="Why.")


class ModelDeploymentStatus(_Model):
    """What the operator observed and decided. Written only by the operator."""

    # Other writers (Kopf's own bookkeeping) may leave keys here; reading must survive them.
    model_config = ConfigDict(extra="ignore")

    observed_generation: int | None = Field(default=None, description="Generation of the spec last acted upon.")
    phase: Phase = Field(default=Phase.PENDING, description="Where the rollout stands.")
    conditions: list[Condition] = Field(default_factory=list, description="Kubernetes-style conditions.")
    message: str = Field(default="", max_length=4096, description="What is happening, in one line.")
    target_revision: str = Field(default="", description="Revision (hash of model and optimization spec) wanted now.")
    stable: VersionRef | None = Field(default=None, description="The version serving as stable.")
    canary: VersionRef | None = Field(default=None, description="The version being rolled out.")
    stable_version: str = Field(default="", description="Stable model version (for printer columns).")
    canary_version: str = Field(default="", description="Canary model version (for printer columns).")
    canary_weight: int = Field(default=0, ge=0, le=100, description="Percent of traffic on the canary now.")
    current_step: int | None = Field(default=None, description="Index of the current step.")
    step_started_at: datetime | None = Field(default=None, description="When the current step began.")
    pause_reason: PauseReason = Field(
        default=PauseReason.NONE, description="Why the rollout is paused: Manual or AnalysisInconclusive."
    )
    rollout_started_at: datetime | None = Field(default=None, description="When the current rollout began.")
    phase_started_at: datetime | None = Field(default=None, description="When the current phase began.")
    canary_unready_since: datetime | None = Field(
        default=None,
        description="Since when the canary has lacked ready pods; past the progress deadline it is rolled back.",
    )
    optimization: OptimizationStatus | None = Field(default=None, description="Result of the optimization Job.")
    analysis: AnalysisStatus = Field(default_factory=AnalysisStatus, description="Canary analysis.")
    rolled_back_revisions: list[str] = Field(
        default_factory=list, description="Revisions rolled back; not retried until the spec changes or a retry."
    )
    handled_controls: dict[str, str] = Field(
        default_factory=dict, description="Annotation values of day-2 controls already acted upon."
    )
    history: list[HistoryEntry] = Field(default_factory=list, description="Recent rollout outcomes, newest last.")


class StatusChanges(TypedDict, total=False):
    """The fields of `ModelDeploymentStatus` as keyword arguments, so that mypy checks every
    change the core makes (names and types); a test keeps the two in step."""

    observed_generation: int | None
    phase: Phase
    conditions: list[Condition]
    message: str
    target_revision: str
    stable: VersionRef | None
    canary: VersionRef | None
    stable_version: str
    canary_version: str
    canary_weight: int
    current_step: int | None
    step_started_at: datetime | None
    pause_reason: PauseReason
    rollout_started_at: datetime | None
    phase_started_at: datetime | None
    canary_unready_since: datetime | None
    optimization: OptimizationStatus | None
    analysis: AnalysisStatus
    rolled_back_revisions: list[str]
    handled_controls: dict[str, str]
    history: list[HistoryEntry]


class ModelDeployment(_Model):
    """An ML model taken to production: optimized, placed on a node pool, canaried on SLOs."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = Field(default="modelrollout.io/v1alpha1", alias="apiVersion")
    kind: str = Field(default="ModelDeployment")
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus = Field(default_factory=ModelDeploymentStatus)
