"""The checked-in gRPC messages are fresh, and wire-compatible with Triton's client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor
from tritonclient.grpc import service_pb2 as triton

from modelrollout.serve.protocol import grpc_predict_v2_pb2 as ours

OPERATOR = Path(__file__).resolve().parents[2] / "operator"
PROTO = "modelrollout/serve/protocol/grpc_predict_v2.proto"


def test_generated_messages_are_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{OPERATOR}", f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", str(OPERATOR / PROTO)],
        check=True,
    )  # fmt: skip
    for suffix in ("_pb2.py", "_pb2.pyi"):
        name = PROTO.removesuffix(".proto") + suffix
        assert (tmp_path / name).read_text() == (OPERATOR / name).read_text(), (
            f"{name} is stale: run `python -m grpc_tools.protoc -Ioperator --python_out=operator "
            f"--pyi_out=operator operator/{PROTO}`"
        )


def _fields(message: descriptor.Descriptor) -> dict[str, tuple[int, int, bool]]:
    return {f.name: (f.number, f.type, f.is_repeated) for f in message.fields}


def _same(mine: descriptor.Descriptor, theirs: descriptor.Descriptor) -> list[str]:
    faults = [f"{mine.full_name}.{name}" for name, shape in _fields(mine).items() if _fields(theirs).get(name) != shape]
    for name, nested in mine.nested_types_by_name.items():
        if name not in theirs.nested_types_by_name:
            faults.append(f"{nested.full_name} (Triton lacks it)")
        else:
            faults += _same(nested, theirs.nested_types_by_name[name])
    return faults


def test_every_message_matches_tritons_field_by_field() -> None:
    faults: list[str] = []
    for name, message in ours.DESCRIPTOR.message_types_by_name.items():
        faults += _same(message, triton.DESCRIPTOR.message_types_by_name[name])
    assert faults == []
    ours_service = ours.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    theirs_service = triton.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert {m.name for m in ours_service.methods} <= {m.name for m in theirs_service.methods}
