"""The gRPC adapter: `inference.GRPCInferenceService` over the same data plane as REST.

Messages are the protocol's (`protocol/grpc_predict_v2.proto`, generated classes
checked in); handlers are registered by method path, so no generated service stub is
needed. Inputs come as `raw_input_contents` (what Triton's client sends) or typed
`contents`; outputs always go back as `raw_output_contents`, as Triton answers. Infer
calls are counted and timed in the same metrics as REST, with the HTTP status the
failure would have had, so one query covers both transports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import grpc
import numpy as np

from modelrollout.runtimes import datatypes
from modelrollout.serve import bodies, dataplane, inference, metrics
from modelrollout.serve.protocol import grpc_predict_v2_pb2 as pb

log = logging.getLogger(__name__)

SERVICE = "inference.GRPCInferenceService"
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}
# Which typed `contents` field carries each datatype.
_CONTENTS = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP16": "fp32_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def decode(request: pb.ModelInferRequest) -> inference.InferRequest:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise inference.bad(f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs")
    tensors = []
    for index, tensor in enumerate(request.inputs):
        if raw:
            tensors.append(inference.RequestTensor(tensor.name, tensor.datatype, tensor.shape, raw=raw[index]))
            continue
        field = _CONTENTS.get(tensor.datatype)
        if field is None:
            raise inference.bad(f"input {tensor.name!r}: unknown datatype {tensor.datatype!r}")
        values: Any = getattr(tensor.contents, field)
        data = np.array(values, dtype=np.object_) if tensor.datatype == "BYTES" else np.asarray(values)
        tensors.append(inference.RequestTensor(tensor.name, tensor.datatype, tensor.shape, data=data))
    return inference.InferRequest(
        inputs=tensors,
        id=request.id or None,
        outputs=[o.name for o in request.outputs] or None,
    )


def encode(response: inference.InferResponse) -> pb.ModelInferResponse:
    message = pb.ModelInferResponse(
        model_name=response.model_name, model_version=response.model_version, id=response.id
    )
    for name, array in response.outputs:
        datatype = datatypes.from_numpy(array.dtype)
        message.outputs.add(name=name, datatype=datatype, shape=array.shape)
        raw = bodies.encode_bytes_tensor(array) if datatype == "BYTES" else np.ascontiguousarray(array).tobytes()
        message.raw_output_contents.append(raw)
    for key, value in response.parameters.items():
        parameter = message.parameters[key]
        if isinstance(value, bool):
            parameter.bool_param = value
        elif isinstance(value, int):
            parameter.int64_param = value
        else:
            parameter.string_param = value
    return message


class GrpcService:
    def __init__(self, plane: dataplane.DataPlane, server_metrics: metrics.ServerMetrics) -> None:
        self.plane = plane
        self.metrics = server_metrics

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(fn: Callable[[Any, Any], Awaitable[Any]], request: Any, response: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=request.FromString, response_serializer=response.SerializeToString
            )

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "ServerLive": unary(self.server_live, pb.ServerLiveRequest, pb.ServerLiveResponse),
                "ServerReady": unary(self.server_ready, pb.ServerReadyRequest, pb.ServerReadyResponse),
                "ModelReady": unary(self.model_ready, pb.ModelReadyRequest, pb.ModelReadyResponse),
                "ServerMetadata": unary(self.server_metadata, pb.ServerMetadataRequest, pb.ServerMetadataResponse),
                "ModelMetadata": unary(self.model_metadata, pb.ModelMetadataRequest, pb.ModelMetadataResponse),
                "ModelInfer": unary(self.model_infer, pb.ModelInferRequest, pb.ModelInferResponse),
            },
        )

    async def server_live(self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerReadyResponse(ready=self.plane.ready())

    async def model_ready(self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext) -> Any:
        try:
            return pb.ModelReadyResponse(ready=self.plane.model_ready(request.name, request.version or None))
        except inference.InferenceError as error:
            await _abort(context, error)

    async def server_metadata(self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext) -> Any:
        meta = self.plane.server_metadata()
        return pb.ServerMetadataResponse(
            name=str(meta["name"]), version=str(meta["version"]), extensions=["model_feedback"]
        )

    async def model_metadata(self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext) -> Any:
        try:
            model = self.plane.model(request.name, request.version or None)
        except inference.InferenceError as error:
            await _abort(context, error)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=model.name,
            versions=[model.version],
            platform=model.backend.platform,
            inputs=[tensor(name=s.name, datatype=s.datatype, shape=s.shape) for s in model.backend.inputs],
            outputs=[tensor(name=s.name, datatype=s.datatype, shape=s.shape) for s in model.backend.outputs],
        )

    async def model_infer(self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        m = self.metrics
        m.in_flight.inc()
        status = 500
        try:
            answer = await self.plane.infer(request.model_name, request.model_version or None, decode(request))
            status = 200
            return encode(answer)
        except inference.InferenceError as error:
            status = error.status
            if error.status >= 500:
                log.error("infer %s: %s", request.model_name, error.message)
            await _abort(context, error)
        except Exception:
            log.exception("infer %s failed", request.model_name)
            await _abort(
                context, inference.InferenceError(500, "internal error while handling the request (see the server log)")
            )
        finally:
            m.in_flight.dec()
            m.duration.observe(time.perf_counter() - started)
            m.requests(status).inc()


async def _abort(context: grpc.aio.ServicerContext, error: inference.InferenceError) -> NoReturn:
    await context.abort(_CODES.get(error.status, grpc.StatusCode.INTERNAL), error.message)
    raise AssertionError("grpc's abort returned")  # it raises; this tells mypy so
