"""The transport-free data plane: validate requests, run them, shape responses.

REST is a thin adapter over this. Every failure a client can cause is an
`InferenceError` with an HTTP status and a message naming the field at fault.
The `infer` path is synchronous and runs in a worker thread, so it keeps to numpy and
precomputed metadata: per-request Python work is what the overhead budget pays for.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

import modelrollout
from modelrollout.runtimes import datatypes, tensors
from modelrollout.serve import feedback, repositories

SERVER_NAME = "modelrollout"
EXTENSIONS = ("binary_tensor_data", "model_feedback")
# The binary tensor extension's header giving the length of the JSON part of a body.
HEADER_JSON_LENGTH = "Inference-Header-Content-Length"


class InferenceError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class InferResult:
    inference_id: str
    body: bytes
    json_length: int | None  # set when the body carries binary outputs


def _bad(message: str) -> InferenceError:
    return InferenceError(400, message)


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


def _encode_bytes_tensor(array: npt.NDArray[Any]) -> bytes:
    parts = []
    for item in array.ravel().tolist():
        data = item if isinstance(item, bytes) else str(item).encode()
        parts.append(len(data).to_bytes(4, "little") + data)
    return b"".join(parts)


class DataPlane:
    def __init__(
        self,
        repository: repositories.ModelRepository,
        pending: feedback.PendingStore,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repository = repository
        self.pending = pending
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

    def infer(self, name: str, version: str | None, body: bytes, json_length: int | None) -> InferResult:
        model = self.model(name, version)
        if json_length is not None:
            if json_length < 0 or json_length > len(body):
                raise _bad(f"{HEADER_JSON_LENGTH} is {json_length} but the body has {len(body)} bytes")
            head, binary = body[:json_length], memoryview(body)[json_length:]
        else:
            head, binary = body, memoryview(b"")
        try:
            request = json.loads(head)
        except (ValueError, RecursionError) as error:
            raise _bad(f"request body is not valid JSON: {error}") from None
        if not isinstance(request, dict):
            raise _bad("request body must be a JSON object")
        feeds = self._feeds(model, request, binary)
        wanted, binary_out = self._wanted_outputs(model, request)
        try:
            results = model.backend.run(feeds)
        except Exception as error:  # the runtime's own exception types
            raise InferenceError(500, f"inference failed: {error}") from error

        given_id = request.get("id")
        inference_id = given_id if isinstance(given_id, str) and given_id else uuid.uuid4().hex
        if self.pending.max_pending:
            first = results[model.backend.outputs[0].name]
            labels = predicted_labels(first)
            now = self._clock()
            with self._pending_lock:
                self.pending.put(inference_id, labels, now)
        return self._response(model, inference_id, results, wanted, binary_out)

    def _feeds(
        self, model: repositories.Model, request: dict[str, Any], binary: memoryview
    ) -> dict[str, npt.NDArray[Any]]:
        inputs = request.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise _bad("request needs 'inputs', a non-empty list of tensors")
        feeds: dict[str, npt.NDArray[Any]] = {}
        offset = 0
        for index, tensor in enumerate(inputs):
            if not isinstance(tensor, dict):
                raise _bad(f"inputs[{index}] must be an object")
            name = tensor.get("name")
            spec = model.inputs.get(name) if isinstance(name, str) else None
            if spec is None or not isinstance(name, str):
                raise _bad(
                    f"inputs[{index}]: unknown input name {name!r}; the model's inputs are "
                    + ", ".join(repr(n) for n in model.inputs)
                )
            if name in feeds:
                raise _bad(f"input {name!r} is given twice")
            datatype = tensor.get("datatype")
            if datatype != spec.datatype:
                raise _bad(f"input {name!r} has datatype {datatype!r} but the model expects {spec.datatype}")
            shape = tensor.get("shape")
            if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
            ):
                raise _bad(f"input {name!r}: 'shape' must be a list of non-negative integers")
            if len(shape) != len(spec.shape) or any(
                want >= 0 and got != want for got, want in zip(shape, spec.shape, strict=True)
            ):
                raise _bad(
                    f"input {name!r} has shape {_shape_text(shape)} but the model expects "
                    f"{_shape_text(spec.shape)} (-1: any size)"
                )
            count = math.prod(shape)
            parameters = tensor.get("parameters")
            binary_size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
            if binary_size is not None:
                if not isinstance(binary_size, int) or binary_size < 0:
                    raise _bad(f"input {name!r}: binary_data_size must be a non-negative integer")
                if offset + binary_size > len(binary):
                    raise _bad(f"input {name!r}: binary_data_size {binary_size} runs past the body's end")
                raw = binary[offset : offset + binary_size]
                offset += binary_size
                feeds[name] = self._from_binary(name, spec, raw, shape, count)
            else:
                if "data" not in tensor:
                    raise _bad(f"input {name!r} has no 'data'")
                feeds[name] = self._from_json(name, spec, tensor["data"], shape, count)
        missing = [n for n in model.inputs if n not in feeds]
        if missing:
            raise _bad("missing input(s): " + ", ".join(repr(n) for n in missing))
        return feeds

    @staticmethod
    def _from_json(name: str, spec: tensors.TensorSpec, data: object, shape: list[int], count: int) -> npt.NDArray[Any]:
        try:
            array = np.array(data, dtype=np.object_) if spec.datatype == "BYTES" else np.asarray(data, dtype=spec.dtype)
        except (ValueError, TypeError, OverflowError) as error:
            raise _bad(f"input {name!r}: data does not fit datatype {spec.datatype}: {error}") from None
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

    @staticmethod
    def _wanted_outputs(model: repositories.Model, request: dict[str, Any]) -> tuple[list[str], set[str]]:
        parameters = request.get("parameters")
        all_binary = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
        names = [s.name for s in model.backend.outputs]
        asked = request.get("outputs")
        if asked is None:
            return names, set(names) if all_binary else set()
        if not isinstance(asked, list):
            raise _bad("'outputs' must be a list of objects with a 'name'")
        wanted: list[str] = []
        binary: set[str] = set()
        for index, item in enumerate(asked):
            name = item.get("name") if isinstance(item, dict) else None
            if name not in names:
                raise _bad(
                    f"outputs[{index}]: unknown output name {name!r}; the model's outputs are "
                    + ", ".join(repr(n) for n in names)
                )
            wanted.append(name)
            params = item.get("parameters")
            if all_binary or (isinstance(params, dict) and params.get("binary_data") is True):
                binary.add(name)
        return wanted, binary

    @staticmethod
    def _response(
        model: repositories.Model,
        inference_id: str,
        results: dict[str, npt.NDArray[Any]],
        wanted: list[str],
        binary: set[str],
    ) -> InferResult:
        outputs = []
        chunks: list[bytes] = []
        for name in wanted:
            array = results[name]
            datatype = datatypes.from_numpy(array.dtype)
            entry: dict[str, object] = {
                "name": name,
                "datatype": datatype,
                "shape": list(array.shape),
            }
            if name in binary:
                raw = _encode_bytes_tensor(array) if datatype == "BYTES" else np.ascontiguousarray(array).tobytes()
                entry["parameters"] = {"binary_data_size": len(raw)}
                chunks.append(raw)
            elif datatype == "BYTES":
                entry["data"] = [
                    v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in array.ravel().tolist()
                ]
            else:
                entry["data"] = array.ravel().tolist()
            outputs.append(entry)
        head = json.dumps(
            {
                "model_name": model.name,
                "model_version": model.version,
                "id": inference_id,
                "outputs": outputs,
            },
            separators=(",", ":"),
        ).encode()
        if not chunks:
            return InferResult(inference_id, head, None)
        return InferResult(inference_id, head + b"".join(chunks), len(head))

    # --- feedback --------------------------------------------------------------------

    def feedback(self, name: str, body: bytes) -> tuple[str, list[bool]]:
        """Judge an earlier prediction: its id and the verdicts, one per predicted row."""
        self.model(name)
        try:
            parsed = feedback.parse(json.loads(body))
        except (ValueError, RecursionError) as error:
            if isinstance(error, feedback.FeedbackError):
                raise _bad(str(error)) from None
            raise _bad(f"feedback body is not valid JSON: {error}") from None
        with self._pending_lock:
            pending = self.pending.get(parsed.inference_id, self._clock())
            if pending is None:
                raise InferenceError(
                    404,
                    f"no pending prediction with id {parsed.inference_id!r}: unknown, already "
                    f"judged, or older than the {self.pending.window_seconds:g}s feedback window",
                )
            try:
                verdicts = feedback.judge(pending, parsed)
            except feedback.FeedbackError as error:
                raise _bad(str(error)) from None
            self.pending.discard(parsed.inference_id)
        return parsed.inference_id, verdicts
