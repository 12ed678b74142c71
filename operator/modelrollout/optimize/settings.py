"""The Job's settings: command-line flags, each falling back to an environment variable."""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
from collections.abc import Mapping
from typing import TypeVar

from modelrollout import names
from modelrollout.api import optimization as api
from modelrollout.api.v1alpha1 import ModelFormat
from modelrollout.optimize.candidates import registry

E = TypeVar("E", api.Metric, api.Objective, api.Accelerator, ModelFormat)
N = TypeVar("N", int, float)


class UsageError(Exception):
    """A flag is missing or malformed; the message names it."""


@dataclasses.dataclass(frozen=True)
class Settings:
    model_name: str
    model_version: str
    model_uri: str
    model_sha256: str | None
    format: ModelFormat
    accelerator: api.Accelerator
    candidates: list[api.CandidateSpec] | None  # None: auto
    calibration_uri: str | None
    calibration_samples: int
    evaluation_uri: str | None
    metric: api.Metric
    max_drop: float
    artifact_store: str | None  # None: a directory in the work dir
    artifact_key: str
    report: pathlib.Path
    termination_log: pathlib.Path
    work_dir: pathlib.Path
    device: str | None
    benchmark_batch: int
    benchmark_seconds: float
    benchmark_iterations: int
    evaluation_samples: int = 256
    objective: api.Objective = api.Objective.THROUGHPUT
    max_latency_ms: float | None = None
    deadline_seconds: float | None = None  # None: no deadline
    threads: int = 0  # intra-op threads; 0: the runtime's default, as the server
    pool: str = ""
    price_per_hour: float | None = None  # of one serving replica on the pool


# flag, env var, default, help
_FLAGS: list[tuple[str, str, str | None, str]] = [
    ("--model-name", names.ENV_MODEL_NAME, None, "Model name (for the report)."),
    ("--model-version", names.ENV_MODEL_VERSION, None, "Model version (for the report)."),
    ("--model-uri", names.ENV_MODEL_URI, None,
     "file://, pvc://claim/path, http(s)://, s3://bucket/key, models:/name/version or @alias."),
    ("--model-sha256", names.ENV_MODEL_SHA256, "", "Expected SHA-256 of the model file."),
    ("--format", names.ENV_FORMAT, "onnx", "onnx | openvino"),
    ("--accelerator", names.ENV_ACCELERATOR, "cpu", "cpu | nvidia-gpu | intel-gpu | npu"),
    ("--candidates", names.ENV_CANDIDATES, "auto",
     "auto, or a JSON list of {runtime, precision, method}."),
    ("--calibration-uri", names.ENV_CALIBRATION_URI, "", ".npz with one array per input."),
    ("--calibration-samples", names.ENV_CALIBRATION_SAMPLES, "128", "Samples to calibrate on."),
    ("--evaluation-uri", names.ENV_EVALUATION_URI, "",
     ".npz with one array per input (and 'labels' for accuracy); generated when absent."),
    ("--metric", names.ENV_METRIC, "cosine", "accuracy | top1-agreement | cosine"),
    ("--max-drop", names.ENV_MAX_DROP, "0.01", "Largest accuracy drop allowed."),
    ("--artifact-store", names.ENV_ARTIFACT_STORE, "",
     "file:///dir, s3://bucket/prefix or pvc://claim/path; default: the work dir."),
    ("--artifact-key", names.ENV_ARTIFACT_KEY, "", "Path under the store; default name/version."),
    ("--report", names.ENV_REPORT, "", "Full JSON report; default in the work dir."),
    ("--termination-log", names.ENV_TERMINATION_LOG, names.TERMINATION_MESSAGE_PATH,
     "Where the compact report goes."),
    ("--work-dir", names.ENV_WORK_DIR, "", "Scratch directory; default a new temporary one."),
    ("--device", names.ENV_DEVICE, "", "CPU, CUDA, GPU or NPU; or per runtime: onnxruntime=CUDA,openvino=GPU."),
    ("--benchmark-batch", names.ENV_BENCHMARK_BATCH, "32", "Batch size for throughput."),
    ("--benchmark-seconds", names.ENV_BENCHMARK_SECONDS, "1.0", "Time per measurement."),
    ("--benchmark-iterations", names.ENV_BENCHMARK_ITERATIONS, "200", "Most runs per measurement."),
    ("--evaluation-samples", names.ENV_EVALUATION_SAMPLES, "256",
     "Most samples to judge accuracy on (and how many to generate without evaluation data)."),
    ("--objective", names.ENV_OBJECTIVE, "throughput", "throughput | latency | cost"),
    ("--max-latency-ms", names.ENV_MAX_LATENCY_MS, "", "p99 bound at batch 1 the winner must meet."),
    ("--deadline-seconds", names.ENV_DEADLINE_SECONDS, "",
     "Seconds the search may take; candidates that would not fit are skipped with a reason."),
    ("--threads", names.ENV_THREADS, "0", "Intra-op threads, as the serving pod uses; 0 = runtime default."),
    ("--pool", names.ENV_POOL, "", "Node pool profile measured for (for the report)."),
    ("--price-per-hour", names.ENV_PRICE_PER_HOUR, "",
     "Price of one serving replica for an hour on the pool; gives cost per million inferences."),
]  # fmt: skip


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="modelrollout optimize", description="Optimize a model for a node pool.")
    for flag, env, default, text in _FLAGS:
        p.add_argument(flag, default=None, help=f"{text} [env {env}; default {default!r}]")
    return p


def _enum(cls: type[E], value: str, flag: str) -> E:
    try:
        return cls(value)
    except ValueError:
        allowed = " | ".join(m.value for m in cls)
        raise UsageError(f"{flag}: {value!r} is not one of {allowed}") from None


def _number(kind: type[N], value: str, flag: str, low: N, high: N | None = None) -> N:
    try:
        number = kind(value)
    except ValueError:
        raise UsageError(f"{flag}: {value!r} is not a {kind.__name__}") from None
    if number < low or (high is not None and number > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise UsageError(f"{flag}: {value} must be {bounds}")
    return number


def parse(argv: list[str], environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    args = vars(parser().parse_args(argv))
    values: dict[str, str] = {}
    for flag, var, default, _ in _FLAGS:
        attr = flag.lstrip("-").replace("-", "_")
        value = args[attr] if args[attr] is not None else env.get(var, default)
        if value is None:
            raise UsageError(f"{flag} (or env {var}) is required")
        values[attr] = value
    fmt = _enum(ModelFormat, values["format"], "--format")
    try:
        candidates = registry.parse(values["candidates"])
    except ValueError as e:
        raise UsageError(f"--{e}") from None
    work_dir = pathlib.Path(values["work_dir"]) if values["work_dir"] else None
    if work_dir is None:
        import tempfile  # noqa: PLC0415

        work_dir = pathlib.Path(tempfile.mkdtemp(prefix="modelrollout-optimize-"))
    key = values["artifact_key"] or f"{values['model_name']}/{values['model_version']}"
    return Settings(
        model_name=values["model_name"],
        model_version=values["model_version"],
        model_uri=values["model_uri"],
        model_sha256=values["model_sha256"] or None,
        format=fmt,
        accelerator=_enum(api.Accelerator, values["accelerator"], "--accelerator"),
        candidates=candidates,
        calibration_uri=values["calibration_uri"] or None,
        calibration_samples=_number(int, values["calibration_samples"], "--calibration-samples", 1),
        evaluation_uri=values["evaluation_uri"] or None,
        metric=_enum(api.Metric, values["metric"], "--metric"),
        max_drop=_number(float, values["max_drop"], "--max-drop", 0.0, 1.0),
        artifact_store=values["artifact_store"] or None,
        artifact_key=key,
        report=pathlib.Path(values["report"]) if values["report"] else work_dir / names.REPORT_FILE,
        termination_log=pathlib.Path(values["termination_log"]),
        work_dir=work_dir.resolve(),  # candidates build with their own dir as cwd
        device=values["device"] or None,
        benchmark_batch=_number(int, values["benchmark_batch"], "--benchmark-batch", 1),
        benchmark_seconds=_number(float, values["benchmark_seconds"], "--benchmark-seconds", 0.0),
        benchmark_iterations=_number(int, values["benchmark_iterations"], "--benchmark-iterations", 1),
        evaluation_samples=_number(int, values["evaluation_samples"], "--evaluation-samples", 1),
        objective=_enum(api.Objective, values["objective"], "--objective"),
        max_latency_ms=_optional(values["max_latency_ms"], "--max-latency-ms"),
        deadline_seconds=_optional(values["deadline_seconds"], "--deadline-seconds"),
        threads=_number(int, values["threads"], "--threads", 0),
        pool=values["pool"],
        price_per_hour=_optional(values["price_per_hour"], "--price-per-hour", low=0.0),
    )


def _optional(value: str, flag: str, low: float = 1e-9) -> float | None:
    """A positive float, or None for an empty value."""
    return None if value == "" else _number(float, value, flag, low)
