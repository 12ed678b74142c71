"""An MLServer custom runtime over ONNX Runtime: the peer that bench/serve/run.py measures.

Copied next to the peer's model-settings.json and imported by MLServer itself, inside
the peer's own virtual environment (so it does not import modelrollout).
"""

from __future__ import annotations

import onnxruntime as ort  # type: ignore[import-not-found, unused-ignore]
from mlserver import MLModel  # type: ignore[import-not-found, unused-ignore]
from mlserver.codecs import NumpyCodec  # type: ignore[import-not-found, unused-ignore]
from mlserver.types import (  # type: ignore[import-not-found, unused-ignore]
    InferenceRequest,
    InferenceResponse,
)


class OnnxRuntimeModel(MLModel):  # type: ignore[misc, unused-ignore]
    async def load(self) -> bool:
        extra = self.settings.parameters.extra or {}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(extra.get("threads", 0))
        self._session = ort.InferenceSession(self.settings.parameters.uri, options, providers=["CPUExecutionProvider"])
        self._outputs = [o.name for o in self._session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {i.name: NumpyCodec.decode_input(i) for i in payload.inputs}
        results = self._session.run(self._outputs, feeds)
        return InferenceResponse(
            model_name=self.name,
            outputs=[NumpyCodec.encode_output(name, array) for name, array in zip(self._outputs, results, strict=True)],
        )
