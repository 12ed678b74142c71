"""What the Job runs on: the CPU's instruction sets and the devices the runtimes see.

Which variant wins depends on them: without VNNI, u8*s8 products saturate in the
AVX2/AVX512 integer paths (so weights are quantized to 7 bits, `reduce_range`) and
OpenVINO's INT8 kernels lose to FP32; with VNNI or AMX, INT8 pays several times over.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from enum import StrEnum
from typing import Final

log = logging.getLogger(__name__)

CPUINFO: Final = pathlib.Path("/proc/cpuinfo")


class Feature(StrEnum):
    """Instruction sets that change which candidate wins."""

    AVX2 = "avx2"
    AVX512 = "avx512"
    VNNI = "vnni"  # AVX512-VNNI or AVX-VNNI: int8 dot products without saturation
    AMX = "amx"  # Advanced Matrix Extensions (int8/bf16 tiles)


# The /proc/cpuinfo flags that give each feature.
_FLAGS: Final = {
    Feature.AVX2: frozenset({"avx2"}),
    Feature.AVX512: frozenset({"avx512f"}),
    Feature.VNNI: frozenset({"avx512_vnni", "avx_vnni"}),
    Feature.AMX: frozenset({"amx_int8", "amx_bf16", "amx_tile"}),
}


@dataclasses.dataclass(frozen=True)
class Cpu:
    model: str = ""
    flags: frozenset[str] = frozenset()

    @property
    def features(self) -> frozenset[Feature]:
        return frozenset(f for f, names in _FLAGS.items() if self.flags & names)

    @property
    def known(self) -> bool:
        """False when the flags could not be read (not Linux, no /proc): assume nothing."""
        return bool(self.flags)

    @property
    def int8_dot(self) -> bool:
        """INT8 products run without saturation (VNNI or AMX)."""
        return bool(self.features & {Feature.VNNI, Feature.AMX})

    def feature_names(self) -> list[str]:
        return [f.value for f in Feature if f in self.features]


def parse_cpuinfo(text: str) -> Cpu:
    """Pure: the first processor's model name and flags (every core of a node has the same)."""
    model, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:  # x86, arm64
            flags = frozenset(value.split())
        if model and flags:
            break
    return Cpu(model, flags)


def cpu(path: pathlib.Path = CPUINFO) -> Cpu:
    try:
        return parse_cpuinfo(path.read_text())
    except OSError as e:
        log.warning("cannot read %s (%s): CPU features unknown", path, e)
        return Cpu()


def devices() -> list[str]:
    """runtime:device for every device the installed runtimes can open here."""
    import onnxruntime as ort  # noqa: PLC0415

    found = [f"onnxruntime:{p.removesuffix('ExecutionProvider')}" for p in ort.get_available_providers()]
    try:
        import openvino as ov  # noqa: PLC0415

        found += [f"openvino:{d}" for d in ov.Core().available_devices]
    except Exception as e:  # an OpenVINO that cannot start still leaves ONNX Runtime usable
        log.warning("OpenVINO devices unknown: %s", e)
    return found
