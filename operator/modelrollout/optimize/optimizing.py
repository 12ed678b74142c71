"""The Job's work, step by step: fetch, reference, candidates, select, upload, report."""

from __future__ import annotations

import dataclasses
import gc
import logging
import pathlib
import shutil
import time

import numpy as np

from modelrollout import storage
from modelrollout.api import optimization as api
from modelrollout.optimize import (
    benchmarking,
    datasets,
    evaluating,
    selecting,
    settings,
    signatures,
)
from modelrollout.optimize.candidates import base, registry
from modelrollout.optimize.errors import OptimizeError
from modelrollout.storage import fetching

log = logging.getLogger(__name__)

SYNTHETIC_SAMPLES = 32


@dataclasses.dataclass
class _Context:
    s: settings.Settings
    source: pathlib.Path
    evaluation: datasets.Dataset
    calibration: datasets.Dataset | None
    batch: int
    output: int
    reference_outputs: np.ndarray
    reference_score: float
    budget: benchmarking.Budget
    reduce_range: bool


def failed_report(s: settings.Settings | None, reason: str, started: float) -> api.OptimizationReport:
    return api.OptimizationReport(
        model=s.model_name if s else "",
        version=s.model_version if s else "",
        metric=s.metric if s else api.Metric.COSINE,
        maxDrop=s.max_drop if s else 0.0,
        succeeded=False,
        reason=" ".join(reason.split()),  # one line, whatever the error text held
        durationSeconds=time.monotonic() - started,
    )


def run(s: settings.Settings) -> api.OptimizationReport:
    """Do the whole Job; raise OptimizeError with a one-line reason when it cannot succeed."""
    started = time.monotonic()
    s.work_dir.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s", s.model_uri)
    try:
        source = storage.fetch(s.model_uri, s.work_dir / "source", sha256=s.model_sha256)
    except storage.StorageError as e:
        raise OptimizeError(f"model: {e}") from e
    _check_format(source, s.format)
    size = base.artifact_size(source)
    log.info("fetched %s (%d bytes)", source.name, size)

    specs = (
        registry.auto(s.accelerator, s.format, size)
        if s.candidates is None
        else registry.with_reference(s.candidates, s.format)
    )
    reference = specs[0]
    flags = registry.cpu_flags()
    reduce_range = registry.needs_reduce_range(flags) if flags else False
    log.info("candidates: %s", ", ".join(c.key for c in specs))

    # The reference: if it cannot be built or run, nothing can be judged.
    ref_dir = s.work_dir / "candidates" / reference.key
    ref_ctx = base.BuildContext(source, s.format, ref_dir, None, reduce_range)
    try:
        ref_path = registry.backend(reference.runtime).build(reference, ref_ctx)
        ref_runner = registry.backend(reference.runtime).load(ref_path, _device(s, reference), reference.precision)
    except Exception as e:
        raise OptimizeError(f"reference {reference.key} failed to load: {_one_line(e)}") from e
    signature = ref_runner.signature
    log.info("inputs: %s", "; ".join(spec.describe() for spec in signature))

    evaluation = _evaluation(s, signature)
    calibration = _calibration(s, signature, evaluation)
    capacity = signatures.batch_capacity(signature)
    batch = s.benchmark_batch if capacity is None else capacity
    eval_batch = batch if capacity is None else capacity
    try:
        first = ref_runner.run(evaluation.take(1).batch_of(1 if capacity is None else capacity))
        output = evaluating.scored_output(first)
        ref_outputs = evaluating.predict(ref_runner, evaluation, eval_batch, output)
        ref_score = evaluating.score(s.metric, ref_outputs, ref_outputs, evaluation.labels)
    except OptimizeError:
        raise
    except Exception as e:
        raise OptimizeError(f"reference {reference.key} failed to run: {_one_line(e)}") from e
    del ref_runner
    log.info("reference %s scores %.4f (%s)", reference.key, ref_score, s.metric.value)

    ctx = _Context(
        s, source, evaluation, calibration, batch, output, ref_outputs, ref_score,
        benchmarking.Budget(s.benchmark_seconds, s.benchmark_iterations), reduce_range,
    )  # fmt: skip
    results: list[api.CandidateResult] = []
    artifacts: dict[str, pathlib.Path] = {}
    for i, spec in enumerate(specs, 1):
        log.info("[%d/%d] %s: building", i, len(specs), spec.key)
        result, path = _candidate(ctx, spec, eval_batch)
        results.append(result)
        if path is not None:
            artifacts[spec.key] = path
        _log_result(i, len(specs), result)
        gc.collect()

    selection = selecting.select(results, reference.key, s.max_drop)
    winner = selection.winner
    if winner is None:
        ref_result = next(r for r in selection.results if r.key == reference.key)
        raise OptimizeError(f"reference {reference.key} failed: {ref_result.reason}")
    log.info("selected %s", winner.key)
    selected = _upload(s, winner, artifacts[winner.key], results[0])
    return api.OptimizationReport(
        model=s.model_name,
        version=s.model_version,
        metric=s.metric,
        maxDrop=s.max_drop,
        succeeded=True,
        selected=selected,
        candidates=selection.results,
        durationSeconds=time.monotonic() - started,
    )


def _check_format(source: pathlib.Path, fmt: str) -> None:
    if fmt == "openvino" and source.suffix != ".xml":
        raise OptimizeError(f"model: format openvino needs an IR .xml file, got {source.name}")
    if fmt == "onnx" and source.suffix == ".xml":
        raise OptimizeError(f"model: {source.name} is OpenVINO IR, not onnx (set format openvino)")


def _device(s: settings.Settings, spec: api.CandidateSpec) -> str:
    chosen = registry.device_override(s.device, spec.runtime)
    return chosen or registry.device_for(s.accelerator, spec.runtime)


def _fetch_data(uri: str, dest: pathlib.Path, what: str) -> pathlib.Path:
    try:
        return storage.fetch(uri, dest)
    except storage.StorageError as e:
        raise OptimizeError(f"{what}: {e}") from e


def _evaluation(s: settings.Settings, signature: signatures.Signature) -> datasets.Dataset:
    need = datasets.min_evaluation_samples(s.metric, s.max_drop)
    if s.evaluation_uri:
        path = _fetch_data(s.evaluation_uri, s.work_dir / "evaluation", "evaluation data")
        data = datasets.load_npz(path, signature, "evaluation data")
    elif s.metric is api.Metric.ACCURACY:
        raise OptimizeError("metric accuracy needs evaluation data with 'labels' (--evaluation-uri)")
    else:
        log.warning("no evaluation data: judging on %d generated inputs", max(need, SYNTHETIC_SAMPLES))
        data = datasets.synthesize(signature, max(need, SYNTHETIC_SAMPLES))
    if s.metric is api.Metric.ACCURACY and data.labels is None:
        raise OptimizeError("evaluation data: metric accuracy needs a 'labels' array")
    if data.count < need:
        raise OptimizeError(
            f"evaluation data: {data.count} samples are too few to judge a drop of "
            f"{s.max_drop:g} in {s.metric.value}; need at least {need}"
        )
    log.info("evaluation data: %d samples", data.count)
    return data


def _calibration(
    s: settings.Settings, signature: signatures.Signature, evaluation: datasets.Dataset
) -> datasets.Dataset:
    if s.calibration_uri:
        path = _fetch_data(s.calibration_uri, s.work_dir / "calibration", "calibration data")
        data = datasets.load_npz(path, signature, "calibration data")
    else:
        log.info("no calibration data: calibrating on the evaluation inputs")
        data = evaluation
    return data.take(s.calibration_samples)


def _candidate(
    ctx: _Context, spec: api.CandidateSpec, eval_batch: int
) -> tuple[api.CandidateResult, pathlib.Path | None]:
    device = _device(ctx.s, spec)
    fields: dict[str, object] = {
        "runtime": spec.runtime,
        "precision": spec.precision,
        "method": spec.method,
        "device": device,
        "passed": False,
    }
    backend = registry.backend(spec.runtime)
    if not backend.supports(spec, ctx.s.format):
        fields["reason"] = f"{spec.runtime.value} cannot build {spec.key} from {ctx.s.format}"
        return api.CandidateResult.model_validate(fields), None
    out_dir = ctx.s.work_dir / "candidates" / spec.key
    build_ctx = base.BuildContext(ctx.source, ctx.s.format, out_dir, ctx.calibration, ctx.reduce_range)
    path: pathlib.Path | None = None
    step = "build"
    try:
        started = time.monotonic()
        path = backend.build(spec, build_ctx)
        fields["sizeBytes"] = base.artifact_size(path)
        log.info(
            "  built in %.1fs (%d bytes); evaluating",
            time.monotonic() - started,
            fields["sizeBytes"],
        )
        with benchmarking.peak_memory() as memory:
            step = "load"
            runner = backend.load(path, device, spec.precision)
            step = "evaluate"
            outputs = evaluating.predict(runner, ctx.evaluation, eval_batch, ctx.output)
            candidate_score = evaluating.score(ctx.s.metric, outputs, ctx.reference_outputs, ctx.evaluation.labels)
            fields["accuracy"] = candidate_score
            fields["accuracyDrop"] = max(0.0, ctx.reference_score - candidate_score)
            step = "benchmark"
            log.info("  benchmarking (batch 1 and batch %d)", ctx.batch)
            m = benchmarking.measure(runner, ctx.evaluation, ctx.batch, ctx.budget)
            del runner
        fields.update(p50Ms=m.p50_ms, p99Ms=m.p99_ms, throughput=m.throughput, peakMemoryBytes=memory.bytes)
    except OptimizeError:
        raise
    except Exception as e:
        fields["reason"] = f"{step} failed: {_one_line(e)}"[:500]
        log.warning("  %s", fields["reason"])
        if path is not None and step == "build":
            shutil.rmtree(out_dir, ignore_errors=True)
            path = None
    return api.CandidateResult.model_validate(fields), path


def _log_result(i: int, n: int, r: api.CandidateResult) -> None:
    if r.reason and r.throughput is None:
        log.info("[%d/%d] %s: failed: %s", i, n, r.key, r.reason)
        return
    log.info(
        "[%d/%d] %s: p50 %.2f ms, %.1f samples/s, drop %.4f, %d bytes",
        i, n, r.key, r.p50Ms or 0.0, r.throughput or 0.0, r.accuracyDrop or 0.0, r.sizeBytes or 0,
    )  # fmt: skip


def _upload(
    s: settings.Settings,
    winner: api.CandidateResult,
    path: pathlib.Path,
    reference: api.CandidateResult,
) -> api.SelectedArtifact:
    store = s.artifact_store or (s.work_dir / "artifacts").resolve().as_uri()
    key = f"{s.artifact_key.strip('/')}/{winner.key}"
    log.info("uploading %s to %s/%s", winner.key, store, key)
    try:
        uri = storage.upload(path.parent, store, key)
    except storage.StorageError as e:
        raise OptimizeError(f"artifact store: {e}") from e
    ratio = None
    if reference.throughput and winner.throughput:
        ratio = winner.throughput / reference.throughput
    return api.SelectedArtifact(
        runtime=winner.runtime,
        precision=winner.precision,
        method=winner.method,
        uri=uri,
        sha256=fetching.sha256_of(path),
        throughputRatio=ratio,
    )


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__
