"""REST bodies: the protocol's JSON and the binary tensor extension, to and from canonical form.

Numeric tensors never pass through Python-level loops: orjson writes a numpy array's
text in one call and `np.asarray` reads the parsed list in one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from modelrollout.runtimes import datatypes
from modelrollout.serve import inference

# The binary tensor extension's header giving the length of the JSON part of a body.
HEADER_JSON_LENGTH = "Inference-Header-Content-Length"
_DUMPS = orjson.OPT_SERIALIZE_NUMPY


def dumps(payload: object) -> bytes:
    return orjson.dumps(payload, option=_DUMPS)


def loads(raw: bytes | memoryview, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise inference.bad(f"{what} is not valid JSON: {error}") from None


def decode(body: bytes, json_length: int | None) -> inference.InferRequest:
    """An infer request body; with `json_length`, binary tensors follow the JSON part."""
    head, binary = _split(body, json_length)
    request = loads(head, "request body")
    if not isinstance(request, dict):
        raise inference.bad("request body must be a JSON object")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise inference.bad("request needs 'inputs', a non-empty list of tensors")
    tensors: list[inference.RequestTensor] = []
    offset = 0
    for index, tensor in enumerate(inputs):
        decoded, offset = _input(index, tensor, binary, offset)
        tensors.append(decoded)
    wanted, binary_out = _wanted(request)
    given_id = request.get("id")
    return inference.InferRequest(
        inputs=tensors,
        id=given_id if isinstance(given_id, str) and given_id else None,
        outputs=wanted,
        binary_outputs=binary_out,
    )


def _split(body: bytes, json_length: int | None) -> tuple[memoryview, memoryview]:
    """The JSON part of a body and the binary part after it (empty without `json_length`)."""
    if json_length is None:
        return memoryview(body), memoryview(b"")
    if json_length < 0 or json_length > len(body):
        raise inference.bad(f"{HEADER_JSON_LENGTH} is {json_length} but the body has {len(body)} bytes")
    return memoryview(body)[:json_length], memoryview(body)[json_length:]


def _input(index: int, tensor: object, binary: memoryview, offset: int) -> tuple[inference.RequestTensor, int]:
    """The request's input tensor at `index`, and the offset of the next binary tensor."""
    if not isinstance(tensor, dict):
        raise inference.bad(f"inputs[{index}] must be an object")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise inference.bad(f"inputs[{index}] needs a 'name'")
    shape = tensor.get("shape")
    if not isinstance(shape, list):
        raise inference.bad(f"input {name!r}: 'shape' must be a list of non-negative integers")
    datatype = str(tensor.get("datatype"))
    parameters = tensor.get("parameters")
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is None:
        if "data" not in tensor:
            raise inference.bad(f"input {name!r} has no 'data'")
        return inference.RequestTensor(name, datatype, shape, data=tensor["data"]), offset
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise inference.bad(f"input {name!r}: binary_data_size must be a non-negative integer")
    if offset + size > len(binary):
        raise inference.bad(f"input {name!r}: binary_data_size {size} runs past the body's end")
    return inference.RequestTensor(name, datatype, shape, raw=binary[offset : offset + size]), offset + size


def _wanted(request: dict[str, Any]) -> tuple[list[str] | None, frozenset[str]]:
    """The outputs asked for, and which of them as binary ("*" in the set: all)."""
    parameters = request.get("parameters")
    all_binary = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    asked = request.get("outputs")
    if asked is None:
        return None, frozenset({"*"}) if all_binary else frozenset()
    if not isinstance(asked, list):
        raise inference.bad("'outputs' must be a list of objects with a 'name'")
    names: list[str] = []
    binary: set[str] = set()
    for index, item in enumerate(asked):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise inference.bad(f"outputs[{index}] needs a 'name'")
        names.append(name)
        params = item.get("parameters")
        if all_binary or (isinstance(params, dict) and params.get("binary_data") is True):
            binary.add(name)
    return names, frozenset(binary)


def encode_bytes_tensor(array: npt.NDArray[Any]) -> bytes:
    """BYTES elements as the binary extension and gRPC's raw contents carry them: length + bytes."""
    parts = []
    for item in array.ravel().tolist():
        data = item if isinstance(item, bytes) else str(item).encode()
        parts.append(len(data).to_bytes(4, "little") + data)
    return b"".join(parts)


def encode(response: inference.InferResponse) -> tuple[bytes, int | None]:
    """The response body, and the JSON part's length when binary outputs follow it."""
    outputs = []
    chunks: list[bytes] = []
    every = "*" in response.binary_outputs
    for name, array in response.outputs:
        datatype = datatypes.from_numpy(array.dtype)
        entry: dict[str, object] = {"name": name, "datatype": datatype, "shape": array.shape}
        if every or name in response.binary_outputs:
            raw = encode_bytes_tensor(array) if datatype == "BYTES" else np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        elif datatype == "BYTES":
            entry["data"] = [
                v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in array.ravel().tolist()
            ]
        else:
            entry["data"] = np.ascontiguousarray(array).ravel()
        outputs.append(entry)
    body: dict[str, object] = {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "id": response.id,
        "outputs": outputs,
    }
    if response.parameters:
        body["parameters"] = response.parameters
    head = dumps(body)
    if not chunks:
        return head, None
    return head + b"".join(chunks), len(head)
