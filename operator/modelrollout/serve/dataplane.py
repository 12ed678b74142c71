"""The transport-free data plane: validate requests, run them, shape responses.

REST (`rest.py`) and gRPC (`grpcs.py`) are thin adapters over this: they decode their
wire format into `inference.InferRequest` and encode the `InferResponse` back. Every
failure a client can cause is an `InferenceError` with an HTTP status (gRPC maps it to
its codes) and a message naming the field at fault. Sessions run on the scheduler's
worker threads, batched when the model's policy says so.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

import modelrollout
from modelrollout import names
from modelrollout.runtimes import tensors
from modelrollout.serve import bodies, feedback, guards, inference, repositories

SERVER_NAME = "modelrollout"
EXTENSIONS = ("binary_tensor_data", "model_feedback")

InferenceError = inference.InferenceError
_bad = inference.bad
_Feedback = feedback.Feedback  # the class scope has a method of that module's name


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def predicted_labels(output: npt.NDArray[Any]) -> list[feedback.Label]:
    """The label per row that feedback is judged against.

    Integer or string outputs are labels already (one per row); float outputs are
    scores, whose argmax over the last axis is the label. A 1-D float output is one
    row's scores.
    """
    if output.ndim == 0:
        return []
    if output.dtype.kind in "iuOUS":
        rows = output.reshape(output.shape[0], -1)[:, 0]
        return [v.decode() if isinstance(v, bytes) else v for v in rows.tolist()]
    if output.dtype.kind == "f":
        if output.ndim == 1:
            return [int(np.argmax(output))] if output.size else []
        flat = output.reshape(-1, output.shape[-1])
        return [int(i) for i in np.argmax(flat, axis=-1)] if output.shape[-1] else []
    return []


def _decode_bytes_tensor(raw: bytes, name: str) -> npt.NDArray[np.object_]:
    items: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise _bad(f"input {name!r}: truncated BYTES element length")
        size = int.from_bytes(raw[offset : offset + 4], "little")
        offset += 4
        items.append(raw[offset : offset + size])
        offset += size
    return np.array(items, dtype=np.object_)


@dataclasses.dataclass(frozen=True, slots=True)
class Judged:
    """Accepted feedback: the verdicts, and the version and role that made the prediction."""

    inference_id: str
    verdicts: list[bool]
    version: str
    role: str


@dataclasses.dataclass
class TokenFeedback:
    """What feedback tokens need on this pod: the keys, the replay guard, the rate limit.

    `tokens` is asked each time (the keys may rotate); `wall` is wall-clock time, since
    a token is judged on another pod than the one that issued it.
    """

    tokens: Callable[[], feedback.Tokens]
    nonces: guards.Nonces
    limit: guards.RateLimit | None = None
    wall: Callable[[], float] = time.time


class DataPlane:
    def __init__(
        self,
        repository: repositories.ModelRepository,
        pending: feedback.PendingStore,
        clock: Callable[[], float] = time.monotonic,
        *,
        role: str = names.ROLE_STABLE,
        tokens: TokenFeedback | None = None,
    ) -> None:
        self.repository = repository
        self.pending = pending
        self.role = role
        self.tokens = tokens
        self._clock = clock
        self._pending_lock = threading.Lock()
        self.shutting_down = False

    # --- health and metadata ---------------------------------------------------------

    def ready(self) -> bool:
        return not self.shutting_down and self.repository.ready()

    def server_metadata(self) -> dict[str, object]:
        return {
            "name": SERVER_NAME,
            "version": modelrollout.__version__,
            "extensions": list(EXTENSIONS),
        }

    def model(self, name: str, version: str | None = None) -> repositories.Model:
        model = self.repository.get(name)
        if model is None:
            raise InferenceError(404, f"model {name!r} is not served here")
        if version is not None and version != model.version:
            raise InferenceError(404, f"model {name!r} has no version {version!r} here (serving {model.version!r})")
        return model

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, object]:
        model = self.model(name, version)
        return {
            "name": model.name,
            "versions": [model.version],
            "platform": model.backend.platform,
            "inputs": [s.metadata() for s in model.backend.inputs],
            "outputs": [s.metadata() for s in model.backend.outputs],
        }

    def model_ready(self, name: str, version: str | None = None) -> bool:
        return not self.shutting_down and self.model(name, version).ready

    # --- inference -------------------------------------------------------------------

    def feeds(self, model: repositories.Model, request: inference.InferRequest) -> dict[str, npt.NDArray[Any]]:
        """The request's inputs as arrays the model takes; InferenceError names what is wrong."""
        feeds: dict[str, npt.NDArray[Any]] = {}
        for index, tensor in enumerate(request.inputs):
            name = tensor.name
            spec = model.inputs.get(name)
            if spec is None:
                raise _bad(
                    f"inputs[{index}]: unknown input name {name!r}; the model's inputs are "
                    + ", ".join(repr(n) for n in model.inputs)
                )
            if name in feeds:
                raise _bad(f"input {name!r} is given twice")
            if tensor.datatype != spec.datatype:
                raise _bad(f"input {name!r} has datatype {tensor.datatype!r} but the model expects {spec.datatype}")
            shape = list(tensor.shape)
            if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
                raise _bad(f"input {name!r}: 'shape' must be a list of non-negative integers")
            if len(shape) != len(spec.shape) or any(
                want >= 0 and got != want for got, want in zip(shape, spec.shape, strict=True)
            ):
                raise _bad(
                    f"input {name!r} has shape {_shape_text(shape)} but the model expects "
                    f"{_shape_text(spec.shape)} (-1: any size)"
                )
            count = math.prod(shape)
            if tensor.raw is not None:
                feeds[name] = self._from_binary(name, spec, memoryview(tensor.raw), shape, count)
            else:
                feeds[name] = self._from_json(name, spec, tensor.data, shape, count)
        missing = [n for n in model.inputs if n not in feeds]
        if missing:
            raise _bad("missing input(s): " + ", ".join(repr(n) for n in missing))
        return feeds

    async def infer(self, name: str, version: str | None, request: inference.InferRequest) -> inference.InferResponse:
        model = self.model(name, version)
        feeds = self.feeds(model, request)
        wanted = self._wanted(model, request)
        if model.scheduler is None:
            raise InferenceError(503, f"model {name!r} is not ready")
        try:
            results = await model.scheduler.run(feeds)
        except Exception as error:  # the runtime's own exception types
            raise InferenceError(500, f"inference failed: {error}") from error
        inference_id = request.id or uuid.uuid4().hex
        parameters = self.record(model, inference_id, results)
        return inference.InferResponse(
            model_name=model.name,
            model_version=model.version,
            id=inference_id,
            outputs=[(n, results[n]) for n in wanted],
            binary_outputs=request.binary_outputs,
            parameters=parameters,
        )

    def record(
        self, model: repositories.Model, inference_id: str, results: dict[str, npt.NDArray[Any]]
    ) -> dict[str, str | int | bool]:
        """The feedback hook: remember what was predicted for `inference_id`.

        Returns what the response carries in its parameters for feedback: the signed
        token that any pod of the model judges, when tokens are on.
        """
        if not self.pending.max_pending:
            return {}
        labels = predicted_labels(results[model.backend.outputs[0].name])
        now = self._clock()
        with self._pending_lock:
            self.pending.put(inference_id, labels, now)
        if self.tokens is None:
            return {}
        token = self.tokens.tokens().issue(
            model.name,
            model.version,
            self.role,
            labels,
            nonce=uuid.uuid4().hex,
            now=self.tokens.wall(),
            inference_id=inference_id,
        )
        return {names.PARAMETER_FEEDBACK_TOKEN: token}

    @staticmethod
    def _wanted(model: repositories.Model, request: inference.InferRequest) -> list[str]:
        names = [s.name for s in model.backend.outputs]
        if request.outputs is None:
            return names
        for index, name in enumerate(request.outputs):
            if name not in names:
                raise _bad(
                    f"outputs[{index}]: unknown output name {name!r}; the model's outputs are "
                    + ", ".join(repr(n) for n in names)
                )
        return list(request.outputs)

    @staticmethod
    def _from_json(name: str, spec: tensors.TensorSpec, data: object, shape: list[int], count: int) -> npt.NDArray[Any]:
        try:
            if spec.datatype == "BYTES":
                array = np.array(data, dtype=np.object_)
            else:
                if spec.dtype.kind in "iu":
                    _whole_numbers(name, spec, np.asarray(data))
                array = np.asarray(data, dtype=spec.dtype)
        except (ValueError, TypeError, OverflowError) as error:
            raise _bad(f"input {name!r}: data does not fit datatype {spec.datatype}: {error}") from None
        # JSON has no NaN or Infinity: a non-finite value here was a null, or a number
        # beyond the datatype's range (1e308 as FP32), which numpy would pass on silently.
        if spec.dtype.kind == "f" and not np.isfinite(array).all():
            raise _bad(
                f"input {name!r}: data does not fit datatype {spec.datatype}: a null, or a value out of its range"
            )
        if array.size != count:
            raise _bad(f"input {name!r} has {array.size} values but shape {_shape_text(shape)} needs {count}")
        return array.reshape(shape)

    @staticmethod
    def _from_binary(
        name: str, spec: tensors.TensorSpec, raw: memoryview, shape: list[int], count: int
    ) -> npt.NDArray[Any]:
        if spec.datatype == "BYTES":
            array = _decode_bytes_tensor(bytes(raw), name)
            if array.size != count:
                raise _bad(f"input {name!r} has {array.size} values but shape {_shape_text(shape)} needs {count}")
            return array.reshape(shape)
        if len(raw) != count * spec.dtype.itemsize:
            raise _bad(
                f"input {name!r}: {len(raw)} bytes of binary data but shape {_shape_text(shape)} "
                f"of {spec.datatype} needs {count * spec.dtype.itemsize}"
            )
        return np.frombuffer(raw, dtype=spec.dtype).reshape(shape)

    # --- feedback --------------------------------------------------------------------

    def feedback(self, name: str, body: bytes) -> Judged:
        """Judge an earlier prediction, by its id (kept here) or its token (signed by any pod)."""
        model = self.model(name)
        if not self.pending.max_pending:
            raise InferenceError(404, "feedback is off on this server (--feedback-max-pending is 0)")
        self._admit()
        try:
            parsed = feedback.parse(bodies.loads(body, "feedback body"))
        except feedback.FeedbackError as error:
            raise _bad(str(error)) from None
        if parsed.token:
            return self._judge_token(model, parsed)
        with self._pending_lock:
            pending = self.pending.get(parsed.inference_id, self._clock())
            if pending is None:
                raise InferenceError(
                    404,
                    f"no pending prediction with id {parsed.inference_id!r}: unknown, already "
                    f"judged, or older than the {self.pending.window_seconds:g}s feedback window "
                    "(behind a Service, post the answer's feedback_token instead: any pod takes it)",
                )
            try:
                verdicts = feedback.judge(pending, parsed)
            except feedback.FeedbackError as error:
                raise _bad(str(error)) from None
            self.pending.discard(parsed.inference_id)
        return Judged(parsed.inference_id, verdicts, model.version, self.role)

    def _admit(self) -> None:
        limit = self.tokens.limit if self.tokens is not None else None
        if limit is None:
            return
        with self._pending_lock:
            wait = limit.take(self._clock())
        if wait:
            raise InferenceError(
                429, f"too much feedback: this server takes {limit.rate:g} a second; retry in {wait:.3f}s"
            )

    def _judge_token(self, model: repositories.Model, parsed: _Feedback) -> Judged:
        if self.tokens is None:
            raise _bad("this server takes no feedback tokens: post the answer's 'id'")
        now = self.tokens.wall()
        try:
            claim = self.tokens.tokens().verify(parsed.inference_id, now)
        except feedback.ForgedToken as error:
            raise InferenceError(403, str(error)) from None
        except feedback.ExpiredToken as error:
            raise InferenceError(410, str(error)) from None
        except feedback.FeedbackError as error:
            raise _bad(str(error)) from None
        if claim.model != model.name:
            raise _bad(f"'token' is for model {claim.model!r}, not {model.name!r}")
        nonces = self.tokens.nonces
        with self._pending_lock:
            refusal = nonces.check(claim.nonce, claim.expires_at, now)
            if refusal is not None:
                raise InferenceError(409 if refusal is guards.Unverifiable.REPLAY else 410, refusal.value)
            try:
                verdicts = feedback.judge(claim.pending(), parsed)
            except feedback.FeedbackError as error:
                raise _bad(str(error)) from None
            nonces.remember(claim.nonce, claim.expires_at, now)
        return Judged(claim.inference_id or claim.nonce, verdicts, claim.version, claim.role)


def _whole_numbers(name: str, spec: tensors.TensorSpec, probe: npt.NDArray[Any]) -> None:
    """Refuse fractions (and nulls) for an integer datatype; numpy would truncate 0.5 to 0."""
    if probe.dtype.kind == "O" or (probe.dtype.kind == "f" and not np.array_equal(probe, np.trunc(probe))):
        raise _bad(f"input {name!r}: data does not fit datatype {spec.datatype}: integers expected")
