"""The optimization report: what the optimization Job measured and chose.

The Job writes it as JSON (whole to a file, compacted to the container's termination
message); the operator copies it into `status.optimization`. One model serves both
sides, so the two can never disagree.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Runtime(StrEnum):
    """Inference runtime of a candidate."""

    ONNXRUNTIME = "onnxruntime"
    OPENVINO = "openvino"


class Precision(StrEnum):
    """Numeric precision of a candidate's weights and compute."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"
    INT4 = "int4"


class Method(StrEnum):
    """How a candidate was produced from the source model."""

    GRAPH_OPT = "graph-opt"  # ORT graph optimizations only, the FP32 reference
    CONVERT = "convert"  # precision conversion (ORT FP16, OpenVINO IR)
    DYNAMIC = "dynamic"  # ORT dynamic quantization
    STATIC = "static"  # ORT static QDQ quantization with calibration data
    NNCF = "nncf"  # OpenVINO post-training quantization with NNCF
    WEIGHT_COMPRESSION = "weight-compression"  # NNCF weight-only compression
    STATIC_MIXED = "static-mixed"  # ORT static QDQ, the nodes that cost most accuracy kept FP32
    NNCF_ACCURACY = "nncf-accuracy"  # NNCF quantize_with_accuracy_control inside the accuracy budget


class Metric(StrEnum):
    """How a candidate's outputs are compared with the FP32 reference."""

    ACCURACY = "accuracy"  # labelled accuracy of the argmax
    TOP1_AGREEMENT = "top1-agreement"  # argmax agrees with the reference's
    COSINE = "cosine"  # mean cosine similarity of the outputs


class Objective(StrEnum):
    """What the winner maximizes among the candidates inside the accuracy budget."""

    THROUGHPUT = "throughput"  # samples per second per replica at the benchmark batch
    LATENCY = "latency"  # lowest p99 at batch 1
    COST = "cost"  # lowest cost per million inferences on the pool


class Accelerator(StrEnum):
    """The kind of hardware a pool offers (the spec's `serving.accelerator`, the Job's `--accelerator`)."""

    CPU = "cpu"
    NVIDIA_GPU = "nvidia-gpu"
    INTEL_GPU = "intel-gpu"
    NPU = "npu"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class CandidateSpec(_Strict):
    """One candidate to build: a runtime, a precision and a method."""

    runtime: Runtime = Field(description="Inference runtime: onnxruntime or openvino.")
    precision: Precision = Field(description="Numeric precision: fp32, fp16, int8 or int4.")
    method: Method = Field(
        description="How it is produced: graph-opt, convert, dynamic, static, nncf or weight-compression."
    )

    @property
    def key(self) -> str:
        return f"{self.runtime.value}-{self.precision.value}-{self.method.value}"


class CandidateResult(_Strict):
    """What was measured for one candidate."""

    runtime: Runtime = Field(description="Inference runtime of the candidate.")
    precision: Precision = Field(description="Numeric precision of the candidate.")
    method: Method = Field(description="How the candidate was produced.")
    device: str = Field(default="CPU", description="Device it was measured on (CPU, CUDA, GPU, NPU).")
    p50Ms: float | None = Field(default=None, description="Median latency at batch 1, in milliseconds.")
    p99Ms: float | None = Field(default=None, description="99th percentile latency at batch 1, in milliseconds.")
    throughput: float | None = Field(default=None, description="Samples per second at the benchmark batch size.")
    accuracy: float | None = Field(
        default=None, description="Score on the evaluation data under the evaluation metric."
    )
    accuracyDrop: float | None = Field(
        default=None, description="Reference score minus this candidate's score (lower is better)."
    )
    costPerMillion: float | None = Field(
        default=None,
        description="Cost of a million inferences on the pool at this throughput (pool price units); "
        "empty when the pool has no price.",
    )
    sizeBytes: int | None = Field(default=None, description="Artifact size in bytes.")
    peakMemoryBytes: int | None = Field(
        default=None, description="Peak resident memory while loading and running, in bytes."
    )
    passed: bool = Field(description="True when the candidate built, ran and stayed inside the accuracy budget.")
    reason: str = Field(default="", description="Why it failed or was not chosen; empty when it passed.")

    @property
    def key(self) -> str:
        return f"{self.runtime.value}-{self.precision.value}-{self.method.value}"


class SelectedArtifact(_Strict):
    """The winning candidate and where its artifact lives."""

    runtime: Runtime = Field(description="Runtime the inference server must use.")
    precision: Precision = Field(description="Precision of the chosen artifact.")
    method: Method = Field(description="How the chosen artifact was produced.")
    uri: str = Field(description="Where the optimized artifact was stored (file://, pvc://, s3://).")
    sha256: str = Field(default="", description="SHA-256 of the artifact (of its main file for OpenVINO IR).")
    throughputRatio: float | None = Field(
        default=None, description="Throughput relative to the ONNX Runtime FP32 reference."
    )
    throughput: float | None = Field(
        default=None, description="Samples per second per replica at the benchmark batch size."
    )
    p50Ms: float | None = Field(default=None, description="Median latency at batch 1, in milliseconds.")
    p99Ms: float | None = Field(default=None, description="99th percentile latency at batch 1, in milliseconds.")
    costPerMillion: float | None = Field(
        default=None, description="Cost of a million inferences on the pool (pool price units); empty without a price."
    )
    pool: str = Field(default="", description="Node pool profile it was measured for.")

    @property
    def key(self) -> str:
        return f"{self.runtime.value}-{self.precision.value}-{self.method.value}"


class Hardware(_Strict):
    """What the candidates were measured on: it decides which variants pay."""

    cpu: str = Field(default="", description="CPU model name.")
    cpuFeatures: list[str] = Field(
        default_factory=list, description="Instruction sets that change which variant wins (avx2, avx512, vnni, amx)."
    )
    devices: list[str] = Field(
        default_factory=list, description="Devices the runtimes can use here, as runtime:device."
    )
    threads: int = Field(default=0, description="Intra-op threads of each measurement; 0 is the runtime's default.")


class OptimizationReport(_Strict):
    """The whole result of one optimization Job."""

    model: str = Field(description="Model name.")
    version: str = Field(description="Model version.")
    metric: Metric = Field(description="Evaluation metric used to judge accuracy.")
    maxDrop: float = Field(description="Accuracy budget: the largest allowed drop.")
    succeeded: bool = Field(description="False when the Job failed; reason says why.")
    reason: str = Field(default="", description="One-line reason for a failure.")
    selected: SelectedArtifact | None = Field(default=None, description="The winner, when succeeded.")
    candidates: list[CandidateResult] = Field(default_factory=list, description="Every candidate measured.")
    durationSeconds: float | None = Field(default=None, description="Wall time of the Job's work.")
    objective: Objective = Field(default=Objective.THROUGHPUT, description="What the winner maximizes.")
    maxLatencyMs: float | None = Field(default=None, description="p99 bound at batch 1 every winner must meet.")
    hardware: Hardware | None = Field(default=None, description="CPU, its features and the devices measured on.")
    pool: str = Field(default="", description="Node pool profile the Job measured for.")
    pricePerReplicaHour: float | None = Field(
        default=None, description="Price of one serving replica for an hour on the pool; empty without a price."
    )
    evaluationSamples: int = Field(default=0, description="Samples the accuracy was judged on.")
    syntheticEvaluation: bool = Field(
        default=False,
        description="True when no evaluation data was given: accuracy was checked on generated inputs only.",
    )
