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
ROLES: Final = (ROLE_STABLE, ROLE_CANARY)

COMPONENT_SERVER: Final = "inference-server"
COMPONENT_OPTIMIZER: Final = "optimizer"

# --- Day-2 controls (annotations a person sets with kubectl) ----------------------------
# The value of each is free text (a reason, a timestamp); the operator acts once per
# distinct value and records the handled value in status, so re-applying is harmless.
ANNOTATION_PROMOTE: Final = f"{GROUP}/promote"
ANNOTATION_ABORT: Final = f"{GROUP}/abort"
ANNOTATION_PAUSE: Final = f"{GROUP}/paused"
ANNOTATION_RETRY: Final = f"{GROUP}/retry"
CONTROL_ANNOTATIONS: Final = (ANNOTATION_PROMOTE, ANNOTATION_ABORT, ANNOTATION_PAUSE, ANNOTATION_RETRY)

# --- Inference server metrics (labelled model, version, role) --------------------------
METRIC_REQUEST_DURATION: Final = "modelrollout_inference_request_duration_seconds"
METRIC_REQUESTS: Final = "modelrollout_inference_requests_total"
METRIC_IN_FLIGHT: Final = "modelrollout_inference_in_flight"
METRIC_FEEDBACK: Final = "modelrollout_inference_feedback_total"
METRIC_MODEL_LOAD: Final = "modelrollout_model_load_seconds"
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
SERVER_PORT: Final = 8080
SERVER_PORT_NAME: Final = "http"

# --- Optimization Job ------------------------------------------------------------------
TERMINATION_MESSAGE_PATH: Final = "/dev/termination-log"
REPORT_FILE: Final = "report.json"
