"""Names that several parts share: API coordinates, labels, annotations, metric names.

The analysis queries, the PrometheusRule, the Grafana dashboard, the docs and the
builders all read these; `tests/test_names.py` fails when one of them drifts.
"""

from __future__ import annotations

from typing import Final

# --- API coordinates -------------------------------------------------------------------
GROUP: Final = "modelrollout.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "ModelDeployment"
PLURAL: Final = "modeldeployments"
SINGULAR: Final = "modeldeployment"
SHORT_NAMES: Final = ("mdep",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

# --- Labels on every child -------------------------------------------------------------
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_VERSION: Final = f"{GROUP}/version"
LABEL_ROLE: Final = f"{GROUP}/role"
APP_NAME: Final = "modelrollout"
MANAGER: Final = "modelrollout"

ROLE_STABLE: Final = "stable"
ROLE_CANARY: Final = "canary"
# Pods of the stable version started beside the canary, at its size, so the analysis
# compares fresh pods with fresh pods (analysis.compareWith: baseline).
ROLE_BASELINE: Final = "baseline"
ROLES: Final = (ROLE_STABLE, ROLE_CANARY, ROLE_BASELINE)

COMPONENT_SERVER: Final = "inference-server"
COMPONENT_OPTIMIZER: Final = "optimizer"

# --- Day-2 controls (annotations a person sets with kubectl) ----------------------------
# The value of each is free text (a reason, a timestamp); the operator acts once per
# distinct value and records the handled value in status, so re-applying is harmless.
ANNOTATION_PROMOTE: Final = f"{GROUP}/promote"
ANNOTATION_ABORT: Final = f"{GROUP}/abort"
ANNOTATION_PAUSE: Final = f"{GROUP}/paused"
ANNOTATION_RETRY: Final = f"{GROUP}/retry"
ANNOTATION_RESUME: Final = f"{GROUP}/resume"  # one-shot: lifts a pause for lack of evidence too
CONTROL_ANNOTATIONS: Final = (
    ANNOTATION_PROMOTE,
    ANNOTATION_ABORT,
    ANNOTATION_PAUSE,
    ANNOTATION_RETRY,
    ANNOTATION_RESUME,
)

# --- Inference server metrics (labelled model, version, role) --------------------------
METRIC_REQUEST_DURATION: Final = "modelrollout_inference_request_duration_seconds"
METRIC_REQUESTS: Final = "modelrollout_inference_requests_total"
METRIC_IN_FLIGHT: Final = "modelrollout_inference_in_flight"
METRIC_FEEDBACK: Final = "modelrollout_inference_feedback_total"
METRIC_MODEL_LOAD: Final = "modelrollout_model_load_seconds"
METRIC_BATCH_SIZE: Final = "modelrollout_inference_batch_size"
METRIC_QUEUE_DURATION: Final = "modelrollout_inference_queue_duration_seconds"
SERVER_LABELS: Final = ("model", "version", "role")
LABEL_CODE: Final = "code"
LABEL_CORRECT: Final = "correct"

# --- Operator metrics (labelled namespace, name) ---------------------------------------
METRIC_ROLLOUT_PHASE: Final = "modelrollout_rollout_phase"
METRIC_CANARY_WEIGHT: Final = "modelrollout_canary_weight"
METRIC_ANALYSIS_CHECKS: Final = "modelrollout_analysis_checks_total"
METRIC_ROLLBACKS: Final = "modelrollout_rollbacks_total"
METRIC_OPTIMIZATION_SECONDS: Final = "modelrollout_optimization_seconds"
METRIC_RECONCILE_DURATION: Final = "modelrollout_reconcile_duration_seconds"
METRIC_API_REQUESTS: Final = "modelrollout_api_requests_total"
METRIC_PHASE_SECONDS: Final = "modelrollout_phase_duration_seconds"
OPERATOR_LABELS: Final = ("namespace", "name")
# Added for alerting: the optimization Job's outcome (labels namespace, name, result =
# succeeded|failed; both exported at 0 when a resource is first seen, so that
# increase() sees the first failure), and the rollout's age against its budget (gauges,
# labels namespace, name): seconds since the current rollout began, and the spec's
# progressDeadline in seconds.
METRIC_OPTIMIZATIONS: Final = "modelrollout_optimizations_total"
METRIC_ROLLOUT_DURATION: Final = "modelrollout_rollout_duration_seconds"
METRIC_PROGRESS_DEADLINE: Final = "modelrollout_progress_deadline_seconds"
OPTIMIZATION_RESULTS: Final = ("succeeded", "failed")
CHECK_RESULTS: Final = ("pass", "fail", "inconclusive", "error")

# --- Operator process (set by manifests/operator/deployment.yaml) ----------------------
ENV_POD_NAME: Final = "MODELROLLOUT_POD_NAME"  # replicas derive distinct peering priorities from it
ENV_CONFIG: Final = "MODELROLLOUT_CONFIG"  # path of the operator's configuration file
PEERING_NAME: Final = "modelrollout"  # the ClusterKopfPeering replicas join (--peering)
OPERATOR_METRICS_PORT: Final = 8080
OPERATOR_LIVENESS_PORT: Final = 8081
OPERATOR_LIVENESS_PATH: Final = "/healthz"

# --- Inference server environment (pods are configured by env) -------------------------
ENV_MODEL_NAME: Final = "MODELROLLOUT_MODEL_NAME"
ENV_MODEL_VERSION: Final = "MODELROLLOUT_MODEL_VERSION"
ENV_MODEL_URI: Final = "MODELROLLOUT_MODEL_URI"
ENV_RUNTIME: Final = "MODELROLLOUT_RUNTIME"
ENV_DEVICE: Final = "MODELROLLOUT_DEVICE"
ENV_ROLE: Final = "MODELROLLOUT_ROLE"
ENV_PORT: Final = "MODELROLLOUT_PORT"
ENV_HOST: Final = "MODELROLLOUT_HOST"
ENV_THREADS: Final = "MODELROLLOUT_THREADS"
ENV_WORKERS: Final = "MODELROLLOUT_WORKERS"
ENV_MAX_BODY_BYTES: Final = "MODELROLLOUT_MAX_BODY_BYTES"
ENV_FEEDBACK_WINDOW_SECONDS: Final = "MODELROLLOUT_FEEDBACK_WINDOW_SECONDS"
ENV_FEEDBACK_MAX_PENDING: Final = "MODELROLLOUT_FEEDBACK_MAX_PENDING"
ENV_SHUTDOWN_TIMEOUT_SECONDS: Final = "MODELROLLOUT_SHUTDOWN_TIMEOUT_SECONDS"
# After SIGTERM: not ready, yet still answering, while routers drop the endpoint.
ENV_DRAIN_SECONDS: Final = "MODELROLLOUT_DRAIN_SECONDS"
ENV_MAX_BATCH_SIZE: Final = "MODELROLLOUT_MAX_BATCH_SIZE"
ENV_MAX_BATCH_DELAY_SECONDS: Final = "MODELROLLOUT_MAX_BATCH_DELAY_SECONDS"
ENV_GRPC_PORT: Final = "MODELROLLOUT_GRPC_PORT"
# How long a client may take to send a request body, once its headers are in.
ENV_READ_TIMEOUT_SECONDS: Final = "MODELROLLOUT_READ_TIMEOUT_SECONDS"
ENV_FEEDBACK_KEY_FILE: Final = "MODELROLLOUT_FEEDBACK_KEY_FILE"
ENV_FEEDBACK_PREVIOUS_KEY_FILE: Final = "MODELROLLOUT_FEEDBACK_PREVIOUS_KEY_FILE"
ENV_FEEDBACK_RATE: Final = "MODELROLLOUT_FEEDBACK_RATE"
ENV_FEEDBACK_BURST: Final = "MODELROLLOUT_FEEDBACK_BURST"
ENV_FEEDBACK_BEARER_TOKEN: Final = "MODELROLLOUT_FEEDBACK_BEARER_TOKEN"
# The feedback signing key Secret (`<name>-feedback`), mounted into every server pod.
FEEDBACK_KEY_DIR: Final = "/etc/modelrollout/feedback"
FEEDBACK_KEY: Final = "current"
FEEDBACK_PREVIOUS_KEY: Final = "previous"
# Where an infer answer's `parameters` carry the token its feedback posts.
PARAMETER_FEEDBACK_TOKEN: Final = "feedback_token"
SERVER_PORT: Final = 8080
SERVER_PORT_NAME: Final = "http"
GRPC_PORT: Final = 8081
GRPC_PORT_NAME: Final = "grpc"
# The infer response echoes its prediction id here (as well as in the body's `id`),
# so a client can post feedback for it without parsing the body.
HEADER_INFERENCE_ID: Final = "X-Inference-Id"

# --- Optimization Job ------------------------------------------------------------------
TERMINATION_MESSAGE_PATH: Final = "/dev/termination-log"
REPORT_FILE: Final = "report.json"

# --- Optimization Job environment: each `modelrollout optimize --flag` falls back to one -
# (ENV_MODEL_NAME, ENV_MODEL_VERSION, ENV_MODEL_URI and ENV_DEVICE above serve it too.)
ENV_MODEL_SHA256: Final = "MODELROLLOUT_MODEL_SHA256"
ENV_FORMAT: Final = "MODELROLLOUT_FORMAT"
ENV_ACCELERATOR: Final = "MODELROLLOUT_ACCELERATOR"
ENV_CANDIDATES: Final = "MODELROLLOUT_CANDIDATES"
ENV_CALIBRATION_URI: Final = "MODELROLLOUT_CALIBRATION_URI"
ENV_CALIBRATION_SAMPLES: Final = "MODELROLLOUT_CALIBRATION_SAMPLES"
ENV_EVALUATION_URI: Final = "MODELROLLOUT_EVALUATION_URI"
ENV_METRIC: Final = "MODELROLLOUT_METRIC"
ENV_MAX_DROP: Final = "MODELROLLOUT_MAX_DROP"
ENV_ARTIFACT_STORE: Final = "MODELROLLOUT_ARTIFACT_STORE"
ENV_ARTIFACT_KEY: Final = "MODELROLLOUT_ARTIFACT_KEY"
ENV_REPORT: Final = "MODELROLLOUT_REPORT"
ENV_TERMINATION_LOG: Final = "MODELROLLOUT_TERMINATION_LOG"
ENV_WORK_DIR: Final = "MODELROLLOUT_WORK_DIR"
ENV_BENCHMARK_BATCH: Final = "MODELROLLOUT_BENCHMARK_BATCH"
ENV_BENCHMARK_SECONDS: Final = "MODELROLLOUT_BENCHMARK_SECONDS"
ENV_BENCHMARK_ITERATIONS: Final = "MODELROLLOUT_BENCHMARK_ITERATIONS"
ENV_EVALUATION_SAMPLES: Final = "MODELROLLOUT_EVALUATION_SAMPLES"
ENV_OBJECTIVE: Final = "MODELROLLOUT_OBJECTIVE"
ENV_MAX_LATENCY_MS: Final = "MODELROLLOUT_MAX_LATENCY_MS"
ENV_DEADLINE_SECONDS: Final = "MODELROLLOUT_DEADLINE_SECONDS"
ENV_POOL: Final = "MODELROLLOUT_POOL"
ENV_PRICE_PER_HOUR: Final = "MODELROLLOUT_PRICE_PER_HOUR"
# (ENV_THREADS above serves the Job too: it measures with the server's thread setting.)
# Root under which PersistentVolumeClaims are mounted (`pvc://<claim>/<path>` is
# `<root>/<claim>/<path>`), for the optimization Job and the inference server alike.
ENV_PVC_ROOT: Final = "MODELROLLOUT_PVC_ROOT"
PVC_MOUNT_ROOT: Final = "/mnt/pvc"
# Directories file:// URIs may name (':'-separated); unset, any absolute path without '..'.
ENV_FILE_ROOTS: Final = "MODELROLLOUT_FILE_ROOTS"
# Limits of an http(s):// download: total seconds, and bytes.
ENV_DOWNLOAD_DEADLINE_SECONDS: Final = "MODELROLLOUT_DOWNLOAD_DEADLINE_SECONDS"
ENV_DOWNLOAD_MAX_BYTES: Final = "MODELROLLOUT_DOWNLOAD_MAX_BYTES"
# --- Node pools -----------------------------------------------------------------------
LABEL_NODE_POOL: Final = f"{GROUP}/pool"
