"""Settings of `modelrollout serve`: each flag falls back to an environment variable.

Pods are configured by env; people at a terminal use flags. A flag given wins.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict, TypeVar

from modelrollout import names
from modelrollout.api import optimization as api

RUNTIMES = tuple(r.value for r in api.Runtime)


# The variables the server reads, each the fallback of one flag.
ENV_VARS = (
    names.ENV_MODEL_NAME,
    names.ENV_MODEL_VERSION,
    names.ENV_MODEL_URI,
    names.ENV_RUNTIME,
    names.ENV_DEVICE,
    names.ENV_ROLE,
    names.ENV_HOST,
    names.ENV_PORT,
    names.ENV_THREADS,
    names.ENV_WORKERS,
    names.ENV_MAX_BODY_BYTES,
    names.ENV_FEEDBACK_WINDOW_SECONDS,
    names.ENV_FEEDBACK_MAX_PENDING,
    names.ENV_SHUTDOWN_TIMEOUT_SECONDS,
    names.ENV_DRAIN_SECONDS,
    names.ENV_MAX_BATCH_SIZE,
    names.ENV_MAX_BATCH_DELAY_SECONDS,
    names.ENV_GRPC_PORT,
    names.ENV_MODEL_SHA256,
    names.ENV_READ_TIMEOUT_SECONDS,
    names.ENV_FEEDBACK_KEY_FILE,
    names.ENV_FEEDBACK_PREVIOUS_KEY_FILE,
    names.ENV_FEEDBACK_RATE,
    names.ENV_FEEDBACK_BURST,
    names.ENV_FEEDBACK_BEARER_TOKEN,
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the flag and its variable."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    model_name: str
    model_version: str
    model_uri: str
    runtime: api.Runtime | None  # None: chosen from the artifact's file extension
    device: str
    role: str
    host: str
    port: int
    threads: int  # intra-op threads of the runtime; 0 lets it choose
    workers: int  # requests run concurrently by the runtime
    max_body_bytes: int
    feedback_window_seconds: float
    feedback_max_pending: int
    shutdown_timeout_seconds: float
    drain_seconds: float = 0.0  # after SIGTERM: not ready but still accepting, before the listener closes
    max_batch_size: int = 1  # rows per session run; 1: no batching
    max_batch_delay_seconds: float = 0.0
    grpc_port: int | None = None  # None: no gRPC listener
    model_sha256: str | None = None  # verified before the model is loaded
    read_timeout_seconds: float = 30.0  # the most a request body may take to arrive
    feedback_key_file: Path | None = None  # None: a random key of the process's own
    feedback_previous_key_file: Path | None = None
    feedback_rate: float = 1000.0  # feedback requests a second; 0: unlimited
    feedback_burst: int = 2000
    feedback_bearer_token: str | None = dataclasses.field(default=None, repr=False)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelrollout serve",
        description="Serve one model over the Open Inference Protocol (KServe v2) REST API.",
    )
    e = names
    p.add_argument("--model-name", help=f"model name in URLs and metrics [{e.ENV_MODEL_NAME}]")
    p.add_argument("--model-version", help=f"model version label [{e.ENV_MODEL_VERSION}] (default 1)")
    p.add_argument(
        "--model-uri",
        help=f"path, file:// URI or other storage URI of a .onnx file, an OpenVINO .xml or a "
        f"directory holding model.onnx or model.xml [{e.ENV_MODEL_URI}]",
    )
    p.add_argument("--runtime", help=f"onnxruntime or openvino [{e.ENV_RUNTIME}] (default: by extension)")
    p.add_argument(
        "--device",
        help=f"onnxruntime: CPU, CUDA, TensorRT; openvino: CPU, GPU, NPU, AUTO [{e.ENV_DEVICE}] (default CPU)",
    )
    p.add_argument("--role", help=f"stable or canary, a metrics label [{e.ENV_ROLE}] (default stable)")
    p.add_argument("--host", help=f"address to listen on [{e.ENV_HOST}] (default 0.0.0.0)")
    p.add_argument(
        "--port",
        help=f"port to listen on, 0 picks a free one [{e.ENV_PORT}] (default {e.SERVER_PORT})",
    )
    p.add_argument("--threads", help=f"intra-op threads, 0 = runtime default [{e.ENV_THREADS}] (default 0)")
    p.add_argument("--workers", help=f"inferences run at once [{e.ENV_WORKERS}] (default 1)")
    p.add_argument("--max-body-bytes", help=f"largest request body [{e.ENV_MAX_BODY_BYTES}] (default 64 MiB)")
    p.add_argument(
        "--feedback-window-seconds",
        help=f"how long a response id accepts feedback [{e.ENV_FEEDBACK_WINDOW_SECONDS}] (default 600)",
    )
    p.add_argument(
        "--feedback-max-pending",
        help=f"most response ids kept for feedback, 0 = off [{e.ENV_FEEDBACK_MAX_PENDING}] (default 100000)",
    )
    p.add_argument(
        "--shutdown-timeout-seconds",
        help=f"on SIGTERM, how long in-flight requests may finish [{e.ENV_SHUTDOWN_TIMEOUT_SECONDS}] (default 25)",
    )
    p.add_argument(
        "--drain-seconds",
        help=f"on SIGTERM, how long to keep answering while not ready, before closing [{e.ENV_DRAIN_SECONDS}] "
        "(default 0)",
    )
    p.add_argument(
        "--max-batch-size",
        help=f"rows gathered from concurrent requests into one run, 1 = off [{e.ENV_MAX_BATCH_SIZE}] (default 1)",
    )
    p.add_argument(
        "--max-batch-delay-seconds",
        help=f"how long a free worker waits for a batch to fill [{e.ENV_MAX_BATCH_DELAY_SECONDS}] (default 0)",
    )
    p.add_argument(
        "--grpc-port",
        help=f"gRPC port, 0 picks a free one, 'off' for none [{e.ENV_GRPC_PORT}] (default {e.GRPC_PORT})",
    )
    p.add_argument(
        "--model-sha256",
        help=f"SHA-256 of the model file, checked before it is loaded [{e.ENV_MODEL_SHA256}] (default: unchecked)",
    )
    p.add_argument(
        "--read-timeout-seconds",
        help=f"how long a request body may take to arrive [{e.ENV_READ_TIMEOUT_SECONDS}] (default 30)",
    )
    p.add_argument(
        "--feedback-key-file",
        help=f"file holding the key that signs feedback tokens, shared by the model's pods "
        f"[{e.ENV_FEEDBACK_KEY_FILE}] (default: a random key of this process)",
    )
    p.add_argument(
        "--feedback-previous-key-file",
        help=f"file holding the key before a rotation, still accepted; may be absent "
        f"[{e.ENV_FEEDBACK_PREVIOUS_KEY_FILE}]",
    )
    p.add_argument(
        "--feedback-rate",
        help=f"feedback requests a second this server accepts, 0 = unlimited [{e.ENV_FEEDBACK_RATE}] (default 1000)",
    )
    p.add_argument(
        "--feedback-burst",
        help=f"feedback requests accepted at once above the rate [{e.ENV_FEEDBACK_BURST}] (default 2000)",
    )
    p.add_argument(
        "--feedback-bearer-token",
        help=f"if set, feedback needs 'Authorization: Bearer <it>'; prefer the variable "
        f"[{e.ENV_FEEDBACK_BEARER_TOKEN}]",
    )
    return p


def _pick(flag: str | None, env: Mapping[str, str], var: str, default: str | None) -> str | None:
    if flag is not None:
        return flag
    value = env.get(var, "")
    return value if value != "" else default


_N = TypeVar("_N", int, float)


def _number(kind: type[_N], raw: str | None, option: str, var: str, minimum: _N) -> _N:
    assert raw is not None
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{option} ({var}) must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{option} ({var}) must be at least {minimum}, got {raw!r}")
    return value


def parse(argv: Sequence[str], env: Mapping[str, str]) -> Settings:
    """Settings from flags, then env, then defaults; SettingsError names what is wrong.

    argparse exits on unknown flags or --help, as a command line should.
    """
    src = _Source(build_parser().parse_args(list(argv)), env)
    e = names
    model_name, model_uri = _model(src)
    return Settings(
        model_name=model_name,
        model_version=src.text("model_version", e.ENV_MODEL_VERSION, "1") or "1",
        model_uri=model_uri,
        runtime=_runtime(src),
        device=src.text("device", e.ENV_DEVICE, "CPU") or "CPU",
        role=_role(src),
        host=src.text("host", e.ENV_HOST, "0.0.0.0") or "0.0.0.0",
        port=_port(src, "port", e.ENV_PORT, str(names.SERVER_PORT)),
        threads=src.number(int, "threads", e.ENV_THREADS, "0", 0),
        workers=src.number(int, "workers", e.ENV_WORKERS, "1", 1),
        max_body_bytes=src.number(int, "max_body_bytes", e.ENV_MAX_BODY_BYTES, str(64 * 1024 * 1024), 1024),
        feedback_window_seconds=src.number(
            float, "feedback_window_seconds", e.ENV_FEEDBACK_WINDOW_SECONDS, "600", 0.001
        ),
        feedback_max_pending=src.number(int, "feedback_max_pending", e.ENV_FEEDBACK_MAX_PENDING, "100000", 0),
        shutdown_timeout_seconds=src.number(
            float, "shutdown_timeout_seconds", e.ENV_SHUTDOWN_TIMEOUT_SECONDS, "25", 0.0
        ),
        drain_seconds=src.number(float, "drain_seconds", e.ENV_DRAIN_SECONDS, "0", 0.0),
        max_batch_size=src.number(int, "max_batch_size", e.ENV_MAX_BATCH_SIZE, "1", 1),
        max_batch_delay_seconds=src.number(float, "max_batch_delay_seconds", e.ENV_MAX_BATCH_DELAY_SECONDS, "0", 0.0),
        grpc_port=None
        if src.text("grpc_port", e.ENV_GRPC_PORT, str(names.GRPC_PORT)) == "off"
        else _port(src, "grpc_port", e.ENV_GRPC_PORT, str(names.GRPC_PORT)),
        model_sha256=_sha256(src),
        read_timeout_seconds=src.number(float, "read_timeout_seconds", e.ENV_READ_TIMEOUT_SECONDS, "30", 0.001),
        **_feedback(src),
    )


class _Feedback(TypedDict):
    feedback_key_file: Path | None
    feedback_previous_key_file: Path | None
    feedback_rate: float
    feedback_burst: int
    feedback_bearer_token: str | None


def _feedback(src: _Source) -> _Feedback:
    """How feedback is verified and limited: the key files, rate, burst and bearer token."""
    e = names
    key_file = src.text("feedback_key_file", e.ENV_FEEDBACK_KEY_FILE, None)
    previous = src.text("feedback_previous_key_file", e.ENV_FEEDBACK_PREVIOUS_KEY_FILE, None)
    return {
        "feedback_key_file": Path(key_file) if key_file else None,
        "feedback_previous_key_file": Path(previous) if previous else None,
        "feedback_rate": src.number(float, "feedback_rate", e.ENV_FEEDBACK_RATE, "1000", 0.0),
        "feedback_burst": src.number(int, "feedback_burst", e.ENV_FEEDBACK_BURST, "2000", 1),
        "feedback_bearer_token": src.text("feedback_bearer_token", e.ENV_FEEDBACK_BEARER_TOKEN, None),
    }


@dataclasses.dataclass(frozen=True)
class _Source:
    """Where a setting comes from: its flag if given, else its variable, else the default."""

    args: argparse.Namespace
    env: Mapping[str, str]

    def text(self, attr: str, var: str, default: str | None) -> str | None:
        return _pick(getattr(self.args, attr), self.env, var, default)

    def number(self, kind: type[_N], attr: str, var: str, default: str, minimum: _N) -> _N:
        return _number(kind, self.text(attr, var, default), _flag(attr), var, minimum)


def _flag(attr: str) -> str:
    return "--" + attr.replace("_", "-")


def _model(src: _Source) -> tuple[str, str]:
    """The model's name (a URL path segment) and URI, both required."""
    e = names
    model_name = src.text("model_name", e.ENV_MODEL_NAME, None)
    if not model_name:
        raise SettingsError(f"--model-name ({e.ENV_MODEL_NAME}) is required")
    if "/" in model_name:
        raise SettingsError(f"--model-name ({e.ENV_MODEL_NAME}) must not contain '/': {model_name!r}")
    model_uri = src.text("model_uri", e.ENV_MODEL_URI, None)
    if not model_uri:
        raise SettingsError(f"--model-uri ({e.ENV_MODEL_URI}) is required")
    return model_name, model_uri


def _sha256(src: _Source) -> str | None:
    digest = (src.text("model_sha256", names.ENV_MODEL_SHA256, None) or "").strip().lower() or None
    if digest is not None and not _SHA256.match(digest):
        raise SettingsError(f"--model-sha256 ({names.ENV_MODEL_SHA256}) must be 64 hex digits, got {digest!r}")
    return digest


def _runtime(src: _Source) -> api.Runtime | None:
    text = src.text("runtime", names.ENV_RUNTIME, None)
    if text is None:
        return None
    if text not in RUNTIMES:
        raise SettingsError(f"--runtime ({names.ENV_RUNTIME}) must be one of {', '.join(RUNTIMES)}, got {text!r}")
    return api.Runtime(text)


def _role(src: _Source) -> str:
    role = src.text("role", names.ENV_ROLE, names.ROLE_STABLE) or names.ROLE_STABLE
    if role not in names.ROLES:
        raise SettingsError(f"--role ({names.ENV_ROLE}) must be one of {', '.join(names.ROLES)}, got {role!r}")
    return role


def _port(src: _Source, attr: str, var: str, default: str) -> int:
    port = src.number(int, attr, var, default, 0)
    if port > 65535:
        raise SettingsError(f"{_flag(attr)} ({var}) must be at most 65535, got {port}")
    return port
